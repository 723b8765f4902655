"""`backend: auto` picks what bench/cpu_targets.sh measured fastest: OpenVINO where the CPU has native bf16, which
is read here from the kernel's CPU flags (independently of OpenVINO's own capability list), onnxruntime elsewhere
on a CPU, torch on a GPU; a named backend is kept."""
import numpy as np
import pytest

from deeprm_ros.backend_choice import choose_backend


def test_auto_on_the_cpu_follows_the_cpu_flags(expected_cpu_backend):
    assert choose_backend("auto", "cpu") == expected_cpu_backend


def test_named_backends_are_kept_and_a_gpu_gets_torch():
    for name in ("torch", "onnx", "openvino"):
        assert choose_backend(name, "cpu") == name
    assert choose_backend("auto", "cuda") == "torch"
    with pytest.raises(ValueError, match="backend must be one of"):
        choose_backend("tensorrt", "cpu")


def test_a_refiner_built_with_auto_names_its_backend_and_refines(demo_models, expected_cpu_backend):
    from deeprm_ros.refiner import Refiner
    from deeprm_ros.ros.resources import default_checkpoint
    from deeprm_ros.data.sequence import SceneMotion

    refiner = Refiner.from_checkpoint(default_checkpoint(), demo_models, 320, 240, device="cpu", backend="auto",
                                      threads=1)
    assert refiner.backend == expected_cpu_backend
    K = np.array([[300.0, 0, 159.5], [0, 300.0, 119.5], [0, 0, 1]])
    T = SceneMotion([1], seed=0).poses(0.0)
    rgb = refiner.renderer.render_scene(K, [(1, T[0])]).rgb
    out = refiner.run(rgb[None], K[None], T, [1], 1)
    assert np.isfinite(out.poses[-1].numpy()).all()
