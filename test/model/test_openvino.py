"""The openvino backend: its IR runs the network as torch does (f32), is tied to the weights like model.onnx, picks
bf16 only where the CPU has it, and never reports usage over the network."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from deeprm_ros import checkpoint as ckpt
from deeprm_ros.model import create_model
from deeprm_ros.export import ensure_openvino
from deeprm_ros.openvino_step import OpenVinoStepModel, resolve_precision


def _small_model(kind="lstm", seed=0):
    torch.manual_seed(seed)
    model = create_model(0, kind, input_size=(64, 96), hidden_sizes=(32, 32, 16), reduce_channels=8,
                         with_flow=False).eval()
    for p in model.heads.parameters():  # non-trivial outputs
        torch.nn.init.normal_(p, std=0.3)
    return model


@pytest.mark.parametrize("kind", ["lstm", "gru", "mlp"])
def test_openvino_f32_matches_torch_with_state_carried_and_any_batch_size(kind, tmp_path, assert_same_step):
    model = _small_model(kind)
    ckpt.save_model(model, tmp_path / "run")
    ov_model = OpenVinoStepModel(ensure_openvino(tmp_path / "run"), model.config, threads=1, precision="f32")
    state_t, state_o = None, None
    for step, batch in enumerate((3, 3, 1)):  # state carried into the second; the third is a new batch size
        pair = torch.rand(batch, 6, 64, 96)
        if step == 2:
            state_t = state_o = None
        with torch.no_grad():
            ref = model(pair, state_t)
        got = ov_model(pair, state_o)
        assert_same_step(got, ref)
        state_t, state_o = ref.state, got.state
    with pytest.raises(RuntimeError, match="inference-only"):
        ov_model(pair, None, with_flow=True)


@pytest.mark.parametrize("precision, capabilities, expected", [
    ("auto", ["FP32", "BF16", "INT8"], "bf16"),
    ("auto", ["FP32", "FP16", "INT8"], "f32"),
    ("f32", ["FP32", "BF16"], "f32"),
    ("bf16", ["FP32", "BF16"], "bf16"),
])
def test_precision_is_bf16_only_where_the_cpu_has_it(precision, capabilities, expected):
    assert resolve_precision(precision, capabilities) == expected


def test_bf16_asked_of_a_cpu_without_it_or_an_unknown_precision_is_an_error():
    with pytest.raises(ValueError, match="no native bf16"):
        resolve_precision("bf16", ["FP32", "INT8"])
    with pytest.raises(ValueError, match="must be one of"):
        resolve_precision("fp8", ["FP32"])


def test_ir_is_reconverted_when_the_weights_change_and_reused_otherwise(tmp_path):
    run = tmp_path / "run"
    ckpt.save_model(_small_model(seed=0), run, half=True, inference_only=True)
    xml = ensure_openvino(run)
    assert xml == run / "model.xml" and xml.with_suffix(".bin").exists()
    made = xml.stat().st_mtime_ns
    assert ensure_openvino(run) == xml and xml.stat().st_mtime_ns == made  # used as it is
    new = _small_model(seed=1)
    ckpt.save_model(new, run, half=True, inference_only=True)
    assert ensure_openvino(run) == xml and xml.stat().st_mtime_ns != made  # converted again
    pair = torch.rand(2, 6, 64, 96)
    with torch.no_grad():
        ref = ckpt.load_model(run).eval()(pair, None)
    got = OpenVinoStepModel(xml, new.config, threads=1, precision="f32")(pair, None)
    np.testing.assert_allclose(got.translation.numpy(), ref.translation.numpy(), atol=1e-4)


def test_committed_demo_bundle_ships_an_ir_of_its_own_weights():
    from deeprm_ros.export import source_file, weights_digest
    from deeprm_ros.ros.resources import default_checkpoint
    bundle = default_checkpoint()
    xml = bundle / "model.xml"
    assert source_file(xml).read_text().strip() == weights_digest(bundle)
    assert ensure_openvino(bundle) == xml  # nothing converted on a first run
    model = ckpt.load_model(bundle).eval()
    torch.manual_seed(2)
    pair = torch.rand(2, 6, *model.config.input_size)
    with torch.no_grad():
        ref = model(pair, None)
    got = OpenVinoStepModel(xml, model.config, threads=1, precision="f32")(pair, None)
    np.testing.assert_allclose(got.translation.numpy(), ref.translation.numpy(), atol=1e-3)
    np.testing.assert_allclose(got.quaternion.numpy(), ref.quaternion.numpy(), atol=1e-3)


def test_a_corrupt_ir_is_a_clear_error(tmp_path):
    (tmp_path / "model.xml").write_text("<net> not an IR")
    with pytest.raises(RuntimeError, match="cannot be read by OpenVINO"):
        OpenVinoStepModel(tmp_path / "model.xml", None, threads=1)


def test_converting_and_running_report_nothing(tmp_path):
    """`import openvino` alone writes a telemetry client id and usage count under $HOME/intel and sends an event
    unless telemetry is blocked: with the backend's guard, a fresh HOME stays empty."""
    run = tmp_path / "run"
    ckpt.save_model(_small_model(), run)
    home = tmp_path / "home"
    home.mkdir()
    code = ("import sys, json, torch\n"
            "from deeprm_ros.export import ensure_openvino\n"
            "from deeprm_ros.openvino_step import OpenVinoStepModel\n"
            f"m = OpenVinoStepModel(ensure_openvino({str(run)!r}), None, threads=1)\n"
            "m(torch.rand(1, 6, 64, 96))\n"
            "print(json.dumps(sys.modules.get('openvino_telemetry', 'absent') is None))\n")
    env = dict(os.environ, HOME=str(home), XDG_CACHE_HOME=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) is True
    assert list(home.iterdir()) == [], "something was written to HOME (OpenVINO telemetry?)"
