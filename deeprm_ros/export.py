"""ONNX export of the inference network (and its OpenVINO IR, converted from it), and an onnxruntime stand-in for
it in the refiner.

`python -m deeprm_ros.export --checkpoint DIR [--out DIR/model.onnx]`

The recurrent state is an explicit input and output (h, c per LSTM layer; h per GRU layer), so a
deployment keeps per-object state exactly as the torch path does. onnxruntime runs the B0-LSTM network
in 17 ms against eager torch's 38 ms on a 2-core CPU (bench/refiner_benchmark.py).
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
from pathlib import Path

import numpy as np
import torch

from .model import DeepRM, StepOutput

log = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
ONNX_SOURCE_FILE = ONNX_FILE + ".source"  # beside X.onnx, X.onnx.source: the sha256 of the weights it came from
OPENVINO_FILE = "model.xml"  # OpenVINO IR, with model.bin beside it (and model.xml.source)


def source_file(onnx_path: Path) -> Path:
    """The file beside an ONNX export that holds the digest of the weights it was exported from."""
    return onnx_path.with_name(onnx_path.name + ".source")


class _InferenceStep(torch.nn.Module):
    """One refinement step with the state flattened into positional tensors (ONNX has no tuples)."""

    def __init__(self, model: DeepRM):
        super().__init__()
        self.model = model

    def forward(self, pair, *state):
        out = self.model(pair, tuple(state) if state else None)
        return (out.translation, out.quaternion) + tuple(out.state)


def state_names(model_or_widths) -> list[str]:
    n = len(model_or_widths.recurrent.state_widths) if hasattr(model_or_widths, "recurrent") else len(model_or_widths)
    return [f"state_{i}" for i in range(n)]


def export_onnx(model: DeepRM, path, opset: int = 18) -> Path:
    """Write the inference network (no flow decoder) with a dynamic batch axis."""
    model = model.eval().cpu()
    h, w = model.config.input_size
    pair = torch.rand(2, 6, h, w)
    state = model.zero_state(2)
    names_in = ["pair"] + state_names(model)
    names_out = ["translation", "quaternion"] + [f"new_{n}" for n in state_names(model)]
    batch = torch.export.Dim("batch", min=1, max=1024)
    # (pair, *state): every tensor is batch-first; the MLP variant has no state
    dynamic = ({0: batch}, tuple({0: batch} for _ in state)) if state else ({0: batch},)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The torch.export-based exporter: the legacy TorchScript one ran BatchNorm in training mode while
    # tracing these timm models (the exported graph then disagreed with eval-mode torch).
    with torch.no_grad():
        program = torch.onnx.export(_InferenceStep(model).eval(), (pair,) + tuple(state), input_names=names_in,
                                    output_names=names_out, dynamic_shapes=dynamic, opset_version=opset, dynamo=True,
                                    verbose=False)
    program.save(str(path))
    return path


def onnx_providers(device: str, available: list[str]) -> list[str]:
    """onnxruntime execution providers for a device ('auto', 'cuda' or 'cpu'): CUDA first when onnxruntime-gpu
    offers it and the device allows it, the CPU always as the fallback. 'cuda' without the CUDA provider is an
    error naming what to install."""
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise RuntimeError("device 'cuda' with the onnx backend needs onnxruntime-gpu (pip install onnxruntime-gpu); "
                           f"this onnxruntime offers {available}")
    if device in ("auto", "cuda") and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxStepModel:
    """Callable like DeepRM (pair, state) -> StepOutput, backed by onnxruntime: on the GPU through the CUDA
    execution provider when onnxruntime-gpu and a GPU are there (device 'auto' or 'cuda'), else on the CPU."""

    def __init__(self, onnx_path, config, threads: int = 0, device: str = "cpu", providers=None):
        """providers: onnxruntime's execution providers (names or (name, options) pairs) instead of the ones
        the device implies, e.g. TensorRT's for a benchmark."""
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = providers or onnx_providers(device, ort.get_available_providers())
        try:
            self.session = ort.InferenceSession(str(onnx_path), opts, providers=providers)
        except Exception as e:
            raise RuntimeError(f"{onnx_path}: cannot be loaded by onnxruntime ({e})") from None
        # What onnxruntime really took: it falls back to the CPU when the CUDA provider cannot start (no GPU).
        self.providers = self.session.get_providers()
        self.device = "cpu" if self.providers[0] == "CPUExecutionProvider" else "cuda"
        log.info("onnxruntime runs %s on %s (providers %s)", Path(onnx_path).name, self.device.upper(),
                 ", ".join(self.providers))
        self.config = config
        self.state_widths = [i.shape[1] for i in self.session.get_inputs() if i.name.startswith("state_")]

    def zero_state(self, batch: int, device=None):
        return tuple(torch.zeros(batch, w) for w in self.state_widths)

    def __call__(self, pair, state=None, with_flow: bool = False) -> StepOutput:
        if with_flow:
            raise RuntimeError("the ONNX model is inference-only (no flow decoder)")
        b = pair.shape[0]
        if not state:
            state = self.zero_state(b)
        feeds = {"pair": pair.detach().cpu().numpy().astype(np.float32)}
        feeds.update({f"state_{i}": s.detach().cpu().numpy().astype(np.float32) for i, s in enumerate(state)})
        outs = self.session.run(None, feeds)
        dev = pair.device
        t, q = torch.from_numpy(outs[0]).to(dev), torch.from_numpy(outs[1]).to(dev)
        return StepOutput(t, q, tuple(torch.from_numpy(o).to(dev) for o in outs[2:]))

    def eval(self):
        return self


