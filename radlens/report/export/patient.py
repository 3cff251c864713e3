"""Patient and study fields for the exports, and their de-identification.

The fields come from the source DICOM header when `ImageMeta.source` is a readable DICOM file
(pixels are not read), otherwise from `ImageMeta` alone. De-identification (``deidentify=True``)
removes the patient's name, ID, birth date, accession number and the free-text clinical
section of the report, and caps ages above 89 at 90 (HIPAA Safe Harbor). Study, series and
instance UIDs are kept so that the export still points at its source image.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass

from radlens.schema import ImageMeta

ANONYMOUS = "ANONYMOUS^"
_TAGS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientAge",
         "AccessionNumber", "StudyDate", "StudyTime", "StudyID", "ReferringPhysicianName",
         "SOPClassUID", "Modality", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")


@dataclass(frozen=True)
class Patient:
    """What the exports say about the patient and the source study (strings, "" if unknown)."""

    name: str = ""
    id: str = ""
    birth_date: str = ""  # DICOM DA, YYYYMMDD
    sex: str = ""  # "M", "F", "O" or ""
    age_years: float | None = None
    accession: str = ""
    study_date: str = ""
    study_time: str = ""
    study_id: str = ""
    study_uid: str = ""
    series_uid: str = ""
    sop_uid: str = ""
    sop_class_uid: str = ""
    modality: str = ""
    from_dicom: bool = False


def _header(path: str) -> dict[str, str]:
    try:
        import pydicom

        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=list(_TAGS))
    except Exception:
        return {}
    return {t: str(ds.get(t, "") or "") for t in _TAGS}


def patient_for(meta: ImageMeta) -> Patient:
    """The `Patient` of an image (header fields when its source is a DICOM file)."""
    h = _header(meta.source) if meta.format == "dicom" else {}
    return Patient(
        name=h.get("PatientName", ""), id=h.get("PatientID", ""),
        birth_date=h.get("PatientBirthDate", ""),
        sex=(meta.patient_sex or h.get("PatientSex", ""))[:1].upper(),
        age_years=meta.patient_age_years, accession=h.get("AccessionNumber", ""),
        study_date=h.get("StudyDate", ""), study_time=h.get("StudyTime", ""),
        study_id=h.get("StudyID", ""),
        study_uid=meta.study_instance_uid or h.get("StudyInstanceUID", ""),
        series_uid=meta.series_instance_uid or h.get("SeriesInstanceUID", ""),
        sop_uid=meta.sop_instance_uid or h.get("SOPInstanceUID", ""),
        sop_class_uid=h.get("SOPClassUID", ""),
        modality=meta.modality or h.get("Modality", ""), from_dicom=bool(h))


def deidentify(p: Patient) -> Patient:
    """`p` without direct identifiers (see the module docstring)."""
    age = None if p.age_years is None else min(float(p.age_years), 90.0)
    return dataclasses.replace(p, name=ANONYMOUS, id="ANONYMOUS", birth_date="", accession="",
                               age_years=age, study_id="")


def pseudo_uid() -> str:
    """A fresh DICOM UID (2.25 + UUID), for studies that have none."""
    return f"2.25.{uuid.uuid4().int}"


def today() -> tuple[str, str]:
    """(DICOM date, DICOM time) now, UTC."""
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%d"), now.strftime("%H%M%S")
