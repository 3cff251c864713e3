"""Segmentation and localisation metrics: Dice, 95th-percentile Hausdorff distance, box IoU.

Masks are boolean arrays on the same grid; distances are in pixels of that grid.
"""

from __future__ import annotations

import math

import numpy as np

from radlens.grounding.zones import ndimage


def dice(pred: np.ndarray, ref: np.ndarray) -> float:
    """Dice overlap in [0, 1] of two boolean masks (1.0 when both are empty)."""
    p, r = pred.astype(bool), ref.astype(bool)
    denom = int(p.sum()) + int(r.sum())
    return 1.0 if denom == 0 else 2.0 * float((p & r).sum()) / denom


def _boundary(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage().binary_erosion(mask, border_value=0)


def hd95(pred: np.ndarray, ref: np.ndarray) -> float:
    """Symmetric 95th-percentile Hausdorff distance (pixels) between the masks' outlines.

    The 95th percentile is taken over the distances of both outlines' pixels to the other
    outline (pooled). Returns 0 when both masks are empty and inf when only one is.
    """
    p, r = pred.astype(bool), ref.astype(bool)
    if not p.any() and not r.any():
        return 0.0
    if not p.any() or not r.any():
        return math.inf
    bp, br = _boundary(p), _boundary(r)
    # crop to the union's box (+1) to keep the distance transforms small
    rows = np.flatnonzero((p | r).any(1))
    cols = np.flatnonzero((p | r).any(0))
    sl = (slice(max(rows[0] - 1, 0), rows[-1] + 2), slice(max(cols[0] - 1, 0), cols[-1] + 2))
    nd = ndimage()
    d_to_r = nd.distance_transform_edt(~br[sl])
    d_to_p = nd.distance_transform_edt(~bp[sl])
    dists = np.concatenate([d_to_r[bp[sl]], d_to_p[br[sl]]])
    return float(np.percentile(dists, 95))
