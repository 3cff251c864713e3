"""Guardrails: warnings that say when a reading should not be believed.

`assess(meta, ...)` checks one image against the validated population of the finding model's
card (``card["population"] = {"age_min", "age_max", "views", "sources", "description"}``;
older cards have none, and then only the lateral-film and bad-header warnings apply) and
returns the patient's age (years, or None when unknown) with `radlens.schema.ReadingWarning`s:

- the age comes from ``--age`` (`age`), else DICOM PatientAge, else PatientBirthDate and the
  study date (StudyDate, SeriesDate, AcquisitionDate or ContentDate); a malformed PatientAge,
  an unreadable date, a birth date after the study date or an age over 120 each give a warning
  naming the field, and the age is then unknown (never guessed);
- a child on an adult model, an age outside the card's range, or an unknown age when the card
  has an age range;
- a view position the tool does not know, or one outside the card's views;
- a lateral film (QC ``probable_lateral`` or a lateral ViewPosition): sides and zones are
  withheld by the pipeline. QC's image rule misses some laterals; `lungs_look_lateral` is a
  second rule on the lung segmentation, which the Reader applies to films the
  out-of-distribution score has already flagged (``guardrails.json["lateral_lungs"]``).

Messages are data (``guardrails.json``) and never repeat dates or exact ages.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from radlens.schema import ImageMeta, QCReport, ReadingWarning, WarningCode

log = logging.getLogger(__name__)

_AGE = re.compile(r"^\s*(\d{1,3})\s*([DWMY])\s*$", re.IGNORECASE)
_UNIT_YEARS = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0}
_HEADER_TAGS = ("PatientAge", "PatientBirthDate", "StudyDate", "SeriesDate", "AcquisitionDate",
                "ContentDate")


@cache
def rules() -> dict[str, Any]:
    """The guardrail rules and messages (``radlens/tasks/guardrails.json``, cached)."""
    text = resources.files("radlens.tasks").joinpath("guardrails.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@dataclass(frozen=True)
class Assessment:
    """What `assess` found: `age_years` (None when unknown), `lateral` (sides and zones must be
    withheld) and the `warnings`, in a stable order."""

    age_years: float | None
    lateral: bool
    warnings: tuple[ReadingWarning, ...]


def _warn(code: WarningCode, field: str | None = None, **values: Any) -> ReadingWarning:
    r = rules()
    text = str(r["messages"][code.value]).format(field=field or "", max_age=r["max_age"],
                                                 **values)
    return ReadingWarning(code.value, text, field)


def read_header(meta: ImageMeta) -> dict[str, str]:
    """Raw age and date fields of a DICOM source (keyword -> text; {} when not DICOM or
    unreadable). Pixels are not read."""
    if meta.format != "dicom" or not meta.source or not Path(meta.source).is_file():
        return {}
    try:
        import pydicom

        ds = pydicom.dcmread(meta.source, stop_before_pixels=True,
                             specific_tags=list(_HEADER_TAGS))
    except Exception as exc:  # an unreadable header only loses the age checks
        log.debug("cannot re-read the header of %s (%s)", meta.source, type(exc).__name__)
        return {}
    out = {}
    for tag in _HEADER_TAGS:
        try:
            value = ds.get(tag)
        except Exception:  # a malformed element: report it as malformed, never crash
            out[tag] = "?"
            continue
        if value not in (None, ""):
            out[tag] = str(value).strip()
    return out


def parse_dicom_age(text: str) -> float | None:
    """DICOM Age String ("045Y", "006M", "003W", "010D") -> years; None when malformed."""
    m = _AGE.match(text)
    if not m:
        return None
    return int(m.group(1)) * _UNIT_YEARS[m.group(2).upper()]


def parse_dicom_date(text: str) -> dt.date | None:
    """DICOM DA ("YYYYMMDD", also "YYYY.MM.DD") -> date; None when malformed."""
    digits = text.strip().replace(".", "")
    if not re.fullmatch(r"\d{8}", digits):
        return None
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


def patient_age(meta: ImageMeta, header: dict[str, str], age: float | None = None
                ) -> tuple[float | None, list[ReadingWarning]]:
    """The patient's age in years (or None) and the warnings about the fields it came from.

    `age` (from ``--age``) wins; then PatientAge from `header` (or `meta` when no header);
    then PatientBirthDate and the first study date field present.
    """
    r = rules()
    max_age = float(r["max_age"])
    warnings: list[ReadingWarning] = []
    if age is not None:
        if not 0 <= age <= max_age:
            return None, [_warn(WarningCode.AGE_IMPLAUSIBLE, "--age")]
        return float(age), []
    raw = header.get("PatientAge")
    if raw is not None:
        years = parse_dicom_age(raw)
        if years is None:
            warnings.append(_warn(WarningCode.AGE_MALFORMED, "PatientAge"))
        elif years > max_age:
            return None, [_warn(WarningCode.AGE_IMPLAUSIBLE, "PatientAge")]
        else:
            return years, []
    elif not header and meta.patient_age_years is not None:
        if meta.patient_age_years > max_age:
            return None, [_warn(WarningCode.AGE_IMPLAUSIBLE, "PatientAge")]
        return float(meta.patient_age_years), []
    birth_raw = header.get("PatientBirthDate")
    if birth_raw is None:
        return None, warnings
    birth = parse_dicom_date(birth_raw)
    if birth is None:
        return None, [*warnings, _warn(WarningCode.DATE_MALFORMED, "PatientBirthDate")]
    for field in r["study_date_fields"]:
        if field not in header:
            continue
        study = parse_dicom_date(header[field])
        if study is None:
            warnings.append(_warn(WarningCode.DATE_MALFORMED, field))
            continue
        if birth > study:
            return None, [*warnings, _warn(WarningCode.BIRTH_AFTER_STUDY,
                                           f"PatientBirthDate, {field}")]
        years = (study - birth).days / 365.25
        if years > max_age:
            return None, [*warnings, _warn(WarningCode.AGE_IMPLAUSIBLE,
                                           f"PatientBirthDate, {field}")]
        return years, warnings
    return None, warnings


def assess(meta: ImageMeta, qc: QCReport, population: dict[str, Any] | None,
           model: str = "", age: float | None = None,
           header: dict[str, str] | None = None) -> Assessment:
    """Guardrail warnings of one image (see the module docstring).

    `population`: the card's ``population`` block or None; `model`: its name, for the
    messages; `age`: an age given by the caller (years); `header`: raw DICOM fields (default:
    `read_header(meta)`).
    """
    r = rules()
    head = read_header(meta) if header is None else header
    years, warnings = patient_age(meta, head, age)
    view = (meta.view_position or "").strip().upper()
    frontal = {v.upper() for v in r["frontal_views"]}
    known = frontal | {v.upper() for v in r["other_known_views"]}
    lateral = any(i.code in ("probable_lateral", "lateral_view") for i in qc.issues) or (
        bool(view) and view in known and view not in frontal)
    if view and view not in known:
        warnings.append(_warn(WarningCode.VIEW_UNKNOWN, "ViewPosition"))
    if lateral:
        warnings.append(_warn(WarningCode.LATERAL_VIEW, "ViewPosition" if view else None))
    if population:
        lo, hi = population.get("age_min"), population.get("age_max")
        values = dict(model=model, age_min=lo, age_max=hi,
                      views=", ".join(population.get("views", [])))
        if lo is not None or hi is not None:
            if years is None:
                warnings.append(_warn(WarningCode.AGE_UNKNOWN, "PatientAge", **values))
            elif lo is not None and years < float(lo):
                warnings.append(_warn(WarningCode.AGE_BELOW_POPULATION, "PatientAge", **values))
            elif hi is not None and years > float(hi):
                warnings.append(_warn(WarningCode.AGE_ABOVE_POPULATION, "PatientAge", **values))
        views = {str(v).upper() for v in population.get("views", [])}
        if views and view and view in known and view not in views and not lateral:
            warnings.append(_warn(WarningCode.VIEW_OUTSIDE_POPULATION, "ViewPosition",
                                  **values))
    return Assessment(years, lateral, tuple(warnings))


def ood_warning(score: float | None, threshold: float | None,
                model: str) -> ReadingWarning | None:
    """The out-of-distribution warning when `score` (`radlens.models.ood`, ~1 for training-like
    films) exceeds the card's `threshold`; None when below or when the model has no OOD
    statistics (either is None)."""
    if score is None or threshold is None or not score > threshold:
        return None
    return _warn(WarningCode.OUT_OF_DISTRIBUTION, model=model, score=score, threshold=threshold)


def lungs_look_lateral(right: np.ndarray, left: np.ndarray) -> bool:
    """True when the segmenter's two lungs sit at heights no frontal film gives.

    `right`, `left`: bool (H, W) lung masks in the image's pixel grid (row 0 at the top). On a
    lateral film the segmenter still returns two "lungs", but they are the anterior and
    posterior parts of the overlapping lungs, at different heights. The rule: the vertical
    distance between the two masks' centroids, as a fraction of the image height, is above
    ``guardrails.json["lateral_lungs"]["centroid_dy_above"]``, or a mask is empty. The
    threshold and its measured rates are in that file; the Reader uses the rule only on films
    already flagged out of distribution, since a true frontal film with a collapsed or
    consolidated lung can also shift one centroid.
    """
    rule = rules()["lateral_lungs"]
    h = right.shape[0]
    if h == 0 or not right.any() or not left.any():
        return True
    rows = np.arange(h, dtype=np.float64)
    cy_right = float((right.sum(axis=1) * rows).sum() / right.sum())
    cy_left = float((left.sum(axis=1) * rows).sum() / left.sum())
    return abs(cy_right - cy_left) / h > float(rule["centroid_dy_above"])


def lateral_by_lungs(assessment: Assessment) -> Assessment:
    """`assessment` turned lateral by `lungs_look_lateral`: sides and zones withheld, with the
    lateral warning (no DICOM field named: the image, not the header, says so)."""
    if assessment.lateral:
        return assessment
    return Assessment(assessment.age_years, True,
                      (*assessment.warnings, _warn(WarningCode.LATERAL_VIEW)))


def lateral_from_image_only(meta: ImageMeta, qc: QCReport) -> bool:
    """True when only QC's image rule (``probable_lateral``) calls the film lateral: no
    ``lateral_view`` QC issue and no lateral DICOM ViewPosition."""
    if not any(i.code == "probable_lateral" for i in qc.issues):
        return False
    if any(i.code == "lateral_view" for i in qc.issues):
        return False
    r = rules()
    view = (meta.view_position or "").strip().upper()
    frontal = {v.upper() for v in r["frontal_views"]}
    known = frontal | {v.upper() for v in r["other_known_views"]}
    return not (view and view in known and view not in frontal)


def frontal_by_ood(assessment: Assessment) -> Assessment:
    """`assessment` with the lateral call of QC's image rule withdrawn, for a film the
    out-of-distribution score places among the training films (``guardrails.json
    ["lateral_lungs"]`` gives the measured rates): sides and zones are given again and the
    lateral warning is dropped; the QC issue itself stays in the reading's QC report."""
    return Assessment(assessment.age_years, False,
                      tuple(w for w in assessment.warnings
                            if w.code != WarningCode.LATERAL_VIEW))
