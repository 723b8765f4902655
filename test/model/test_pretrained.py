"""ImageNet starts: a local weight file through timm's pretrained_cfg_overlay (the offline path of `pretrained`),
the Lite0/1/2 packages, the widened stem, and the errors that name the file."""
import pytest
import timm
import torch
from safetensors.torch import save_file
from timm.models import adapt_input_conv

from deeprm_ros.model import DeepRM, ModelConfig
from deeprm_ros.model.backbone import pair_stem_weights
from deeprm_ros.model.pretrained import LITE_PACKAGES, PretrainedWeightsError

SMALL = dict(recurrent="mlp", hidden_sizes=(16, 16, 8), input_size=(64, 96), with_flow=False)
BLOCK = "blocks.6.0.conv_pwl.weight"  # the last block of every EfficientNet


def _classifier_file(tmp_path, name, seed=0, suffix=".safetensors"):
    """A whole timm classifier with random weights, saved as a hub file would be (head and classifier included)."""
    torch.manual_seed(seed)
    state = timm.create_model(name, pretrained=False).state_dict()
    path = tmp_path / f"{name}{suffix}"
    if suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    return path, state


@pytest.mark.parametrize("stem_init", ["repeat", "split"])
def test_local_file_fills_the_b0_pair_backbone(tmp_path, stem_init):
    path, state = _classifier_file(tmp_path, "efficientnet_b0")
    model = DeepRM(ModelConfig(phi=0, pretrained=True, pretrained_file=str(path), stem_init=stem_init, **SMALL))
    net = model.backbone.net.state_dict()
    torch.testing.assert_close(net[BLOCK], state[BLOCK], rtol=0, atol=0)
    torch.testing.assert_close(net["bn1.running_var"], state["bn1.running_var"], rtol=0, atol=0)
    expected_stem = (adapt_input_conv(6, state["conv_stem.weight"]) if stem_init == "repeat"
                     else pair_stem_weights(state["conv_stem.weight"], "split"))
    torch.testing.assert_close(net["conv_stem.weight"], expected_stem, rtol=0, atol=0)
    if stem_init == "repeat":  # timm's rule: the RGB filter on both images at half scale
        torch.testing.assert_close(net["conv_stem.weight"][:, 3:], state["conv_stem.weight"] * 0.5)


def test_local_pth_file_fills_a_correlation_backbone(tmp_path):
    path, state = _classifier_file(tmp_path, "efficientnet_lite0", seed=3, suffix=".pth")
    model = DeepRM(ModelConfig(phi=0, family="efficientnet_lite", matching="correlation", pretrained=True,
                               pretrained_file=str(path), **SMALL))
    net = model.backbone.net.state_dict()
    for key in ("conv_stem.weight", BLOCK):  # 3-channel: taken as they are
        torch.testing.assert_close(net[key], state[key], rtol=0, atol=0)


def test_without_pretrained_the_backbone_is_not_the_file(tmp_path):
    path, state = _classifier_file(tmp_path, "efficientnet_b0")
    model = DeepRM(ModelConfig(phi=0, **SMALL))
    assert not torch.equal(model.backbone.net.state_dict()[BLOCK], state[BLOCK])


def test_missing_file_names_it(tmp_path):
    missing = tmp_path / "b3_imagenet.safetensors"
    with pytest.raises(PretrainedWeightsError, match="b3_imagenet.safetensors: no such file"):
        DeepRM(ModelConfig(phi=0, pretrained=True, pretrained_file=str(missing), **SMALL))


def test_file_of_another_phi_names_it_and_the_network(tmp_path):
    path, _ = _classifier_file(tmp_path, "efficientnet_b2")
    with pytest.raises(PretrainedWeightsError, match=r"efficientnet_b2.safetensors: does not fit efficientnet_b0"):
        DeepRM(ModelConfig(phi=0, pretrained=True, pretrained_file=str(path), **SMALL))


def test_file_of_another_architecture_is_refused(tmp_path):
    """timm loads features_only EfficientNets non-strictly; a Lite0 file for B0 (no squeeze-excite) must not
    half-load silently."""
    path, _ = _classifier_file(tmp_path, "efficientnet_lite0")
    with pytest.raises(PretrainedWeightsError, match="efficientnet_lite0.safetensors: does not fit efficientnet_b0"):
        DeepRM(ModelConfig(phi=0, pretrained=True, pretrained_file=str(path), **SMALL))


def test_corrupt_file_names_it(tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"not weights at all")
    with pytest.raises(PretrainedWeightsError, match="broken.safetensors: cannot be read"):
        DeepRM(ModelConfig(phi=0, pretrained=True, pretrained_file=str(path), **SMALL))


@pytest.mark.parametrize("phi", [0, 1, 2])
def test_lite_packages_are_a_phi_scaled_family(phi):
    """family efficientnet_lite + phi -> efficientnet_lite{phi}, filled from its package without a hub. The
    package's tensors, in its own (EfficientNet-PyTorch) names, must land where timm keeps the same layer."""
    import importlib

    module_name, class_name = LITE_PACKAGES[f"efficientnet_lite{phi}"]
    source = torch.load(getattr(importlib.import_module(module_name), class_name).get_model_file_path(),
                        map_location="cpu", weights_only=True)
    model = DeepRM(ModelConfig(phi=phi, family="efficientnet_lite", pretrained=True, **SMALL))
    assert model.config.backbone == f"efficientnet_lite{phi}"
    net = model.backbone.net.state_dict()
    torch.testing.assert_close(net["conv_stem.weight"], adapt_input_conv(6, source["_conv_stem.weight"]))
    last_block = max(int(k.split(".")[1]) for k in source if k.startswith("_blocks."))
    torch.testing.assert_close(net["blocks.6.0.conv_pwl.weight"], source[f"_blocks.{last_block}._project_conv.weight"])
    torch.testing.assert_close(net["bn1.running_mean"], source["_bn0.running_mean"])


def test_hub_unreachable_says_how_to_go_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no network traffic: the hub client refuses at once
    with pytest.raises(PretrainedWeightsError, match="timm's hub.*model.pretrained_file"):
        DeepRM(ModelConfig(phi=0, pretrained=True, **SMALL))


def test_old_checkpoint_keys_still_load():
    config = ModelConfig.from_dict({"phi": 0, "backbone": "efficientnet_lite0", "pretrained_lite0": True, "extra": {}})
    assert config.pretrained is True and config.backbone == "efficientnet_lite0"
    with pytest.raises(ValueError, match="family"):
        ModelConfig(phi=0, family="resnet")
    with pytest.raises(ValueError, match="phi 0..4"):
        ModelConfig(phi=6, family="efficientnet_lite")

