"""Generator metrics on feature (or pixel) vectors: plain numpy / scipy, no model.

- `frechet_distance`: the Fréchet distance between Gaussians fitted to two sets of vectors
  (FID's formula, here in whatever feature space the caller uses);
- `precision_recall`: improved precision and recall of Kynkäänniemi et al. 2019 (each set's
  manifold = union of balls reaching each point's k-th nearest neighbour in its own set);
- `nn_distances`: Euclidean distance from every query vector to its nearest reference vector;
- `share_below`: the share of values strictly below a threshold.

Vectors are float arrays (N, D); distances are Euclidean in the same units as the vectors.
"""

from __future__ import annotations

import numpy as np


def _as2d(a: np.ndarray) -> np.ndarray:
    x = np.asarray(a, dtype=np.float64)
    return x.reshape(len(x), -1)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) for vectors (N, D) and (M, D)
    (both N, M >= 2). 0 for identical sets; never negative."""
    from scipy import linalg

    x, y = _as2d(a), _as2d(b)
    if len(x) < 2 or len(y) < 2:
        raise ValueError("the Fréchet distance needs at least 2 vectors per set")
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.atleast_2d(np.cov(x, rowvar=False)), np.atleast_2d(np.cov(y, rowvar=False))
    covmean = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        eps = np.eye(len(s1)) * 1e-6
        covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = np.real(covmean)
    value = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2)
                  - 2 * np.trace(covmean))
    return max(0.0, value)


def pairwise(a: np.ndarray, b: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Euclidean distances (N, M) between the rows of `a` (N, D) and `b` (M, D)."""
    x, y = _as2d(a), _as2d(b)
    yy = (y ** 2).sum(1)
    out = np.empty((len(x), len(y)), np.float64)
    for s in range(0, len(x), chunk):
        xs = x[s:s + chunk]
        d2 = (xs ** 2).sum(1)[:, None] + yy[None] - 2 * xs @ y.T
        out[s:s + chunk] = np.sqrt(np.maximum(d2, 0))
    return out


def knn_radii(a: np.ndarray, k: int = 3) -> np.ndarray:
    """Distance from each row of `a` to its k-th nearest other row (N,)."""
    d = pairwise(a, a)
    np.fill_diagonal(d, np.inf)
    if len(d) <= k:
        raise ValueError(f"k-NN radii need more than k={k} vectors")
    return np.partition(d, k - 1, axis=1)[:, k - 1]


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """(precision, recall), Kynkäänniemi et al. 2019: precision = share of `fake` rows inside
    the real manifold (within some real row's k-NN radius); recall = share of `real` rows
    inside the fake manifold. Both in [0, 1]."""
    r_rad, f_rad = knn_radii(real, k), knn_radii(fake, k)
    d = pairwise(fake, real)  # (F, R)
    precision = float((d <= r_rad[None, :]).any(1).mean())
    recall = float((d.T <= f_rad[None, :]).any(1).mean())
    return precision, recall


def nn_distances(query: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance, index) of each query row's nearest `ref` row: float (N,), int (N,)."""
    d = pairwise(query, ref)
    idx = d.argmin(1)
    return d[np.arange(len(d)), idx], idx


def share_below(values: np.ndarray, threshold: float) -> float:
    """Share of `values` strictly below `threshold` (0 for an empty array)."""
    v = np.asarray(values, dtype=np.float64)
    return float((v < threshold).mean()) if v.size else 0.0
