"""F1 allocation of the operating thresholds: same normal-call budget, better mean F1."""

from __future__ import annotations

import numpy as np
import pytest

from radlens.train.operating import operating_thresholds


def _toy(n: int = 600) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(1)
    names = ["No Finding", "Pneumonia", "Easy", "Hard"]
    normal = rng.random(n) < 0.5
    labels = np.zeros((n, 4))
    labels[:, 0] = normal
    labels[~normal, 1 + rng.integers(0, 3, int((~normal).sum()))] = 1
    probs = rng.random((n, 4)) * 0.5
    probs[:, 2] += labels[:, 2] * 0.5  # "Easy" separates well, "Hard" barely
    probs[:, 3] += labels[:, 3] * 0.1
    probs[:, 1] += labels[:, 1] * 0.4
    return probs, labels, names


def _mean_f1(probs: np.ndarray, labels: np.ndarray, thr: dict[str, float],
             names: list[str]) -> float:
    vals = []
    for j in (2, 3):
        c = probs[:, j] >= thr[names[j]]
        tp = float(np.sum(c & (labels[:, j] == 1)))
        vals.append(2 * tp / (c.sum() + labels[:, j].sum()))
    return float(np.mean(vals))


def test_f1_allocation_keeps_the_budget_and_does_not_lose_f1() -> None:
    probs, labels, names = _toy()
    mask, rows = np.ones_like(labels), np.ones(len(labels), bool)
    normal = labels[:, 0] == 1
    out = {}
    for allocation in ("uniform", "f1"):
        thr = operating_thresholds(probs, labels, mask, names, rows,
                                   max_normal_call_rate=0.15, allocation=allocation)
        calls = probs[:, 1:] >= np.array([thr[x] for x in names[1:]])
        anchor = calls[normal, 0].mean()
        assert calls[normal].any(axis=1).mean() <= max(0.15, anchor) + 1e-9
        out[allocation] = _mean_f1(probs, labels, thr, names)
    assert out["f1"] >= out["uniform"] - 1e-9


def test_unknown_allocation_is_refused() -> None:
    probs, labels, names = _toy(50)
    with pytest.raises(ValueError, match="allocation"):
        operating_thresholds(probs, labels, np.ones_like(labels), names,
                             np.ones(50, bool), allocation="best")
