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
    rng = np.random.default_rng(seed)
    if statistic is None and a.ndim == 1:
        return _mean_randomization(a - b, n_perm, rng)
    stat = statistic or (lambda x: float(np.mean(x)))
    observed = abs(stat(a) - stat(b))
    count = 0
    for _ in range(n_perm):
        swap = np.asarray(rng.random(a.shape[0]) < 0.5)
        mask = swap.reshape((-1,) + (1,) * (a.ndim - 1))
        pa = np.where(mask, b, a)
        pb = np.where(mask, a, b)
        if abs(stat(pa) - stat(pb)) >= observed - 1e-12:
            count += 1
    return (count + 1) / (n_perm + 1)


def _mean_randomization(diff: np.ndarray, n_perm: int, rng: np.random.Generator) -> float:
    """The mean-statistic case of `paired_randomization_test`, vectorised over permutations.

    Draws the same random numbers in the same order as the general loop, so both give the same
    p-value: swapping A and B on an item flips the sign of its difference.
    """
    n = diff.shape[0]
    observed = abs(float(np.mean(diff)))
    batch = max(1, min(n_perm, 1_000_000 // max(n, 1)))
    count = 0
    done = 0
    while done < n_perm:
        k = min(batch, n_perm - done)
        swap = rng.random((k, n)) < 0.5
        perm = np.abs(np.where(swap, -diff, diff).mean(axis=1))
        count += int(np.count_nonzero(perm >= observed - 1e-12))
        done += k
    return (count + 1) / (n_perm + 1)


def paired_randomization_test_sums(stats_a: np.ndarray, stats_b: np.ndarray,
                                   from_sums: Callable[[np.ndarray], np.ndarray],
                                   n_perm: int = 10000, seed: int = 0) -> float:
    """`paired_randomization_test` for aggregates that are functions of column sums.

    `stats_a`, `stats_b`: per-item statistics (n, k) of systems A and B on the same items;
    `from_sums` maps an (m, k) array of column sums to the m aggregate values. Uses the same
    random swaps as `paired_randomization_test` with ``statistic = from_sums(sum)`` (so the same
    p-value), but evaluates permutations in vectorised batches.
    """
    a = np.asarray(stats_a, dtype=float)
    b = np.asarray(stats_b, dtype=float)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"paired stats must be two (n, k) arrays: {a.shape} vs {b.shape}")
    n = a.shape[0]
    rng = np.random.default_rng(seed)
    sum_a, sum_b = a.sum(axis=0), b.sum(axis=0)
    observed = float(abs(from_sums(sum_a[None, :])[0] - from_sums(sum_b[None, :])[0]))
    delta = b - a
    batch = max(1, min(n_perm, 2_000_000 // max(n, 1)))
    count = 0
    done = 0
    while done < n_perm:
        m = min(batch, n_perm - done)
        swap = (rng.random((m, n)) < 0.5).astype(float)
        moved = swap @ delta
        diff = np.abs(from_sums(sum_a + moved) - from_sums(sum_b - moved))
        count += int(np.count_nonzero(diff >= observed - 1e-12))
        done += m
    return (count + 1) / (n_perm + 1)
