"""`read`: the whole path from a file (or a loaded `Image`) to one `Interpretation`.

io (load) -> qc (check) -> models/tasks (classify, explain; segment lungs, ground findings
in lung zones) -> report (draft text) -> Interpretation. Each stage is optional beyond QC:
with no finding model installed the Interpretation carries the metadata, the QC results and a
note that says so.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os

from radlens._version import __version__
from radlens.errors import QualityError
from radlens.io import load_image
from radlens.io.qc import check
from radlens.schema import Finding, Image, Interpretation, ModelInfo, Region

log = logging.getLogger(__name__)

NO_MODEL_NOTE = ("no finding model is installed: this result holds the image metadata and the "
                 "quality checks only")


def _classifier_available() -> bool:
    return importlib.util.find_spec("radlens.tasks.classify") is not None


def _classify(image: Image, model: str | None, explain: bool
              ) -> tuple[tuple[Finding, ...], tuple[Region, ...], tuple[ModelInfo, ...]] | None:
    if not _classifier_available():
        return None
    from radlens.models.registry import default_model
    from radlens.tasks.classify import classify

    name = model or default_model("classify")
    if name is None:
        return None
    result = classify(image, model=name, explain=explain)
    return tuple(result.findings), tuple(result.regions), (result.model,)


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


def read(source: str | os.PathLike[str] | Image, *, model: str | None = None,
         explain: bool = True, report: bool = True, indication: str | None = None,
         style: str | os.PathLike[str] | None = None) -> Interpretation:
    """Load, check and interpret one chest radiograph.

    `source`: a file path (any format `radlens.load_image` reads) or an already loaded `Image`.
    `model`: a registry name of a finding classifier (default: the bundled one, if any).
    `explain`: also compute heatmap regions for positive findings, segment the lungs and
    ground each positive finding in the six lung zones (when the models are installed).
    `report`: write the grounded draft report (`radlens.report.write_report`) into the result;
    `indication` (free text) and `style` (a report corpus or saved style, see
    `radlens.report`) shape its wording.
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
    classified = _classify(image, model, explain)
    if classified is None:
        notes.append(NO_MODEL_NOTE)
    else:
        findings, regions, models = classified
    if explain:
        grounded = _ground(image, findings, regions)
        if grounded is not None:
            regions, extra_models, lung_notes = grounded
            models += extra_models
            notes += lung_notes
    interp = Interpretation(image=image.meta, qc=qc, findings=findings, regions=regions,
                            models=models, notes=tuple(notes), radlens_version=__version__)
    if report:
        from radlens.report import write_report

        interp = dataclasses.replace(interp, report=write_report(interp, indication=indication,
                                                                 style=style))
    return interp
