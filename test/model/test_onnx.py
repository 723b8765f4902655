import numpy as np
import pytest
import torch

from deeprm_ros.export import OnnxStepModel, export_onnx
from deeprm_ros.model import create_model


@pytest.mark.parametrize("kind", ["lstm", "gru", "mlp"])
def test_onnx_matches_torch_with_state_carried(kind, tmp_path):
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
        np.testing.assert_allclose(got.translation.numpy(), ref.translation.numpy(), atol=1e-4)
        np.testing.assert_allclose(got.quaternion.numpy(), ref.quaternion.numpy(), atol=1e-4)
        assert len(got.state) == len(ref.state)
        for a, b in zip(got.state, ref.state):
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-4)
        state_t, state_o = ref.state, got.state
        pair = torch.rand(3, 6, 64, 96)
    with pytest.raises(RuntimeError, match="inference-only"):
        onnx_model(pair, None, with_flow=True)
