"""How well the report labeller agrees with a user's gold labels: per-label precision, recall
and F1 with 95% bootstrap CIs (``radlens label REPORTS --gold GOLD.csv``).

Gold file: a CSV with an id column (``id``, ``study_id``, ``report_id``, ``filename``, ...;
guessed like ``radlens score`` does, or named) and one column per label, spelt as in the
labeller's vocabulary or a known alias (``Effusion`` -> "Effusion" in nih14, "Pleural
Effusion" in chexpert14; case and underscores forgiven). Values: 1 present, 0 absent,
-1 uncertain, blank not mentioned (absent). Columns that name no label of the vocabulary
(e.g. NegBio's ``normal``) are ignored and listed.

Present means value 1, and also -1 under ``uncertain="present"``; the same rule applies to
the gold and to the labeller. Counting and the CIs reuse `radlens.metrics.clinical`
(`confusion_stats`, `per_label_prf`, `micro_prf`) and `radlens.metrics.stats.bootstrap_ci`
(reports resampled with replacement, the same resamples for every figure).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from radlens.errors import DataError, InputError
from radlens.metrics.clinical import confusion_stats, micro_prf, per_label_prf
from radlens.metrics.stats import Estimate, bootstrap_ci
from radlens.schema import LabelRecord
from radlens.text.readers import ID_COLUMNS

GOLD_ID_COLUMNS = (*ID_COLUMNS, "filename", "report", "name")
UNCERTAIN = ("absent", "present")
MEASURES = ("precision", "recall", "f1")


@dataclass(frozen=True)
class GoldTable:
    """Gold labels read from a file: ``values[id][label]`` in {1, 0, -1, None}; `ignored`
    columns that name no label; `id_column` used."""

    path: str
    id_column: str
    labels: tuple[str, ...]
    values: Mapping[str, Mapping[str, int | None]]
    ignored: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabelScore:
    """One label's agreement: `support` gold positives, `predicted` labeller positives, and
    precision / recall / F1 `Estimate`s (value and 95% CI) over `n` reports."""

    label: str
    support: int
    predicted: int
    precision: Estimate
    recall: Estimate
    f1: Estimate

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (NaN bounds become None)."""
        def est(e: Estimate) -> dict[str, Any]:
            return {k: (None if isinstance(v, float) and np.isnan(v) else v)
                    for k, v in e.as_dict().items()}

        return {"label": self.label, "support": self.support, "predicted": self.predicted,
                "precision": est(self.precision), "recall": est(self.recall),
                "f1": est(self.f1)}


@dataclass(frozen=True)
class GoldScore:
    """The labeller against gold: one `LabelScore` per label plus the ``micro`` average (counts
    pooled over labels), the number of reports scored, and ids found on one side only."""

    labels: tuple[LabelScore, ...]
    micro: LabelScore
    n: int
    missing_gold: tuple[str, ...]
    missing_reports: tuple[str, ...]
    uncertain: str

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return {"n_reports": self.n, "uncertain": self.uncertain,
                "labels": [s.as_dict() for s in self.labels], "micro": self.micro.as_dict(),
                "reports_without_gold": len(self.missing_gold),
                "gold_without_report": len(self.missing_reports)}

    def table(self) -> str:
        """A plain-text table: label, support, P, R, F1 with CIs."""
        width = max(len(s.label) for s in (*self.labels, self.micro))
        lines = [f"{'label':<{width}}  {'gold+':>5}  {'pred+':>5}  "
                 f"{'precision':<22}{'recall':<22}f1"]
        for s in (*self.labels, self.micro):
            cells = "".join(f"{_fmt(e):<22}" for e in (s.precision, s.recall))
            lines.append(f"{s.label:<{width}}  {s.support:>5}  {s.predicted:>5}  {cells}"
                         f"{_fmt(s.f1)}")
        return "\n".join(lines)


def _fmt(e: Estimate) -> str:
    if np.isnan(e.low):
        return f"{e.value:.3f}"
    return f"{e.value:.3f} [{e.low:.3f}, {e.high:.3f}]"


