"""Post-hoc calibration and operating points, fitted on the validation split.

Temperature scaling (Guo et al. 2017) per label: the temperature T > 0 minimising the binary
cross-entropy of ``sigmoid(logit / T)``. Thresholds per label on calibrated probabilities: the
highest threshold reaching 95% sensitivity, and the one maximising Youden's J.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from radlens.metrics import classification as cm


def fit_temperature(logits: np.ndarray, y: np.ndarray, steps: int = 200) -> float:
    """Temperature (in [0.05, 20]) minimising BCE of sigmoid(logits / T) against y (0/1)."""
    if len(y) == 0 or len(np.unique(y)) < 2:
        return 1.0
    z = torch.tensor(logits, dtype=torch.float64)
    t = torch.tensor(y, dtype=torch.float64)
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z / log_t.exp(), t)
        loss.backward()
        return loss

    opt.step(closure)
    return float(np.clip(log_t.exp().item(), 0.05, 20.0))


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(x, -60, 60))))


def calibrate(logits: np.ndarray, labels: np.ndarray, mask: np.ndarray,
              label_names: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per label: temperature, threshold_sens95, threshold_youden (on known entries only).

    `logits`, `labels`, `mask`: (N, L) arrays. Labels without both classes get T = 1 and
    threshold 0.5.
    """
    out: dict[str, dict[str, float]] = {}
    for j, name in enumerate(label_names):
        known = mask[:, j].astype(bool)
        z, y = logits[known, j], labels[known, j]
        temp = fit_temperature(z, y)
        p = sigmoid(z / temp)
        both = len(np.unique(y)) == 2
        out[name] = {
            "temperature": temp,
            "threshold_sens95": cm.threshold_at_sensitivity(y, p, 0.95) if both else 0.5,
            "threshold_youden": cm.threshold_youden(y, p) if both else 0.5,
        }
    return out


def _at_threshold(threshold: float, which: int) -> Callable[[np.ndarray, np.ndarray], float]:
    def metric(y: np.ndarray, p: np.ndarray) -> float:
        return cm.sensitivity_specificity(y, p, threshold)[which]

    return metric


def summarise(probs: np.ndarray, labels: np.ndarray, mask: np.ndarray,
              patients: Sequence[str], label_names: Sequence[str],
              thresholds: dict[str, dict[str, float]], n_boot: int = 1000,
              ) -> dict[str, dict[str, Any]]:
    """Per-label figures with 95% patient-bootstrap CIs on calibrated probabilities.

    Returns label -> {n, n_pos, n_patients, auroc, ap, ece, sens_youden, spec_youden, sens_95,
    spec_95}, each metric a dict {value, ci_low, ci_high, n, n_boot}.
    """
    pts = np.asarray(patients, dtype=object)
    out: dict[str, dict[str, Any]] = {}
    for j, name in enumerate(label_names):
        known = mask[:, j].astype(bool)
        y, p, pid = labels[known, j], probs[known, j], pts[known]
        row: dict[str, Any] = {"n": int(known.sum()), "n_pos": int(y.sum()),
                               "n_patients": len(set(pid))}
        metrics: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
            "auroc": cm.auroc, "ap": cm.average_precision,
            "ece": cm.expected_calibration_error}
        for key, thr_key in (("youden", "threshold_youden"), ("95", "threshold_sens95")):
            thr = thresholds.get(name, {}).get(thr_key, 0.5)
            metrics[f"sens_{key}"] = _at_threshold(thr, 0)
            metrics[f"spec_{key}"] = _at_threshold(thr, 1)
        for key, fn in metrics.items():
            row[key] = cm.patient_bootstrap(fn, y, p, list(pid), n_boot=n_boot).as_dict()
        out[name] = row
    return out
