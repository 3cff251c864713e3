"""Mask-guided augmentation experiment: warps, the small segmenter and the report."""

from __future__ import annotations

import numpy as np
import pytest

from radlens.synth.augment import (
    mask_guided_augmentation,
    random_affines,
    segment_dice,
    train_small_segmenter,
    warp,
)


def _blobs(n: int, side: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images with one bright ellipse each (noise elsewhere) and the ellipse as the mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side]
    masks = np.zeros((n, side, side), bool)
    for i in range(n):
        cy, cx = rng.uniform(0.35, 0.65, 2) * side
        ry, rx = rng.uniform(0.15, 0.3, 2) * side
        masks[i] = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    images = np.clip(0.2 + 0.6 * masks + rng.normal(0, 0.05, masks.shape), 0, 1)
    return images.astype(np.float32), masks


def test_identity_warp_keeps_the_mask_and_a_shift_moves_it() -> None:
    _, masks = _blobs(3, 32, 0)
    ident = np.tile(np.array([[1, 0, 0], [0, 1, 0]], np.float32), (3, 1, 1))
    assert (warp(masks, ident, mask=True) == masks).mean() > 0.99
    shifted = ident.copy()
    shifted[:, 0, 2] = 0.25  # sample from the right: the content moves left by 4 px
    moved = warp(masks, shifted, mask=True)
    cols = np.nonzero(masks[0].any(0))[0]
    moved_cols = np.nonzero(moved[0].any(0))[0]
    assert moved_cols.min() == pytest.approx(cols.min() - 4, abs=1)


def test_random_affines_stay_near_identity() -> None:
    th = random_affines(50, np.random.default_rng(0), rotate_deg=10, scale=0.1, shift=0.08)
    assert th.shape == (50, 2, 3)
    assert np.all(np.abs(th[:, :, 2]) <= 0.08)
    assert np.all(np.abs(th[:, :, :2] - np.eye(2)) < 0.35)
    assert np.std(th[:, 0, 0]) > 0.01  # they differ


def test_small_segmenter_learns_bright_blobs() -> None:
    x, m = _blobs(16, 32, 1)
    vx, vm = _blobs(8, 32, 2)
    net = train_small_segmenter(x, m, steps=30, batch=8, lr=5e-3)
    d = segment_dice(net, vx, vm)
    assert d.shape == (8,)
    assert d.mean() > 0.7


def test_experiment_report_is_consistent() -> None:
    x, m = _blobs(12, 32, 3)
    vx, vm = _blobs(6, 32, 4)
    calls = []

    def generate(masks: np.ndarray, seed: int) -> np.ndarray:
        calls.append((len(masks), seed))
        return np.clip(0.2 + 0.6 * masks, 0, 1).astype(np.float32)

    r = mask_guided_augmentation(x, m, vx, vm, generate, n_real=4, per_mask=2, seeds=(3,),
                                 steps=2, pretrained=False)
    assert calls == [(8, 3)]
    assert r["n_real"] == 4 and r["added_pairs"] == 8 and r["n_val"] == 6
    assert set(r["dice"]) == {"real", "real + warped real", "real + generated"}
    for arm in r["dice"].values():
        assert 0.0 <= arm["mean"] <= 1.0 and len(arm["per_seed"]) == 1
    g = r["gain_over_real"]["real + generated"]
    expect = r["dice"]["real + generated"]["mean"] - r["dice"]["real"]["mean"]
    assert g["mean"] == pytest.approx(expect, abs=1e-9)
    assert g["ci95"][0] <= g["mean"] <= g["ci95"][1]
    assert r["ceiling_all_real"]["n"] == 12