def read_gold(path: str | Path, vocabulary: str, id_column: str | None = None) -> GoldTable:
    """Read a gold-label CSV for `vocabulary` ("chexpert14" or "nih14"); see the module
    docstring. `DataError` naming the file for a missing id column, no label column, a
    duplicate id or a value other than 1, 0, -1 or blank."""
    from radlens.vocab import canonical

    p = Path(path)
    try:
        with p.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = list(reader.fieldnames or [])
            rows = list(reader)
    except FileNotFoundError:
        raise InputError("no such gold-label file", p) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read the gold labels ({exc})", p) from exc
    if not columns:
        raise DataError("the gold-label CSV is empty (no header row)", p)
    lower = {c.strip().lower(): c for c in columns}
    if id_column is not None:
        if id_column not in columns:
            raise DataError(f"no id column {id_column!r}; columns are {', '.join(columns)}", p)
        idc = id_column
    else:
        found = next((lower[c] for c in GOLD_ID_COLUMNS if c in lower), None)
        if found is None:
            raise DataError(f"cannot find the id column (looked for "
                            f"{', '.join(GOLD_ID_COLUMNS)}); name it with --gold-id-column", p)
        idc = found
    mapping: dict[str, str] = {}
    ignored = []
    for c in columns:
        if c == idc:
            continue
        try:
            mapping[c] = canonical(c, vocabulary)
        except DataError:
            ignored.append(c)
    if not mapping:
        raise DataError(f"no column names a {vocabulary} label; columns are "
                        f"{', '.join(columns)}", p)
    values: dict[str, dict[str, int | None]] = {}
    for n, row in enumerate(rows, start=2):
        rid = (row.get(idc) or "").strip()
        if not rid:
            raise DataError(f"line {n}: no id in column {idc!r}", p)
        if rid in values:
            raise DataError(f"line {n}: id {rid!r} appears twice", p)
        vals: dict[str, int | None] = {}
        for col, label in mapping.items():
            cell = (row.get(col) or "").strip()
            if not cell:
                vals[label] = None
                continue
            try:
                number = float(cell)
            except ValueError:
                number = float("nan")
            if number not in (1.0, 0.0, -1.0):
                raise DataError(f"line {n}: {col} = {cell!r} is not 1, 0, -1 or blank", p)
            vals[label] = int(number)
        values[rid] = vals
    return GoldTable(str(p), idc, tuple(dict.fromkeys(mapping.values())), values,
                     tuple(ignored))


def score_against_gold(records: Sequence[LabelRecord], gold: GoldTable,
                       uncertain: str = "absent", n_boot: int = 1000,
                       seed: int = 0) -> GoldScore:
    """Precision, recall and F1 of the labeller's `records` against `gold`, per gold label
    and micro-averaged, with 95% percentile-bootstrap CIs over reports.

    Records and gold rows are matched by id; ids on one side only are counted and left out.
    `uncertain`: how -1 counts, "absent" (default) or "present", for both sides.
    `DataError` when no id matches.
    """
    if uncertain not in UNCERTAIN:
        raise DataError(f"uncertain must be one of {', '.join(UNCERTAIN)}, got {uncertain!r}")
    positive = (1, -1) if uncertain == "present" else (1,)
    by_id = {r.id: r for r in records}
    common = [i for i in by_id if i in gold.values]
    if not common:
        example = next(iter(gold.values), "")
        raise DataError(f"no report id matches a gold id (reports look like "
                        f"{next(iter(by_id), '')!r}, gold like {example!r}); name the id "
                        "columns with --id-column / --gold-id-column", gold.path)
    labels = gold.labels
    ref = np.array([[gold.values[i].get(lab) in positive for lab in labels] for i in common])
    hyp = np.array([[by_id[i].as_dict().get(lab) in positive for lab in labels]
                    for i in common])
    stats = confusion_stats(ref, hyp)
    n = len(common)

    def estimate(fn: Any, j: int | None, m: int) -> Estimate:
        def statistic(idx: np.ndarray) -> float:
            sums = stats[idx].sum(axis=0)[None]
            out = fn(sums)
            return float(out[0, j, m] if j is not None else out[0, m])

        return bootstrap_ci(statistic, n, n_boot, seed=seed)

    scores = []
    for j, lab in enumerate(labels):
        ests = [estimate(per_label_prf, j, m) for m in range(3)]
        scores.append(LabelScore(lab, int(ref[:, j].sum()), int(hyp[:, j].sum()), *ests))
    micro = LabelScore("micro", int(ref.sum()), int(hyp.sum()),
                       *[estimate(micro_prf, None, m) for m in range(3)])
    return GoldScore(tuple(scores), micro, n, tuple(i for i in by_id if i not in gold.values),
                     tuple(i for i in gold.values if i not in by_id), uncertain)
