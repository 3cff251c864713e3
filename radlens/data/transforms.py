"""Image transforms for radiographs: resizing and training augmentation (no horizontal flip).

All functions take and return float arrays/tensors in [0, 1] (air dark).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def resize_square(pixels: np.ndarray, size: int) -> np.ndarray:
    """Resize a (H, W) image in [0, 1] to (size, size) with antialiased bilinear interpolation.

    The whole image is squashed to a square (no crop, no padding): the aspect ratio changes,
    which is what the bundled model was trained with.
    """
    t = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32))[None, None]
    if t.shape[-2:] == (size, size):
        return pixels.astype(np.float32)
    out = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False,
                        antialias=True)
    return out[0, 0].clamp(0, 1).numpy()


def augment_batch(x: torch.Tensor, generator: torch.Generator, rotate_deg: float = 10.0,
                  scale: tuple[float, float] = (0.9, 1.1), shift: float = 0.06,
                  contrast: float = 0.2, brightness: float = 0.1,
                  gamma: tuple[float, float] = (0.8, 1.25)) -> torch.Tensor:
    """Random radiograph augmentation of a batch (N, 1, H, W) in [0, 1].

    Small rotation (± `rotate_deg` degrees), isotropic scale, translation (fraction of the side),
    gamma, contrast and brightness jitter. Never flips left-right (anatomy is not symmetric).
    Randomness comes only from `generator`, so runs are reproducible.
    """
    n = x.shape[0]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=generator)

    angle = uniform(-rotate_deg, rotate_deg) * math.pi / 180
    s = uniform(*scale)
    tx, ty = uniform(-shift, shift) * 2, uniform(-shift, shift) * 2
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    g = torch.exp(uniform(math.log(gamma[0]), math.log(gamma[1])))[:, None, None, None]
    out = out.clamp(1e-6, 1) ** g
    c = uniform(1 - contrast, 1 + contrast)[:, None, None, None]
    b = uniform(-brightness, brightness)[:, None, None, None]
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    return ((out - mean) * c + mean + b).clamp(0, 1)
