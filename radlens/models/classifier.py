"""The finding classifier: a backbone with one logit per label and the input convention.

Input convention (stored in every model card): grey pixels in [0, 1] with air dark (as
`radlens.io.load_image` returns them), resized — whole image, aspect ratio not kept — to
``size`` x ``size`` with antialiased bilinear interpolation, then normalised as
``(x - mean) / std``. Outputs are logits; calibrated probabilities are
``sigmoid(logit / temperature)`` per label.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from radlens.data.transforms import resize_square
from radlens.models import backbones


class FindingClassifier(nn.Module):
    """Backbone + normalisation. ``forward(x)`` takes (N, 1, H, W) in [0, 1], returns logits."""

    def __init__(self, backbone: str, num_labels: int, pretrained: bool = True) -> None:
        super().__init__()
        spec = backbones.get(backbone)
        self.backbone_name = backbone
        self.net: Any = backbones.build(backbone, num_labels, in_channels=1,
                                        pretrained=pretrained)
        self.mean, self.std = float(spec.mean), float(spec.std)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] pixels -> the backbone's input scale."""
        return (x - self.mean) / self.std

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """Last convolutional feature map for [0, 1] input (used by Grad-CAM)."""
        return self.net.feature_map(self.normalise(x))

    def feature_map_and_tap(self, x: torch.Tensor, tap: int
                            ) -> tuple[torch.Tensor, torch.Tensor]:
        """(last feature map, output of the first `tap` MBConv blocks) for [0, 1] input, from
        one pass (EfficientNet-Lite backbones; the tapped map feeds `radlens.models.ood`)."""
        net: Any = self.net
        if not hasattr(net, "_blocks"):
            from radlens.errors import ModelError

            raise ModelError(f"backbone {self.backbone_name!r} has no MBConv blocks to tap")
        h = F.relu6(net._bn0(net._conv_stem(self.normalise(x))))
        tapped = h
        for k, block in enumerate(net._blocks):
            h = block(h)
            if k + 1 == tap:
                tapped = h
        return F.relu6(net._bn1(net._conv_head(h))), tapped

    def head(self, fmap: torch.Tensor) -> torch.Tensor:
        """Logits from a feature map."""
        return self.net.head(fmap)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.feature_map(x))


def preprocess(pixels: np.ndarray, size: int) -> torch.Tensor:
    """(H, W) pixels in [0, 1] -> a (1, 1, size, size) float tensor in [0, 1]."""
    return torch.from_numpy(resize_square(pixels, size))[None, None]


_DEVICE_COPIES: dict[tuple[int, str, bool], nn.Module] = {}


def on_device(net: nn.Module, device: str | torch.device, channels_last: bool = False
              ) -> nn.Module:
    """`net` for inference on `device`: `net` itself when it already lives there (and no
    `channels_last` is asked), else an eval-mode copy moved there (made once and kept), so a
    cached CPU network shared by other callers is never moved. `channels_last`: the copy's
    weights in channels-last memory format, which runs the depthwise convolutions of
    EfficientNet-style networks about a quarter faster on a CPU; feed it `to_channels_last`
    input. The outputs equal the original's up to float rounding."""
    dev = torch.device(device)
    if next(net.parameters()).device == dev and not channels_last:
        return net
    key = (id(net), str(dev), channels_last)
    if key not in _DEVICE_COPIES:
        import copy

        moved = copy.deepcopy(net).to(dev)
        if channels_last:  # what Module.to(memory_format=...) does, spelt out for the types
            with torch.no_grad():
                for param in moved.parameters():
                    if param.ndim == 4:
                        param.data = param.data.contiguous(memory_format=torch.channels_last)
        _DEVICE_COPIES[key] = moved.eval()
    return _DEVICE_COPIES[key]


#: Images per forward pass on a CPU. Past a few images the activations of a 288-px
#: EfficientNet-Lite0 leave the CPU caches: on the 2-core development machine the network does
#: about 50 images/s in passes of 4 but 28 in passes of 16 and 19 in passes of 32
#: (`benchmarks/classifier_speed.py` sweeps it). Accelerators take the whole batch at once.
CPU_MICRO_BATCH = 4


def micro_batches(x: torch.Tensor) -> list[torch.Tensor]:
    """`x` (N, ...) cut into the passes a network should run on its device: slices of
    `CPU_MICRO_BATCH` images on a CPU, the whole batch elsewhere (views, no copies)."""
    if x.device.type != "cpu" or x.shape[0] <= CPU_MICRO_BATCH:
        return [x]
    return list(torch.split(x, CPU_MICRO_BATCH))


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """A 4-D batch (N, C, H, W) in channels-last memory format (same values and shape)."""
    return x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x


def pick_device() -> torch.device:
    """The torch device to run on: an available accelerator, else the CPU (never hard-coded)."""
    acc = getattr(torch, "accelerator", None)
    if acc is not None and acc.is_available():
        dev = acc.current_accelerator()
        if dev is not None:
            return torch.device(dev)
    return torch.device("cpu")


def set_threads(max_threads: int = 2) -> None:
    """Cap torch's intra-op threads at min(`max_threads`, CPU count) (shared machines)."""
    import os

    torch.set_num_threads(max(1, min(max_threads, os.cpu_count() or 1)))
