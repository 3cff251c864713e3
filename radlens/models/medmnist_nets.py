"""MedMNIST-scale backbones in plain PyTorch: ResNet-18 (28-px variant), a small
MedViTV2-style hybrid, and a small 3-D CNN for volumes.

Every network follows the backbone contract of `radlens.models.backbones`:
``feature_map(x) -> (N, C, h, w[, d])``, ``head(fmap) -> logits`` and ``forward = head ∘
feature_map``. Inputs are normalised pixels, channels first: (N, C, H, W) for the 2-D
networks (C = 1 grey or 3 RGB), (N, 1, D, H, W) for the 3-D one.

- `ResNet18`: the MedMNIST v2 benchmark's ResNet-18 for 28-px input (He et al. 2016 with the
  first convolution 3x3, stride 1, and no max-pool), widths 64-128-256-512 (``width`` scales).
- `MedViTHybrid`: a small network in the spirit of MedViTV2 (Manzari et al. 2025): a
  hierarchy of convolutional local-feature blocks (grouped-convolution attention + a locality
  feed-forward of 1x1 / depthwise 3x3 / 1x1) and, in the later stages, global blocks of
  dilated neighbourhood attention (`DilatedNeighbourhoodAttention`: each position attends to a
  k x k neighbourhood sampled with a dilation, written with ``unfold``) followed by a
  Kolmogorov-Arnold feed-forward layer (`KANLayer`: radial-basis-function KAN).
  Written from the papers' description, not from their code.
- `SmallCNN3d`: a residual 3-D CNN (three stages of two 3x3x3 convolutions) for 28^3 or 64^3
  volumes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _head(channels: int, num_classes: int) -> nn.Module:
    return nn.Linear(channels, num_classes) if num_classes > 0 else nn.Identity()


class _Basic(nn.Module):
    """The ResNet basic block: two 3x3 convolutions with batch norm and a shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                       nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.short(x))


