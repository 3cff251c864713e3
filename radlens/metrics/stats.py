"""Statistics shared by every metric: bootstrap confidence intervals and paired tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its (1 - alpha) percentile-bootstrap confidence interval."""

    value: float
    low: float
    high: float
    n: int
    n_boot: int

    def as_dict(self) -> dict[str, float | int]:
        return {"value": self.value, "ci_low": self.low, "ci_high": self.high, "n": self.n,
                "n_boot": self.n_boot}


def bootstrap_ci(statistic: Callable[[np.ndarray], float], n: int, n_boot: int = 1000,
                 alpha: float = 0.05, seed: int = 0) -> Estimate:
    """Percentile bootstrap over `n` items.

    `statistic(indices)` computes the metric on the items at `indices` (an int array, with
    repeats); it is called once with ``arange(n)`` for the point estimate and `n_boot` times on
    resamples with replacement. Resamples on which the statistic is NaN (e.g. AUROC with one
    class) are skipped. Returns the point estimate and the alpha/2, 1-alpha/2 percentiles.
    """
    if n <= 0:
        nan = float("nan")
        return Estimate(nan, nan, nan, 0, 0)
    rng = np.random.default_rng(seed)
    point = float(statistic(np.arange(n)))
    stats = np.array([statistic(rng.integers(0, n, n)) for _ in range(n_boot)], dtype=float)
    stats = stats[~np.isnan(stats)]
    if stats.size == 0:
        return Estimate(point, float("nan"), float("nan"), n, 0)
    low, high = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return Estimate(point, float(low), float(high), n, int(stats.size))


def paired_randomization_test(scores_a: np.ndarray, scores_b: np.ndarray,
                              statistic: Callable[[np.ndarray], float] | None = None,
                              n_perm: int = 10000, seed: int = 0) -> float:
    """Two-sided approximate randomisation test that systems A and B score the same.

    `scores_a`, `scores_b`: per-item scores of the two systems on the same items (same order),
    shape (n,) or (n, k) when `statistic` needs several columns per item. `statistic` maps an
    (n, ...) array of one system's item scores to the aggregate (default: the mean). Each
    permutation swaps A and B on a random half of the items. Returns the p-value
    ``(count + 1) / (n_perm + 1)`` of |stat(A) - stat(B)| being at least the observed one.
    """
    a = np.asarray(scores_a, dtype=float)
    b = np.asarray(scores_b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired scores differ in shape: {a.shape} vs {b.shape}")
    stat = statistic or (lambda x: float(np.mean(x)))
    observed = abs(stat(a) - stat(b))
    rng = np.random.default_rng(seed)
    count = 0
    for _ in range(n_perm):
        swap = rng.random(a.shape[0]) < 0.5
        mask = swap.reshape((-1,) + (1,) * (a.ndim - 1))
        pa = np.where(mask, b, a)
        pb = np.where(mask, a, b)
        if abs(stat(pa) - stat(pb)) >= observed - 1e-12:
            count += 1
    return (count + 1) / (n_perm + 1)
