"""FHIR R4 export: a Bundle with one DiagnosticReport and one Observation per covered finding.

Resources: Patient (de-identified on request), Device (the model(s) behind the findings),
ImagingStudy (only when the source has DICOM UIDs), one Observation per covered finding (coded
with SNOMED CT / DICOM / local radlens codes, value Present/Absent/Indeterminate, the calibrated
probability and thresholds as components, body site with laterality as text) and the
DiagnosticReport (category RAD, LOINC 18748-4, conclusion = IMPRESSION, the whole text as
presentedForm). With a prior film (`Interpretation.comparison`) each Observation also
carries its change since the prior (a local-coded component, the prior probability and both
extents), the prior gets its own ImagingStudy (when it has a Study Instance UID) that the
Observations derive from and the DiagnosticReport lists, and the text has the COMPARISON
section. The bundle is validated with the `fhir.resources` R4B models (R4B keeps R4's
DiagnosticReport and Observation structure unchanged).
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from radlens.report import _deps
from radlens.report.export import codes
from radlens.report.export.patient import Patient
from radlens.report.structured import Entry, structured_report
from radlens.report.writer import report_text
from radlens.schema import Interpretation, Report


def _coding(code: codes.Code) -> dict[str, str]:
    scheme, value, meaning = code
    return {"system": codes.system(scheme), "code": value, "display": meaning}


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _observation(e: Entry, patient_ref: str, device_ref: str, study_ref: str | None,
                 issued: str, prior_ref: str | None = None) -> dict[str, Any]:
    t = codes.table()
    interp = t["fhir_interpretation"]
    site = codes.site(e.label)
    site_text = site[2] if e.side is None else f"{e.side} {site[2].lower()}"
    components = [{"code": {"coding": [_coding(codes.get("probability"))]},
                   "valueQuantity": {"value": round(e.probability, 6), "unit": "1",
                                     "system": codes.system("UCUM"), "code": "1"}},
                  {"code": {"coding": [_coding(codes.get("threshold"))]},
                   "valueQuantity": {"value": round(e.threshold, 6), "unit": "1",
                                     "system": codes.system("UCUM"), "code": "1"}}]
    if e.uncertain_from is not None:
        components.append({"code": {"coding": [_coding(codes.get("uncertain_from"))]},
                           "valueQuantity": {"value": round(e.uncertain_from, 6), "unit": "1",
                                             "system": codes.system("UCUM"), "code": "1"}})
    obs: dict[str, Any] = {
        "resourceType": "Observation", "status": "preliminary",
        "category": [{"coding": [dict(t["observation_category"])]}],
        "code": {"coding": [_coding(c) for c in codes.finding_codes(e.label)], "text": e.label},
        "subject": {"reference": patient_ref}, "issued": issued,
        "device": {"reference": device_ref},
        "valueCodeableConcept": {"coding": [_coding(tuple(t["presence"][e.call]))],
                                 "text": e.call},
        "interpretation": [{"coding": [{"system": interp["system"],
                                        "code": interp[e.call][0],
                                        "display": interp[e.call][1]}]}],
        "bodySite": {"coding": [_coding(site)], "text": site_text},
        "method": {"text": f"radlens model {e.model}"},
        "component": components,
    }
    if e.location:
        obs["note"] = [{"text": f"location: {e.location}"}]
    if study_ref:
        obs["derivedFrom"] = [{"reference": study_ref}]
    if e.change is not None:
        components += _change_components(e)
        if prior_ref:
            obs.setdefault("derivedFrom", []).append({"reference": prior_ref})
    return obs


def _change_components(e: Entry) -> list[dict[str, Any]]:
    """The change since the prior study: the change code, the prior probability and extents."""
    t = codes.table()
    out: list[dict[str, Any]] = [{"code": {"coding": [_coding(codes.get("change"))]},
                                  "valueCodeableConcept": {
                                      "coding": [_coding(tuple(t["changes"][str(e.change)]))],
                                      "text": str(e.change)}}]
    for key, value in (("prior_probability", e.prior_probability),
                       ("prior_extent", e.prior_extent), ("extent", e.extent)):
        if value is not None:
            out.append({"code": {"coding": [_coding(codes.get(key))]},
                        "valueQuantity": {"value": round(float(value), 6), "unit": "1",
                                          "system": codes.system("UCUM"), "code": "1"}})
    return out


def _prior_study(interp: Interpretation, pat_ref: str) -> tuple[str, dict[str, Any]] | None:
    """(reference, ImagingStudy) of the prior film, when it has a Study Instance UID."""
    prior = interp.prior
    if prior is None or not prior.study_instance_uid:
        return None
    study: dict[str, Any] = {"resourceType": "ImagingStudy", "status": "available",
                             "subject": {"reference": pat_ref},
                             "identifier": [{"system": "urn:dicom:uid",
                                             "value": f"urn:oid:{prior.study_instance_uid}"}],
                             "description": "prior study (compared)"}
    if prior.study_date:
        study["started"] = prior.study_date
    return _urn(), study


def fhir_bundle(interp: Interpretation, report: Report, patient: Patient,
                deidentified: bool = False) -> dict[str, Any]:
    """The FHIR Bundle (type "collection") as a JSON-ready dict, validated by fhir.resources.

    Raises `MissingDependencyError` when fhir.resources is not installed.
    """
    bundle_mod = _deps.require("fhir.resources.R4B.bundle", "FHIR export", "fhir.resources")
    t = codes.table()
    issued = interp.created if "T" in interp.created else f"{interp.created}T00:00:00+00:00"
    entries: list[dict[str, Any]] = []
    pat_ref, dev_ref = _urn(), _urn()
    pat: dict[str, Any] = {"resourceType": "Patient"}
    if patient.id and not deidentified:
        pat["identifier"] = [{"value": patient.id}]
    if patient.name and not deidentified:
        pat["name"] = [{"text": patient.name.replace("^", " ").strip()}]
    if patient.sex:
        pat["gender"] = {"M": "male", "F": "female", "O": "other"}.get(patient.sex, "unknown")
    entries.append({"fullUrl": pat_ref, "resource": pat})
    models = interp.models or ()
    entries.append({"fullUrl": dev_ref, "resource": {
        "resourceType": "Device",
        "deviceName": [{"name": "radlens " + ", ".join(f"{m.name} {m.version}" for m in models)
                        if models else "radlens", "type": "model-name"}],
        "version": [{"value": interp.radlens_version or "unknown"}]}})
    study_ref = None
    if patient.study_uid:
        study_ref = _urn()
        study: dict[str, Any] = {"resourceType": "ImagingStudy", "status": "available",
                                 "subject": {"reference": pat_ref},
                                 "identifier": [{"system": "urn:dicom:uid",
                                                 "value": f"urn:oid:{patient.study_uid}"}]}
        if patient.series_uid:
            series: dict[str, Any] = {"uid": patient.series_uid, "modality": {
                "system": codes.system("DCM"), "code": patient.modality or "DX"}}
            if patient.sop_uid:
                sop_class = patient.sop_class_uid or t["dicom_sop_classes"].get(
                    patient.modality, t["dicom_sop_classes"]["default"])
                series["instance"] = [{"uid": patient.sop_uid, "sopClass": {
                    "system": "urn:ietf:rfc:3986", "code": f"urn:oid:{sop_class}"}}]
            study["series"] = [series]
        entries.append({"fullUrl": study_ref, "resource": study})
    prior = _prior_study(interp, pat_ref)
    prior_ref = None
    if prior is not None:
        prior_ref = prior[0]
        entries.append({"fullUrl": prior[0], "resource": prior[1]})
    results = []
    entries_sr = structured_report(interp)
    for e in entries_sr:
        ref = _urn()
        results.append({"reference": ref, "display": f"{e.label}: {e.call}"
                        + (f" ({e.change} since the prior)" if e.change else "")})
        entries.append({"fullUrl": ref, "resource": _observation(e, pat_ref, dev_ref, study_ref,
                                                                 issued, prior_ref)})
    sections = ("comparison", "findings", "impression") if deidentified else (
        "clinical", "technique", "comparison", "findings", "impression")
    text = report_text(report, sections)
    dr: dict[str, Any] = {
        "resourceType": "DiagnosticReport", "status": "preliminary",
        "category": [{"coding": [dict(t["report_category"])]}],
        "code": {"coding": [_coding(codes.get("report_code"))]},
        "subject": {"reference": pat_ref}, "issued": issued, "effectiveDateTime": issued,
        "result": results, "conclusion": report.section_text("impression") or None,
        "conclusionCode": [{"coding": [_coding(c) for c in codes.finding_codes(e.label)]}
                           for e in entries_sr if e.call == "positive"],
        "presentedForm": [{"contentType": "text/plain; charset=utf-8", "language": "en",
                           "data": base64.b64encode(text.encode("utf-8")).decode("ascii"),
                           "title": "radlens draft report"}],
    }
    if study_ref:
        dr["imagingStudy"] = [{"reference": study_ref}]
    if prior_ref:
        dr.setdefault("imagingStudy", []).append({"reference": prior_ref})
    dr = {k: v for k, v in dr.items() if v not in (None, [])}
    entries.append({"fullUrl": _urn(), "resource": dr})
    data = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    bundle_mod.Bundle.model_validate(data)  # raises when the bundle breaks the R4B models
    return data
