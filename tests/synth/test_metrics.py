"""Generator metrics: Fréchet distance, k-NN precision/recall, nearest-neighbour distances."""

from __future__ import annotations

import numpy as np
import pytest

from radlens.synth import metrics as gm


def test_frechet_distance_zero_for_same_set_and_mean_shift_squared() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 4))
    assert gm.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shift = np.array([3.0, 0.0, 0.0, 0.0])
    assert gm.frechet_distance(a, a + shift) == pytest.approx(9.0, rel=1e-6)
    wide = rng.normal(scale=3.0, size=(400, 4))
    assert gm.frechet_distance(a, wide) > 4 * 2.0  # (3 - 1)^2 per dimension, roughly


def test_precision_recall_identical_disjoint_and_collapsed() -> None:
    rng = np.random.default_rng(1)
    real = rng.normal(size=(200, 3))
    p, r = gm.precision_recall(real, real.copy())
    assert p == 1.0 and r == 1.0
    p, r = gm.precision_recall(real, real + 100.0)
    assert p == 0.0 and r == 0.0
    collapsed = np.repeat(real[:1], 50, axis=0) + rng.normal(scale=1e-3, size=(50, 3))
    p, r = gm.precision_recall(real, collapsed)
    assert p > 0.9 and r < 0.1  # mode collapse: realistic but no coverage


def test_nn_distances_and_share_below() -> None:
    ref = np.array([[0.0, 0.0], [10.0, 0.0]])
    q = np.array([[1.0, 0.0], [9.0, 0.0], [5.0, 0.0]])
    d, idx = gm.nn_distances(q, ref)
    np.testing.assert_allclose(d, [1.0, 1.0, 5.0])
    assert idx.tolist()[:2] == [0, 1]
    assert gm.share_below(d, 2.0) == pytest.approx(2 / 3)
    assert gm.share_below(np.array([]), 1.0) == 0.0


def test_knn_radii_needs_more_than_k_points() -> None:
    with pytest.raises(ValueError, match="k-NN"):
        gm.knn_radii(np.zeros((3, 2)), k=3)
