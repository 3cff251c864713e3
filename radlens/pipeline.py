"""`read`: the whole path from a file (or a loaded `Image`) to one `Interpretation`.

io (load) -> qc (check) -> models/tasks (classify, explain; segment lungs, ground findings
in lung zones) -> guardrails (age, view and population warnings) -> one `Location` per finding
-> report (draft text) -> Interpretation. Each stage is optional beyond QC: with no finding
model installed the Interpretation carries the metadata, the QC results and a note that says
so. On a lateral film (QC ``probable_lateral``) the lungs are not split and no side or zone is
given.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
from functools import cache
from typing import Any

from radlens._version import __version__
from radlens.errors import QualityError, RadlensError
from radlens.grounding.locate import locate_findings
from radlens.io import load_image
from radlens.io.qc import check
from radlens.schema import Finding, Image, Interpretation, ModelInfo, Region, RegionKind
from radlens.tasks.guardrails import assess

log = logging.getLogger(__name__)

NO_MODEL_NOTE = ("no finding model is installed: this result holds the image metadata and the "
                 "quality checks only")


def _classifier_available() -> bool:
    return importlib.util.find_spec("radlens.tasks.classify") is not None


def _classify(image: Image, model: str | None, explain: bool, age: float | None = None
              ) -> tuple[tuple[Finding, ...], tuple[Region, ...], tuple[ModelInfo, ...]] | None:
    if not _classifier_available():
        return None
    from radlens.models.registry import default_model
    from radlens.tasks.classify import classify

    name = model or default_model("classify")
    if name is None:
        return None
    result = classify(image, model=name, explain=explain,
                      population=_population_of(image, name, age))
    return tuple(result.findings), tuple(result.regions), (result.model,)


def _population_of(image: Image, model: str, age: float | None) -> str | None:
    """"paediatric" below the card's adult age (default 18), "adult" at or above it, None when
    the age is unknown (the calls then use the adult thresholds)."""
    from radlens.tasks.guardrails import patient_age, read_header

    years, _ = patient_age(image.meta, read_header(image.meta), age)
    if years is None:
        return None
    block = _population(model) or {}
    return "paediatric" if years < float(block.get("age_min", 18)) else "adult"


def _ground(image: Image, findings: tuple[Finding, ...], regions: tuple[Region, ...]
            ) -> tuple[tuple[Region, ...], tuple[ModelInfo, ...], tuple[str, ...]] | None:
    """Lung regions plus the finding regions grounded in lung zones, or None without a
    segmenter. Grounded finding regions keep their ids, so findings still point at them."""
    if importlib.util.find_spec("radlens.tasks.segment") is None:
        return None
    from radlens.models.registry import default_model

    if default_model("segment") is None:
        return None
    from radlens.tasks.ground import ground_findings
    from radlens.tasks.segment import lung_regions, segment_lungs

    lungs = segment_lungs(image)
    grounded = {r.id: r for r in ground_findings(image, findings, regions, lungs)}
    out = tuple(grounded.get(r.id, r) for r in regions) + tuple(lung_regions(lungs))
    return out, (lungs.model,), tuple(lungs.notes)


@cache
def _population(model: str) -> dict[str, Any] | None:
    """The ``population`` block of a classifier's card, or None (no card, or an older one)."""
    try:
        from radlens.models.registry import find_card

        found = find_card(model).get("population")
    except (RadlensError, ImportError, OSError, ValueError, KeyError):
        return None
    return dict(found) if isinstance(found, dict) else None


def read(source: str | os.PathLike[str] | Image, *, model: str | None = None,
         explain: bool = True, report: bool = True, indication: str | None = None,
         style: str | os.PathLike[str] | None = None, age: float | None = None
         ) -> Interpretation:
    """Load, check and interpret one chest radiograph.

    `source`: a file path (any format `radlens.load_image` reads) or an already loaded `Image`.
    `model`: a registry name of a finding classifier (default: the bundled one, if any).
    `explain`: also compute heatmap regions for positive findings, segment the lungs and
    ground each positive finding in the six lung zones (when the models are installed).
    `report`: write the grounded draft report (`radlens.report.write_report`) into the result;
    `indication` (free text) and `style` (a report corpus or saved style, see
    `radlens.report`) shape its wording. `age`: the patient's age in years, overriding the
    DICOM header; the age used (or None when unknown or implausible) is the result's
    ``image.patient_age_years``, and the guardrail warnings (`radlens.tasks.guardrails`) are
    in ``warnings``.
    Returns the `Interpretation`. Raises `QualityError` (with `.issues`) when a fatal QC check
    fails, and the `load_image` errors for unreadable files; all are `RadlensError`s.
    """
    image = source if isinstance(source, Image) else load_image(source)
    qc = check(image)
    if not qc.passed:
        reasons = "; ".join(i.message for i in qc.fatal)
        raise QualityError(f"failed the input-quality check: {reasons}", image.meta.source,
                           qc.issues)
    notes: list[str] = []
    findings: tuple[Finding, ...] = ()
    regions: tuple[Region, ...] = ()
    models: tuple[ModelInfo, ...] = ()
    classified = _classify(image, model, explain, age)
    if classified is None:
        notes.append(NO_MODEL_NOTE)
    else:
        findings, regions, models = classified
    name = models[0].name if models else ""
    card_ref = (model or name) if models else ""  # a card path when the caller gave one
    guard = assess(image.meta, qc, _population(card_ref) if card_ref else None, name, age)
    grounded = None
    if explain and not guard.lateral:
        grounded = _ground(image, findings, regions)
        if grounded is not None:
            regions, extra_models, lung_notes = grounded
            models += extra_models
            notes += lung_notes
    if guard.lateral:  # no right/left on a lateral film: drop every side and zone claim
        regions = tuple(dataclasses.replace(r, side=None, zones=())
                        if r.kind is RegionKind.FINDING else r for r in regions)
    findings, where = locate_findings(findings, regions, grounded=grounded is not None,
                                      withheld=guard.lateral)
    meta = dataclasses.replace(image.meta, patient_age_years=guard.age_years)
    interp = Interpretation(image=meta, qc=qc, findings=findings, regions=regions,
                            models=models, notes=tuple(notes), radlens_version=__version__,
                            warnings=guard.warnings + where)
    if report:
        from radlens.report import write_report

        interp = dataclasses.replace(interp, report=write_report(interp, indication=indication,
                                                                 style=style))
    return interp
