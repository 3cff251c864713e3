"""Fitting the out-of-distribution statistics of a trained finding classifier.

`export_run` calls `fit_run` after training: the pooled embeddings of the run's training films
give the statistics, its validation films the threshold (`radlens.models.ood`). The result is
``<run>/model.ood.safetensors`` and a card entry (``card["ood"]``) with the held-in false-alarm
rate per population.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from radlens.models import ood
from radlens.models.classifier import FindingClassifier

log = logging.getLogger(__name__)


def embed_images(model: FindingClassifier, images: np.ndarray, tap: int = 11,
                 batch: int = 32, progress: bool = True) -> np.ndarray:
    """OOD embeddings (N, D) float32 (`radlens.models.ood.embed` at `tap`) of uint8 images
    (N, S, S), air dark, already resized to the model's input size (as
    `radlens.data.samples` caches them)."""
    model.eval()
    out = []
    starts = range(0, len(images), batch)
    with torch.no_grad():
        for s in tqdm(starts, desc="OOD embeddings", unit="batch", disable=not progress,
                      leave=False):
            x = torch.from_numpy(np.asarray(images[s:s + batch])).float().div_(255)[:, None]
            fmap, tapped = model.feature_map_and_tap(x, tap)
            out.append(ood.embed(tapped if tap else fmap, tap))
    if not out:
        return np.zeros((0, 0), np.float32)
    return np.concatenate(out).astype(np.float32)


def fit_run(model: FindingClassifier, train_images: np.ndarray, val_images: np.ndarray,
            val_meta: list[dict[str, Any]], out: Path, k: int | None = None, quantile: float = 0.99,
            tap: int = 11, progress: bool = True) -> dict[str, Any]:
    """Fit and save ``out/model.ood.safetensors``; returns the card entry (file, sha256,
    method, threshold, validation false-alarm rate overall and per population)."""
    train = embed_images(model, train_images, tap, progress=progress)
    val = embed_images(model, val_images, tap, progress=progress)
    stats = ood.fit(train, val, k=k, quantile=quantile, tap=tap)
    path = out / "model.ood.safetensors"
    stats.save(path)
    scores = stats.score(val)
    pops = np.asarray([str(m.get("population") or "unknown") for m in val_meta])
    rates = {p: {"n": int((pops == p).sum()),
                 "false_alarm_rate": float(np.mean(scores[pops == p] > stats.threshold))}
             for p in sorted(set(pops))}
    log.info("OOD threshold %.3f (%.0f%% quantile of %d validation films)", stats.threshold,
             quantile * 100, len(val))
    return {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "embedding": (f"channel mean and std of the feature map after MBConv block {tap}"
                          if tap else "mean of the last feature map"),
            "tap_blocks": tap,
            "method": ("Mahalanobis distance of the embedding under one Gaussian "
                       "(Ledoit-Wolf shrunk covariance), divided by sqrt(dim)" if k is None else
                       f"probabilistic-PCA Mahalanobis distance (k={k}), divided by sqrt(dim)")
                      + "; radlens.models.ood",
            "threshold": stats.threshold,
            "threshold_rule": f"{quantile:.0%} quantile of the model's validation films",
            "fitted_on": {"train_images": len(train), "val_images": len(val)},
            "validation_false_alarm": {"all": float(np.mean(scores > stats.threshold)),
                                       "by_population": rates}}
