"""The result schema: frozen, typed, and lossless through JSON."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radlens.arrays import decode_array, encode_array
from radlens.errors import DataError
from radlens.schema import (
    Box,
    Call,
    Evidence,
    Finding,
    ImageMeta,
    Interpretation,
    LabelRecord,
    ModelInfo,
    QCIssue,
    QCReport,
    Region,
    RegionKind,
    Report,
    Sentence,
    Severity,
)
from radlens.schema_json import from_dict, from_json, to_json


def _interpretation() -> Interpretation:
    rng = np.random.default_rng(1)
    region = Region(id="r1", kind=RegionKind.FINDING, label="Pneumonia", box=Box(10, 20, 30.5, 40),
                    mask=rng.random((17, 13)) > 0.6, heatmap=rng.random((7, 7)).astype(np.float32),
                    side="right", zones=(("right lower", 0.75), ("right middle", 0.25)), score=0.9)
    return Interpretation(
        image=ImageMeta(source="a.dcm", format="dicom", width=13, height=17, modality="CR",
                        pixel_spacing_mm=(0.14, 0.14), patient_age_years=45.0),
        qc=QCReport((QCIssue("low_resolution", Severity.WARNING, "small"),)),
        findings=(Finding("Pneumonia", 0.81, 0.5, Call.POSITIVE, "m", 0.3, ("r1",)),),
        regions=(region,),
        report=Report((Sentence("Opacity.", "findings", ("Pneumonia",), ("r1",)),), "tmpl",
                      (("Pneumonia", 0.5),)),
        models=(ModelInfo("m", "1.0", "classify", "ab12"),), notes=("note",),
        radlens_version="0.1.0")


def test_round_trip_inline_is_lossless() -> None:
    interp = _interpretation()
    text = to_json(interp)
    back = from_json(text, Interpretation)
    assert back == interp
    assert back.regions[0].mask.dtype == np.bool_
    assert json.loads(text)["regions"][0]["mask"]["encoding"] == "rle"


def test_round_trip_with_array_files(tmp_path: Path) -> None:
    interp = _interpretation()
    text = to_json(interp, array_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 2
    assert from_json(text, Interpretation, tmp_path) == interp
    with pytest.raises(DataError):
        from_json(text, Interpretation)  # file references need the directory


def test_frozen_and_changes_detected() -> None:
    interp = _interpretation()
    with pytest.raises(dataclasses.FrozenInstanceError):
        interp.notes = ()  # type: ignore[misc]
    other = from_json(to_json(interp), Interpretation)
    changed = dataclasses.replace(other.regions[0], mask=~other.regions[0].mask)
    assert dataclasses.replace(other, regions=(changed,)) != interp


def test_invalid_json_is_a_data_error() -> None:
    data = json.loads(to_json(_interpretation()))
    data["findings"][0]["call"] = "maybe"
    with pytest.raises(DataError, match="Call"):
        from_dict(data, Interpretation)
    del data["image"]
    with pytest.raises(DataError, match="image"):
        from_dict(data, Interpretation)
    with pytest.raises(DataError):
        from_json("{not json", Interpretation)


def test_label_record_round_trip() -> None:
    rec = LabelRecord("r", "chexpert14", (("Edema", 1), ("Fracture", None)),
                      (Evidence("Edema", 1, 3, 8, 0, 20, "findings", "mention:edema"),))
    assert from_json(to_json(rec), LabelRecord) == rec
    assert rec.value("Edema") == 1 and rec.as_dict()["Fracture"] is None


def test_call_from_probability_and_box_iou() -> None:
    assert Call.from_probability(0.6, 0.5) is Call.POSITIVE
    assert Call.from_probability(0.4, 0.5, 0.3) is Call.UNCERTAIN
    assert Call.from_probability(0.2, 0.5, 0.3) is Call.NEGATIVE
    assert Box(0, 0, 2, 2).iou(Box(1, 0, 3, 2)) == pytest.approx(1 / 3)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["bool", "float16", "float32", "int16", "uint8"]),
       st.tuples(st.integers(0, 9), st.integers(0, 9)), st.integers(0, 2**32 - 1))
def test_array_encodings_are_lossless(dtype: str, shape: tuple[int, int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    arr = (rng.random(shape) > 0.5) if dtype == "bool" else (rng.random(shape) * 100).astype(dtype)
    back = decode_array(json.loads(json.dumps(encode_array(arr))))
    assert back.dtype == arr.dtype and back.shape == arr.shape and np.array_equal(back, arr)
