"""MedMNIST-C corruptions: determinism, severity order, dtype and range, any resolution."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from radlens.data import corruptions as C
from radlens.errors import DataError


def phantom(side: int, rgb: bool = False) -> np.ndarray:
    """A smooth test image with edges (a bright disc on a gradient), uint8."""
    yy, xx = np.mgrid[0:side, 0:side] / side
    img = 0.2 + 0.4 * xx + 0.3 * ((xx - 0.5) ** 2 + (yy - 0.45) ** 2 < 0.08)
    img = np.clip(img, 0, 1)
    out = np.round(img * 255).astype(np.uint8)
    return np.stack([out, (out * 0.8).astype(np.uint8), (out * 0.6).astype(np.uint8)], -1) \
        if rgb else out


ALL = [(m, f) for m in C.modalities() for f in C.families(m)]


def test_families_per_modality() -> None:
    assert set(C.families("breast-us")) == {
        "pixelate", "jpeg_compression", "speckle_noise", "motion_blur", "brightness_up",
        "brightness_down", "contrast_down"}
    assert set(C.families("fundus")) == {
        "pixelate", "jpeg_compression", "gaussian_noise", "speckle_noise", "defocus_blur",
        "motion_blur", "brightness_down", "contrast_down"}
    assert len(C.families("chest-xray")) == 13 and len(C.families("organ-ct")) == 13
    assert C.families("ct-shape") == ()


@pytest.mark.parametrize(("modality", "family"), ALL)
def test_deterministic_and_dtype(modality: str, family: str) -> None:
    img = phantom(28, rgb=modality == "fundus")
    a = C.apply(img, family, 3, modality, seed=7)
    b = C.apply(img, family, 3, modality, seed=7)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.uint8 and a.shape == img.shape
    f = C.apply(img.astype(np.float32) / 255, family, 3, modality, seed=7)
    assert f.dtype == np.float32 and f.shape == img.shape
    assert 0.0 <= f.min() and f.max() <= 1.0


def test_seed_changes_noise() -> None:
    img = phantom(28)
    assert not np.array_equal(C.apply(img, "gaussian_noise", 3, seed=1),
                              C.apply(img, "gaussian_noise", 3, seed=2))


@pytest.mark.parametrize(("modality", "family"), ALL)
def test_severity_monotone_at_224(modality: str, family: str) -> None:
    """At MedMNIST-C's own resolution, the distance from the clean image grows with
    severity (averaged over 3 seeds for the random families)."""
    img = phantom(224, rgb=modality == "fundus").astype(np.float32) / 255
    dist = [np.mean([np.abs(C.apply(img, family, s, modality, seed=k) - img).mean()
                     for k in range(3)]) for s in C.SEVERITIES]
    assert dist[0] > 0
    assert all(b >= a * 0.98 for a, b in itertools.pairwise(dist)), dist
    assert dist[-1] > dist[0]


def test_full_resolution_chest_film() -> None:
    img = np.random.default_rng(0).random((2048, 1760)).astype(np.float32)
    for family in ("pixelate", "jpeg_compression", "gaussian_blur", "shot_noise", "gamma_corr_up"):
        out = C.apply(img, family, 5, "chest-xray", seed=0)
        assert out.shape == img.shape and out.dtype == np.float32
        assert 0 <= out.min() and out.max() <= 1
    blurred = C.apply(img, "gaussian_blur", 5, "chest-xray")
    assert blurred.std() < 0.2 * img.std()  # the kernel scaled to the film: strong smoothing


def test_spatial_parameters_scale_with_side() -> None:
    small = phantom(28).astype(np.float32) / 255
    big = phantom(448).astype(np.float32) / 255
    d_small = np.abs(C.apply(small, "gaussian_blur", 5) - small).mean()
    d_big = np.abs(C.apply(big, "gaussian_blur", 5) - big).mean()
    assert d_small < d_big  # a 28-px image is blurred as a downsized 224-px one


def test_batch_and_errors() -> None:
    imgs = np.stack([phantom(28)] * 3)
    out = C.apply_batch(imgs, "speckle_noise", 2, "breast-us", seed=1)
    assert out.shape == imgs.shape
    np.testing.assert_array_equal(out[1], C.apply(imgs[1], "speckle_noise", 2, "breast-us",
                                                  seed=1_000_003 + 1))
    with pytest.raises(DataError, match="not defined for breast-us"):
        C.apply(imgs[0], "gaussian_blur", 1, "breast-us")
    with pytest.raises(DataError, match="severity must be 1-5"):
        C.apply(imgs[0], "pixelate", 6, "breast-us")
    with pytest.raises(DataError, match="no corruptions for modality"):
        C.apply(imgs[0], "pixelate", 1, "mri")
    with pytest.raises(DataError, match=r"\(H, W\)"):
        C.apply(np.zeros((2, 28, 28, 28), np.uint8), "pixelate", 1)
