"""Lung geometry from masks: right/left separation, boxes, the six zones, zone mass fractions.

All masks are boolean (H, W) arrays on one pixel grid; boxes are `radlens.schema.Box` in that
grid's pixel coordinates (x = column, y = row, exclusive upper bounds). Sides are the patient's
(right lung = smaller x on a standard PA/AP display).

Zones follow the usual radiographic split of each lung's craniocaudal extent (its top row to
its bottom row) into thirds: upper, middle, lower. A zone is the part of the lung mask inside
its band of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from radlens._repr import short_repr
from radlens.errors import MissingDependencyError
from radlens.schema import Box

SIDES: tuple[str, ...] = ("right", "left")
LEVELS: tuple[str, ...] = ("upper", "middle", "lower")
ZONE_NAMES: tuple[str, ...] = tuple(f"{s} {lv}" for s in SIDES for lv in LEVELS)
# a lung smaller than this fraction of the other lung (or of the image) is reported as
# missing; between that and SMALL_FRACTION it is reported as small (collapse, effusion, ...)
MISSING_FRACTION = 0.05
SMALL_FRACTION = 0.35
MIN_IMAGE_FRACTION = 0.005


def ndimage() -> Any:
    """`scipy.ndimage`, or `MissingDependencyError` naming the package to install."""
    try:
        from scipy import ndimage as nd
    except ImportError as exc:  # pragma: no cover - scipy is a dependency
        raise MissingDependencyError("lung geometry needs scipy (pip install scipy)") from exc
    return nd


def mask_box(mask: np.ndarray) -> Box | None:
    """Tight box around the True pixels of `mask` (exclusive upper bounds); None when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return Box(float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))


def largest_component(mask: np.ndarray, keep_fraction: float = 0.0) -> np.ndarray:
    """The largest 8-connected component of `mask`, plus components at least `keep_fraction`
    of its size (0: only the largest). An empty mask stays empty."""
    nd = ndimage()
    labels, n = nd.label(mask, structure=np.ones((3, 3), bool))
    if n <= 1:
        return mask.astype(bool)
    sizes = np.bincount(labels.ravel())[1:]
    if keep_fraction > 0:
        keep = np.flatnonzero(sizes >= sizes.max() * keep_fraction)
    else:
        keep = np.array([int(np.argmax(sizes))])
    return np.isin(labels, keep + 1)


