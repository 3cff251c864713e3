"""Exports: FHIR validated by fhir.resources, DICOM SR read back with pydicom, JSON round trip."""

from __future__ import annotations

import base64
import dataclasses
import json
import sys
from pathlib import Path

import pydicom
import pytest

from radlens.errors import DataError, MissingDependencyError
from radlens.report import export, write_report
from radlens.schema import (
    Box,
    Call,
    Finding,
    Interpretation,
    ModelInfo,
    QCReport,
    Region,
    RegionKind,
)
from radlens.schema_json import from_dict
from tests.report.factories import interp, meta

pytest.importorskip("fhir.resources")
pytest.importorskip("highdicom")


def _interp(source: str = "synthetic.dcm", **kw: object) -> Interpretation:
    regs = (Region("r1", RegionKind.FINDING, "Pneumothorax", box=Box(10, 20, 110, 220),
                   zones=(("left upper", 0.9),), side="left"),)
    fs = (Finding("Pneumothorax", 0.91, 0.5, Call.POSITIVE, "cxr-test", region_ids=("r1",)),
          Finding("Pleural Effusion", 0.42, 0.5, Call.UNCERTAIN, "cxr-test", 0.3),
          Finding("Support Devices", 0.05, 0.5, Call.NEGATIVE, "cxr-test"),
          Finding("No Finding", 0.05, 0.5, Call.NEGATIVE, "cxr-test"))
    return Interpretation(meta(source=source, **kw), QCReport(), fs, regs,
                          models=(ModelInfo("cxr-test", "3", "classify"),),
                          radlens_version="0.1")


def _dicom_source(tmp_path: Path) -> Path:
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "PID-12345"
    ds.PatientBirthDate = "19600101"
    path = tmp_path / "source.dcm"
    ds.save_as(path)
    return path


def test_fhir_bundle_validates_and_codes_every_finding(tmp_path: Path) -> None:
    from fhir.resources.R4B.bundle import Bundle

    i = _interp()
    (path,) = export(i, "fhir", tmp_path)
    data = json.loads(path.read_text())
    bundle = Bundle.model_validate(data)
    kinds = [e.resource.__resource_type__ for e in bundle.entry]
    assert kinds.count("Observation") == 4 and kinds.count("DiagnosticReport") == 1
    obs = {e.resource.code.text: e.resource for e in bundle.entry
           if e.resource.__resource_type__ == "Observation"}
    ptx = obs["Pneumothorax"]
    assert ptx.code.coding[0].system == "http://snomed.info/sct"
    assert ptx.code.coding[0].code == "36118008"
    assert ptx.valueCodeableConcept.coding[0].code == "52101004"
    assert ptx.interpretation[0].coding[0].code == "POS"
    assert float(ptx.component[0].valueQuantity.value) == pytest.approx(0.91)
    assert ptx.bodySite.text == "left pleural structure"
    assert obs["Pleural Effusion"].interpretation[0].coding[0].code == "IND"
    dr = next(e.resource for e in bundle.entry
              if e.resource.__resource_type__ == "DiagnosticReport")
    assert dr.code.coding[0].code == "18748-4"
    assert len(dr.result) == 4
    raw = json.loads(path.read_text())["entry"][-1]["resource"]["presentedForm"][0]["data"]
    text = base64.b64decode(raw).decode()
    assert dr.presentedForm[0].data == text.encode()
    assert "FINDINGS:" in text and "IMPRESSION:" in text
    assert dr.conclusion.startswith("Left pneumothorax.")
    study = next(e.resource for e in bundle.entry
                 if e.resource.__resource_type__ == "ImagingStudy")
    assert study.identifier[0].value == "urn:oid:" + i.image.study_instance_uid


