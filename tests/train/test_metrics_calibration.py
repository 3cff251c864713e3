"""Classification metrics against hand-computed values; temperature scaling and thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from radlens.metrics import classification as cm
from radlens.train.calibrate import calibrate, fit_temperature, sigmoid


def test_auroc_and_ap_golden_values() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8])
    assert cm.auroc(y, p) == pytest.approx(0.75)
    # ranked: .8(+) .4(-) .35(+) .1(-): AP = 0.5*1 + 0.5*(2/3)
    assert cm.average_precision(y, p) == pytest.approx(0.5 + 1 / 3)
    assert cm.auroc(np.array([1, 0, 1]), np.array([0.5, 0.5, 0.5])) == pytest.approx(0.5)
    assert np.isnan(cm.auroc(np.ones(3), np.array([0.1, 0.2, 0.3])))


def test_ece_and_thresholds() -> None:
    y = np.array([0, 0, 1, 1, 1])
    p = np.array([0.05, 0.05, 0.95, 0.95, 0.95])
    assert cm.expected_calibration_error(y, p) == pytest.approx(0.05)
    p2 = np.array([0.1, 0.6, 0.3, 0.7, 0.9])
    t95 = cm.threshold_at_sensitivity(y, p2, 0.95)
    assert t95 == pytest.approx(0.3)
    assert cm.sensitivity_specificity(y, p2, t95) == (1.0, 0.5)
    assert cm.threshold_youden(y, p2) == pytest.approx(0.7)  # J = 2/3 + 1 - 1


def test_temperature_recovers_known_scale() -> None:
    rng = np.random.default_rng(0)
    true_logit = rng.normal(0, 2, 4000)
    y = (rng.random(4000) < sigmoid(true_logit)).astype(float)
    assert fit_temperature(true_logit * 3, y) == pytest.approx(3, rel=0.15)
    cal = calibrate((true_logit * 3)[:, None], y[:, None], np.ones((4000, 1)), ["A"])
    assert cal["A"]["threshold_sens95"] < cal["A"]["threshold_youden"]


def test_patient_bootstrap_resamples_patients() -> None:
    y = np.array([0, 1, 0, 1, 0, 1])
    p = np.array([0.1, 0.9, 0.2, 0.8, 0.3, 0.7])
    est = cm.patient_bootstrap(cm.auroc, y, p, ["a", "a", "b", "b", "c", "c"], n_boot=200)
    assert est.value == 1.0 and est.n == 3  # three patients, not six images
    assert est.low == est.high == 1.0
