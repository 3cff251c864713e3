"""The input-quality gate on synthetic images."""

from __future__ import annotations

import numpy as np
import pytest

from radlens.errors import QualityError
from radlens.io import image_from_array
from radlens.io.qc import check
from radlens.pipeline import NO_MODEL_NOTE, read
from radlens.schema import Image, Severity


def _codes(image: Image) -> dict[str, Severity]:
    return {i.code: i.severity for i in check(image).issues}


def _with(image: Image, **meta: object) -> Image:
    from dataclasses import replace

    return Image(pixels=image.pixels, meta=replace(image.meta, **meta))


def test_synthetic_frontal_chest_passes(chest_like: np.ndarray) -> None:
    report = check(image_from_array(chest_like))
    assert report.passed and report.issues == ()


def test_inverted_chest_is_suspected(chest_like: np.ndarray) -> None:
    codes = _codes(image_from_array(1 - chest_like))
    assert codes["suspected_inverted"] is Severity.WARNING


def test_constant_and_nearly_constant_are_fatal() -> None:
    assert _codes(image_from_array(np.full((300, 300), 0.4)))["constant_image"] is Severity.FATAL
    noisy = 0.4 + np.random.default_rng(0).normal(0, 0.001, (300, 300))
    assert _codes(image_from_array(noisy))["constant_image"] is Severity.FATAL


def test_size_and_aspect(chest_like: np.ndarray) -> None:
    assert _codes(image_from_array(chest_like[:40, :40]))["too_small"] is Severity.FATAL
    assert _codes(image_from_array(chest_like[:128, :128]))["low_resolution"] is Severity.WARNING
    strip = np.tile(chest_like, (1, 3))
    assert _codes(image_from_array(strip))["aspect_ratio"] is Severity.FATAL
    wide = np.tile(chest_like, (1, 2))[:, :460]
    assert _codes(image_from_array(wide))["aspect_ratio"] is Severity.WARNING


@pytest.mark.parametrize("modality,fatal", [("CT", True), ("US", True), ("MR", True),
                                            ("NM", True), ("CR", False), ("DX", False)])
def test_modality(chest_like: np.ndarray, modality: str, fatal: bool) -> None:
    image = _with(image_from_array(chest_like), modality=modality)
    assert ("not_radiograph" in _codes(image)) is fatal


def test_lateral_view_position_is_fatal_and_multiframe_too(chest_like: np.ndarray) -> None:
    image = _with(image_from_array(chest_like), view_position="LL")
    assert _codes(image)["lateral_view"] is Severity.FATAL
    image = _with(image_from_array(chest_like), number_of_frames=3)
    assert _codes(image)["multi_frame"] is Severity.FATAL


def test_flat_central_band_suggests_lateral(chest_like: np.ndarray) -> None:
    lateral = chest_like.copy()
    lateral[:, 110:146] = lateral[:, 60:96]  # no bright mediastinum between the lungs
    assert _codes(image_from_array(lateral)).get("probable_lateral") is Severity.WARNING


def test_read_raises_on_fatal_and_notes_missing_model(chest_like: np.ndarray) -> None:
    with pytest.raises(QualityError) as err:
        read(image_from_array(np.zeros((300, 300))))
    assert err.value.issues and "constant" in str(err.value)
    interp = read(image_from_array(chest_like))
    assert interp.qc.passed
    if not interp.findings:
        assert NO_MODEL_NOTE in interp.notes