def weights_digest(checkpoint) -> str:
    """sha256 of a checkpoint's model.safetensors: what ties an exported ONNX file to its weights (file times
    do not survive a git clone or an install)."""
    return hashlib.sha256((Path(checkpoint) / "model.safetensors").read_bytes()).hexdigest()


def exported_from(path: Path, checkpoint) -> bool:
    """True when path (an ONNX or OpenVINO file) was made from the checkpoint's current weights: its source
    digest matches, or (a file with no digest) it is newer than the weights."""
    if not path.exists():
        return False
    source = source_file(path)
    weights = Path(checkpoint) / "model.safetensors"
    if source.exists():
        return weights.exists() and source.read_text().strip() == weights_digest(checkpoint)
    return not weights.exists() or path.stat().st_mtime >= weights.stat().st_mtime


def artifact_path_for(checkpoint, filename: str = ONNX_FILE) -> Path:
    """Where a file made from a checkpoint (its ONNX export, its OpenVINO IR) lives: beside it (shipped with a
    bundle, or made there), or in ~/.cache when that folder is read-only (an installed share/ folder); keyed by
    the weights' size and time so a new checkpoint makes it again."""
    checkpoint = Path(checkpoint)
    beside = checkpoint / filename
    if exported_from(beside, checkpoint) or os.access(checkpoint, os.W_OK):
        return beside
    st = (checkpoint / "model.safetensors").stat()
    key = hashlib.sha1(f"{checkpoint.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "deeprm_ros" / key / filename


def export_for(checkpoint, path, model: DeepRM | None = None) -> Path:
    """Export the checkpoint's inference network (model: that network, already loaded) to path and record which
    weights it came from."""
    from .checkpoint import load_model
    path = export_onnx(model if model is not None else load_model(checkpoint), path)
    source_file(path).write_text(weights_digest(checkpoint) + "\n")
    return path


def ensure_onnx(checkpoint) -> Path:
    """The checkpoint's ONNX file: the shipped or earlier export when it matches the weights, else exported now."""
    path = artifact_path_for(checkpoint, ONNX_FILE)
    if not exported_from(path, checkpoint):
        export_for(checkpoint, path)
    return path


def _weights_are_half(checkpoint) -> bool:
    from safetensors import safe_open
    with safe_open(str(Path(checkpoint) / "model.safetensors"), "pt") as f:
        return all(f.get_slice(k).get_dtype() in ("F16", "BF16") for k in f.keys())


def convert_openvino(checkpoint, xml_path, onnx_path=None) -> Path:
    """The checkpoint's IR at xml_path, read from its ONNX export (onnx_path: one made already) by the runtime's
    own ONNX reader. Not `openvino.convert_model`: that converter (like NNCF) reports usage to Google Analytics
    unless the user has opted out, and nothing here may talk to the network. Weights are stored in float16 when
    the checkpoint's are (a bundle): half the bytes and nothing lost."""
    from .openvino_step import openvino_module
    ov = openvino_module()
    xml_path = Path(xml_path)
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    model = ov.Core().read_model(str(onnx_path or ensure_onnx(checkpoint)))
    ov.save_model(model, str(xml_path), compress_to_fp16=_weights_are_half(checkpoint))
    source_file(xml_path).write_text(weights_digest(checkpoint) + "\n")
    return xml_path


def ensure_openvino(checkpoint) -> Path:
    """The checkpoint's IR: the shipped or earlier conversion when it matches the weights, else converted now."""
    path = artifact_path_for(checkpoint, OPENVINO_FILE)
    if not (exported_from(path, checkpoint) and path.with_suffix(".bin").exists()):
        log.info("converting %s to OpenVINO IR at %s", checkpoint, path)
        convert_openvino(checkpoint, path)
    return path


def bundle(checkpoint, out_dir) -> Path:
    """What the package ships: an inference-only float16 copy of a checkpoint (no flow decoder, half the bytes),
    its ONNX export and its OpenVINO IR, so that the node's onnx and openvino backends start without converting
    anything on a user's first run."""
    from .checkpoint import load_model, save_model
    weights = save_model(load_model(checkpoint), out_dir, half=True, inference_only=True)
    export_for(out_dir, Path(out_dir) / ONNX_FILE)
    convert_openvino(out_dir, Path(out_dir) / OPENVINO_FILE, Path(out_dir) / ONNX_FILE)
    return weights


def main(argv=None) -> int:
    from .checkpoint import CheckpointError, load_model

    parser = argparse.ArgumentParser(description="Export a DeepRM checkpoint's inference network to ONNX")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--out", default=None, help=f"default: <checkpoint>/{ONNX_FILE}")
    parser.add_argument("--bundle", default=None, metavar="DIR",
                        help="instead: write an inference-only float16 copy of the checkpoint, its ONNX "
                             "export and its OpenVINO IR to DIR (what data/demo/checkpoint holds)")
    parser.add_argument("--openvino", action="store_true",
                        help="also convert the ONNX export to OpenVINO IR (<checkpoint>/model.xml + model.bin)")
    args = parser.parse_args(argv)
    try:
        if args.bundle:
            print(f"wrote {bundle(args.checkpoint, args.bundle)}")
            return 0
        model = load_model(args.checkpoint)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    path = export_for(args.checkpoint, Path(args.out) if args.out else Path(args.checkpoint) / ONNX_FILE, model)
    print(f"wrote {path}")
    if args.openvino:
        print(f"wrote {convert_openvino(args.checkpoint, path.with_name(OPENVINO_FILE), path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
