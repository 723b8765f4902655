"""Checkpoints: weights as safetensors plus the model config as JSON; nothing is unpickled on load.

A training directory also holds `training_state.pt` (optimizer, scheduler, step), read back with
torch.load(weights_only=True), which refuses arbitrary objects.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .model import DeepRM, ModelConfig

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
TRAINING_STATE = "training_state.pt"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message names the file and the problem."""


def save_model(model: DeepRM, directory, half: bool = False, inference_only: bool = False) -> Path:
    """Write model.safetensors and config.json. half=True stores float16 (loaded back as float32)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    config = model.config.to_dict()
    if inference_only:
        state = {k: v for k, v in state.items() if not k.startswith("flow_decoder.")}
        config["with_flow"] = False
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    tmp = directory / (WEIGHTS + ".tmp")
    save_file(state, str(tmp))
    tmp.chmod(0o644)
    tmp.replace(directory / WEIGHTS)
    (directory / CONFIG).write_text(json.dumps(config, indent=2))
    return directory


def load_config(directory) -> ModelConfig:
    path = Path(directory) / CONFIG
    try:
        return ModelConfig.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing (a checkpoint is a folder with {WEIGHTS} and {CONFIG})") from None
    except (json.JSONDecodeError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: invalid model config: {e}") from None


def load_model(directory, device="cpu", with_flow: bool = False) -> DeepRM:
    """The model of a checkpoint folder, in eval mode, without the flow decoder unless asked."""
    config = load_config(directory)
    if not with_flow:
        config.with_flow = False
    config.pretrained = False  # the checkpoint holds the weights
    try:
        model = DeepRM(config)
    except Exception as e:  # values that pass the config's own checks but not the model's (e.g. an unknown backbone)
        raise CheckpointError(f"{Path(directory) / CONFIG}: invalid model config: {type(e).__name__}: {e}") from None
    path = Path(directory) / WEIGHTS
    try:
        state = load_file(str(path))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing") from None
    except Exception as e:  # safetensors raises its own error types for truncated/corrupt files
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None
    if not with_flow:
        state = {k: v for k, v in state.items() if not k.startswith("flow_decoder.")}
    load_weights(model, state, f"{path}: does not match {CONFIG}")
    return model.to(device).eval()


def load_weights(model: DeepRM, state: dict, mismatch: str, may_lack: str = "") -> list[str]:
    """Load a state dict (float16 tensors become float32) that must fit the model exactly, except for keys
    starting with may_lack (e.g. "flow_decoder." when starting training from an inference-only bundle), which
    may be absent and stay as initialized. Returns those absent keys; anything else raises CheckpointError
    starting with `mismatch`."""
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # tensor shapes that differ from the config's (strict=False allows only absent/extra keys)
        details = [line.strip() for line in str(e).splitlines()[1:] if line.strip()] or [str(e)]
        raise CheckpointError(f"{mismatch} ({len(details)} size mismatches, first: {details[0]})") from None
    lacking = [k for k in missing if not (may_lack and k.startswith(may_lack))]
    if lacking or unexpected:
        raise CheckpointError(f"{mismatch} (missing {lacking[:5]}, unexpected {unexpected[:5]})")
    return missing


def save_training_state(directory, optimizer, scheduler, step: int, epoch: int, extra: dict | None = None,
                        scaler=None):
    """Everything a resumed run needs besides the weights. The mixed-precision GradScaler is in it too: a resume
    that restarted its loss scale at the initial 65536 would skip steps to find it again, and the resumed run
    would no longer equal the uninterrupted one."""
    path = Path(directory) / TRAINING_STATE
    tmp = path.with_suffix(".tmp")
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict() if scaler is not None else {},
                "step": step, "epoch": epoch, "extra": extra or {}}, tmp)
    tmp.replace(path)


def load_training_state(directory) -> dict | None:
    path = Path(directory) / TRAINING_STATE
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path}: cannot be read safely ({e})") from None
