"""`backend: auto`: the fastest network backend for the machine the refiner runs on, chosen when it starts.

Measured with bench/cpu_targets.sh (docs/results/speed.md): on a GPU, torch; on a CPU with native bf16 (AMX or
AVX512-BF16), OpenVINO in bf16 (1.4-1.7x onnxruntime for one object); on any other CPU, onnxruntime (OpenVINO f32
ran at its speed for one object and slower for eight on an AVX2-only CPU). A backend whose package is missing is
passed over.
"""
from __future__ import annotations

import importlib.util

CHOICES = ("auto", "torch", "onnx", "openvino")


def cpu_has_native_bf16() -> bool:
    """Whether OpenVINO's CPU plugin lists BF16 among its capabilities (False when openvino is not installed)."""
    if importlib.util.find_spec("openvino") is None:
        return False
    from .openvino_step import lists_native_bf16, openvino_module
    return lists_native_bf16(openvino_module().Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def choose_backend(backend: str, device: str = "auto") -> str:
    """The backend to build: `backend` itself unless it is "auto"."""
    if backend not in CHOICES:
        raise ValueError(f"backend must be one of {CHOICES}, got {backend!r}")
    if backend != "auto":
        return backend
    import torch
    if device == "cuda" or (device == "auto" and torch.cuda.is_available()):
        return "torch"
    if cpu_has_native_bf16():
        return "openvino"
    return "onnx" if importlib.util.find_spec("onnxruntime") is not None else "torch"
