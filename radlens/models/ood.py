"""Out-of-distribution score of a finding classifier: how far an image's embedding lies from
the embeddings of the films the model was trained on.

The embedding (`embed`) is the per-channel mean and standard deviation over space of a feature
map tapped inside the classifier's backbone, in the same forward pass that gives the
probabilities: by default after the first `tap` = 11 MBConv blocks of EfficientNet-Lite (the
frozen ImageNet prefix of the adult recipe, 2 x 112 = 224-d), which describes the kind of image
(texture, contrast, anatomy layout) rather than the findings; ``tap = 0`` uses the mean of the
last feature map (1280-d). On development data the tapped prefix separated laterals and other
modalities far better than the last layer (benchmarks/ood_rates.py). The training
embeddings are modelled as one Gaussian (as in Lee et al. 2018, "A simple unified framework
for detecting out-of-distribution samples"), its covariance shrunk towards a multiple of the
identity with the Ledoit-Wolf weight, so that hundreds of dimensions are estimable from a few
thousand films. The score is the
Mahalanobis distance under that model, divided by sqrt(D) so that a typical training film
scores about 1:

    d(x)^2 = (sum_i z_i^2 / lambda_i + |r|^2 / sigma^2) / D

with z the coordinates of x - mean on the kept eigen-directions (all of them by default),
lambda their shrunk variances and D the embedding size; with `k` < D directions kept, the
residual r shares one variance sigma^2 (probabilistic PCA, Tipping & Bishop 1999).
The threshold is a high quantile (default 99%) of the scores of the model's own validation
films, so about 1% of held-in films are flagged by construction; the card
records the measured false-alarm and hit rates. Statistics are stored as safetensors beside
the weights (``<model>.ood.safetensors``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from radlens.errors import ModelError


@dataclass(frozen=True)
class OODStats:
    """Fitted embedding statistics: `mean` (D,), `components` (k, D) orthonormal rows,
    `variances` (k,) along them, `residual_variance` (scalar; 0 when every direction is kept)
    and the score `threshold`."""

    mean: np.ndarray
    components: np.ndarray
    variances: np.ndarray
    residual_variance: float
    threshold: float
    tap: int = 0

    def __repr__(self) -> str:
        return (f"OODStats(dim={self.mean.shape[0]}, k={self.components.shape[0]}, "
                f"tap={self.tap}, threshold={self.threshold:.3f})")

    def score(self, features: np.ndarray) -> np.ndarray:
        """Scores (N,) >= 0 of embeddings (N, D) (or one (D,) -> shape (1,)); ~1 in-distribution."""
        x = np.atleast_2d(np.asarray(features, np.float64))
        if x.ndim != 2 or x.shape[1] != self.mean.shape[0]:
            raise ModelError(f"OOD statistics expect {self.mean.shape[0]}-d embeddings, "
                             f"got shape {np.shape(features)}")
        x = x - self.mean
        z = x @ self.components.T
        d2 = np.sum(z * z / self.variances, axis=1)
        if self.residual_variance > 0:
            resid = np.sum(x * x, axis=1) - np.sum(z * z, axis=1)
            d2 = d2 + np.maximum(resid, 0.0) / self.residual_variance
        return np.sqrt(d2 / x.shape[1])

    def save(self, path: str | Path) -> None:
        """Write the statistics as safetensors (float32/float64 tensors)."""
        import torch
        from safetensors.torch import save_file

        save_file({"mean": torch.from_numpy(self.mean.astype(np.float32)),
                   "components": torch.from_numpy(self.components.astype(np.float32)),
                   "variances": torch.from_numpy(self.variances.astype(np.float64)),
                   "residual_variance": torch.tensor([self.residual_variance], dtype=torch.float64),
                   "threshold": torch.tensor([self.threshold], dtype=torch.float64),
                   "tap": torch.tensor([self.tap], dtype=torch.int64)},
                  str(path))


def load(path: str | Path) -> OODStats:
    """Read statistics written by `OODStats.save`; `ModelError` naming the file when unreadable."""
    from safetensors.numpy import load_file

    try:
        t = load_file(str(path))
        return OODStats(mean=t["mean"].astype(np.float64),
                        components=t["components"].astype(np.float64),
                        variances=t["variances"].astype(np.float64),
                        residual_variance=float(t["residual_variance"][0]),
                        threshold=float(t["threshold"][0]),
                        tap=int(t["tap"][0]) if "tap" in t else 0)
    except Exception as exc:  # safetensors raises its own error type on a corrupt file
        raise ModelError(f"cannot read OOD statistics: {exc}", str(path)) from exc


def embed(feature_map: Any, tap: int) -> np.ndarray:
    """Embeddings (N, D) float32 of a feature-map batch (N, C, h, w) (torch tensor or array):
    channel means and standard deviations over space (D = 2C) for a tapped map (`tap` > 0),
    channel means only (D = C) for the last feature map (`tap` = 0)."""
    x = feature_map.detach().float().cpu().numpy() if hasattr(feature_map, "detach") \
        else np.asarray(feature_map, np.float32)
    x = x.astype(np.float32, copy=False)
    mean = x.mean(axis=(2, 3))
    if tap == 0:
        return mean
    return np.concatenate([mean, x.std(axis=(2, 3))], axis=1)


def ledoit_wolf_weight(centred: np.ndarray, cov: np.ndarray) -> float:
    """Ledoit-Wolf (2004) shrinkage weight in [0, 1] of covariance `cov` of rows `centred`
    (N, D) towards mu*I, mu = trace/D."""
    n, d = centred.shape
    mu = float(np.trace(cov)) / d
    target = float(np.sum((cov - mu * np.eye(d)) ** 2))
    sq = np.sum(centred * centred, axis=1)
    quad = np.einsum("ij,jk,ik->i", centred, cov, centred)
    spread = float(np.sum(sq * sq - 2 * quad + np.sum(cov * cov))) / (n * n)
    return float(min(1.0, spread / target)) if target > 0 else 1.0


def fit(train: np.ndarray, val: np.ndarray, k: int | None = None,
        quantile: float = 0.99, tap: int = 0) -> OODStats:
    """Fit statistics on training embeddings (N, D) and set the threshold at the `quantile` of
    the validation embeddings' scores (M, D), made by `embed` at `tap` (recorded in the
    statistics). `k`: eigen-directions kept (None: all, with
    Ledoit-Wolf shrinkage; fewer: probabilistic PCA). Needs N > k (N > 1 with k None)."""
    x = np.asarray(train, np.float64)
    need = 1 if k is None else k
    if x.ndim != 2 or x.shape[0] <= need:
        raise ModelError(f"OOD fit needs more than {need} training embeddings, got {x.shape}")
    mean = x.mean(axis=0)
    c = x - mean
    cov = c.T @ c / len(c)
    d = cov.shape[0]
    keep = d if k is None else min(k, d)
    if keep == d:
        alpha = ledoit_wolf_weight(c, cov)
        cov = (1 - alpha) * cov + alpha * float(np.trace(cov)) / d * np.eye(d)
    eigval, eigvec = np.linalg.eigh(cov)
    order = np.argsort(eigval)[::-1]
    eigval, eigvec = np.maximum(eigval[order], 1e-12), eigvec[:, order]
    rest = eigval[keep:]
    residual = max(float(rest.mean()), 1e-12) if rest.size else 0.0
    stats = OODStats(mean, eigvec[:, :keep].T.copy(), eigval[:keep].copy(), residual, 0.0)
    threshold = float(np.quantile(stats.score(val), quantile))
    return OODStats(stats.mean, stats.components, stats.variances, stats.residual_variance,
                    threshold, tap)
