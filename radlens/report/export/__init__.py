"""Exports of an `Interpretation` and its report: JSON, FHIR R4 and DICOM SR.

`export(interp, fmt, out_dir, deidentify=False)` writes ``<stem>.report.json``,
``<stem>.fhir.json`` and/or ``<stem>.sr.dcm`` into `out_dir` and returns their paths. FHIR needs
the optional package fhir.resources and SR needs highdicom (``pip install 'radlens[export]'``);
without them a `MissingDependencyError` says so.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from radlens.errors import DataError, InputError
from radlens.report.export.patient import deidentify as deid_patient
from radlens.report.export.patient import patient_for
from radlens.schema import Interpretation, Report

FORMATS = ("json", "fhir", "sr")
# file-name endings that are the format, not part of the name (longest first)
IMAGE_SUFFIXES = (".nii.gz", ".dcm.gz", ".dicom", ".dcm", ".png", ".jpeg", ".jpg", ".tiff",
                  ".tif", ".nii", ".bmp", ".gz")


def stem_for(source: str) -> str:
    """The output-name stem of an input path: the whole file name less a known image suffix.

    "1.2.276.0.7230010.3.1.4.1.dcm" -> "1.2.276.0.7230010.3.1.4.1" (never cut at the first
    dot); "chest.nii.gz" -> "chest"; "IM0001" -> "IM0001". "image" when nothing is left.
    """
    name = Path(source).name
    low = name.lower()
    for suffix in IMAGE_SUFFIXES:
        if low.endswith(suffix) and len(name) > len(suffix):
            return name[:-len(suffix)]
    return name or "image"


class StemAllocator:
    """Hands out output stems that never collide within one run.

    `allocate(stem)` returns (stem, None) the first time and ("<stem>-2", note), ("<stem>-3",
    note), ... on a clash (case-insensitive, for case-insensitive file systems); the note is a
    plain sentence saying what was renamed.
    """

    def __init__(self) -> None:
        self._used: set[str] = set()

    def allocate(self, stem: str) -> tuple[str, str | None]:
        if stem.lower() not in self._used:
            self._used.add(stem.lower())
            return stem, None
        k = 2
        while f"{stem}-{k}".lower() in self._used:
            k += 1
        new = f"{stem}-{k}"
        self._used.add(new.lower())
        return new, (f"output name {stem!r} is already used by another input in this run; "
                     f"this one is written as {new!r}")


def deidentified(interp: Interpretation) -> Interpretation:
    """`interp` without patient identifiers or free-text clinical context.

    The source path becomes "deidentified", ages above 89 become 90, the report's clinical
    section (indication) is dropped and notes that name files are left out (so is the prior
    film's path, when there is one). UIDs are kept.
    """
    meta = interp.image
    age = None if meta.patient_age_years is None else min(meta.patient_age_years, 90.0)
    meta = dataclasses.replace(meta, source="deidentified", patient_age_years=age)
    report = interp.report
    if report is not None:
        report = dataclasses.replace(report, sentences=tuple(
            s for s in report.sentences if s.section != "clinical"))
    notes = tuple(n for n in interp.notes if "/" not in n and "\\" not in n)
    prior = interp.prior
    if prior is not None:
        prior = dataclasses.replace(prior, source="deidentified")
    return dataclasses.replace(interp, image=meta, report=report, notes=notes, prior=prior)


def _clean(interp: Interpretation, report: Report) -> tuple[Interpretation, Report]:
    """Interpretation and report without patient identifiers or free-text clinical context."""
    clean = deidentified(dataclasses.replace(interp, report=report))
    assert clean.report is not None
    return clean, clean.report


def export(interp: Interpretation, fmt: str, out_dir: str | os.PathLike[str],
           deidentify: bool = False, stem: str | None = None) -> list[Path]:
    """Write `interp` in format `fmt` ("json", "fhir", "sr" or "all") into `out_dir`.

    The report is `interp.report`, or one written with `write_report(interp)` when it has none
    (attach your own, e.g. with an indication, via ``dataclasses.replace(interp, report=...)``).
    File names are ``<stem>.report.json`` / ``.fhir.json`` / ``.sr.dcm``; `stem` defaults to
    `stem_for` of the source (the Interpretation id when `deidentify`). With `deidentify`, patient
    name, ID, birth date, accession number, the source path and the report's clinical section
    are left out and ages above 89 become 90. Returns the written paths in format order.
    Raises `DataError` for an unknown format, `InputError` when `out_dir` cannot be written,
    `MissingDependencyError` when fhir.resources / highdicom are needed and missing.
    """
    from radlens.report.writer import write_report

    wanted = FORMATS if fmt == "all" else (fmt,)
    if any(f not in FORMATS for f in wanted):
        raise DataError(f"unknown export format {fmt!r}; choose json, fhir, sr or all")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output folder ({exc.strerror or exc})", out) from exc
    report = interp.report or write_report(interp)
    patient = patient_for(interp.image)
    interp = dataclasses.replace(interp, report=report)
    if deidentify:
        patient = deid_patient(patient)
        interp, report = _clean(interp, report)
        stem = stem or interp.id
    else:
        stem = stem or stem_for(interp.image.source)
    paths: list[Path] = []
    try:
        for f in wanted:
            if f == "json":
                paths.append(_write_json(interp, report, out / f"{stem}.report.json"))
            elif f == "fhir":
                from radlens.report.export.fhir import fhir_bundle

                bundle = fhir_bundle(interp, report, patient, deidentified=deidentify)
                path = out / f"{stem}.fhir.json"
                path.write_text(json.dumps(bundle, indent=1), encoding="utf-8")
                paths.append(path)
            else:
                from radlens.report.export.dicom_sr import write_sr

                paths.append(write_sr(interp, report, patient, out / f"{stem}.sr.dcm"))
    except OSError as exc:
        raise InputError(f"cannot write the export ({exc.strerror or exc})", out) from exc
    return paths


def _write_json(interp: Interpretation, report: Report, path: Path) -> Path:
    from radlens.report.structured import structured_report
    from radlens.report.writer import report_text
    from radlens.schema_json import to_dict

    data = {"format": "radlens-report/1", "text": report_text(report),
            "structured": [e.as_dict() for e in structured_report(interp)],
            "interpretation": to_dict(interp)}
    # compact separators: the C encoder (indent forces the pure-Python one, 4x slower here)
    path.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
    return path
