"""The inference network on OpenVINO's CPU plugin: the `openvino` backend of the refiner, the node and the
evaluation.

Why: on a CPU with native bf16 (AMX or AVX512-BF16), OpenVINO runs the demo network in bf16 at about 1.5x the
speed of onnxruntime fp32 for one object and 2x per object for eight, and the demo model keeps its accuracy
(AUC of ADD(-S) 85.4 against 85.3 on the raster test split, 4 iterations; bench/cpu_runtimes.py). Elsewhere
it runs in f32. Its IR (model.xml + model.bin) is converted from the checkpoint's ONNX export and tied to the
weights by their digest, like model.onnx (export.ensure_openvino); the bundled demo checkpoint ships it, so a
first run converts nothing.

Shapes are static per batch size (OpenVINO's CPU plugin ran the demo network 1.5-2x slower with a dynamic
batch axis): a batch size is compiled when first seen (about 0.5 s for the demo network) and kept.
"""
from __future__ import annotations

import logging
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from .model import StepOutput

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "f32", "bf16")
MAX_COMPILED_BATCH_SIZES = 16


def block_telemetry() -> None:
    """Keep OpenVINO (and NNCF) from reporting usage. `import openvino` sends a Google Analytics event unless the
    user opted out (its bundled converter initializes telemetry at import time), and NNCF does the same; both fall
    back to a silent stub when the openvino_telemetry package cannot be imported, which this arranges. A robot's
    refiner must not talk to the internet. Call it before the first import of openvino or nncf."""
    if "openvino_telemetry" not in sys.modules:
        sys.modules["openvino_telemetry"] = None  # import openvino_telemetry now raises ImportError


def openvino_module():
    block_telemetry()
    try:
        import openvino
    except ImportError:
        raise RuntimeError("the openvino backend needs the openvino package (pip install openvino)") from None
    return openvino


def lists_native_bf16(capabilities) -> bool:
    """Whether OpenVINO's CPU capability list (OPTIMIZATION_CAPABILITIES) names native bf16 (AMX, AVX512-BF16)."""
    return "BF16" in capabilities


def resolve_precision(precision: str, capabilities) -> str:
    """'auto' -> 'bf16' where the CPU plugin lists native BF16 among its capabilities, else 'f32'. (Left to
    itself, the plugin picks bf16 on such CPUs even for an f32 model: the choice is made explicit here.)"""
    if precision not in PRECISIONS:
        raise ValueError(f"OpenVINO precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "bf16" if lists_native_bf16(capabilities) else "f32"
    if precision == "bf16" and not lists_native_bf16(capabilities):
        raise ValueError(f"OpenVINO precision 'bf16': this CPU has no native bf16 (capabilities {list(capabilities)})")
    return precision


class OpenVinoStepModel:
    """Callable like DeepRM (pair, state) -> StepOutput, backed by OpenVINO on the CPU."""

    def __init__(self, xml_path, config, threads: int = 0, precision: str = "auto"):
        self.core = openvino_module().Core()
        self.precision = resolve_precision(precision, self.core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
        try:
            self.model = self.core.read_model(str(xml_path))
        except Exception as e:
            raise RuntimeError(f"{xml_path}: cannot be read by OpenVINO ({e})") from None
        self.properties = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": self.precision}
        if threads:
            self.properties["INFERENCE_NUM_THREADS"] = int(threads)
        self.config = config
        self.device = "cpu"
        self.state_widths = [int(i.get_partial_shape()[1].get_length()) for i in self.model.inputs
                             if i.get_any_name().startswith("state_")]
        self._compiled: OrderedDict[int, object] = OrderedDict()
        self._compiled_for(1)  # a broken IR or plugin fails here, when the backend is built, not on a frame
        log.info("OpenVINO runs %s on the CPU in %s", Path(xml_path).name, self.precision)

    def _compiled_for(self, batch: int):
        if batch in self._compiled:
            self._compiled.move_to_end(batch)
            return self._compiled[batch]
        model = self.model.clone()
        model.reshape({i.get_any_name(): [batch, *list(i.get_partial_shape())[1:]] for i in model.inputs})
        compiled = self.core.compile_model(model, "CPU", self.properties)
        self._compiled[batch] = compiled
        if len(self._compiled) > MAX_COMPILED_BATCH_SIZES:
            self._compiled.popitem(last=False)
        return compiled

    def zero_state(self, batch: int, device=None):
        return tuple(torch.zeros(batch, w) for w in self.state_widths)

    def __call__(self, pair, state=None, with_flow: bool = False) -> StepOutput:
        if with_flow:
            raise RuntimeError("the OpenVINO model is inference-only (no flow decoder)")
        b = pair.shape[0]
        if not state:
            state = self.zero_state(b)
        feeds = {"pair": np.ascontiguousarray(pair.detach().cpu().numpy(), dtype=np.float32)}
        feeds.update({f"state_{i}": np.ascontiguousarray(s.detach().cpu().numpy(), dtype=np.float32)
                      for i, s in enumerate(state)})
        compiled = self._compiled_for(b)
        result = compiled(feeds)
        dev = pair.device

        def out(name):
            return torch.from_numpy(np.array(result[compiled.output(name)])).to(dev)
        return StepOutput(out("translation"), out("quaternion"),
                          tuple(out(f"new_state_{i}") for i in range(len(self.state_widths))))

    def eval(self):
        return self
