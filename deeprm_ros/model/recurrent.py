"""Three fully connected layers of type LSTM, GRU or MLP (DeepRM section 3.2).

The recurrent state is passed in and out explicitly as a tuple of (B, width) tensors, so a caller
(the ROS node) can keep one state per tracked object and batch objects freely.
"""
from __future__ import annotations

import torch
from torch import nn


class RecurrentStack(nn.Module):
    """normalize_input puts a LayerNorm on the flattened features and scales each layer's input
    weights by its fan-in. Without it the gates saturate: PyTorch's LSTM/GRU init scales by the
    hidden width, not the input width, so 2,560 (demo) to 102,400 (B0 240x320) flattened inputs give
    gate pre-activations with a std of 4 to 12, saturated gates and almost no gradient.

    normalize_every_layer also puts a LayerNorm before layers 2 and 3 and before the heads. Without it
    the signal fades layer by layer: an LSTM layer whose inputs have unit variance puts out about 0.12
    RMS, the next one about 0.02, so the heads start on almost constant inputs. Off by default, on in
    config/demo_correlation.yaml; what each choice gave is in the README's results."""

    def __init__(self, kind: str, in_features: int, hidden_sizes: tuple[int, int, int], normalize_input: bool = True,
                 normalize_every_layer: bool = False):
        super().__init__()
        self.kind = kind
        self.hidden_sizes = tuple(hidden_sizes)
        sizes = (in_features,) + self.hidden_sizes
        self.input_norm = nn.LayerNorm(in_features) if normalize_input else None
        # Before layers 2 and 3, and on the output that feeds the heads.
        self.hidden_norms = nn.ModuleList(nn.LayerNorm(w) for w in self.hidden_sizes) if normalize_every_layer else None
        cell = {"lstm": nn.LSTMCell, "gru": nn.GRUCell}.get(kind)
        if cell is not None:
            self.layers = nn.ModuleList(cell(sizes[i], sizes[i + 1]) for i in range(3))
        else:
            self.layers = nn.ModuleList(nn.Linear(sizes[i], sizes[i + 1]) for i in range(3))
        if normalize_input:
            self._init_by_fan_in()
        self.out_features = self.hidden_sizes[-1]

    @torch.no_grad()
    def _init_by_fan_in(self):
        """Input weights ~ U(+-1/sqrt(fan_in)): unit-variance inputs give pre-activations of std ~0.6."""
        for layer in self.layers:
            w = layer.weight_ih if hasattr(layer, "weight_ih") else layer.weight
            bound = w.shape[1] ** -0.5
            w.uniform_(-bound, bound)
            if self.kind == "lstm":  # forget-gate bias 1: remember by default (gates are i, f, g, o)
                h = layer.hidden_size
                layer.bias_ih[h:2 * h].fill_(1.0)
                layer.bias_hh[h:2 * h].zero_()

    @property
    def state_widths(self) -> tuple[int, ...]:
        """Width of each state tensor: (h, c) per LSTM layer, h per GRU layer, none for the MLP."""
        if self.kind == "lstm":
            return tuple(w for h in self.hidden_sizes for w in (h, h))
        if self.kind == "gru":
            return self.hidden_sizes
        return ()

    def zero_state(self, batch: int, device=None, dtype=torch.float32) -> tuple[torch.Tensor, ...]:
        return tuple(torch.zeros(batch, w, device=device, dtype=dtype) for w in self.state_widths)

    def forward(self, x: torch.Tensor, state: tuple | None):
        if state is None or len(state) == 0:
            state = self.zero_state(x.shape[0], x.device, x.dtype)
        if self.input_norm is not None:
            x = self.input_norm(x)
        new_state = []
        for i, layer in enumerate(self.layers):
            if self.kind == "lstm":
                h, c = layer(x, (state[2 * i], state[2 * i + 1]))
                new_state += [h, c]
                x = h
            elif self.kind == "gru":
                x = layer(x, state[i])
                new_state.append(x)
            else:
                x = torch.relu(layer(x))
            if self.hidden_norms is not None:
                x = self.hidden_norms[i](x)
        return x, tuple(new_state)


def split_state(state: tuple) -> list[tuple]:
    """One state tuple per batch element (each tensor keeps a batch dimension of 1)."""
    if not state:
        return []
    return [tuple(s[i:i + 1] for s in state) for i in range(state[0].shape[0])]


def stack_states(states: list, stack, device=None) -> tuple:
    """Batch per-object states; None entries (new objects) start from zeros. stack: anything with
    `state_widths` and `zero_state(batch, device)`: a RecurrentStack, DeepRM, or the ONNX step model."""
    if not stack.state_widths:
        return ()
    filled = [s if s is not None else stack.zero_state(1, device) for s in states]
    return tuple(torch.cat([s[k].to(device) for s in filled], dim=0) for k in range(len(stack.state_widths)))
