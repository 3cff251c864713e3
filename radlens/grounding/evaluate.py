"""Evaluate lung segmentation against the development masks and lung boxes.

Per image and lung (patient's right, left) and per mask convention the image is annotated
with: Dice, HD95 (pixels of the original image; the image diagonal when a lung is missed)
and, where `lung-boxes.json` has the image, box IoU (against the "full" convention output,
which the boxes follow best). The learned segmenter and the classical baseline
(`radlens.grounding.baseline`) are scored on the same images in one run. Aggregates are means
over images with 95% bootstrap CIs over images.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from radlens.grounding.data import MaskSample, side_masks
from radlens.grounding.metrics import dice, hd95
from radlens.grounding.zones import SIDES, mask_box
from radlens.metrics.stats import bootstrap_ci

Segmenter = Callable[[Any, str], tuple[np.ndarray, np.ndarray]]


def learned(model: str | None) -> Segmenter:
    """A segmenter function (image, convention) -> (right, left) from a segmentation model."""
    from radlens.tasks.segment import segment_lungs

    def run(image: Any, convention: str) -> tuple[np.ndarray, np.ndarray]:
        res = segment_lungs(image, model, convention)
        return res.right.mask, res.left.mask

    return run


def classical(image: Any, convention: str) -> tuple[np.ndarray, np.ndarray]:
    """The threshold-and-morphology baseline as a segmenter function (ignores convention)."""
    from radlens.grounding.baseline import threshold_lungs

    return threshold_lungs(image.pixels)


def score_image(sample: MaskSample, image: Any, systems: dict[str, Segmenter]) -> list[dict[str,
                                                                                           Any]]:
    """Rows (one per system x convention) of per-lung Dice, HD95 and box IoU for one image."""
    rows = []
    for conv, path in sorted(sample.masks.items()):
        ref = side_masks(path)
        for name, seg in systems.items():
            pred = seg(image, conv)
            row: dict[str, Any] = {"image": sample.stem, "patient": sample.patient_id,
                                   "system": name, "convention": conv}
            for k, side in enumerate(SIDES):
                row[f"dice_{side}"] = dice(pred[k], ref[k])
                d = hd95(pred[k], ref[k])
                row[f"missed_{side}"] = not math.isfinite(d)
                # a missed (or invented) lung scores the image diagonal, the largest distance
                row[f"hd95_{side}"] = d if math.isfinite(d) else float(np.hypot(*ref[k].shape))
                box = mask_box(pred[k])
                if conv == "full" and side in sample.boxes:
                    row[f"box_iou_{side}"] = 0.0 if box is None else box.iou(sample.boxes[side])
            rows.append(row)
    return rows


def _estimate(values: Sequence[float], n_boot: int) -> dict[str, float]:
    v = np.asarray([x for x in values if not math.isnan(x)], dtype=float)
    if v.size == 0:
        return {"n": 0}
    est = bootstrap_ci(lambda i: float(v[i].mean()), v.size, n_boot)
    return {"mean": est.value, "ci_low": est.low, "ci_high": est.high, "n": int(v.size)}


def summarise(rows: list[dict[str, Any]], n_boot: int = 1000) -> dict[str, Any]:
    """Aggregates per system and convention: mean Dice (both lungs, per image, and per lung),
    mean HD95 per lung (a missed lung counts as the image diagonal; `missed_<side>` counts
    them) and box IoU, with 95% CIs."""
    out: dict[str, Any] = {}
    for system in dict.fromkeys(r["system"] for r in rows):
        for conv in dict.fromkeys(r["convention"] for r in rows):
            rs = [r for r in rows if r["system"] == system and r["convention"] == conv]
            if not rs:
                continue
            agg = {"dice": _estimate([(r["dice_right"] + r["dice_left"]) / 2 for r in rs],
                                     n_boot)}
            for side in SIDES:
                agg[f"dice_{side}"] = _estimate([r[f"dice_{side}"] for r in rs], n_boot)
                agg[f"hd95_{side}"] = _estimate([r[f"hd95_{side}"] for r in rs], n_boot)
                agg[f"missed_{side}"] = {"n": sum(r[f"missed_{side}"] for r in rs)}
            ious = [r[f"box_iou_{s}"] for r in rs for s in SIDES if f"box_iou_{s}" in r]
            if ious:
                agg["box_iou"] = _estimate(ious, n_boot)
            out[f"{system}/{conv}"] = agg
    return out


def evaluate(samples: Sequence[MaskSample], model: str | None, baseline: bool = True,
             progress: bool = True, n_boot: int = 1000) -> dict[str, Any]:
    """Score the segmenter (and the baseline) on `samples`; returns summary and per-image rows.

    Images are loaded with `radlens.io.load_image`; every figure is in original pixels.
    """
    from radlens.io import load_image

    systems: dict[str, Segmenter] = {"radlens": learned(model)}
    if baseline:
        systems["threshold-baseline"] = classical
    rows: list[dict[str, Any]] = []
    it: Sequence[MaskSample] = samples
    if progress:
        from tqdm import tqdm

        it = tqdm(samples, desc="evaluating", unit="img")
    for s in it:
        rows.extend(score_image(s, load_image(s.image), systems))
    return {"n_images": len(samples), "n_patients": len({s.patient_id for s in samples}),
            "summary": summarise(rows, n_boot), "rows": rows}
