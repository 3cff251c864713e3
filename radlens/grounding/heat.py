"""Heatmap geometry: resampling, peak, and the main component (its mask and box).

Heatmaps follow the schema's array convention: an (h, w) float array stretched over the whole
(H, W) image, cell (i, j) covering columns [j*W/w, (j+1)*W/w) and rows [i*H/h, (i+1)*H/h).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from radlens.grounding.zones import mask_box, ndimage
from radlens.schema import Box


def resample(arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Bilinear resampling of a 2-D float array onto an (rows, cols) grid covering the same
    extent (cell centres aligned, as the stretch convention implies)."""
    if arr.shape == tuple(shape):
        return np.asarray(arr, dtype=np.float32)
    t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))[None, None]
    out = F.interpolate(t, size=(int(shape[0]), int(shape[1])), mode="bilinear",
                        align_corners=False)
    return out[0, 0].numpy()


def resample_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Nearest-neighbour resampling of a boolean mask onto an (rows, cols) grid (same extent)."""
    if mask.shape == tuple(shape):
        return mask.astype(bool)
    rows = ((np.arange(shape[0]) + 0.5) * mask.shape[0] / shape[0]).astype(np.int64)
    cols = ((np.arange(shape[1]) + 0.5) * mask.shape[1] / shape[1]).astype(np.int64)
    return mask.astype(bool)[np.ix_(rows, cols)]


def grid_box(box: Box, grid: tuple[int, int], image: tuple[int, int]) -> Box:
    """Scale a box from a (rows, cols) grid to an (height, width) image (stretch convention)."""
    sy, sx = image[0] / grid[0], image[1] / grid[1]
    return Box(box.x0 * sx, box.y0 * sy, box.x1 * sx, box.y1 * sy)


def peak(heat: np.ndarray, image: tuple[int, int]) -> tuple[float, float]:
    """(x, y) image coordinates of the centre of the heatmap's hottest cell."""
    i, j = np.unravel_index(int(np.argmax(heat)), heat.shape)
    return ((j + 0.5) * image[1] / heat.shape[1], (i + 0.5) * image[0] / heat.shape[0])


def main_component(heat: np.ndarray, image: tuple[int, int], level: float = 0.5,
                   grid: int = 128, within: np.ndarray | None = None
                   ) -> tuple[np.ndarray, Box | None, float]:
    """The heatmap's main hot component: (mask on a `grid` x `grid` array, box in image
    pixels, fraction of the total heat mass inside the component).

    The heatmap is resampled to `grid` x `grid`; with `within` (a boolean mask stretched over
    the image, e.g. the segmented lungs) heat outside it is dropped first, so the component is
    the main one *inside* the mask. Cells at or above `level` x the (remaining) maximum form
    8-connected components, and the one holding the most heat mass is kept. The fraction is of
    the whole heatmap's mass. All-zero (or all-outside) heatmaps give an empty mask, no box and
    fraction 0. `image` is (height, width) in pixels.
    """
    g = np.clip(resample(heat, (grid, grid)), 0, None)
    whole = float(g.sum())
    if within is not None:
        g = np.where(resample_mask(within, (grid, grid)), g, 0.0)
    top = float(g.max())
    empty = np.zeros((grid, grid), dtype=bool)
    if top <= 0:
        return empty, None, 0.0
    labels, n = ndimage().label(g >= level * top, structure=np.ones((3, 3), bool))
    mass = np.bincount(labels.ravel(), weights=g.ravel(), minlength=n + 1)
    k = int(np.argmax(mass[1:])) + 1
    comp = labels == k
    box = mask_box(comp)
    return comp, None if box is None else grid_box(box, (grid, grid), image), float(
        mass[k] / whole)
