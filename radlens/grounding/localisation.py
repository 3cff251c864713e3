"""Finding-localisation evaluation: expert-box data, the metrics, and the reference pointers.

Data: a folder with ``images/`` and one COCO file of finding boxes (e.g. ``tbx11k-tb`` with
``tb-boxes.json``); every image in the COCO file is positive for the finding. One image is one
patient unless the file name says otherwise.

Metrics, per image with a heatmap (stretched over the image) and scored boxes:
pointing game (is the heatmap's hottest cell inside one of the image's boxes?), the fraction
of heat mass inside the boxes, and box average precision at IoU 0.3 / 0.5 over all images.

Reference pointers: the image centre, a random point inside the segmented lungs, and the
training-set location prior (box-coverage frequency in normalised coordinates; its single
most likely point). Boxes of the point baselines have the training boxes' median size.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from radlens.errors import DataError
from radlens.schema import Box

GRID = 64


@dataclass(frozen=True)
class BoxSample:
    """One image with its expert boxes (image pixels) and the image size (height, width)."""

    image: str
    patient_id: str
    boxes: tuple[Box, ...]
    size: tuple[int, int]


def load_box_set(root: str | Path, coco: str = "tb-boxes.json") -> list[BoxSample]:
    """Images with boxes from ``root/images`` and ``root/<coco>``; `DataError` when malformed."""
    base = Path(root).expanduser()
    path = base / coco
    if not path.is_file():
        raise DataError(f"no {coco} (COCO finding boxes)", base)
    try:
        data = json.loads(path.read_text("utf-8"))
        boxes: dict[int, list[Box]] = {}
        for a in data["annotations"]:
            x, y, w, h = (float(v) for v in a["bbox"])
            boxes.setdefault(int(a["image_id"]), []).append(Box(x, y, x + w, y + h))
        out = [BoxSample(str(base / "images" / im["file_name"]),
                         f"{base.name}:{Path(im['file_name']).stem}",
                         tuple(boxes.get(int(im["id"]), ())),
                         (int(im["height"]), int(im["width"])))
               for im in data["images"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"not a COCO box file ({exc})", path) from exc
    return [s for s in out if s.boxes and Path(s.image).is_file()]


def box_mask(boxes: Sequence[Box], size: tuple[int, int], grid: int = GRID) -> np.ndarray:
    """Boolean (grid, grid) map of the cells whose centre lies in any box (stretch convention)."""
    h, w = size
    ys = (np.arange(grid) + 0.5) * h / grid
    xs = (np.arange(grid) + 0.5) * w / grid
    out = np.zeros((grid, grid), bool)
    for b in boxes:
        out |= ((ys >= b.y0) & (ys < b.y1))[:, None] & ((xs >= b.x0) & (xs < b.x1))[None, :]
    return out


def pointing_hit(heat: np.ndarray, boxes: Sequence[Box], size: tuple[int, int]) -> bool:
    """True when the centre of the heatmap's hottest cell lies inside one of `boxes`."""
    from radlens.grounding.heat import peak

    x, y = peak(heat, size)
    return any(b.x0 <= x < b.x1 and b.y0 <= y < b.y1 for b in boxes)


def mass_in_boxes(heat: np.ndarray, boxes: Sequence[Box], size: tuple[int, int]) -> float:
    """Fraction of the heatmap's mass inside the boxes (0 for an all-zero heatmap)."""
    from radlens.grounding.heat import resample

    g = np.clip(resample(heat, (GRID, GRID)), 0, None)
    total = float(g.sum())
    return float(g[box_mask(boxes, size)].sum()) / total if total > 0 else 0.0


def average_precision(preds: Sequence[Sequence[tuple[Box, float]]],
                      truths: Sequence[Sequence[Box]], iou: float) -> float:
    """VOC-style (all-point) average precision of scored boxes against true boxes.

    `preds[i]` and `truths[i]` belong to image i. A prediction is a true positive when its IoU
    with a not-yet-matched true box of its image is at least `iou` (highest scores first).
    """
    flat = sorted(((s, i, b) for i, p in enumerate(preds) for b, s in p), key=lambda t: -t[0])
    n_true = sum(len(t) for t in truths)
    if n_true == 0:
        return float("nan")
    used = [np.zeros(len(t), bool) for t in truths]
    tp = np.zeros(len(flat))
    for k, (_, i, b) in enumerate(flat):
        ious = np.array([b.iou(t) for t in truths[i]])
        if ious.size:
            ious[used[i]] = -1
            j = int(np.argmax(ious))
            if ious[j] >= iou:
                used[i][j] = True
                tp[k] = 1
    if not flat:
        return 0.0
    ctp = np.cumsum(tp)
    recall = ctp / n_true
    precision = ctp / np.arange(1, len(flat) + 1)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    r = np.concatenate([[0.0], recall])
    return float(np.sum((r[1:] - r[:-1]) * envelope))


def location_prior(train: Sequence[BoxSample]) -> np.ndarray:
    """(GRID, GRID) frequency with which each normalised cell is covered by a training box."""
    acc = np.zeros((GRID, GRID))
    for s in train:
        acc += box_mask(s.boxes, s.size)
    return (acc / max(len(train), 1)).astype(np.float32)


def median_box_size(train: Sequence[BoxSample]) -> tuple[float, float]:
    """Median (width, height) of the training boxes as fractions of their image's size."""
    ws = [(b.x1 - b.x0) / s.size[1] for s in train for b in s.boxes]
    hs = [(b.y1 - b.y0) / s.size[0] for s in train for b in s.boxes]
    return (float(np.median(ws)), float(np.median(hs))) if ws else (0.25, 0.25)


def point_heat(x: float, y: float, size: tuple[int, int], sigma: float = 0.08) -> np.ndarray:
    """A Gaussian (GRID, GRID) heatmap centred on image point (x, y); sigma in image fractions."""
    h, w = size
    ys = (np.arange(GRID) + 0.5) / GRID - y / h
    xs = (np.arange(GRID) + 0.5) / GRID - x / w
    return np.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / (2 * sigma**2)).astype(np.float32)


def box_at(x: float, y: float, wh: tuple[float, float], size: tuple[int, int]) -> Box:
    """A box of relative size `wh` centred on (x, y), clipped to the image."""
    h, w = size
    bw, bh = wh[0] * w, wh[1] * h
    return Box(max(0.0, x - bw / 2), max(0.0, y - bh / 2), min(float(w), x + bw / 2),
               min(float(h), y + bh / 2))