class ResNet18(nn.Module):
    """ResNet-18 for small inputs (MedMNIST v2 benchmark, 28 px): 3x3 stride-1 stem, no
    max-pool, four stages of two basic blocks; `width` scales the 64-128-256-512 widths."""

    def __init__(self, num_classes: int, in_channels: int = 1, width: float = 1.0) -> None:
        super().__init__()
        w = [max(8, int(c * width)) for c in (64, 128, 256, 512)]
        self.stem = nn.Sequential(nn.Conv2d(in_channels, w[0], 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(w[0]), nn.ReLU(inplace=True))
        layers: list[nn.Module] = []
        cin = w[0]
        for i, c in enumerate(w):
            stride = 1 if i == 0 else 2
            layers += [_Basic(cin, c, stride), _Basic(c, c, 1)]
            cin = c
        self.layers = nn.Sequential(*layers)
        self.fc = _head(cin, num_classes)
        self.out_channels = cin

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(self.stem(x))

    def head(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.fc(fmap.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.feature_map(x))


class KANLayer(nn.Module):
    """A Kolmogorov-Arnold layer with radial-basis functions (in the style of FastKAN).

    Each output is a sum over inputs of a learned univariate function of that input:
    ``phi(x) = w_base * silu(x) + sum_g w_g * exp(-((x - c_g) / h)^2)`` with `grid` centres
    ``c_g`` evenly spaced on [-2, 2] (inputs are layer-normalised first). Acts on the last
    dimension: (..., in_features) -> (..., out_features).
    """

    def __init__(self, in_features: int, out_features: int, grid: int = 6) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_features)
        self.register_buffer("centres", torch.linspace(-2.0, 2.0, grid))
        self.inv_h = (grid - 1) / 4.0
        self.spline = nn.Linear(in_features * grid, out_features, bias=False)
        self.base = nn.Linear(in_features, out_features)
        nn.init.normal_(self.spline.weight, std=0.1 / (in_features * grid) ** 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.norm(x)
        centres: torch.Tensor = self.centres  # type: ignore[assignment]
        basis = torch.exp(-((z[..., None] - centres) * self.inv_h) ** 2)
        return self.base(F.silu(z)) + self.spline(basis.flatten(-2))


class KANFeedForward(nn.Module):
    """Feed-forward of a global block: KAN layer to `hidden`, then KAN layer back
    (channels last: (..., dim) -> (..., dim))."""

    def __init__(self, dim: int, hidden: int, grid: int = 6) -> None:
        super().__init__()
        self.up = KANLayer(dim, hidden, grid)
        self.down = KANLayer(hidden, dim, grid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.up(x))


class DilatedNeighbourhoodAttention(nn.Module):
    """Multi-head dilated neighbourhood attention on a (N, C, H, W) map, in plain torch.

    Every position attends to the `kernel` x `kernel` positions around it spaced by
    `dilation` (zero padding outside the map is masked out), with a learned relative
    position bias per head and offset. Keys and values of the neighbourhoods are gathered
    with ``F.unfold``; cost is O(H W k^2 C).
    """

    def __init__(self, dim: int, heads: int = 4, kernel: int = 3, dilation: int = 1) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not a multiple of heads {heads}")
        self.heads, self.kernel, self.dilation = heads, kernel, dilation
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Conv2d(dim, dim * 3, 1)
        self.proj = nn.Conv2d(dim, dim, 1)
        self.bias = nn.Parameter(torch.zeros(heads, kernel * kernel))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        k2, hd = self.kernel * self.kernel, c // self.heads
        pad = self.dilation * (self.kernel - 1) // 2
        q, k, v = self.qkv(x).chunk(3, dim=1)

        def neighbours(t: torch.Tensor) -> torch.Tensor:  # (N, heads, hd, k2, H*W)
            u = F.unfold(t, self.kernel, dilation=self.dilation, padding=pad)
            return u.view(n, self.heads, hd, k2, h * w)

        qh = q.reshape(n, self.heads, hd, 1, h * w)
        logits = (qh * neighbours(k)).sum(2) * self.scale + self.bias[None, :, :, None]
        ones = torch.ones(1, 1, h, w, dtype=x.dtype, device=x.device)
        valid = F.unfold(ones, self.kernel, dilation=self.dilation, padding=pad)  # (1, k2, HW)
        logits = logits.masked_fill(valid[:, None] == 0, float("-inf"))
        attn = logits.softmax(dim=2)  # (N, heads, k2, HW)
        out = (attn[:, :, None] * neighbours(v)).sum(3)  # (N, heads, hd, HW)
        return self.proj(out.reshape(n, c, h, w))


class LocalBlock(nn.Module):
    """Convolutional local-feature block: grouped 3x3 convolution 'attention' (MedViT's
    multi-head convolutional attention) and a locality feed-forward (1x1 expand, depthwise
    3x3, 1x1 project), both residual."""

    def __init__(self, dim: int, groups_dim: int = 16, expand: int = 3) -> None:
        super().__init__()
        self.mhca = nn.Sequential(nn.BatchNorm2d(dim),
                                  nn.Conv2d(dim, dim, 3, 1, 1, groups=max(1, dim // groups_dim)),
                                  nn.ReLU(inplace=True), nn.Conv2d(dim, dim, 1))
        hidden = dim * expand
        self.ffn = nn.Sequential(nn.BatchNorm2d(dim), nn.Conv2d(dim, hidden, 1),
                                 nn.ReLU(inplace=True),
                                 nn.Conv2d(hidden, hidden, 3, 1, 1, groups=hidden),
                                 nn.ReLU(inplace=True), nn.Conv2d(hidden, dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.mhca(x)
        return x + self.ffn(x)


class GlobalBlock(nn.Module):
    """Global block: dilated neighbourhood attention, then a KAN feed-forward, both
    pre-normalised and residual."""

    def __init__(self, dim: int, heads: int, dilation: int, hidden: int, grid: int = 6) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(dim)
        self.attn = DilatedNeighbourhoodAttention(dim, heads, 3, dilation)
        self.ffn = KANFeedForward(dim, hidden, grid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm(x))
        t = x.permute(0, 2, 3, 1)
        return (t + self.ffn(t)).permute(0, 3, 1, 2)


class MedViTHybrid(nn.Module):
    """A small MedViTV2-style hybrid for 28-px (or larger) 2-D input.

    Stem (3x3 conv, stride 1) -> stage 1 (`widths[0]`, full resolution): local blocks ->
    stride-2 patch merging -> stage 2: local block + global block (dilation 2) -> stride-2
    merging -> stage 3: global blocks with dilations 1 and 2 (neighbourhoods of 3x3 and 5x5
    spans at 7 px) -> global average pool -> linear head.
    """

    def __init__(self, num_classes: int, in_channels: int = 1,
                 widths: tuple[int, int, int] = (16, 32, 64), heads: int = 2) -> None:
        super().__init__()
        w1, w2, w3 = widths
        self.stem = nn.Sequential(nn.Conv2d(in_channels, w1, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(w1), nn.ReLU(inplace=True))
        self.stage1 = nn.Sequential(LocalBlock(w1))
        self.down1 = nn.Sequential(nn.Conv2d(w1, w2, 3, 2, 1, bias=False), nn.BatchNorm2d(w2))
        self.stage2 = nn.Sequential(LocalBlock(w2), GlobalBlock(w2, heads, 2, w2))
        self.down2 = nn.Sequential(nn.Conv2d(w2, w3, 3, 2, 1, bias=False), nn.BatchNorm2d(w3))
        self.stage3 = nn.Sequential(GlobalBlock(w3, heads, 1, w3), GlobalBlock(w3, heads, 2, w3))
        self.norm = nn.BatchNorm2d(w3)
        self.fc = _head(w3, num_classes)
        self.out_channels = w3

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage1(self.stem(x))
        x = self.stage2(self.down1(x))
        return F.relu(self.norm(self.stage3(self.down2(x))))

    def head(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.fc(fmap.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.feature_map(x))


class _Basic3d(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(cout)
        self.conv2 = nn.Conv3d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm3d(cout)
        self.short: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv3d(cin, cout, 1, stride, bias=False),
                                       nn.BatchNorm3d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.short(x))


class SmallCNN3d(nn.Module):
    """A residual 3-D CNN for (N, 1, D, H, W) volumes: 3x3x3 stem at `widths[0]`, then three
    stages (strides 1, 2, 2) of one basic block each, global average pool, linear head."""

    def __init__(self, num_classes: int, in_channels: int = 1,
                 widths: tuple[int, int, int] = (16, 32, 64)) -> None:
        super().__init__()
        w1, w2, w3 = widths
        self.stem = nn.Sequential(nn.Conv3d(in_channels, w1, 3, 1, 1, bias=False),
                                  nn.BatchNorm3d(w1), nn.ReLU(inplace=True))
        self.layers = nn.Sequential(_Basic3d(w1, w1, 2), _Basic3d(w1, w2, 2),
                                    _Basic3d(w2, w3, 2))
        self.fc = _head(w3, num_classes)
        self.out_channels = w3

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(self.stem(x))

    def head(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.fc(fmap.mean(dim=(2, 3, 4)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.feature_map(x))
