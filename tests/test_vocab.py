"""Finding vocabularies and the NIH-14 <-> CheXpert-14 mapping."""

from __future__ import annotations

import pytest

from radlens import vocab
from radlens.errors import DataError


def test_label_sets() -> None:
    assert len(vocab.CHEXPERT14.labels) == 14 and len(vocab.NIH14.labels) == 14
    assert vocab.CHEXPERT14.labels[0] == "No Finding"
    assert "Pleural_Thickening" in vocab.NIH14


def test_canonical_spellings() -> None:
    assert vocab.canonical("pleural thickening") == "Pleural_Thickening"
    assert vocab.canonical("PLEURAL EFFUSION", "chexpert14") == "Pleural Effusion"
    with pytest.raises(DataError):
        vocab.canonical("Pleural Effusion", "nih14")
    with pytest.raises(DataError):
        vocab.get("mimic99")


def test_nih_to_chexpert() -> None:
    out = vocab.map_labels({"Effusion": 1, "Nodule": 0, "Infiltration": -1, "Emphysema": 1},
                           "nih14", "chexpert14")
    assert out["Pleural Effusion"] == 1
    assert out["Lung Lesion"] is None          # a negative nodule says nothing about masses
    assert out["Lung Opacity"] == -1           # uncertainty travels up a narrower relation
    assert out["No Finding"] == 0              # emphysema is an abnormality
    assert out["Fracture"] is None


def test_chexpert_to_nih() -> None:
    out = vocab.map_labels({"Lung Lesion": 0, "Lung Opacity": 1, "Pleural Effusion": 0},
                           "chexpert14", "nih14")
    assert out["Mass"] == 0 and out["Nodule"] == 0   # no lesion -> no mass, no nodule
    assert out["Infiltration"] is None               # opacity need not be infiltration
    assert out["Effusion"] == 0
    none = vocab.map_labels({"No Finding": 1}, "chexpert14", "nih14")
    assert set(none.values()) == {0}
    with pytest.raises(DataError):
        vocab.map_labels({"Edema": 2}, "chexpert14", "nih14")
