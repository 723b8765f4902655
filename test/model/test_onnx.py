import numpy as np
import pytest
import torch

from deeprm_ros.export import OnnxStepModel, export_onnx
from deeprm_ros.model import create_model


@pytest.mark.parametrize("kind", ["lstm", "gru", "mlp"])
def test_onnx_matches_torch_with_state_carried(kind, tmp_path, assert_same_step):
    torch.manual_seed(0)
    model = create_model(0, kind, input_size=(64, 96), hidden_sizes=(32, 32, 16), reduce_channels=8,
                         with_flow=False).eval()
    for p in model.heads.parameters():  # non-trivial outputs
        torch.nn.init.normal_(p, std=0.3)
    onnx_model = OnnxStepModel(export_onnx(model, tmp_path / "m.onnx"), model.config, threads=1)
    pair = torch.rand(3, 6, 64, 96)
    state_t, state_o = None, None
    for _ in range(3):  # the recurrent state goes out and back in, as in the refiner
        with torch.no_grad():
            ref = model(pair, state_t)
        got = onnx_model(pair, state_o)
        assert_same_step(got, ref)
        state_t, state_o = ref.state, got.state
        pair = torch.rand(3, 6, 64, 96)
    with pytest.raises(RuntimeError, match="inference-only"):
        onnx_model(pair, None, with_flow=True)


def _agree(checkpoint_dir, onnx_path, atol=1e-4):
    from deeprm_ros.checkpoint import load_model, load_config
    model = load_model(checkpoint_dir).eval()
    onnx_model = OnnxStepModel(onnx_path, load_config(checkpoint_dir), threads=1)
    torch.manual_seed(1)
    pair = torch.rand(2, 6, *model.config.input_size)
    with torch.no_grad():
        ref = model(pair, None)
    got = onnx_model(pair, None)
    np.testing.assert_allclose(got.translation.numpy(), ref.translation.numpy(), atol=atol)
    np.testing.assert_allclose(got.quaternion.numpy(), ref.quaternion.numpy(), atol=atol)


def test_bundle_ships_an_onnx_export_that_is_used_as_shipped(tmp_path):
    """A bundle holds model.onnx exported from its own float16 weights; ensure_onnx takes it even when a clone
    gave it an older file time than the weights, and exports again once the weights change."""
    import os
    from deeprm_ros import checkpoint as ckpt
    from deeprm_ros.export import ONNX_SOURCE_FILE, bundle, ensure_onnx
    torch.manual_seed(0)
    model = create_model(0, "lstm", input_size=(64, 96), hidden_sizes=(32, 32, 16), reduce_channels=8)
    for p in model.heads.parameters():
        torch.nn.init.normal_(p, std=0.3)
    ckpt.save_model(model, tmp_path / "run")
    out = tmp_path / "bundle"
    bundle(tmp_path / "run", out)
    shipped = out / "model.onnx"
    assert shipped.exists() and (out / ONNX_SOURCE_FILE).exists()
    _agree(out, shipped)
    os.utime(shipped, (1, 1))  # older than the weights, as a checkout may leave it
    assert ensure_onnx(out) == shipped and shipped.stat().st_mtime == 1
    other = create_model(0, "lstm", input_size=(64, 96), hidden_sizes=(32, 32, 16), reduce_channels=8,
                         with_flow=False)
    ckpt.save_model(other, out, half=True, inference_only=True)
    assert ensure_onnx(out) == shipped and shipped.stat().st_mtime > 1  # exported again for the new weights
    _agree(out, shipped)


def test_committed_demo_bundle_onnx_agrees_with_its_weights():
    from deeprm_ros.export import ONNX_SOURCE_FILE, weights_digest
    from deeprm_ros.ros.resources import default_checkpoint
    bundle_dir = default_checkpoint()
    assert (bundle_dir / ONNX_SOURCE_FILE).read_text().strip() == weights_digest(bundle_dir)
    _agree(bundle_dir, bundle_dir / "model.onnx", atol=1e-3)


@pytest.mark.parametrize("device, available, expected", [
    ("auto", ["CPUExecutionProvider"], ["CPUExecutionProvider"]),
    ("auto", ["CUDAExecutionProvider", "CPUExecutionProvider"], ["CUDAExecutionProvider", "CPUExecutionProvider"]),
    ("cuda", ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
     ["CUDAExecutionProvider", "CPUExecutionProvider"]),
    ("cpu", ["CUDAExecutionProvider", "CPUExecutionProvider"], ["CPUExecutionProvider"]),
])
def test_onnx_execution_providers_follow_the_device(device, available, expected):
    from deeprm_ros.export import onnx_providers

    assert onnx_providers(device, available) == expected


def test_onnx_on_cuda_without_onnxruntime_gpu_names_the_package():
    from deeprm_ros.export import onnx_providers

    with pytest.raises(RuntimeError, match="onnxruntime-gpu"):
        onnx_providers("cuda", ["CPUExecutionProvider"])


def test_onnx_session_says_where_it_runs(tmp_path, caplog):
    """On this machine (onnxruntime without CUDA) 'auto' runs on the CPU, and the log says so."""
    import logging

    import onnxruntime as ort

    from deeprm_ros.export import OnnxStepModel, export_onnx
    from deeprm_ros.model import create_model

    model = create_model(0, "mlp", with_flow=False, input_size=(64, 96), hidden_sizes=(32, 32, 16), reduce_channels=8).eval()
    with caplog.at_level(logging.INFO, logger="deeprm_ros.export"):
        onnx_model = OnnxStepModel(export_onnx(model, tmp_path / "m.onnx"), model.config, threads=1, device="auto")
    expected = "cuda" if "CUDAExecutionProvider" in ort.get_available_providers() else "cpu"
    assert onnx_model.device == expected and onnx_model.providers[-1] == "CPUExecutionProvider"
    assert f"on {expected.upper()}" in caplog.text
