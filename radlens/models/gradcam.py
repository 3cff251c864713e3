"""Grad-CAM (Selvaraju et al. 2017) on the classifier's last convolutional feature map.

The heatmap for label j is ``relu(sum_k alpha_k A_k)`` with ``alpha_k`` the spatial mean of
d logit_j / d A_k, normalised to [0, 1] by its maximum. It has the feature map's resolution
(input size / 32) and, following the schema's convention, is stretched over the whole image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


def grad_cam(model: Any, x: torch.Tensor, label_indices: Sequence[int],
             upsample: int = 64) -> dict[int, np.ndarray]:
    """Heatmaps float32 in [0, 1] for each label index, for one input (1, 1, H, W).

    `model` must expose ``feature_map`` and ``head`` (see `FindingClassifier`). The raw map
    (H/32, W/32) is bilinearly upsampled to (`upsample`, `upsample`) for a smooth display
    (0: keep the raw resolution). All-zero maps (no positive evidence) stay zero.
    """
    if not label_indices:
        return {}
    model.eval()
    with torch.no_grad():
        fmap = model.feature_map(x)
    return grad_cam_from_features(model, fmap, label_indices, upsample)


def grad_cam_from_features(model: Any, fmap: torch.Tensor, label_indices: Sequence[int],
                           upsample: int = 64) -> dict[int, np.ndarray]:
    """`grad_cam` from an already computed feature map (1, C, h, w) of one input.

    The gradients only flow through ``model.head``, so a caller that has the feature map from
    its own forward pass (e.g. a batched one, `radlens.tasks.batched`) need not run the
    backbone again. Returns the same heatmaps as `grad_cam`.
    """
    if not label_indices:
        return {}
    with torch.enable_grad():
        fmap = fmap.detach().contiguous().requires_grad_(True)  # small; plain layout
        logits = model.head(fmap)[0]
        out: dict[int, np.ndarray] = {}
        for n, j in enumerate(label_indices):
            (grad,) = torch.autograd.grad(logits[j], fmap,
                                          retain_graph=n < len(label_indices) - 1)
            weights = grad[0].mean(dim=(1, 2))
            cam = torch.relu((weights[:, None, None] * fmap[0].detach()).sum(0))
            peak = float(cam.max())
            cam = cam / peak if peak > 0 else cam
            if upsample:
                cam = torch.nn.functional.interpolate(
                    cam[None, None], size=(upsample, upsample), mode="bilinear",
                    align_corners=False)[0, 0].clamp(0, 1)
            out[j] = cam.detach().cpu().numpy().astype(np.float32)
    return out
