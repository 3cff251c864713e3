"""MedMNIST evaluator figures and MedMNIST-C robustness scores."""

from __future__ import annotations

import numpy as np
import pytest

from radlens.metrics import medmnist as mm


def test_binary_auc_and_acc_use_class_one_score() -> None:
    y = np.array([0, 0, 1, 1])
    s = np.array([[0.9, 0.1], [0.4, 0.6], [0.45, 0.55], [0.2, 0.8]])
    assert mm.auc(y, s, "binary-class") == pytest.approx(0.75)
    assert mm.acc(y, s, "binary-class") == pytest.approx(0.75)
    assert mm.balanced_error(y, s, "binary-class") == pytest.approx(0.25)


def test_multiclass_auc_is_mean_one_vs_rest() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    s = rng.dirichlet([1, 1, 1], 60)
    from radlens.metrics.classification import auroc

    expect = np.mean([auroc((y == k).astype(float), s[:, k]) for k in range(3)])
    assert mm.auc(y, s, "multi-class") == pytest.approx(expect)
    assert mm.acc(y, s, "multi-class") == pytest.approx(np.mean(s.argmax(1) == y))


def test_quadratic_kappa() -> None:
    y = np.array([0, 1, 2, 3, 4])
    assert mm.quadratic_kappa(y, y, 5) == pytest.approx(1.0)
    # sklearn.metrics.cohen_kappa_score(..., weights="quadratic") gives 0.875 here
    assert mm.quadratic_kappa(np.array([0, 1, 2, 3, 4]), np.array([0, 2, 2, 3, 3]), 5) \
        == pytest.approx(0.875)


def test_evaluate_scores_has_cis() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 80)
    s = np.clip(np.stack([1 - y, y], 1) * 0.6 + rng.random((80, 2)) * 0.4, 0, 1)
    s = s / s.sum(1, keepdims=True)
    out = mm.evaluate_scores(y, s, "binary-class", n_boot=100)
    assert out["auc"]["ci_low"] <= out["auc"]["value"] <= out["auc"]["ci_high"]
    assert "qwk" not in out and out["n"] == 80
    assert "qwk" in mm.evaluate_scores(y, s, "ordinal-regression", n_boot=20)


def test_robustness_scores_follow_medmnist_c() -> None:
    r = mm.robustness_scores(0.1, {"a": [0.2, 0.2, 0.3, 0.3, 0.5], "b": [0.1] * 5},
                             0.2, {"a": [0.4] * 5, "b": [0.3] * 5})
    a = r["per_corruption"]["a"]
    assert a["mean"] == pytest.approx(0.3)
    assert a["normalised"] == pytest.approx(0.3 / 0.4)
    assert a["relative"] == pytest.approx((0.3 - 0.1) / (0.4 - 0.2))
    assert r["per_corruption"]["b"]["relative"] == pytest.approx(0.0)
    assert r["mean"] == pytest.approx(0.2)
    assert r["relative_mean"] == pytest.approx(0.5)
    no_base = mm.robustness_scores(0.1, {"a": [0.2] * 5})
    assert "relative_mean" not in no_base
