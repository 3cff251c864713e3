"""A reading a radiologist can trust: bands, one geometry per finding, guardrails, exports.

Synthetic interpretations and cards only (no model): the rules hold whatever model is bundled.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

from radlens.grounding.locate import locate, locate_findings, location_of
from radlens.render.legend import legend_lines, where_text
from radlens.report import check, export, report_text, structured_report, write_report
from radlens.schema import (
    Box,
    Call,
    Certainty,
    Finding,
    Interpretation,
    LocationStatus,
    ModelInfo,
    QCIssue,
    QCReport,
    Region,
    RegionKind,
    Severity,
    WarningCode,
)
from radlens.schema_json import from_json, to_json
from radlens.tasks.classify import stated_threshold
from radlens.tasks.guardrails import assess, parse_dicom_age, read_header
from tests.report.factories import meta

POPULATION = {"age_min": 18, "age_max": 120, "views": ["PA", "AP"], "sources": ["synthetic"],
              "description": "adults, frontal films"}


def _heat_region(rid: str, label: str, zones: tuple[tuple[str, float], ...]) -> Region:
    box = Box(40, 60, 200, 260)
    heat = np.zeros((8, 8), np.float32)
    heat[2:5, 1:4] = 1.0
    return Region(rid, RegionKind.FINDING, label, box=box, heatmap=heat, zones=zones,
                  side="right", score=0.9)


def _reading(p_pneumonia: float = 0.48, outside: bool = False) -> Interpretation:
    """Pneumonia between its operating threshold (0.09) and spec95 (0.6), grounded."""
    zones = ((("right lower", 0.1), ("left lower", 0.1)) if outside else
             (("right lower", 0.55), ("right middle", 0.3), ("left middle", 0.08)))
    regs = (_heat_region("r1", "Pneumonia", zones),
            _heat_region("r2", "Pleural Effusion", (("left lower", 0.9),)))
    fs = (Finding("Pneumonia", p_pneumonia, 0.09, Call.POSITIVE, "m", None, ("r1",), 0.6),
          Finding("Pleural Effusion", 0.97, 0.3, Call.POSITIVE, "m", None, ("r2",), 0.8),
          Finding("Pneumothorax", 0.02, 0.2, Call.NEGATIVE, "m", stated_from=0.7),
          Finding("No Finding", 0.05, 0.5, Call.NEGATIVE, "m"))
    located, warnings = locate_findings(fs, regs, grounded=True)
    return Interpretation(meta(), QCReport(), located, regs, warnings=warnings,
                          models=(ModelInfo("m", "1", "classify"),), radlens_version="0.1")


# -- words that follow the evidence ------------------------------------------------------------

def test_certainty_bands_follow_the_card_thresholds() -> None:
    f = Finding("Pneumonia", 0.48, 0.09, Call.POSITIVE, "m", stated_from=0.6)
    assert f.certainty is Certainty.POSSIBLE
    assert dataclasses.replace(f, probability=0.99).certainty is Certainty.STATED
    assert dataclasses.replace(f, stated_from=None).certainty is Certainty.STATED  # old card
    assert dataclasses.replace(f, call=Call.NEGATIVE).certainty is Certainty.ABSENT
    card = {"thresholds": {"A": {"youden": 0.2, "sens95": 0.1, "spec95": 0.7},
                           "B": {"youden": 0.2, "sens95": 0.1}}}
    assert stated_threshold(card, "A", 0.2) == 0.7
    assert stated_threshold(card, "B", 0.2) is None
    assert stated_threshold(card, "A", 0.8) is None  # spec95 below the operating point


def test_possible_and_stated_read_differently_and_stay_consistent() -> None:
    low, high = _reading(0.48), _reading(0.99)
    low_text = write_report(low).section_text("findings")
    high_text = write_report(high).section_text("findings")
    assert "Possible pneumonia in the right middle and lower zones." in low_text
    assert "Findings consistent with pneumonia in the right middle and lower zones." in high_text
    for i in (low, high):
        assert check(i, write_report(i)) == []
    assert dict(write_report(low).certainty)["Pneumonia"] == "possible"


def test_impression_orders_by_weight_times_certainty() -> None:
    imp = [s.finding_labels for s in write_report(_reading(0.48)).sentences
           if s.section == "impression"]
    assert imp[0] == ("Pneumonia",)  # possible pneumonia 85 x 0.8 = 68 > stated effusion 65
    tb = (Finding("Tuberculosis", 0.5, 0.3, Call.POSITIVE, "m", stated_from=0.9),
          Finding("Pleural Effusion", 0.95, 0.3, Call.POSITIVE, "m", stated_from=0.9))
    order = [s.finding_labels[0] for s in write_report(Interpretation(
        meta(), QCReport(), tb)).sentences if s.section == "impression"]
    assert order == ["Pleural Effusion", "Tuberculosis"]  # 65 stated > 78 x 0.8 possible


# -- one geometry per finding ------------------------------------------------------------------

def test_location_not_determined_when_heat_lies_outside_the_lungs() -> None:
    i = _reading(0.99, outside=True)
    pneu = i.finding("Pneumonia")
    assert pneu is not None and pneu.location is not None
    assert pneu.location.status == LocationStatus.NOT_DETERMINED
    assert pneu.location.in_lung == pytest.approx(0.2)
    assert [w.code for w in i.warnings] == [WarningCode.LOCATION_NOT_DETERMINED]
    assert i.warnings[0].label == "Pneumonia"
    r = write_report(i)
    assert "Findings consistent with pneumonia (location not determined)." in r.section_text(
        "findings")
    assert "zone" not in " ".join(s.text for s in r.sentences if "Pneumonia" in
                                  s.finding_labels)
    assert r.section_text("caution").startswith("Pneumonia: location not determined")
    assert check(i, r) == []


def test_every_output_states_the_same_location(tmp_path: Path) -> None:
    pytest.importorskip("highdicom")
    pytest.importorskip("fhir.resources")
    i = _reading(0.99)
    i = dataclasses.replace(i, report=write_report(i))
    for f in i.findings:
        loc = location_of(i, f)
        words = where_text(i, f)
        entry = next(e for e in structured_report(i) if e.label == f.label)
        assert entry.zones == (loc.zones if loc.known else ())
        assert entry.side == (loc.side if loc.known else None)
        assert entry.location == words
        assert entry.certainty == f.certainty.value
        if f.call is Call.POSITIVE:
            said = [s.text for s in i.report.sentences if f.label in s.finding_labels]
            assert all(words in s.replace(".", "") or not words for s in said if
                       not s.startswith(("Left", "Right"))), said
            assert any(line.startswith(f.label) and line.endswith(words)
                       for line in legend_lines(i))
    assert where_text(i, i.finding("Pneumonia")) == "in the right middle and lower zones"
    # the JSON round trip keeps the one location
    back = from_json(to_json(i), Interpretation)
    assert location_of(back, back.finding("Pneumonia")) == location_of(i, i.finding("Pneumonia"))
    paths = export(i, "all", tmp_path)
    data = json.loads(paths[0].read_text())
    assert {e["label"]: e["zones"] for e in data["structured"]}["Pneumonia"] == [
        "right lower", "right middle"]
    fhir = json.loads(paths[1].read_text())
    notes = [e["resource"].get("note", [{}])[0].get("text") for e in fhir["entry"]
             if e["resource"]["resourceType"] == "Observation"]
    assert "location: in the right middle and lower zones" in notes
    sr = pydicom.dcmread(paths[2])
    sites = _sr_sites(sr, "Pneumonia")
    assert ("Lower zone of lung", "Right") in sites and ("Middle zone of lung", "Right") in sites
    assert _sr_numbers(sr, "Pneumonia") == pytest.approx(
        {"Probability": 0.99, "Operating threshold": 0.09, "High-specificity threshold": 0.6})


def test_merged_sentence_only_when_the_locations_agree() -> None:
    regs = (_heat_region("a", "Lung Opacity", (("left upper", 0.9),)),
            _heat_region("b", "Pneumonia", (("right lower", 0.9),)))
    fs = (Finding("Lung Opacity", 0.9, 0.5, Call.POSITIVE, "m", region_ids=("a",)),
          Finding("Pneumonia", 0.9, 0.5, Call.POSITIVE, "m", region_ids=("b",)))
    fs, _ = locate_findings(fs, regs)
    text = write_report(Interpretation(meta(), QCReport(), fs, regs)).section_text("findings")
    assert "consistent with pneumonia in the right lower zone" in text
    assert "Patchy opacity in the left upper zone." in text


def test_lateral_film_withholds_sides_and_zones() -> None:
    regs = (_heat_region("r", "Pleural Effusion", (("left lower", 0.9),)),)
    fs = (Finding("Pleural Effusion", 0.9, 0.5, Call.POSITIVE, "m", region_ids=("r",)),)
    fs, _ = locate_findings(fs, regs, withheld=True)
    qc = QCReport((QCIssue("probable_lateral", Severity.WARNING, "probably lateral"),))
    guard = assess(meta(view_position=None), qc, None, "m", header={"PatientAge": "050Y"})
    i = Interpretation(meta(view_position=None), qc, fs, regs, warnings=guard.warnings)
    assert guard.lateral and [w.code for w in guard.warnings] == ["lateral_view"]
    r = write_report(i)
    assert r.section_text("findings") == "Pleural effusion."
    assert "lateral film" in r.section_text("caution")
    assert where_text(i, fs[0]) == "location withheld (lateral view)"
    assert structured_report(i)[0].side is None and structured_report(i)[0].zones == ()


def test_locate_keeps_the_old_rules_for_hand_made_regions() -> None:
    r = Region("x", RegionKind.FINDING, "A", zones=(("right lower", 0.7), ("right middle", 0.3)))
    loc = locate([r])
    assert loc.zones == ("right lower", "right middle") and loc.side == "right" and loc.known
    assert not locate([]).known


# -- guardrails --------------------------------------------------------------------------------

def _codes(a: object) -> list[tuple[str, str | None]]:
    return [(w.code, w.field) for w in a.warnings]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("header", "expected_age", "expected"), [
    ({"PatientAge": "045Y"}, 45.0, []),
    ({"PatientAge": "006M"}, 0.5, [("age_below_population", "PatientAge")]),
    ({"PatientAge": "45 years"}, None, [("age_malformed", "PatientAge"),
                                        ("age_unknown", "PatientAge")]),
    ({"PatientAge": "150Y"}, None, [("age_implausible", "PatientAge"),
                                    ("age_unknown", "PatientAge")]),
    ({"PatientBirthDate": "20200101", "StudyDate": "20100101"}, None,
     [("birth_after_study", "PatientBirthDate, StudyDate"), ("age_unknown", "PatientAge")]),
    ({"PatientBirthDate": "2020-13-45", "StudyDate": "20240101"}, None,
     [("date_malformed", "PatientBirthDate"), ("age_unknown", "PatientAge")]),
    ({"PatientBirthDate": "19800101", "StudyDate": "20240102"}, pytest.approx(44.0, abs=0.01),
     []),
    ({"PatientBirthDate": "18800101", "StudyDate": "20240102"}, None,
     [("age_implausible", "PatientBirthDate, StudyDate"), ("age_unknown", "PatientAge")]),
    ({}, None, [("age_unknown", "PatientAge")]),
])
def test_age_from_the_header_never_crashes_or_guesses(header: dict[str, str], expected_age: object,
                                                      expected: list[tuple[str, str]]) -> None:
    a = assess(meta(patient_age_years=None), QCReport(), POPULATION, "adult-model",
               header=header)
    assert a.age_years == expected_age
    assert _codes(a) == expected
    for w in a.warnings:
        assert "2020" not in w.message and "1880" not in w.message  # no dates repeated


def test_age_override_views_and_older_cards() -> None:
    child = assess(meta(), QCReport(), POPULATION, "adult-model", age=7,
                   header={"PatientAge": "064Y"})
    assert child.age_years == 7 and _codes(child) == [("age_below_population", "PatientAge")]
    assert "adult-model" in child.warnings[0].message
    odd = assess(meta(view_position="XYZ"), QCReport(), POPULATION, "m",
                 header={"PatientAge": "064Y"})
    assert _codes(odd) == [("view_unknown", "ViewPosition")]
    # an older card without population: no population warning at all
    assert assess(meta(), QCReport(), None, "m", header={}).warnings == ()
    assert parse_dicom_age("010D") == pytest.approx(10 / 365.25)


def test_header_is_read_from_the_dicom_file(tmp_path: Path) -> None:
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientAge = "4Y5"  # malformed
    ds.PatientBirthDate = "20300101"
    ds.StudyDate = "20200101"
    path = tmp_path / "bad.dcm"
    ds.save_as(path)
    head = read_header(meta(source=str(path)))
    assert head["PatientAge"] == "4Y5"
    a = assess(meta(source=str(path), patient_age_years=None), QCReport(), POPULATION, "m")
    assert [w.code for w in a.warnings] == ["age_malformed", "birth_after_study", "age_unknown"]


def test_warnings_reach_the_report_and_round_trip() -> None:
    guard = assess(meta(), QCReport(), POPULATION, "adult-model", age=7, header={})
    i = Interpretation(meta(patient_age_years=7.0), QCReport(),
                       (Finding("Pneumothorax", 0.1, 0.5, Call.NEGATIVE, "m"),),
                       warnings=guard.warnings)
    text = report_text(write_report(i))
    assert "CAUTION: The patient is younger than the population" in text
    assert from_json(to_json(i), Interpretation) == i


# -- exports that lose nothing -----------------------------------------------------------------

def _sr_groups(sr: pydicom.Dataset, label: str) -> list[pydicom.Dataset]:
    out = []
    for c in sr.ContentSequence:
        if c.ValueType != "CONTAINER":
            continue
        for g in c.ContentSequence:
            if g.ValueType == "CONTAINER" and any(
                    getattr(x, "TextValue", None) == label for x in g.ContentSequence):
                out.append(g)
    return out


def _sr_sites(sr: pydicom.Dataset, label: str) -> set[tuple[str, str | None]]:
    out = set()
    for g in _sr_groups(sr, label):
        for x in g.ContentSequence:
            if x.ConceptNameCodeSequence[0].CodeValue == "363698007":
                lat = next((m.ConceptCodeSequence[0].CodeMeaning for m in
                            getattr(x, "ContentSequence", [])), None)
                out.add((x.ConceptCodeSequence[0].CodeMeaning, lat))
    return out


def _sr_numbers(sr: pydicom.Dataset, label: str) -> dict[str, float]:
    return {x.ConceptNameCodeSequence[0].CodeMeaning:
            float(x.MeasuredValueSequence[0].NumericValue)
            for g in _sr_groups(sr, label) for x in g.ContentSequence if x.ValueType == "NUM"}


def test_sr_declares_its_scheme_and_study_id_and_passes_dciodvfy(tmp_path: Path) -> None:
    pytest.importorskip("highdicom")
    i = _reading(0.99, outside=True)
    (path,) = export(i, "sr", tmp_path)
    sr = pydicom.dcmread(path)
    schemes = {s.CodingSchemeDesignator for s in sr.CodingSchemeIdentificationSequence}
    assert "99RADLENS" in schemes
    assert sr.StudyID and len(sr.StudyID) <= 16
    values = [x.ConceptCodeSequence[0].CodeValue for g in _sr_groups(sr, "Pneumonia")
              for x in g.ContentSequence if x.ValueType == "CODE"]
    assert "loc-undetermined" in values
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (Debian dicom3tools) is not installed")
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    lines = [x for x in (out.stdout + out.stderr).splitlines()
             if x.startswith(("Error", "Warning"))]
    assert not [x for x in lines if x.startswith("Error")], lines
    # the one warning left: dciodvfy's built-in list of private schemes lacks ours
    assert {x for x in lines} <= {"Warning - Unrecognized defined term <99RADLENS> for value 1 "
                                  "of attribute <Coding Scheme Designator>"}, lines


def test_batch_csv_has_calls_zones_warnings_and_report(tmp_path: Path) -> None:
    from radlens.serve.export import write_csv
    from radlens.serve.store import ResultStore

    i = _reading(0.48, outside=True)
    i = dataclasses.replace(i, report=write_report(i))
    db = tmp_path / "r.sqlite"
    with ResultStore(db) as store:
        store.record_done("k1", "/x/a.dcm", to_json(i), 0.5)
    buf = io.StringIO()
    assert write_csv([db], buf) == 1
    (row,) = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert row["call:Pneumonia"] == "positive" and row["certainty:Pneumonia"] == "possible"
    assert row["where:Pneumonia"] == "(location not determined)"
    assert row["where:Pleural Effusion"] == "in the left lower zone"
    assert row["warnings"] == "location_not_determined"
    assert "Possible pneumonia (location not determined)." in row["report"]
    assert float(row["p:Pneumonia"]) == pytest.approx(0.48)
