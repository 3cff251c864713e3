"""The overlay as a DICOM Secondary Capture image marked as derived, via highdicom.

The picture is `radlens.render.overlay.overlay_rgb` (the film with heatmaps, lung outlines,
finding boxes and the legend), RGB 8 bits, longer side at most 1024 px. The instance joins the
source study (same Study Instance UID, the source's patient and study fields) in a series of
its own, "radlens overlay (AI, unverified, not for diagnosis)", and says what it is: Image
Type ``DERIVED\\SECONDARY``, a Derivation Description, the source image in the Source Image
Sequence (purpose DCM 121322 "Source image for image processing operation"), Conversion Type
WSD (workstation) and Burned In Annotation YES (the legend is drawn into the pixels; it names
findings and probabilities, never the patient). No Derivation Code Sequence: DICOM's image
derivation codes (CID 7203) have none for a picture drawn over an image.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from radlens.report import _deps
from radlens.report.export.patient import Patient, pseudo_uid, today

SC_SERIES_NUMBER = 9902
#: Purpose of reference of the source image (CID 7202).
SOURCE_PURPOSE = ("DCM", "121322", "Source image for image processing operation")


def build_overlay_sc(rgb: np.ndarray, patient: Patient, *, series_uid: str | None = None,
                     sop_uid: str | None = None, orientation: tuple[str, str] = ("L", "F"),
                     model: str = "radlens") -> Any:
    """The overlay picture `rgb` ((h, w, 3) uint8) as a highdicom `SCImage` (a pydicom
    `Dataset` with file meta), in the study of `patient` (a new study when it has none).

    `series_uid` / `sop_uid`: the instance's UIDs (default fresh; a PACS node derives them
    from the source image so a re-sent overlay is the same instance). `orientation`: Patient
    Orientation (row direction, column direction) of the displayed film; the default is the
    conventional frontal display (patient's left to the right of the image, feet down).
    Raises `MissingDependencyError` without highdicom, `ValueError` for a picture that is not
    (h, w, 3) uint8.
    """
    hd = _deps.require("highdicom", "DICOM Secondary Capture export", "highdicom")
    from pydicom.dataset import Dataset

    pixels = np.ascontiguousarray(rgb)
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError(f"the overlay must be (h, w, 3) uint8, got {pixels.shape} "
                         f"{pixels.dtype}")
    date, time = today()
    study_uid = patient.study_uid or pseudo_uid()
    sc = hd.sc.SCImage(
        pixel_array=pixels, photometric_interpretation="RGB", bits_allocated=8,
        coordinate_system="PATIENT", patient_orientation=orientation,
        study_instance_uid=study_uid, series_instance_uid=series_uid or pseudo_uid(),
        series_number=SC_SERIES_NUMBER, sop_instance_uid=sop_uid or pseudo_uid(),
        instance_number=1, manufacturer="radlens",
        patient_id=patient.id or ("" if patient.from_dicom else "UNKNOWN"),
        patient_name=patient.name or None, patient_birth_date=patient.birth_date or None,
        patient_sex=patient.sex or None, accession_number=patient.accession or None,
        study_id=patient.study_id or None, study_date=patient.study_date or date,
        study_time=patient.study_time or time, referring_physician_name="")
    sc.ImageType = ["DERIVED", "SECONDARY"]
    sc.SeriesDescription = "radlens overlay (AI, unverified, not for diagnosis)"
    sc.DerivationDescription = (f"{model}: finding heatmaps, lung outlines and boxes drawn "
                                "over the source radiograph (scaled)")
    sc.BurnedInAnnotation = "YES"
    sc.ConversionType = "WSD"
    sc.BodyPartExamined = "CHEST"  # not a paired part: no Laterality
    if patient.from_dicom and patient.sop_uid and patient.sop_class_uid:
        purpose = Dataset()
        purpose.CodingSchemeDesignator, purpose.CodeValue, purpose.CodeMeaning = SOURCE_PURPOSE
        src = Dataset()
        src.ReferencedSOPClassUID = patient.sop_class_uid
        src.ReferencedSOPInstanceUID = patient.sop_uid
        src.PurposeOfReferenceCodeSequence = [purpose]
        sc.SourceImageSequence = [src]
    return sc
