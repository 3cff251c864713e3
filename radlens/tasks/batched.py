"""The classifier over a batch of images: one backbone pass for probabilities and Grad-CAM.

`classify_batch` gives, for each image, exactly what `radlens.tasks.classify.classify` gives
for it alone (same findings, calls, thresholds and Grad-CAM regions), but runs the backbone
once over the whole batch and computes each positive finding's Grad-CAM from that pass's
feature map (the gradients only go through the small head), instead of one backbone pass for
the probabilities and another per image for the heatmaps. `radlens.reader.Reader` uses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from radlens.schema import Call, Finding, Image, Region
from radlens.tasks.classify import NO_FINDING, ClassifyResult, heat_region, stated_threshold

if TYPE_CHECKING:
    import torch

    from radlens.models.registry import LoadedModel


def calibrated(logits: np.ndarray, loaded: LoadedModel) -> np.ndarray:
    """Calibrated probabilities ``sigmoid(logit / temperature)`` per label, same shape as
    `logits` (..., L)."""
    out: np.ndarray = 1.0 / (1.0 + np.exp(-logits / loaded.temperatures))
    return out


def forward(loaded: LoadedModel, x: torch.Tensor, network: Any = None, tap: int = 0
            ) -> tuple[torch.Tensor, np.ndarray, torch.Tensor]:
    """Feature maps (N, C, h, w), calibrated probabilities (N, L) and the feature map after
    the first `tap` backbone blocks (the last feature map when `tap` is 0) for a batch `x`
    (N, 1, S, S) in [0, 1] (air dark, resized to the card's size S), without gradients.
    `network`: the classifier to run (default ``loaded.network``; e.g. a copy on a GPU)."""
    import torch

    from radlens.models.classifier import micro_batches

    net = network if network is not None else loaded.network
    fmaps, taps, logits = [], [], []
    with torch.no_grad():
        for part in micro_batches(x):  # a CPU runs small passes faster (cache-bound)
            if tap:
                fmap, tapped = net.feature_map_and_tap(part, tap)
            else:
                fmap = tapped = net.feature_map(part)
            fmaps.append(fmap)
            taps.append(tapped)
            logits.append(net.head(fmap).float().cpu())
    if len(fmaps) == 1:
        return fmaps[0], calibrated(logits[0].numpy(), loaded), taps[0]
    return (torch.cat(fmaps), calibrated(torch.cat(logits).numpy(), loaded),
            torch.cat(taps))


def findings_for(probs: np.ndarray, loaded: LoadedModel, population: str | None
                 ) -> list[tuple[str, float, float, float | None, Call, float | None]]:
    """(label, probability, threshold, uncertain_from, call, stated_from) per label of one
    image's calibrated probabilities (L,), with the card's temperatures and thresholds for
    `population` (the rules of `radlens.tasks.classify.classify`)."""
    out = []
    probs = loaded.population_probabilities(probs, population)
    for j, label in enumerate(loaded.labels):
        thr = loaded.threshold(label, population=population)
        kinds = loaded.card["thresholds"][label]
        low = loaded.threshold(label, "spec95" if "spec95" in kinds else "sens95",
                               population=population)
        unsure = low if low < thr else None
        p = float(probs[j])
        out.append((label, p, thr, unsure, Call.from_probability(p, thr, unsure),
                    stated_threshold(loaded.card, label, thr)))
    return out


def classify_batch(images: Sequence[Image], x: torch.Tensor, loaded: LoadedModel,
                   explain: bool = True, populations: Sequence[str | None] | None = None,
                   network: Any = None) -> list[ClassifyResult]:
    """Classify a batch: one `ClassifyResult` per image, as `classify` gives for each alone.

    `images`: the loaded images (for their size, to place the heatmap regions); `x`: their
    classifier input (N, 1, S, S), float in [0, 1], air dark, each resized whole to the
    card's size S (`radlens.models.classifier.preprocess`), on the network's device.
    `populations`: "adult", "paediatric" or None (unknown: adult thresholds) per image.
    `explain`: a Grad-CAM region for each positive finding other than No Finding.
    """
    from radlens.models.gradcam import grad_cam_from_features

    if len(images) != x.shape[0]:
        raise ValueError(f"{len(images)} images but a batch of {x.shape[0]}")
    pops = list(populations) if populations is not None else [None] * len(images)
    from radlens.models.ood import embed

    ood = getattr(loaded, "ood", None)  # OOD statistics (cards that carry them)
    fmap, probs, tapped = forward(loaded, x, network, ood.tap if ood is not None else 0)
    net = network if network is not None else loaded.network
    ood_scores = None
    if ood is not None:
        ood_scores = ood.score(embed(tapped, ood.tap))
    results = []
    for i, image in enumerate(images):
        calls = findings_for(probs[i], loaded, pops[i])
        positives = [j for j, c in enumerate(calls)
                     if c[4] is Call.POSITIVE and c[0] != NO_FINDING]
        regions: dict[int, Region] = {}
        if explain and positives:
            maps = grad_cam_from_features(net, fmap[i:i + 1], positives)
            for j, heat in maps.items():
                regions[j] = heat_region(heat, calls[j][0], calls[j][1], image.meta.width,
                                         image.meta.height)
        findings = tuple(
            Finding(label=label, probability=p, threshold=thr, call=call,
                    model=loaded.info.name, uncertain_from=unsure,
                    region_ids=(regions[j].id,) if j in regions else (), stated_from=high)
            for j, (label, p, thr, unsure, call, high) in enumerate(calls))
        extra: dict[str, Any] = {}
        if ood is not None and ood_scores is not None:
            extra = {"ood_score": float(ood_scores[i]), "ood_threshold": ood.threshold}
        results.append(ClassifyResult(findings, tuple(regions.values()), loaded.info, **extra))
    return results

