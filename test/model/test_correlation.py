"""The correlation matching option: the layer against a hand-written loop, a known shift found where it
should be, and the model it builds (shapes, swap sensitivity, ONNX agreement)."""
import numpy as np
import pytest
import torch

from deeprm_ros.model import ModelConfig, create_model
from deeprm_ros.model.correlation import local_correlation


def test_local_correlation_equals_a_loop_over_cells_and_displacements():
    g = torch.Generator().manual_seed(0)
    fa, fb = torch.randn(2, 5, 4, 6, generator=g), torch.randn(2, 5, 4, 6, generator=g)
    r = 2
    out = local_correlation(fa, fb, r).numpy()
    a = (fa / fa.norm(dim=1, keepdim=True)).numpy()
    b = (fb / fb.norm(dim=1, keepdim=True)).numpy()
    expected = np.zeros((2, (2 * r + 1) ** 2, 4, 6))
    for n in range(2):
        for k, (dy, dx) in enumerate((dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)):
            for y in range(4):
                for x in range(6):
                    if 0 <= y + dy < 4 and 0 <= x + dx < 6:
                        expected[n, k, y, x] = a[n, :, y, x] @ b[n, :, y + dy, x + dx]
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_a_shifted_copy_correlates_best_at_its_shift():
    fa = torch.randn(1, 8, 10, 12, generator=torch.Generator().manual_seed(1))
    dy, dx = 1, -2
    fb = torch.roll(fa, shifts=(dy, dx), dims=(2, 3))  # fb(x + d) = fa(x)
    corr = local_correlation(fa, fb, 3)[0, :, 3:7, 3:9]  # interior cells: no wrap-around
    best = corr.argmax(dim=0)
    assert (best == (dy + 3) * 7 + (dx + 3)).all()
    assert torch.allclose(corr.max(dim=0).values, torch.ones(()), atol=1e-5)


def test_correlation_model_sees_which_crop_is_which():
    torch.manual_seed(0)
    model = create_model(0, "lstm", backbone="efficientnet_lite0", matching="correlation", input_size=(64, 96),
                         hidden_sizes=(32, 16, 8), reduce_channels=8).eval()
    obs, ren = torch.rand(2, 3, 64, 96), torch.rand(2, 3, 64, 96)
    feats = model.backbone(torch.cat([obs, ren], 1))
    assert [f.shape[1] for f in feats] == model.backbone.channels
    assert feats[-1].shape[-2:] == (2, 3) and feats[-1].shape[1] == 128  # the correlation encoding alone
    with torch.no_grad():
        a = model(torch.cat([obs, ren], 1)).translation
        b = model(torch.cat([ren, obs], 1)).translation
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="matching"):
        ModelConfig(phi=0, matching="nope")


def test_correlation_model_exports_to_onnx_and_agrees(tmp_path):
    from deeprm_ros.export import OnnxStepModel, export_onnx
    torch.manual_seed(0)
    model = create_model(0, "lstm", backbone="efficientnet_lite0", matching="correlation", input_size=(64, 96),
                         hidden_sizes=(32, 16, 8), reduce_channels=8, with_flow=False).eval()
    for p in model.heads.parameters():  # non-trivial outputs
        torch.nn.init.normal_(p, std=0.3)
    onnx_model = OnnxStepModel(export_onnx(model, tmp_path / "m.onnx"), model.config, threads=1)
    pair = torch.rand(3, 6, 64, 96)
    with torch.no_grad():
        ref = model(pair, None)
    got = onnx_model(pair, None)
    np.testing.assert_allclose(got.translation.numpy(), ref.translation.numpy(), atol=1e-4)
    np.testing.assert_allclose(got.quaternion.numpy(), ref.quaternion.numpy(), atol=1e-4)
