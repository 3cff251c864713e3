"""Pieces of evaluate-generator that need no model: memorisation, realism, the probe."""

from __future__ import annotations

import numpy as np
from PIL import Image

from radlens.synth import evaluate as ev


def test_copies_of_training_images_are_flagged_as_memorised() -> None:
    rng = np.random.default_rng(0)
    train = rng.random((60, 8, 8)).astype(np.float32)
    val = rng.random((30, 8, 8)).astype(np.float32)
    copies = train[:20] + rng.normal(scale=1e-3, size=(20, 8, 8)).astype(np.float32)
    novel = rng.random((20, 8, 8)).astype(np.float32)
    flat = lambda x: x.reshape(len(x), -1)  # noqa: E731
    m_copy = ev.memorisation(copies, flat(copies), train, flat(train), val, flat(val))
    m_new = ev.memorisation(novel, flat(novel), train, flat(train), val, flat(val))
    assert m_copy["pixel"]["share_generated_below"] == 1.0
    assert m_new["pixel"]["share_generated_below"] < 0.2
    i, j, d = m_copy["pairs"][0]
    assert j == i and d < 0.01  # the closest pair is the copy and its original
    assert 0.0 <= m_copy["pixel"]["share_val_below"] <= 0.1


def test_realism_floor_beats_shifted_generator() -> None:
    rng = np.random.default_rng(2)
    train, val = rng.normal(size=(200, 4)), rng.normal(size=(100, 4))
    fake = rng.normal(size=(100, 4)) + 2.0
    r = ev.realism(fake, val, train, rng)
    assert r["generated_vs_val"]["fd"] > 5 * r["train_vs_val_floor"]["fd"]
    assert r["generated_vs_val"]["precision"] < r["train_vs_val_floor"]["precision"]


def test_stratified_labels_and_pick_like_keep_class_counts() -> None:
    rng = np.random.default_rng(3)
    train_labels = np.array([0] * 30 + [1] * 70)
    labels = ev.stratified_labels(train_labels, 21, 2, rng)
    assert len(labels) == 21 and np.bincount(labels).tolist() == [6, 15]
    idx = ev.pick_like(train_labels, labels, rng)
    assert len(set(idx.tolist())) == 21
    assert np.bincount(train_labels[idx]).tolist() == [6, 15]


def test_probe_learns_a_separable_task() -> None:
    from radlens.metrics.classification import auroc

    rng = np.random.default_rng(4)
    y = np.arange(64) % 2
    x = (rng.random((64, 12, 12)) * 0.4 + 0.5 * y[:, None, None]).astype(np.float32)
    net = ev.train_probe(x, y, 2, epochs=15)
    yv = np.arange(32) % 2
    xv = (rng.random((32, 12, 12)) * 0.4 + 0.5 * yv[:, None, None]).astype(np.float32)
    assert auroc(yv.astype(float), ev.probe_probs(net, xv)[:, 1]) > 0.95


def test_pair_sheet_and_dice(tmp_path) -> None:
    a = np.zeros((3, 6, 6), np.float32)
    b = np.ones((3, 6, 6), np.float32)
    p = ev.pair_sheet(a, b, [(0, 1, 0.5), (2, 0, 0.7)], tmp_path / "s.png", scale=2)
    with Image.open(p) as im:
        assert im.size == ((2 * 6 + 4) * 2, 2 * (6 + 4) * 2)
    m = np.zeros((2, 4, 4), bool)
    m[0, :2] = True
    assert ev.dice(m, m).tolist() == [1.0, 1.0]
    assert ev.dice(m, ~m)[0] == 0.0
