"""Learned finding localiser: a small head on frozen EfficientNet-Lite0 features.

Input convention: as the classifier's (grey pixels in [0, 1], air dark, whole image squashed
to ``size`` x ``size``, normalised with the backbone's mean/std). The frozen ImageNet encoder
gives stride-16 (112 channels) and stride-32 (320 channels, upsampled) features; two
coordinate channels (x, y in [-1, 1]) let the head learn where findings usually lie. The head
outputs one logit per stride-16 cell and finding: sigmoid = probability that the cell lies in
an expert box of that finding. Heatmaps are (size/16, size/16), stretched over the image.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from radlens.errors import ModelError
from radlens.schema import ModelInfo

FEATURE_CHANNELS = 112 + 320 + 2


class FrozenFeatures(nn.Module):
    """ImageNet EfficientNet-Lite0 features at stride 16 (+ upsampled stride 32) + coords."""

    def __init__(self) -> None:
        super().__init__()
        from radlens.models import backbones

        spec = backbones.get("efficientnet-lite0")
        self.mean, self.std = spec.mean, spec.std
        self.encoder: Any = backbones.build("efficientnet-lite0", 0, in_channels=1,
                                            pretrained=True).eval()
        for p in self.encoder.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        enc = self.encoder
        h = F.relu6(enc._bn0(enc._conv_stem((x - self.mean) / self.std)))
        s16 = h
        for i, block in enumerate(enc._blocks):
            h = block(h)
            if i == 10:
                s16 = h
        up = F.interpolate(h, size=s16.shape[-2:], mode="bilinear", align_corners=False)
        n, _, gh, gw = s16.shape
        ys = torch.linspace(-1, 1, gh).view(1, 1, gh, 1).expand(n, 1, gh, gw)
        xs = torch.linspace(-1, 1, gw).view(1, 1, 1, gw).expand(n, 1, gh, gw)
        return torch.cat([s16, up, xs, ys], 1)


class LocaliserHead(nn.Module):
    """Features (N, FEATURE_CHANNELS, g, g) -> logits (N, labels, g, g)."""

    def __init__(self, labels: int = 1, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(FEATURE_CHANNELS, hidden, 1), nn.ReLU(inplace=True), nn.Dropout2d(0.1),
            nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, labels, 1))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(f)
        return out


@dataclass(frozen=True, eq=False)
class LoadedLocaliser:
    """A localiser ready for inference: features, head, card, labels and `ModelInfo`."""

    features: FrozenFeatures
    head: LocaliserHead
    card: dict[str, Any]
    info: ModelInfo

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.card["labels"])

    def heatmaps(self, pixels: np.ndarray) -> np.ndarray:
        """Probabilities (labels, g, g) float32 for (H, W) pixels in [0, 1]."""
        from radlens.models.classifier import preprocess

        x = preprocess(pixels, int(self.card["input"]["size"]))
        with torch.no_grad():
            return torch.sigmoid(self.head(self.features(x)))[0].numpy().astype(np.float32)


def default_localiser() -> str | None:
    """Path of the first bundled localiser card, or None."""
    from radlens.models import registry

    for path in sorted(registry.weights_dir().glob("*.json")):
        card = json.loads(path.read_text("utf-8"))
        if card.get("task") == "localise" and (path.parent / card["weights"]["file"]).is_file():
            return str(path)
    return None


@lru_cache(maxsize=2)
def load_localiser(model: str | None = None) -> LoadedLocaliser:
    """Load a localiser from a card path or run folder (default: the bundled one; cached)."""
    from safetensors.torch import load_file

    name = model or default_localiser()
    if name is None:
        raise ModelError("no finding localiser is installed; train one with "
                         "`radlens train localiser`")
    p = Path(name)
    card_path = p / "model.json" if p.is_dir() else p
    try:
        card: dict[str, Any] = json.loads(card_path.read_text("utf-8"))
        wpath = card_path.parent / card["weights"]["file"]
        data = wpath.read_bytes()
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot read the localiser ({exc})", card_path) from exc
    digest = hashlib.sha256(data).hexdigest()
    if card["weights"].get("sha256") and digest != card["weights"]["sha256"]:
        raise ModelError("weights do not match the SHA-256 in the model card", wpath)
    head = LocaliserHead(len(card["labels"]))
    try:
        head.load_state_dict(load_file(str(wpath)))
    except RuntimeError as exc:
        raise ModelError(f"weights do not fit the localiser head ({exc})", wpath) from exc
    head.eval()
    return LoadedLocaliser(FrozenFeatures(), head, card,
                           ModelInfo(card["name"], str(card["version"]), "localise", digest))
