"""MedMNIST evaluation figures and the MedMNIST-C robustness scores.

Definitions follow the MedMNIST v2 evaluator (``medmnist.evaluator``) and the MedMNIST-C
evaluator (``medmnistc.eval``):

- AUC: binary-class -> ROC AUC of the class-1 score ``scores[:, -1]``; multi-class and
  ordinal-regression -> mean over classes of one-vs-rest ROC AUC.
- ACC: binary-class -> accuracy of ``scores[:, -1] > threshold`` (0.5); multi-class ->
  accuracy of the arg-max.
- QWK: quadratic-weighted Cohen's kappa of the arg-max (graded tasks such as RetinaMNIST).
- Balanced error (BE): 1 - balanced accuracy (mean per-class recall) of the same
  predictions as ACC.
- Robustness (MedMNIST-C): per corruption, BE averaged over the 5 severities; the normalised
  error ``BE_c / BE_c(baseline)`` and the relative error
  ``rBE_c = (BE_c - BE_clean) / (BE_c(baseline) - BE_clean(baseline))``, then both averaged
  over the corruptions. MedMNIST-C normalises by AlexNet; radlens by a ResNet-18 baseline
  trained the same way in the same run.

`scores`: (N, K) class probabilities (rows sum to 1); `y`: (N,) int class indices.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from radlens.metrics.classification import auroc
from radlens.metrics.stats import bootstrap_ci


def predictions(scores: np.ndarray, task: str, threshold: float = 0.5) -> np.ndarray:
    """Predicted classes (N,) as the MedMNIST evaluator makes them."""
    if task == "binary-class":
        return (scores[:, -1] > threshold).astype(np.int64)
    return np.asarray(scores.argmax(axis=1), dtype=np.int64)


def auc(y: np.ndarray, scores: np.ndarray, task: str) -> float:
    """MedMNIST AUC (see module docstring); NaN when a needed class is absent."""
    if task == "binary-class":
        return auroc((y == scores.shape[1] - 1).astype(float), scores[:, -1])
    per = [auroc((y == k).astype(float), scores[:, k]) for k in range(scores.shape[1])]
    finite = [a for a in per if not np.isnan(a)]
    return float(np.mean(finite)) if len(finite) == len(per) else float("nan")


def acc(y: np.ndarray, scores: np.ndarray, task: str, threshold: float = 0.5) -> float:
    """MedMNIST ACC (see module docstring)."""
    return float(np.mean(predictions(scores, task, threshold) == y)) if len(y) else float("nan")


def balanced_error(y: np.ndarray, scores: np.ndarray, task: str,
                   threshold: float = 0.5) -> float:
    """1 - balanced accuracy (mean recall over the classes present in `y`)."""
    pred = predictions(scores, task, threshold)
    classes = np.unique(y)
    if not len(classes):
        return float("nan")
    recall = [np.mean(pred[y == c] == c) for c in classes]
    return float(1.0 - np.mean(recall))


def quadratic_kappa(y: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    """Quadratic-weighted Cohen's kappa between true and predicted grades 0..n_classes-1."""
    conf = np.zeros((n_classes, n_classes))
    np.add.at(conf, (y, pred), 1)
    if conf.sum() == 0:
        return float("nan")
    idx = np.arange(n_classes)
    weights = (idx[:, None] - idx[None, :]) ** 2 / max(1, (n_classes - 1) ** 2)
    expected = np.outer(conf.sum(1), conf.sum(0)) / conf.sum()
    denom = (weights * expected).sum()
    return float(1.0 - (weights * conf).sum() / denom) if denom > 0 else float("nan")


def _ci(fn: Callable[[np.ndarray, np.ndarray], float], y: np.ndarray, scores: np.ndarray,
        n_boot: int, seed: int) -> dict[str, float | int]:
    return bootstrap_ci(lambda i: fn(y[i], scores[i]), len(y), n_boot, seed=seed).as_dict()


def evaluate_scores(y: np.ndarray, scores: np.ndarray, task: str, n_boot: int = 1000,
                    threshold: float = 0.5, seed: int = 0) -> dict[str, Any]:
    """AUC, ACC, balanced error (and QWK for ordinal/multi-class tasks) with 95% bootstrap
    CIs over images. Returns name -> {value, ci_low, ci_high, n, n_boot}, plus n and the
    class counts."""
    k = scores.shape[1]
    out: dict[str, Any] = {
        "n": len(y), "class_counts": np.bincount(y, minlength=k).tolist(),
        "auc": _ci(lambda a, b: auc(a, b, task), y, scores, n_boot, seed),
        "acc": _ci(lambda a, b: acc(a, b, task, threshold), y, scores, n_boot, seed),
        "balanced_error": _ci(lambda a, b: balanced_error(a, b, task, threshold), y, scores,
                              n_boot, seed)}
    if task != "binary-class":
        out["qwk"] = _ci(lambda a, b: quadratic_kappa(a, predictions(b, task), k), y, scores,
                         n_boot, seed)
    return out


def robustness_scores(clean: float, corrupted: Mapping[str, list[float]],
                      baseline_clean: float | None = None,
                      baseline: Mapping[str, list[float]] | None = None) -> dict[str, Any]:
    """MedMNIST-C scores from balanced errors.

    `clean`: clean BE; `corrupted`: corruption -> BE per severity (1..5). With a baseline
    (its clean BE and per-corruption severities): per corruption the normalised BE
    (``mean BE / mean baseline BE``) and relative BE (see module docstring); a corruption on
    which the baseline did not degrade (denominator <= 0) gets None. Returns
    {clean, per_corruption: {c: {mean, by_severity, normalised, relative}}, mean,
    normalised_mean, relative_mean}.
    """
    per: dict[str, dict[str, Any]] = {}
    for c, errs in corrupted.items():
        m = float(np.mean(errs))
        row: dict[str, Any] = {"mean": m, "by_severity": [float(e) for e in errs]}
        if baseline is not None and baseline_clean is not None and c in baseline:
            b = float(np.mean(baseline[c]))
            row["normalised"] = m / b if b > 0 else None
            row["relative"] = ((m - clean) / (b - baseline_clean)
                               if b - baseline_clean > 0 else None)
        per[c] = row
    out: dict[str, Any] = {"clean": clean, "per_corruption": per,
                           "mean": float(np.mean([r["mean"] for r in per.values()]))
                           if per else float("nan")}
    if baseline is not None:
        for key in ("normalised", "relative"):
            vals = [r[key] for r in per.values() if r.get(key) is not None]
            out[f"{key}_mean"] = float(np.mean(vals)) if vals else None
    return out
