import json

import pytest
import torch

from deeprm_ros.checkpoint import CheckpointError, load_model, save_model
from deeprm_ros.model import create_model


def _tiny():
    torch.manual_seed(0)
    return create_model(0, "lstm", input_size=(64, 96), hidden_sizes=(32, 32, 16), reduce_channels=8)


def test_round_trip_and_inference_only_half_copy(tmp_path):
    model = _tiny().eval()
    save_model(model, tmp_path / "full")
    back = load_model(tmp_path / "full", with_flow=True)
    for (k, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), k
    save_model(model, tmp_path / "half", half=True, inference_only=True)
    small = load_model(tmp_path / "half")
    assert small.flow_decoder is None and not json.loads((tmp_path / "half" / "config.json").read_text())["with_flow"]
    pair = torch.rand(2, 6, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(small(pair).translation, model(pair).translation, atol=2e-3, rtol=1e-2)


def test_corrupt_or_missing_checkpoints_name_the_file(tmp_path):
    save_model(_tiny(), tmp_path / "ok")
    (tmp_path / "ok" / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="model.safetensors: not a readable safetensors file"):
        load_model(tmp_path / "ok")
    with pytest.raises(CheckpointError, match="config.json: missing"):
        load_model(tmp_path / "nothing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text('{"phi": 0, "recurrent": "transformer"}')
    with pytest.raises(CheckpointError, match="invalid model config"):
        load_model(tmp_path / "bad")


def test_grad_scaler_state_survives_save_and_load(tmp_path):
    """A mixed-precision resume continues with the loss scale and growth count it stopped with (here the CPU
    GradScaler, enabled, after an overflow halved the scale and two good steps counted towards growth)."""
    from deeprm_ros.checkpoint import load_training_state, save_training_state

    w = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.SGD([w], lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=3, enabled=True)
    for value in (float("inf"), 1.0, 1.0):  # an overflow (skipped step, scale / 2), then two finite steps
        opt.zero_grad()
        scaler.scale((w * value).sum()).backward()
        scaler.step(opt)
        scaler.update()
    assert scaler.get_scale() == 512.0 and scaler._get_growth_tracker() == 2
    save_training_state(tmp_path, opt, sched, step=3, epoch=0, scaler=scaler)

    state = load_training_state(tmp_path)
    resumed = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=3, enabled=True)
    resumed.load_state_dict(state["scaler"])
    assert resumed.get_scale() == 512.0 and resumed._get_growth_tracker() == 2
    # One more finite step grows both the same way (the third good step in a row doubles the scale).
    for s in (scaler, resumed):
        opt.zero_grad()
        s.scale(w.sum()).backward()
        s.step(opt)
        s.update()
    assert scaler.get_scale() == resumed.get_scale() == 1024.0
