"""`radlens.to_records` / `to_dataframe`: one flat row per reading, failures included."""

from __future__ import annotations

import numpy as np
import pytest

import radlens
from radlens.io import image_from_array
from radlens.io.qc import check
from radlens.schema import (
    Call,
    Finding,
    Interpretation,
    Location,
    QCIssue,
    ReadFailure,
    Report,
    Sentence,
    Severity,
)
from radlens.tables import BASE_COLUMNS


def _reading(chest_like: np.ndarray) -> Interpretation:
    image = image_from_array(chest_like, "a.png")
    findings = (
        Finding("Pneumonia", 0.8, 0.5, Call.POSITIVE, "m",
                location=Location(("right lower", "right middle"), "right", "located")),
        Finding("Edema", 0.1, 0.5, Call.NEGATIVE, "m"),
    )
    report = Report((Sentence("Right lower zone pneumonia.", "findings"),
                     Sentence("Pneumonia.", "impression")))
    return Interpretation(image=image.meta, qc=check(image), findings=findings, report=report)


def test_records_have_one_column_per_label(chest_like: np.ndarray) -> None:
    failed = ReadFailure("b.dcm", "DecodeError", "b.dcm: truncated",
                         (QCIssue("too_small", Severity.FATAL, "tiny"),))
    rows = radlens.to_records([_reading(chest_like), failed])
    assert [list(r) for r in rows] == [list(rows[0])] * 2  # same keys, same order
    first, second = rows
    assert list(first)[:len(BASE_COLUMNS)] == list(BASE_COLUMNS)
    assert first["source"] == "a.png" and first["status"] == "done"
    assert first["p:Pneumonia"] == 0.8 and first["call:Pneumonia"] == "positive"
    assert first["zones:Pneumonia"] == "right lower;right middle"
    assert first["zones:Edema"] == "" and first["call:Edema"] == "negative"
    assert first["positive"] == "Pneumonia" and first["qc_passed"] is True
    assert "pneumonia" in first["report"].lower() and " | " in first["report"]
    assert list(first)[-1] == "report"
    assert second["status"] == "failed" and second["error_type"] == "DecodeError"
    assert second["qc_codes"] == "too_small" and second["p:Pneumonia"] is None
    assert radlens.to_records(failed)[0]["source"] == "b.dcm"


def test_records_refuse_other_objects() -> None:
    with pytest.raises(TypeError, match="Interpretation or ReadFailure"):
        radlens.to_records(["not a reading"])


def test_dataframe(chest_like: np.ndarray) -> None:
    pytest.importorskip("pandas")
    df = radlens.to_dataframe([_reading(chest_like), _reading(chest_like)])
    assert df.shape[0] == 2 and df["p:Pneumonia"].tolist() == [0.8, 0.8]
    assert list(df.columns) == list(radlens.to_records(_reading(chest_like))[0])


def test_dataframe_without_pandas_says_how(monkeypatch: pytest.MonkeyPatch,
                                           chest_like: np.ndarray) -> None:
    import sys

    from radlens.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(MissingDependencyError, match="radlens\\[tables\\]"):
        radlens.to_dataframe(_reading(chest_like))
