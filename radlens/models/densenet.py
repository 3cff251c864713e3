"""DenseNet-121 in plain PyTorch (the architecture torchxrayvision ships), used as a speed peer.

Growth rate 32, blocks (6, 12, 24, 16), bottleneck width 4x, compression 0.5. Exposes the same
``feature_map`` / ``head`` interface as the other backbones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _DenseLayer(nn.Module):
    def __init__(self, c_in: int, growth: int, bn_size: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, bn_size * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return torch.cat([x, out], 1)


class _Transition(nn.Sequential):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(nn.BatchNorm2d(c_in), nn.ReLU(), nn.Conv2d(c_in, c_out, 1, bias=False),
                         nn.AvgPool2d(2, 2))


class DenseNet121(nn.Module):
    """DenseNet-121 with `in_channels` input channels and `num_classes` outputs (0: features)."""

    def __init__(self, num_classes: int = 18, in_channels: int = 1, growth: int = 32,
                 blocks: tuple[int, ...] = (6, 12, 24, 16), init_features: int = 64) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, init_features, 7, 2, 3, bias=False),
            nn.BatchNorm2d(init_features), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
        channels = init_features
        for i, n in enumerate(blocks):
            for _ in range(n):
                layers.append(_DenseLayer(channels, growth, 4))
                channels += growth
            if i != len(blocks) - 1:
                layers.append(_Transition(channels, channels // 2))
                channels //= 2
        layers.append(nn.BatchNorm2d(channels))
        self.features = nn.Sequential(*layers)
        self.feature_dim = channels
        self.num_classes = num_classes
        self.classifier = nn.Linear(channels, num_classes) if num_classes else nn.Identity()

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The final feature map after ReLU, (N, 1024, H/32, W/32)."""
        return F.relu(self.features(x))

    def head(self, fmap: torch.Tensor) -> torch.Tensor:
        """Global average pool and the linear classifier."""
        return self.classifier(fmap.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.feature_map(x))