def test_sr_references_the_source_and_reads_back(tmp_path: Path) -> None:
    src = _dicom_source(tmp_path)
    head = pydicom.dcmread(src, stop_before_pixels=True)
    i = _interp(str(src), study_instance_uid=head.StudyInstanceUID,
                series_instance_uid=head.SeriesInstanceUID, sop_instance_uid=head.SOPInstanceUID)
    (path,) = export(i, "sr", tmp_path / "out")
    sr = pydicom.dcmread(path)
    assert sr.Modality == "SR"
    assert sr.StudyInstanceUID == head.StudyInstanceUID
    assert str(sr.PatientName) == "Doe^Jane" and sr.PatientID == "PID-12345"
    refs = [item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID
            for study in sr.CurrentRequestedProcedureEvidenceSequence
            for series in study.ReferencedSeriesSequence for item in [series]]
    assert head.SOPInstanceUID in refs
    root = sr.ContentSequence
    groups = [c for c in root if c.ValueType == "CONTAINER"]
    names = []
    for container in groups:
        for g in container.ContentSequence:
            if g.ValueType == "CONTAINER":
                for item in g.ContentSequence:
                    if item.ConceptNameCodeSequence[0].CodeValue == "112039":
                        names.append(item.TextValue)
    assert sorted(names) == sorted(["Pneumothorax", "Pleural Effusion", "Support Devices",
                                    "No Finding"])
    texts = {c.ConceptNameCodeSequence[0].CodeMeaning: c.TextValue for c in root
             if c.ValueType == "TEXT"}
    assert texts["Impression"].startswith("Left pneumothorax.")
    import highdicom as hd

    doc = hd.sr.srread(path)
    assert len(doc.content.get_planar_roi_measurement_groups()) == 1
    # every group (not only the one the document was constructed with) is in the file, in order
    assert len(doc.content.get_image_measurement_groups()) == len(names) - 1 == 3


def test_built_sr_encodes_as_a_file_with_a_plain_dcmwrite(tmp_path: Path) -> None:
    """What STOW-RS and C-STORE senders do with `build_sr`'s data set (no enforce flag)."""
    import io

    from radlens.report.export.dicom_sr import build_sr
    from radlens.report.export.patient import patient_for

    src = _dicom_source(tmp_path)
    head = pydicom.dcmread(src, stop_before_pixels=True)
    i = _interp(str(src), study_instance_uid=head.StudyInstanceUID,
                series_instance_uid=head.SeriesInstanceUID, sop_instance_uid=head.SOPInstanceUID)
    ds = build_sr(i, write_report(i), patient_for(i.image))
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds)
    back = pydicom.dcmread(io.BytesIO(buf.getvalue()))
    assert back.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert back.StudyInstanceUID == head.StudyInstanceUID


def test_deidentify_removes_patient_fields(tmp_path: Path) -> None:
    src = _dicom_source(tmp_path)
    i = _interp(str(src), patient_age_years=93.0)
    i = dataclasses.replace(i, report=write_report(i, indication="Mrs Doe, fell at home"))
    paths = export(i, "all", tmp_path / "out", deidentify=True)
    assert all(i.id in p.name for p in paths)
    blob = b"".join(p.read_bytes() for p in paths)
    for secret in (b"Doe", b"PID-12345", b"19600101", b"source.dcm"):
        assert secret not in blob
    sr = pydicom.dcmread(paths[2])
    assert sr.PatientID == "ANONYMOUS"
    data = json.loads(paths[0].read_text())
    assert data["interpretation"]["image"]["patient_age_years"] == 90.0
    plain = export(i, "json", tmp_path / "plain")[0].read_text()
    assert "fell at home" in plain


def test_json_export_round_trips(tmp_path: Path) -> None:
    i = _interp()
    (path,) = export(i, "json", tmp_path)
    data = json.loads(path.read_text())
    back = from_dict(data["interpretation"], Interpretation)
    assert back.report == write_report(i)
    assert [e["label"] for e in data["structured"]] == [f.label for f in i.findings]
    assert data["text"].startswith("CLINICAL INFORMATION:")


def test_non_dicom_source_gets_its_own_study(tmp_path: Path) -> None:
    i = interp({"Pneumonia": Call.POSITIVE}, source="chest.png", format="png",
               study_instance_uid=None, series_instance_uid=None, sop_instance_uid=None)
    fhir_path, sr_path = export(i, "fhir", tmp_path)[0], export(i, "sr", tmp_path)[0]
    assert "ImagingStudy" not in fhir_path.read_text()
    assert pydicom.dcmread(sr_path).StudyInstanceUID.startswith("2.25.")


def test_bad_format_and_missing_dependency(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DataError, match="unknown export format"):
        export(_interp(), "pdf", tmp_path)
    monkeypatch.setitem(sys.modules, "highdicom", None)
    with pytest.raises(MissingDependencyError, match="highdicom"):
        export(_interp(), "sr", tmp_path)
