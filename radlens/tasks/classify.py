"""Classify one image: calibrated findings with calls, and Grad-CAM regions for positives."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from radlens.errors import ModelError
from radlens.schema import Box, Call, Finding, Image, ModelInfo, Region, RegionKind

if TYPE_CHECKING:
    from radlens.models.registry import LoadedModel

NO_FINDING = "No Finding"


@dataclass(frozen=True)
class ClassifyResult:
    """Findings (one per model label), Grad-CAM regions they point at, and the model used."""

    findings: tuple[Finding, ...]
    regions: tuple[Region, ...]
    model: ModelInfo
    ood_score: float | None = None      # `radlens.models.ood` score; None without statistics
    ood_threshold: float | None = None


def probabilities(image: Image, model: str | None = None) -> tuple[np.ndarray, LoadedModel]:
    """Calibrated probabilities (L,) for `image` and the loaded model (see `classify`)."""
    probs, loaded, _ = scored(image, model)
    return probs, loaded


def scored(image: Image, model: str | None = None
           ) -> tuple[np.ndarray, LoadedModel, float | None]:
    """Calibrated probabilities (L,), the loaded model and the out-of-distribution score of
    `image` (`radlens.models.ood`; None when the card has no OOD statistics), from one
    forward pass."""
    import torch

    from radlens.models import registry
    from radlens.models.classifier import preprocess

    name = model or registry.default_model("classify")
    if name is None:
        raise ModelError("no classifier is installed (radlens/weights has no model card)")
    loaded = registry.load(name)  # inference uses the process's torch thread setting
    x = preprocess(image.pixels, loaded.size)
    from radlens.models import ood

    stats = loaded.ood
    with torch.no_grad():
        if stats is not None and stats.tap:
            fmap, tapped = loaded.network.feature_map_and_tap(x, stats.tap)
        else:
            fmap = tapped = loaded.network.feature_map(x)
        logits = loaded.network.head(fmap)[0].numpy()
    score = float(stats.score(ood.embed(tapped, stats.tap))[0]) if stats is not None else None
    return 1.0 / (1.0 + np.exp(-logits / loaded.temperatures)), loaded, score


def heat_region(heatmap: np.ndarray, label: str, score: float, width: int,
                height: int) -> Region:
    """A FINDING region from a heatmap: box of the cells >= 0.5, side from the mass balance.

    The side is the patient's: mass mostly (> 65%) on the image's left half is the patient's
    right on a standard PA/AP display.
    """
    h, w = heatmap.shape
    rows, cols = np.nonzero(heatmap >= 0.5)
    box = None
    if rows.size:
        box = Box(cols.min() * width / w, rows.min() * height / h,
                  (cols.max() + 1) * width / w, (rows.max() + 1) * height / h)
    total = float(heatmap.sum())
    side = None
    if total > 0:
        left_image = float(heatmap[:, : w // 2].sum()) / total
        side = "right" if left_image > 0.65 else "left" if left_image < 0.35 else None
    return Region(id=uuid.uuid4().hex, kind=RegionKind.FINDING, label=label, box=box,
                  heatmap=heatmap.astype(np.float32), side=side, score=score)


def stated_threshold(card: dict[str, Any], label: str, threshold: float) -> float | None:
    """The card's high-specificity threshold of `label` ("spec95") when it lies above the
    operating `threshold`, else None (older cards have none: positives are then stated)."""
    value = card.get("thresholds", {}).get(label, {}).get("spec95")
    if value is None:
        return None
    return float(value) if float(value) > threshold else None


def classify(image: Image, model: str | None = None, explain: bool = True,
             population: str | None = None) -> ClassifyResult:
    """Run the finding classifier on `image` (pixels in [0, 1], air dark, as loaded by radlens).

    `model`: a bundled model name, a model card path or a run folder (default: the bundled
    default, `radlens.models.registry.default_model`). Every label gets a `Finding` with its
    calibrated probability, the card's default threshold ("operating" on many-label cards,
    maximum Youden on older ones) and the call; probabilities between the lower threshold
    (`uncertain_from`: the card's 95%-specificity threshold "spec95" where it has one, else the
    95%-sensitivity one, when lower than the default) and the default threshold are called
    uncertain. The 95%-specificity threshold (when above the default) becomes `stated_from`:
    positives below it are in the "possible" certainty band. With `explain`, each positive
    finding (other than No Finding) gets a Grad-CAM `Region`. The result also carries the
    out-of-distribution score and threshold when the card has OOD statistics.
    `population` ("adult", "paediatric" or None for unknown): use the card's temperatures and
    thresholds for that population when it has them (``population_calibration``,
    ``population_thresholds``); unknown -> adult ones.
    Raises `ModelError` when no model is available.
    """
    from radlens.models.classifier import preprocess
    from radlens.models.gradcam import grad_cam

    probs, loaded, ood_score = scored(image, model)
    probs = loaded.population_probabilities(probs, population)
    calls = []
    high: dict[str, float | None] = {}
    for j, label in enumerate(loaded.labels):
        thr = loaded.threshold(label, population=population)
        # the "uncertain" band starts at the 95%-specificity threshold where the card has one
        # (many-label cards: sens95 lies near 0 for rare labels); older cards use sens95
        kinds = loaded.card["thresholds"][label]
        low = loaded.threshold(label, "spec95" if "spec95" in kinds else "sens95",
                               population=population)
        unsure = low if low < thr else None
        high[label] = stated_threshold(loaded.card, label, thr)
        calls.append((label, float(probs[j]), thr, unsure,
                      Call.from_probability(float(probs[j]), thr, unsure)))
    positives = [j for j, c in enumerate(calls) if c[4] is Call.POSITIVE and c[0] != NO_FINDING]
    regions: dict[int, Region] = {}
    if explain and positives:
        maps = grad_cam(loaded.network, preprocess(image.pixels, loaded.size), positives)
        for j, heat in maps.items():
            regions[j] = heat_region(heat, calls[j][0], calls[j][1], image.meta.width,
                                     image.meta.height)
    findings = tuple(
        Finding(label=label, probability=p, threshold=thr, call=call, model=loaded.info.name,
                uncertain_from=unsure, region_ids=(regions[j].id,) if j in regions else (),
                stated_from=high[label])
        for j, (label, p, thr, unsure, call) in enumerate(calls))
    ood_threshold = loaded.ood.threshold if loaded.ood is not None else None
    return ClassifyResult(findings, tuple(regions.values()), loaded.info, ood_score,
                          ood_threshold)
