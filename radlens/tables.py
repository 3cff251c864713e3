"""Readings as a table: `to_records` (plain dicts) and `to_dataframe` (pandas, optional).

One record per input, columns in this order:

- ``source`` (the path as given, or ``<array k>``), ``status`` ("done" or "failed"),
  ``error_type`` and ``error`` (failed inputs; "" otherwise), ``id`` (the Interpretation id);
- ``width``, ``height`` (pixels), ``view_position``, ``patient_age_years``, ``patient_sex``;
- ``qc_passed`` (bool), ``qc_codes`` (the codes of every QC issue, ``;``-separated, e.g.
  "low_resolution;colour_image"), ``warnings`` (the reading's guardrail warning codes);
- ``positive`` (the positive labels, ``;``-separated);
- per label of the model, in the model's order: ``p:<label>`` (calibrated probability,
  float in [0, 1]), ``call:<label>`` ("positive", "uncertain", "negative"), ``zones:<label>``
  (the finding's reported lung zones, strongest first, ``;``-separated, e.g.
  "right lower;right middle"; "" when not located);
- ``report``: the draft report text on one line, sections joined by " | ".

The same column names as ``radlens batch export`` CSV files for the shared columns (``p:``,
``call:``, ``positive``, ``warnings``, ``report``). Labels missing from a reading (another
model, or a failed input) are None.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from radlens.errors import MissingDependencyError
from radlens.schema import Interpretation, ReadFailure

BASE_COLUMNS = ("source", "status", "error_type", "error", "id", "width", "height",
                "view_position", "patient_age_years", "patient_sex", "qc_passed", "qc_codes",
                "warnings", "positive")
PER_LABEL = ("p", "call", "zones")


def record(result: Interpretation | ReadFailure) -> dict[str, Any]:
    """One reading (or failure) as a flat dict of plain values (see the module docstring);
    per-label columns only for the labels this reading has."""
    if isinstance(result, ReadFailure):
        return {"source": result.source, "status": "failed", "error_type": result.error_type,
                "error": result.message, "id": "",
                "qc_codes": ";".join(i.code for i in result.issues)}
    if not isinstance(result, Interpretation):
        raise TypeError(f"expected an Interpretation or ReadFailure, got "
                        f"{type(result).__name__}")
    m = result.image
    row: dict[str, Any] = {
        "source": m.source, "status": "done", "error_type": "", "error": "", "id": result.id,
        "width": m.width, "height": m.height, "view_position": m.view_position,
        "patient_age_years": m.patient_age_years, "patient_sex": m.patient_sex,
        "qc_passed": result.qc.passed, "qc_codes": ";".join(i.code for i in result.qc.issues),
        "warnings": ";".join(w.code for w in result.warnings),
        "positive": ";".join(f.label for f in result.findings if f.call.value == "positive")}
    for f in result.findings:
        row[f"p:{f.label}"] = f.probability
        row[f"call:{f.label}"] = f.call.value
        row[f"zones:{f.label}"] = ";".join(f.location.zones) if f.location is not None else ""
    row["report"] = _report_line(result)
    return row


def _report_line(result: Interpretation) -> str:
    if result.report is None:
        return ""
    from radlens.report.writer import report_text

    return " | ".join(report_text(result.report).split("\n\n"))


def to_records(results: Interpretation | ReadFailure
               | Iterable[Interpretation | ReadFailure]) -> list[dict[str, Any]]:
    """Readings -> one plain dict per reading, every dict with the same keys in the same order
    (the base columns, then ``p:`` / ``call:`` / ``zones:`` per label in first-seen order, then
    ``report``); absent values are None. Accepts one result or an iterable of them
    (`Reader.read`'s list, with its `ReadFailure`s)."""
    items = [results] if isinstance(results, (Interpretation, ReadFailure)) else list(results)
    rows = [record(r) for r in items]
    labels: dict[str, None] = {}
    for r in items:
        if isinstance(r, Interpretation):
            labels.update((f.label, None) for f in r.findings)
    columns = [*BASE_COLUMNS, *(f"{k}:{label}" for label in labels for k in PER_LABEL),
               "report"]
    return [{c: row.get(c) for c in columns} for row in rows]


def to_dataframe(results: Interpretation | ReadFailure
                 | Iterable[Interpretation | ReadFailure]) -> Any:
    """`to_records` as a ``pandas.DataFrame`` (one row per reading, same columns).

    Needs pandas (``pip install 'radlens[tables]'``); `MissingDependencyError` otherwise.
    """
    try:
        import pandas as pd
    except ImportError as exc:
        raise MissingDependencyError("to_dataframe needs pandas: pip install "
                                     "'radlens[tables]' (or pandas)") from exc
    return pd.DataFrame.from_records(to_records(results))
