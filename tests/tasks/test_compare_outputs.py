"""The comparison in every output: report COMPARISON sentence, structured report, FHIR, SR."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import pydicom
import pytest

from radlens.report import export, write_report
from radlens.report.comparison import when_text
from radlens.report.structured import structured_report
from radlens.report.writer import report_text
from radlens.schema import Interpretation, PriorStudy
from radlens.tasks import compare as C
from tests.tasks.test_compare import LARGE, SMALL, P, reading

UIDS = dict(study_instance_uid="1.2.826.0.1.3680043.8.498.10",
            series_instance_uid="1.2.826.0.1.3680043.8.498.11",
            sop_instance_uid="1.2.826.0.1.3680043.8.498.12")
PRIOR_UIDS = dict(study_instance_uid="1.2.826.0.1.3680043.8.498.20",
                  series_instance_uid="1.2.826.0.1.3680043.8.498.21",
                  sop_instance_uid="1.2.826.0.1.3680043.8.498.22")


def compared(offset: float | None = 12.0) -> Interpretation:
    prior = reading({"Pleural Effusion": (0.05, None), "Pneumothorax": (0.9, SMALL),
                     "Consolidation": (0.7, SMALL), "Edema": (0.9, SMALL)}, **PRIOR_UIDS)
    current = reading({"Pleural Effusion": (0.92, SMALL), "Pneumothorax": (0.04, None),
                       "Consolidation": (0.97, LARGE), "Edema": (0.9, SMALL)}, **UIDS)
    out = C.compare(current, prior, offset_days=offset, p=P)
    return dataclasses.replace(out, report=write_report(out))


def test_report_has_a_comparison_sentence() -> None:
    interp = compared()
    assert interp.report is not None
    text = interp.report.section_text("comparison")
    assert text.startswith("Compared with the prior film of 12 days earlier: new pleural "
                           "effusion in the right lower zone")
    assert "increased" in text and "consolidation" in text
    assert "resolved pneumothorax" in text and "unchanged pulmonary edema" in text
    sentence = next(s for s in interp.report.sentences if s.section == "comparison")
    assert set(sentence.finding_labels) == {"Pleural Effusion", "Pneumothorax",
                                            "Consolidation", "Edema"}
    full = report_text(interp.report)
    assert "COMPARISON: Compared with the prior film" in full
    assert full.index("COMPARISON") < full.index("FINDINGS")


def test_when_text_names_date_or_offset() -> None:
    p = PriorStudy("p.dcm", "id", study_date="2004-08-26", offset_days=30.0)
    assert when_text(p) == "2004-08-26 (30 days earlier)"
    assert when_text(dataclasses.replace(p, offset_days=None)) == "2004-08-26"
    assert when_text(dataclasses.replace(p, study_date=None, offset_days=1.0)) == "1 day earlier"
    assert when_text(dataclasses.replace(p, study_date=None, offset_days=None)) == "unknown date"


def test_no_change_sentence_and_no_section_without_prior() -> None:
    r = reading({"Pleural Effusion": (0.05, None)})
    same = C.compare(r, r, p=P)
    report = write_report(same)
    assert report.section_text("comparison") == ("Compared with the prior film of unknown "
                                                 "date: no change.")
    assert write_report(r).section_text("comparison") == ""


def test_structured_report_carries_the_change() -> None:
    entries = {e.label: e for e in structured_report(compared())}
    assert entries["Pleural Effusion"].change == "new"
    assert entries["Pleural Effusion"].prior_probability == pytest.approx(0.05)
    assert entries["Consolidation"].change == "increased"
    assert entries["Consolidation"].extent is not None
    assert entries["Consolidation"].as_dict()["change"] == "increased"
    plain = structured_report(reading({"Edema": (0.9, SMALL)}))
    assert plain[0].change is None


def test_fhir_carries_the_change_and_both_studies(tmp_path: Path) -> None:
    pytest.importorskip("fhir.resources")
    (path,) = export(compared(), "fhir", tmp_path)
    bundle = json.loads(path.read_text())
    resources = [e["resource"] for e in bundle["entry"]]
    studies = [r for r in resources if r["resourceType"] == "ImagingStudy"]
    assert {s["identifier"][0]["value"] for s in studies} == {
        f"urn:oid:{UIDS['study_instance_uid']}", f"urn:oid:{PRIOR_UIDS['study_instance_uid']}"}
    report = next(r for r in resources if r["resourceType"] == "DiagnosticReport")
    assert len(report["imagingStudy"]) == 2
    obs = next(r for r in resources if r["resourceType"] == "Observation"
               and r["code"]["text"] == "Pleural Effusion")
    change = next(c for c in obs["component"]
                  if c["code"]["coding"][0]["code"] == "change")
    assert change["valueCodeableConcept"]["text"] == "new"
    assert len(obs["derivedFrom"]) == 2
    text = base64.b64decode(report["presentedForm"][0]["data"]).decode()
    assert "COMPARISON: Compared with the prior film" in text


def test_sr_references_both_studies_and_codes_the_change(tmp_path: Path) -> None:
    pytest.importorskip("highdicom")
    (path,) = export(compared(), "sr", tmp_path)
    ds = pydicom.dcmread(path)
    other = ds.PertinentOtherEvidenceSequence
    assert other[0].StudyInstanceUID == PRIOR_UIDS["study_instance_uid"]
    ref = other[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert ref.ReferencedSOPInstanceUID == PRIOR_UIDS["sop_instance_uid"]
    dump = str(ds)
    assert "Comparison to previous studies" in dump
    assert "Change since the prior study" in dump and "New since the prior study" in dump
    texts = [str(item.TextValue) for item in ds.ContentSequence if "TextValue" in item]
    assert any(t.startswith("Compared with the prior film") for t in texts)


def test_sr_without_a_dicom_prior_has_no_other_evidence(tmp_path: Path) -> None:
    pytest.importorskip("highdicom")
    interp = compared()
    assert interp.prior is not None
    interp = dataclasses.replace(interp, prior=dataclasses.replace(
        interp.prior, study_instance_uid=None, series_instance_uid=None,
        sop_instance_uid=None))
    (path,) = export(interp, "sr", tmp_path)
    assert "PertinentOtherEvidenceSequence" not in pydicom.dcmread(path)


def test_deidentify_drops_the_prior_path(tmp_path: Path) -> None:
    (path,) = export(compared(), "json", tmp_path, deidentify=True)
    data = json.loads(path.read_text())
    assert data["interpretation"]["prior"]["source"] == "deidentified"
    assert data["structured"][0]["change"] is not None
