"""The second lateral rule: lung masks at different heights (radlens.tasks.guardrails)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from radlens.schema import WarningCode
from radlens.tasks.guardrails import Assessment, lateral_by_lungs, lungs_look_lateral, rules


def _lung(shape: tuple[int, int], rows: slice, cols: slice) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[rows, cols] = True
    return m


def test_frontal_lungs_side_by_side_are_not_lateral() -> None:
    shape = (400, 400)
    right = _lung(shape, slice(80, 320), slice(40, 180))
    left = _lung(shape, slice(90, 330), slice(220, 360))  # 10 px lower: 2.5% of the height
    assert not lungs_look_lateral(right, left)


def test_lungs_at_different_heights_look_lateral() -> None:
    shape = (400, 400)
    dy = rules()["lateral_lungs"]["centroid_dy_above"]
    shift = int(np.ceil(dy * 400)) + 8
    right = _lung(shape, slice(60, 260), slice(60, 200))
    left = _lung(shape, slice(60 + shift, 260 + shift), slice(200, 340))
    assert lungs_look_lateral(right, left)
    # just under the threshold is frontal
    under = int(np.floor(dy * 400)) - 2
    left = _lung(shape, slice(60 + under, 260 + under), slice(200, 340))
    assert not lungs_look_lateral(right, left)


def test_a_missing_lung_counts_as_lateral() -> None:
    shape = (64, 64)
    right = _lung(shape, slice(10, 50), slice(5, 30))
    assert lungs_look_lateral(right, np.zeros(shape, bool))


def test_lateral_by_lungs_adds_the_warning_once() -> None:
    a = Assessment(50.0, False, ())
    b = lateral_by_lungs(a)
    assert b.lateral and [w.code for w in b.warnings] == [WarningCode.LATERAL_VIEW]
    assert b.warnings[0].field is None
    assert lateral_by_lungs(b) is b


def test_reader_withholds_sides_on_laterals_qc_misses(shared_data: Path) -> None:
    """Real COVID-collection laterals that QC's image rule lets through: most readings still
    come back lateral (the lung rule on out-of-distribution films) with no side or zone."""
    import csv

    from radlens import Reader
    from radlens.io import load_image
    from radlens.io.qc import check
    from radlens.schema import Interpretation, RegionKind

    root = shared_data / "covid-cxr"
    with (root / "metadata.csv").open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["view"].strip().upper() == "L"]
    missed = []
    for r in rows:
        path = root / r["folder"] / r["filename"]
        if not any(i.code == "probable_lateral" for i in check(load_image(path)).issues):
            missed.append(path)
    if len(missed) < 3:
        pytest.skip("QC's image rule already catches these laterals")
    caught = 0
    for res in Reader().read(missed):
        assert isinstance(res, Interpretation)
        if any(w.code == WarningCode.LATERAL_VIEW for w in res.warnings):
            caught += 1
            for reg in res.regions:
                if reg.kind is RegionKind.FINDING:
                    assert reg.side is None and reg.zones == ()
    assert caught >= 0.7 * len(missed), (caught, len(missed))


def test_qc_lateral_call_is_withdrawn_only_when_the_image_alone_said_so() -> None:
    from radlens.schema import ImageMeta, QCIssue, QCReport, Severity
    from radlens.tasks.guardrails import assess, frontal_by_ood, lateral_from_image_only

    qc = QCReport((QCIssue("probable_lateral", Severity.WARNING, "probably lateral"),))
    frontal_header = ImageMeta(source="a.dcm", format="dicom", height=10, width=10,
                               view_position="PA")
    lateral_header = ImageMeta(source="b.dcm", format="dicom", height=10, width=10,
                               view_position="LL")
    assert lateral_from_image_only(frontal_header, qc)
    assert not lateral_from_image_only(lateral_header, qc)
    assert not lateral_from_image_only(frontal_header, QCReport(()))
    guard = assess(frontal_header, qc, None)
    assert guard.lateral
    back = frontal_by_ood(guard)
    assert not back.lateral and WarningCode.LATERAL_VIEW not in [w.code for w in back.warnings]