def split_sides(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a two-lung mask into (patient's right, patient's left) masks.

    Components are assigned by their centroid column relative to the midline between the two
    largest components (the image centre when there is only one). A single component that
    crosses the image centre is cut at the emptiest column of the middle third.
    """
    nd = ndimage()
    m = mask.astype(bool)
    right, left = np.zeros_like(m), np.zeros_like(m)
    labels, n = nd.label(m, structure=np.ones((3, 3), bool))
    if n == 0:
        return right, left
    w = m.shape[1]
    sizes = np.bincount(labels.ravel())[1:]
    col_sums = np.bincount(labels.ravel(), weights=np.tile(np.arange(w), m.shape[0]),
                           minlength=n + 1)[1:]
    centroids = col_sums / sizes
    order = np.argsort(-sizes)
    if n >= 2 and sizes[order[1]] >= 0.1 * sizes[order[0]]:
        mid = float(centroids[order[:2]].mean())
    else:
        mid = w / 2
        big = labels == order[0] + 1
        bx = mask_box(big)
        if bx is not None and bx.x0 < w / 2 < bx.x1 and bx.x1 - bx.x0 > 0.5 * w:
            lo, hi = w // 3, 2 * w // 3
            cut = lo + int(np.argmin(big[:, lo:hi].sum(axis=0)))
            right[:, :cut] = big[:, :cut]
            left[:, cut:] = big[:, cut:]
            labels[big] = 0
    for k in range(n):
        comp = labels == k + 1
        if not comp.any():
            continue
        (right if centroids[k] < mid else left)[comp] = True
    return right, left


@dataclass(frozen=True, eq=False)
class Lung:
    """One lung: `side` (patient's), boolean `mask`, `box`, `status` and zone row bands.

    `status` is "present", "small" (much smaller than the other lung: collapse, large effusion,
    resection or a segmentation failure) or "missing". `bands` maps "upper"/"middle"/"lower" to
    (first row, end row) with exclusive end; empty for a missing lung.
    """

    side: str
    mask: np.ndarray
    box: Box | None
    status: str
    bands: tuple[tuple[str, int, int], ...] = ()

    __repr__ = short_repr

    @property
    def area(self) -> int:
        """Lung area in pixels of the mask grid."""
        return int(self.mask.sum())


def thirds(y0: int, y1: int) -> tuple[tuple[str, int, int], ...]:
    """Split rows [y0, y1) into upper, middle and lower thirds (exclusive ends)."""
    h = y1 - y0
    a, b = y0 + round(h / 3), y0 + round(2 * h / 3)
    return (("upper", y0, a), ("middle", a, b), ("lower", b, y1))


def make_lungs(right: np.ndarray, left: np.ndarray) -> tuple[Lung, Lung]:
    """Build the two `Lung`s (right first) from their masks, judging missing/small lungs.

    A lung is "missing" when its area is below `MISSING_FRACTION` of the other lung's or below
    `MIN_IMAGE_FRACTION` of the image, and "small" when below `SMALL_FRACTION` of the other's.
    """
    areas = (float(right.sum()), float(left.sum()))
    total = right.size
    out = []
    for k, (side, m) in enumerate(zip(SIDES, (right, left), strict=True)):
        other = areas[1 - k]
        if areas[k] < MIN_IMAGE_FRACTION * total or areas[k] < MISSING_FRACTION * other:
            out.append(Lung(side, m.astype(bool), mask_box(m), "missing"))
            continue
        status = "small" if areas[k] < SMALL_FRACTION * other else "present"
        box = mask_box(m)
        assert box is not None
        out.append(Lung(side, m.astype(bool), box, status, thirds(int(box.y0), int(box.y1))))
    return out[0], out[1]


def zone_label_map(lungs: tuple[Lung, Lung]) -> np.ndarray:
    """int8 map on the masks' grid: 0 outside the lungs, k+1 inside zone ``ZONE_NAMES[k]``."""
    out = np.zeros(lungs[0].mask.shape, dtype=np.int8)
    for s, lung in enumerate(lungs):
        for lv, (_, a, b) in enumerate(lung.bands):
            band = np.zeros_like(lung.mask)
            band[a:b] = True
            out[lung.mask & band & (out == 0)] = s * 3 + lv + 1
    return out


def zone_boxes(lungs: tuple[Lung, Lung]) -> dict[str, Box]:
    """Box of every zone of the present lungs (zone name -> box) on the masks' grid."""
    out: dict[str, Box] = {}
    for lung in lungs:
        for level, a, b in lung.bands:
            cols = np.flatnonzero(lung.mask[a:b].any(axis=0))
            if cols.size:
                rows = np.flatnonzero(lung.mask[a:b, cols[0]:cols[-1] + 1].any(axis=1))
                out[f"{lung.side} {level}"] = Box(float(cols[0]), float(a + rows[0]),
                                                  float(cols[-1] + 1), float(a + rows[-1] + 1))
    return out


def zone_fractions(heat: np.ndarray, labels: np.ndarray,
                   min_fraction: float = 0.01) -> tuple[tuple[str, float], ...]:
    """Fraction of a heatmap's total mass in each zone, largest first.

    `heat` (h, w) float >= 0 and `labels` (a `zone_label_map`) are both stretched over the same
    image; `heat` is resampled to the label grid. Zones under `min_fraction` are left out; the
    mass outside the lungs is 1 minus the sum. Returns () for an all-zero heatmap.
    """
    from radlens.grounding.heat import resample

    grid = resample(np.clip(heat, 0, None), labels.shape)
    total = float(grid.sum())
    if total <= 0:
        return ()
    mass = np.bincount(labels.ravel().astype(np.int64), weights=grid.ravel(),
                       minlength=len(ZONE_NAMES) + 1)[1:] / total
    pairs = [(ZONE_NAMES[k], round(float(v), 4)) for k, v in enumerate(mass) if v >= min_fraction]
    return tuple(sorted(pairs, key=lambda p: -p[1]))
