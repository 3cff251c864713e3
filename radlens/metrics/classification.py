"""Classification metrics: AUROC, average precision, ECE, operating points, patient bootstrap.

All functions take binary targets `y` (0/1) and scores `p` (probabilities in [0, 1] or any
monotone score for the ranking metrics) as 1-D arrays of the same length. Metrics that are
undefined (one class only) return NaN.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from radlens.metrics.stats import Estimate, bootstrap_ci


def _rankdata(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=float)
    sorted_x = x[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_x)) + 1]
    ends = np.r_[starts[1:], len(x)]
    for s, e in zip(starts, ends, strict=True):
        ranks[order[s:e]] = (s + e + 1) / 2.0  # average rank, 1-based
    return ranks


def auroc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count half); NaN with one class."""
    y = np.asarray(y).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _rankdata(np.asarray(p, dtype=float))
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(y: np.ndarray, p: np.ndarray) -> float:
    """Average precision (area under the step precision-recall curve, as scikit-learn)."""
    y = np.asarray(y).astype(bool)
    if not y.any():
        return float("nan")
    order = np.argsort(-np.asarray(p, dtype=float), kind="mergesort")
    ps, ys = np.asarray(p, dtype=float)[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(ps)), len(ps) - 1]  # end of each tie group
    tp = np.cumsum(ys)[last]
    precision = tp / (last + 1)
    recall = tp / y.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def roc_curve(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false-positive rates, true-positive rates, thresholds), thresholds decreasing.

    Point k is "positive when p >= thresholds[k]"; a first point (0, 0) at threshold +inf.
    """
    y = np.asarray(y).astype(bool)
    p = np.asarray(p, dtype=float)
    order = np.argsort(-p, kind="mergesort")
    ps, ys = p[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(ps)), len(ps) - 1]
    tp = np.cumsum(ys)[last]
    fp = (last + 1) - tp
    tpr = np.r_[0.0, tp / max(int(y.sum()), 1)]
    fpr = np.r_[0.0, fp / max(int((~y).sum()), 1)]
    return fpr, tpr, np.r_[np.inf, ps[last]]


def sensitivity_specificity(y: np.ndarray, p: np.ndarray, threshold: float) -> tuple[float, float]:
    """(sensitivity, specificity) when calling positive at ``p >= threshold`` (NaN if undefined)."""
    y = np.asarray(y).astype(bool)
    call = np.asarray(p, dtype=float) >= threshold
    sens = float(call[y].mean()) if y.any() else float("nan")
    spec = float((~call[~y]).mean()) if (~y).any() else float("nan")
    return sens, spec


def threshold_at_sensitivity(y: np.ndarray, p: np.ndarray, target: float = 0.95) -> float:
    """The highest threshold whose sensitivity on (y, p) is at least `target` (in [0, 1])."""
    _, tpr, thr = roc_curve(y, p)
    ok = np.flatnonzero(tpr >= target)
    return float(thr[ok[0]]) if ok.size else float(np.min(p))


def threshold_youden(y: np.ndarray, p: np.ndarray) -> float:
    """The threshold maximising Youden's J = sensitivity + specificity - 1."""
    fpr, tpr, thr = roc_curve(y, p)
    k = int(np.argmax((tpr - fpr)[1:])) + 1
    return float(thr[k])


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """ECE with `bins` equal-width probability bins: sum_b (n_b/n) |mean(y_b) - mean(p_b)|."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if len(y) == 0:
        return float("nan")
    idx = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        sel = idx == b
        if sel.any():
            total += sel.mean() * abs(y[sel].mean() - p[sel].mean())
    return float(total)


def reliability_bins(y: np.ndarray, p: np.ndarray,
                     bins: int = 10) -> list[tuple[float, float, int]]:
    """Per non-empty bin: (mean predicted probability, observed frequency, count)."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    return [(float(p[idx == b].mean()), float(y[idx == b].mean()), int((idx == b).sum()))
            for b in range(bins) if (idx == b).any()]


def patient_bootstrap(metric: Callable[[np.ndarray, np.ndarray], float], y: np.ndarray,
                      p: np.ndarray, patients: Sequence[str], n_boot: int = 1000,
                      seed: int = 0) -> Estimate:
    """`metric(y, p)` with a 95% percentile-bootstrap CI that resamples patients, not images.

    `patients[i]` is the patient of item i; all items of a drawn patient enter the resample.
    """
    y = np.asarray(y)
    p = np.asarray(p)
    ids, inverse = np.unique(np.asarray(patients, dtype=object).astype(str), return_inverse=True)
    members = [np.flatnonzero(inverse == k) for k in range(len(ids))]

    def stat(idx: np.ndarray) -> float:
        rows = np.concatenate([members[k] for k in idx]) if len(idx) else np.array([], int)
        return metric(y[rows], p[rows])

    return bootstrap_ci(stat, len(ids), n_boot=n_boot, seed=seed)
