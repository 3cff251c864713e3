"""`read`: the whole path from an input (a file, an `Image`, an array, or a list) to readings.

io (load) -> qc (check) -> models/tasks (classify, explain; segment lungs, ground findings
in lung zones) -> guardrails (age, view and population warnings) -> one `Location` per finding
-> report (draft text) -> Interpretation. Each stage is optional beyond QC: with no finding
model installed the Interpretation carries the metadata, the QC results and a note that says
so. On a lateral film (QC ``probable_lateral``) the lungs are not split and no side or zone is
given. The work is done by `radlens.reader.Reader`; `read` keeps one per setting (the
networks themselves are loaded once per process and cached).
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import overload

import numpy as np

from radlens.errors import InputError
from radlens.reader import NO_MODEL_NOTE, Input, Inputs, Reader
from radlens.schema import Image, Interpretation, ReadFailure

__all__ = ["NO_MODEL_NOTE", "read"]


@overload
def read(source: Input, *, model: str | None = None,  # type: ignore[overload-overlap]
         explain: bool = True, report: bool = True, indication: str | None = None,
         style: str | os.PathLike[str] | None = None, age: float | None = None,
         progress: bool = False, prior: Input | None = None, force: bool = False,
         prior_offset_days: float | None = None) -> Interpretation: ...


@overload
def read(source: Inputs, *, model: str | None = None, explain: bool = True,
         report: bool = True, indication: str | None = None,
         style: str | os.PathLike[str] | None = None, age: float | None = None,
         progress: bool = False) -> list[Interpretation | ReadFailure]: ...


def read(source: Input | Inputs, *, model: str | None = None, explain: bool = True,
         report: bool = True, indication: str | None = None,
         style: str | os.PathLike[str] | None = None, age: float | None = None,
         progress: bool = False, prior: Input | None = None, force: bool = False,
         prior_offset_days: float | None = None
         ) -> Interpretation | list[Interpretation | ReadFailure]:
    """Load, check and interpret one chest radiograph (or a list of them, in batches).

    `source`: a file path (any format `radlens.load_image` reads), an already loaded `Image`,
    a 2-D numpy array (float in [0, 1], uint8 or uint16 full range, air dark; see
    `radlens.reader`), or a list/tuple of these (-> a list with one `Interpretation` or
    `ReadFailure` per input, in order; `progress` shows a bar with images/s).
    `model`: a registry name of a finding classifier (default: the bundled one, if any).
    `explain`: also compute heatmap regions for positive findings, segment the lungs and
    ground each positive finding in the six lung zones (when the models are installed).
    `report`: write the grounded draft report (`radlens.report.write_report`) into the result;
    `indication` (free text) and `style` (a report corpus or saved style, see
    `radlens.report`) shape its wording. `age`: the patient's age in years, overriding the
    DICOM header; the age used (or None when unknown or implausible) is the result's
    ``image.patient_age_years``, and the guardrail warnings (`radlens.tasks.guardrails`) are
    in ``warnings``.
    One input: returns the `Interpretation`; raises `QualityError` (with `.issues`) when a
    fatal QC check fails, `InputError` for an array that does not fit the convention, and
    the `load_image` errors for unreadable files; all are `RadlensError`s. To read many
    inputs with the same settings, make one `radlens.Reader` and call its ``read``.
    `prior`, `force`, `prior_offset_days` (one input only): compare with the patient's earlier
    film (see `radlens.Reader.read`).
    """
    reader = _reader(model, explain, report, indication,
                     None if style is None else os.fspath(style), age)
    if prior is not None:
        if isinstance(source, (str, os.PathLike, Image, np.ndarray)):
            return reader.read(source, prior=prior, force=force,
                               prior_offset_days=prior_offset_days)
        raise InputError("a prior film can be given for one input only, not a list")
    return reader.read(source, progress=progress)


@lru_cache(maxsize=16)
def _reader(model: str | None, explain: bool, report: bool, indication: str | None,
            style: str | None, age: float | None) -> Reader:
    """One `Reader` per setting, kept: a call then pays no model look-up (the card scan that
    resolves the default model), which matters to batch workers reading file after file."""
    return Reader(model, explain=explain, report=report, indication=indication, style=style,
                  age=age)
