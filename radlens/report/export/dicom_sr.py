"""DICOM SR export: a Comprehensive 3D SR Imaging Measurement Report (TID 1500), via highdicom.

One measurement group (TID 1501, or TID 1410 with the box outline when a finding has a region
box and the source is a DICOM image) per covered finding: finding type (SNOMED CT / DICOM /
local code), qualitative evaluation Present/Absent/Indeterminate, the calibrated probability
(DCM 122157, no units), finding site with laterality, the model as algorithm identification and
the source image reference. Each group also carries the operating threshold (and the
uncertain-call and high-specificity thresholds when known) as measurements coded in the private
99RADLENS scheme, one finding site per reported zone (SNOMED CT upper / middle / lower zone of
lung, with the zone's laterality) and, when the heat lies mostly outside the lungs, a
"location not determined" qualitative evaluation. The FINDINGS and IMPRESSION text follow as
TEXT items (DCM 121070 / 121073) in the root container. The private scheme is declared in the
Coding Scheme Identification Sequence; Study ID is the source's, else a value derived from the
Study Instance UID. Patient and study fields come from the source DICOM header
(de-identified on request); the SR joins the source study (same Study Instance UID) in a new
series. A non-DICOM source gets a new study. With a prior film (`Interpretation.comparison`)
each group also carries its change since the prior (a 99RADLENS-coded qualitative
evaluation, the prior probability and both extents as measurements), the COMPARISON text
follows as a TEXT item (DCM 111424), and a DICOM prior is referenced as evidence of its own
study (Pertinent Other Evidence Sequence).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from radlens.errors import DataError
from radlens.report import _deps
from radlens.report.export import codes
from radlens.report.export.patient import Patient, pseudo_uid, today
from radlens.report.structured import Entry, structured_report
from radlens.schema import Interpretation, Report

SR_SERIES_NUMBER = 9901


def _concept(hd: Any, code: codes.Code) -> Any:
    scheme, value, meaning = code
    return hd.sr.CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


def study_id_for(study_uid: str) -> str:
    """A Study ID (SH, at most 16 characters) derived from a Study Instance UID, for studies
    whose source has none (or was de-identified): "RL" + 10 hex digits of its SHA-256."""
    return "RL" + hashlib.sha256(study_uid.encode("ascii")).hexdigest()[:10].upper()


def coding_schemes() -> Any:
    """The Coding Scheme Identification Sequence items of the private schemes we use."""
    from pydicom.dataset import Dataset

    items = []
    for designator, info in codes.table()["private_schemes"].items():
        it = Dataset()
        it.CodingSchemeDesignator = designator
        it.CodingSchemeName = info["name"]
        it.CodingSchemeVersion = info["version"]
        it.CodingSchemeResponsibleOrganization = info["organization"]
        items.append(it)
    return items


def _evidence(patient: Patient) -> Any:
    from pydicom.dataset import Dataset

    t = codes.table()
    ev = Dataset()
    date, time = today()
    ev.PatientName = patient.name
    ev.PatientID = patient.id or ("" if patient.from_dicom else "UNKNOWN")
    ev.PatientBirthDate = patient.birth_date
    ev.PatientSex = patient.sex
    ev.StudyInstanceUID = patient.study_uid or pseudo_uid()
    ev.StudyDate = patient.study_date or date
    ev.StudyTime = patient.study_time or time
    ev.StudyID = patient.study_id or study_id_for(ev.StudyInstanceUID)
    ev.AccessionNumber = patient.accession
    ev.ReferringPhysicianName = ""
    ev.SeriesInstanceUID = patient.series_uid or pseudo_uid()
    ev.SOPInstanceUID = patient.sop_uid or pseudo_uid()
    ev.SOPClassUID = patient.sop_class_uid or t["dicom_sop_classes"].get(
        patient.modality, t["dicom_sop_classes"]["default"])
    ev.Modality = patient.modality or "DX"
    return ev


def _group(hd: Any, e: Entry, interp: Interpretation, ev: Any, referenced: bool) -> Any:
    t = codes.table()
    finding = _concept(hd, codes.finding_codes(e.label)[0])
    lat = t["laterality"].get(e.side or "")
    sites = [hd.sr.FindingSite(anatomic_location=_concept(hd, codes.site(e.label)),
                               laterality=_concept(hd, tuple(lat)) if lat else None)]
    for zone in e.zones:
        side, _, level = zone.partition(" ")
        if level in t["zones"] and side in t["laterality"]:
            sites.append(hd.sr.FindingSite(
                anatomic_location=_concept(hd, tuple(t["zones"][level])),
                laterality=_concept(hd, tuple(t["laterality"][side]))))
    unit = _concept(hd, codes.get("no_units"))
    measurements = [hd.sr.Measurement(name=_concept(hd, codes.get("probability")),
                                      value=float(e.probability), unit=unit),
                    hd.sr.Measurement(name=_concept(hd, codes.get("threshold")),
                                      value=float(e.threshold), unit=unit)]
    for key, value in (("uncertain_from", e.uncertain_from), ("stated_from", e.stated_from)):
        if value is not None:
            measurements.append(hd.sr.Measurement(name=_concept(hd, codes.get(key)),
                                                  value=float(value), unit=unit))
    evaluations = [hd.sr.QualitativeEvaluation(
        name=finding, value=_concept(hd, tuple(t["presence"][e.call])))]
    if e.change is not None:  # the change since the prior study (TID 1500 + local codes)
        evaluations.append(hd.sr.QualitativeEvaluation(
            name=_concept(hd, codes.get("change")),
            value=_concept(hd, tuple(t["changes"][e.change]))))
        for key, value in (("prior_probability", e.prior_probability),
                           ("prior_extent", e.prior_extent), ("extent", e.extent)):
            if value is not None:
                measurements.append(hd.sr.Measurement(name=_concept(hd, codes.get(key)),
                                                      value=float(value), unit=unit))
    if e.location_status == "not_determined":
        evaluations.append(hd.sr.QualitativeEvaluation(
            name=_concept(hd, codes.site(e.label)),
            value=_concept(hd, codes.get("location_not_determined"))))
    common: dict[str, Any] = dict(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=pseudo_uid(), identifier=e.label),
        finding_type=finding,
        algorithm_id=hd.sr.AlgorithmIdentification(name=e.model or "radlens",
                                                    version=_model_version(interp, e.model)),
        finding_sites=sites,
        measurements=measurements,
        qualitative_evaluations=evaluations)
    box = None
    if e.zones or e.side:  # no outline where the location is not stated
        box = next((r.box for r in (interp.region(i) for i in e.region_ids)
                    if r is not None and r.box is not None), None)
    if referenced and box is not None:
        data = np.array([[box.x0, box.y0], [box.x1, box.y0], [box.x1, box.y1],
                         [box.x0, box.y1], [box.x0, box.y0]], dtype=np.float32)
        region = hd.sr.ImageRegion(graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
                                   graphic_data=data,
                                   source_image=hd.sr.SourceImageForRegion(
                                       ev.SOPClassUID, ev.SOPInstanceUID))
        return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(referenced_region=region,
                                                                     **common)
    if referenced:
        common["source_images"] = [hd.sr.SourceImageForMeasurementGroup(
            ev.SOPClassUID, ev.SOPInstanceUID)]
    return hd.sr.MeasurementsAndQualitativeEvaluations(**common)


def _prior_evidence(interp: Interpretation, ev: Any) -> list[Any]:
    """The prior film as evidence (highdicom lists a film of another study in the Pertinent
    Other Evidence Sequence), when the comparison has one with DICOM UIDs; else []."""
    from pydicom.dataset import Dataset

    prior = interp.prior
    if prior is None or not (prior.study_instance_uid and prior.series_instance_uid
                             and prior.sop_instance_uid):
        return []
    item = Dataset()
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                    "AccessionNumber", "StudyID", "StudyDate", "StudyTime",
                    "ReferringPhysicianName"):
        setattr(item, keyword, getattr(ev, keyword, ""))
    item.StudyInstanceUID = prior.study_instance_uid
    item.SeriesInstanceUID = prior.series_instance_uid
    item.SOPInstanceUID = prior.sop_instance_uid
    item.SOPClassUID = prior.sop_class_uid or ev.SOPClassUID
    return [item]


def _model_version(interp: Interpretation, name: str) -> str:
    return next((m.version for m in interp.models if m.name == name), "unknown")


def write_sr(interp: Interpretation, report: Report, patient: Patient, path: Path, *,
             series_uid: str | None = None, sop_uid: str | None = None) -> Path:
    """Write the SR of `interp` and `report` to `path` (a .dcm file); returns the path.

    `series_uid` / `sop_uid`: the SR's Series and SOP Instance UIDs (default: fresh ones); a
    PACS node derives them from the source image, so that an SR sent twice is the same
    instance (`radlens.pacs.work.sr_uids`). Raises `MissingDependencyError` when highdicom is
    not installed, `DataError` when no finding was assessed.
    """
    build_sr(interp, report, patient, series_uid=series_uid, sop_uid=sop_uid).save_as(
        path, enforce_file_format=True)
    return path


def build_sr(interp: Interpretation, report: Report, patient: Patient, *,
             series_uid: str | None = None, sop_uid: str | None = None) -> Any:
    """The SR of `interp` and `report` as a pydicom `Dataset` with its file meta, not written
    anywhere: what `write_sr` saves, for a caller that sends it on (C-STORE, STOW-RS) without
    a file. Arguments and errors as `write_sr`.

    Every content item is made by highdicom. Its `Comprehensive3DSR` constructor deep-copies,
    re-parses and searches the whole content tree (most of the SR's cost with 15 findings),
    so the document is constructed with the first measurement group and the others are then
    appended to its Imaging Measurements container; they reference the same source image, so
    the evidence the constructor checked holds for them. The result is the same data set;
    it is returned as a plain pydicom `Dataset` (highdicom's parsed `.content` view would
    show the first group only). `highdicom.sr.srread` of the saved file gives the full view.
    """
    hd = _deps.require("highdicom", "DICOM SR export", "highdicom")
    ev = _evidence(patient)
    referenced = patient.from_dicom and bool(patient.sop_uid)
    device = hd.sr.ObserverContext(
        observer_type=hd.sr.CodedConcept("121007", "DCM", "Device"),
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=pseudo_uid(), name="radlens", model_name=interp.radlens_version or None))
    groups = [_group(hd, e, interp, ev, referenced) for e in structured_report(interp)]
    if not groups:
        raise DataError("no assessed finding to put in a DICOM SR (is a finding model "
                        "installed?)", interp.image.source)
    content = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=_concept(hd, codes.get("procedure")),
        imaging_measurements=groups[:1])
    root = content[0]
    for key, section in (("comparison_text", "comparison"), ("findings_text", "findings"),
                         ("impression_text", "impression")):
        text = report.section_text(section)
        if text:
            root.ContentSequence.append(hd.sr.TextContentItem(
                name=_concept(hd, codes.get(key)), value=text,
                relationship_type=hd.sr.RelationshipTypeValues.CONTAINS))
    evidence = [ev, *_prior_evidence(interp, ev)]
    sr = hd.sr.Comprehensive3DSR(
        evidence=evidence, content=content, series_instance_uid=series_uid or pseudo_uid(),
        series_number=SR_SERIES_NUMBER, sop_instance_uid=sop_uid or pseudo_uid(),
        instance_number=1,
        manufacturer="radlens", is_complete=True, is_final=False, is_verified=False,
        series_description="radlens draft report (AI, unverified)")
    sr.CodingSchemeIdentificationSequence = coding_schemes()
    _append_groups(sr, groups[1:])
    from pydicom.dataset import Dataset

    ds = Dataset(sr)
    ds.file_meta, ds.preamble = sr.file_meta, sr.preamble  # written by a plain dcmwrite too
    return ds


IMAGING_MEASUREMENTS = "126010"  # DCM code of TID 1500's Imaging Measurements container


def _append_groups(sr: Any, groups: list[Any]) -> None:
    """Append measurement groups (highdicom templates) to the Imaging Measurements container
    of a constructed TID 1500 document, in order."""
    container = next(item for item in sr.ContentSequence if item.ValueType == "CONTAINER"
                     and item.ConceptNameCodeSequence[0].CodeValue == IMAGING_MEASUREMENTS)
    for group in groups:
        container.ContentSequence.extend(group)
