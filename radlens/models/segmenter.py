"""Lung segmentation network: a small U-Net on the EfficientNet-Lite0 encoder, and its loader.

Input convention (stored in the model card): grey pixels in [0, 1] with air dark (as
`radlens.io.load_image` returns them), the whole image resized to ``size`` x ``size``
(aspect ratio not kept, antialiased bilinear, `radlens.data.transforms.resize_square`), then
normalised as ``(x - mean) / std`` with the backbone's values.

Output: logits (N, 4, size/2, size/2), one sigmoid channel per (convention, side), in the order
of `CHANNELS`. Sides are the *patient's*: on a PA/AP radiograph in standard display the
patient's right lung is on the image's left. Two mask conventions are learned because the two
annotation releases disagree (Dice about 0.85 between them on the 69 images both annotate):

- ``full``: the whole lung field, including the parts behind the heart and the diaphragm domes
  (the v7labs masks);
- ``visible``: the aerated lung visible on the film, excluding the heart shadow (the lungVAE
  masks).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from radlens.errors import ModelError
from radlens.models import backbones
from radlens.schema import ModelInfo

CHANNELS: tuple[str, ...] = ("full right", "full left", "visible right", "visible left")
CONVENTIONS: tuple[str, ...] = ("full", "visible")
# encoder block indices whose outputs feed the decoder (strides 2, 4, 8, 16, 32 of Lite0)
_TAPS = (0, 2, 4, 10, 15)
_TAP_CHANNELS = (16, 24, 40, 112, 320)
_DECODER = (64, 48, 32, 16)


def _fuse(c_in: int, c_out: int) -> nn.Sequential:
    """Decoder block: 1x1 fuse, 3x3 depthwise, 1x1 pointwise, each with BN + ReLU (cheap)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, groups=c_out, bias=False), nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class LungUNet(nn.Module):
    """U-Net with the EfficientNet-Lite0 encoder (skips at strides 2-32) and a light decoder
    of depthwise-separable blocks (about 50 M multiply-adds at 256 px).

    ``forward(x)``: x (N, 1, S, S) pixels in [0, 1] (S a multiple of 32) -> logits
    (N, len(CHANNELS), S/2, S/2). `pretrained` loads ImageNet weights into the encoder.
    """

    def __init__(self, backbone: str = "efficientnet-lite0", pretrained: bool = True) -> None:
        super().__init__()
        spec = backbones.get(backbone)
        self.backbone_name = backbone
        self.mean, self.std = float(spec.mean), float(spec.std)
        self.encoder: Any = backbones.build(backbone, 0, in_channels=1, pretrained=pretrained)
        if not hasattr(self.encoder, "_blocks"):
            raise ModelError(f"backbone {backbone!r} has no EfficientNet-style blocks to tap")
        # the 1280-channel classification head is not used: drop it (smaller weights file)
        self.encoder._conv_head = nn.Identity()
        self.encoder._bn1 = nn.Identity()
        ups = []
        c_prev = _TAP_CHANNELS[-1]
        for skip, c_out in zip(reversed(_TAP_CHANNELS[:-1]), _DECODER, strict=True):
            ups.append(_fuse(c_prev + skip, c_out))
            c_prev = c_out
        self.decoder = nn.ModuleList(ups)
        self.out = nn.Conv2d(c_prev, len(CHANNELS), 1)

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Encoder features at strides 2, 4, 8, 16, 32 for [0, 1] input."""
        enc = self.encoder
        h = F.relu6(enc._bn0(enc._conv_stem((x - self.mean) / self.std)))
        feats = []
        for i, block in enumerate(enc._blocks[: _TAPS[-1] + 1]):
            h = block(h)
            if i in _TAPS:
                feats.append(h)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.encode(x)
        h = feats[-1]
        for up, skip in zip(self.decoder, reversed(feats[:-1]), strict=True):
            h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = up(torch.cat([h, skip], 1))
        return self.out(h)


REQUIRED_CARD_KEYS = ("name", "version", "task", "backbone", "labels", "weights", "input")


@dataclass(frozen=True, eq=False)
class LoadedSegmenter:
    """A segmenter ready for inference: network (eval mode), its card and `ModelInfo`."""

    network: LungUNet
    card: dict[str, Any]
    info: ModelInfo

    @property
    def size(self) -> int:
        """Square input side in pixels."""
        return int(self.card["input"]["size"])

    def __repr__(self) -> str:  # not the network and card in full
        return (f"LoadedSegmenter(name={self.info.name!r}, version={self.info.version!r}, "
                f"size={self.size}, backbone={self.card.get('backbone')!r})")


def default_segmenter() -> str | None:
    """Name of the first bundled segmentation model, or None when none is bundled."""
    from radlens.models import registry

    return registry.default_model("segment")


def find_segmenter_card(model: str) -> dict[str, Any]:
    """The card of a segmenter: bundled name, card path, or a run folder with model.json."""
    from radlens.models import registry

    card = registry.find_card(model, task="segment")
    missing = [k for k in REQUIRED_CARD_KEYS if k not in card]
    if missing:
        raise ModelError(f"model card lacks {', '.join(missing)}", card.get("_path", model))
    return card


@lru_cache(maxsize=2)
def load_segmenter(model: str | None = None) -> LoadedSegmenter:
    """Load a segmenter (cached) by bundled name or path; default: the bundled one.

    Checks the weights' SHA-256 against the card. Raises `ModelError` when no segmenter is
    available or the weights do not fit.
    """
    from safetensors.torch import load_file

    from radlens.models import registry

    name = model or default_segmenter()
    if name is None:
        raise ModelError("no lung segmentation model is installed (radlens/weights has no "
                         "segment card); train one with `radlens train segmenter`")
    card = find_segmenter_card(name)
    wpath, digest = registry.verified_weights(card)
    net = LungUNet(card["backbone"], pretrained=False)
    try:
        state = {k: v.float() for k, v in load_file(str(wpath)).items()}
        net.load_state_dict(state)
    except (RuntimeError, OSError) as exc:
        raise ModelError(f"weights do not fit the card's network ({exc})", wpath) from exc
    net.eval()
    return LoadedSegmenter(net, card, ModelInfo(card["name"], str(card["version"]), "segment",
                                                digest))
