"""The bundled adult model's OOD guardrail: quiet on a real chest film, loud on a photograph."""

from __future__ import annotations

import numpy as np
import pytest

import radlens
from radlens.io import image_from_array
from radlens.models import registry


def test_bundled_card_carries_verified_ood_statistics() -> None:
    loaded = registry.load("radlens-cxr-adult-lite0")
    assert loaded.ood is not None
    assert loaded.ood.tap == loaded.card["ood"]["tap_blocks"] == 11
    assert loaded.ood.threshold == pytest.approx(loaded.card["ood"]["threshold"])
    assert loaded.card["ood"]["validation_false_alarm"]["all"] < 0.05


def test_chest_film_passes_and_a_photograph_is_flagged() -> None:
    data = pytest.importorskip("pydicom.data")
    skimage_data = pytest.importorskip("skimage.data")
    path = data.get_testdata_file("RG1_UNCR.dcm")
    if path is None:
        pytest.skip("pydicom-data is not installed")
    reader = radlens.Reader(explain=False, report=False)
    chest = reader.read(path)
    assert "out_of_distribution" not in [w.code for w in chest.warnings]
    photo = image_from_array(np.asarray(skimage_data.camera(), np.float32) / 255, "camera")
    flagged = reader.read(photo)
    warning = next(w for w in flagged.warnings if w.code == "out_of_distribution")
    assert "radlens-cxr-adult-lite0" in warning.message
