"""Classical lung segmentation baseline: intensity threshold plus morphology (no learning).

Steps, on the image resized to 256 x 256: smooth, Otsu threshold of the dark (air-like) pixels,
open, keep the two largest dark components that lie centrally and do not span the width
(air around the body does), close and fill holes, split them into patient's right and left
(`radlens.grounding.zones.split_sides`) and stretch back to the image grid. It is the reference
point `benchmarks/segmentation_eval.py` compares the learned segmenter against.
"""

from __future__ import annotations

import numpy as np

from radlens.data.transforms import resize_square
from radlens.grounding.heat import resample_mask
from radlens.grounding.zones import ndimage, split_sides

WORK = 256


def otsu(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of values in [0, 1]."""
    hist, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    p = hist.astype(float) / max(hist.sum(), 1)
    omega = np.cumsum(p)
    mu = np.cumsum(p * (edges[:-1] + edges[1:]) / 2)
    between = (mu[-1] * omega - mu) ** 2 / np.maximum(omega * (1 - omega), 1e-12)
    return float(edges[int(np.argmax(between)) + 1])


def threshold_lungs(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(right, left) bool lung masks of a (H, W) image in [0, 1] (air dark), image grid."""
    nd = ndimage()
    img = nd.gaussian_filter(resize_square(pixels, WORK), 2.0)
    dark = nd.binary_opening(img < otsu(img), iterations=3)
    labels, n = nd.label(dark)
    lungs = np.zeros_like(dark)
    if n:
        idx = np.arange(1, n + 1)
        sizes = np.bincount(labels.ravel())[1:]
        cy, cx = (np.array(c) for c in zip(*nd.center_of_mass(dark, labels, idx), strict=True))
        spans = np.array([(s[1].stop - s[1].start) for s in nd.find_objects(labels)])
        # lung-like: central, not spanning the whole width (air around the body does)
        ok = ((cx > 0.12 * WORK) & (cx < 0.88 * WORK) & (cy > 0.15 * WORK) & (cy < 0.8 * WORK)
              & (spans < 0.6 * WORK) & (sizes >= 0.01 * dark.size))
        for k in [k for k in np.argsort(-sizes) if ok[k]][:2]:
            lungs |= labels == k + 1
    lungs = nd.binary_closing(lungs, iterations=4)
    lungs = nd.binary_fill_holes(lungs)
    right, left = split_sides(lungs)
    shape = pixels.shape[:2]
    return resample_mask(right, shape), resample_mask(left, shape)
