"""Reading reference and candidate reports (CSV/TSV or JSONL) and pairing them by id.

A file holds one report per row (CSV/TSV, with a header) or per line (JSONL: one JSON object per
line). The id and text columns are found by name (case-insensitive) unless given:

* id: ``id``, ``study_id``, ``report_id``, ``uid``, ``dicom_id``, ``image_id``
* reference text: ``text``, ``report``, ``reference``, ``ref``, ``ground_truth``, ``gt``,
  ``target``
* candidate text: ``text``, ``report``, ``candidate``, ``hyp``, ``hypothesis``, ``prediction``,
  ``generated``, ``generated_report``

so one CSV with ``study_id,reference,candidate`` columns serves as both ``--refs`` and ``--hyps``.
Pairs are joined by id; ids present on one side only are reported (`Pairs.unmatched`), never
silently dropped.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radlens.errors import DataError, InputError
from radlens.text.readers import ID_COLUMNS

log = logging.getLogger(__name__)

TEXT_COLUMNS = {
    "refs": ("text", "report", "reference", "ref", "ground_truth", "gt", "target"),
    "hyps": ("text", "report", "candidate", "hyp", "hypothesis", "prediction", "generated",
             "generated_report"),
}


@dataclass(frozen=True)
class TextTable:
    """Reports read from one file: `ids` and `texts` in file order, and the columns used."""

    path: str
    ids: tuple[str, ...]
    texts: tuple[str, ...]
    id_column: str
    text_column: str

    def as_dict(self) -> dict[str, str]:
        """id -> text."""
        return dict(zip(self.ids, self.texts, strict=True))


def _pick(columns: list[str], wanted: str | None, candidates: tuple[str, ...], what: str,
          path: Path) -> str:
    lower = {c.strip().lower(): c for c in columns}
    if wanted is not None:
        if wanted in columns:
            return wanted
        if wanted.lower() in lower:
            return lower[wanted.lower()]
        raise DataError(f"no {what} column {wanted!r}; columns are {', '.join(columns)}", path)
    for cand in candidates:
        if cand in lower:
            return lower[cand]
    raise DataError(f"cannot find the {what} column (looked for {', '.join(candidates)}); "
                    f"columns are {', '.join(columns) or 'none'}; name it explicitly", path)


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, Mapping[str, Any]]]]:
    """Column names and (line number, row) pairs of a CSV/TSV or JSONL file."""
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a file", path) from None
    except UnicodeDecodeError:
        raise DataError("not UTF-8 text", path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path) from None
    if not raw.strip():
        raise DataError("file is empty", path)
    suffix = path.suffix.lower()
    is_jsonl = suffix in (".jsonl", ".ndjson") or (
        suffix not in (".csv", ".tsv") and raw.lstrip().startswith("{"))
    if is_jsonl:
        rows: list[tuple[int, Mapping[str, Any]]] = []
        columns: dict[str, None] = {}
        for lineno, line in enumerate(raw.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"line {lineno}: not valid JSON ({exc.msg})", path) from None
            if not isinstance(obj, dict):
                raise DataError(f"line {lineno}: expected a JSON object", path)
            columns.update(dict.fromkeys(obj))
            rows.append((lineno, obj))
        return list(columns), rows
    delimiter = "\t" if suffix == ".tsv" else ","
    reader = csv.DictReader(io.StringIO(raw, newline=""), delimiter=delimiter)
    try:
        header = list(reader.fieldnames or [])
        csv_rows: list[tuple[int, Mapping[str, Any]]] = [(reader.line_num, row)
                                                          for row in reader]
    except csv.Error as exc:
        raise DataError(f"line {reader.line_num}: malformed CSV ({exc})", path) from None
    return header, csv_rows


def read_texts(path: str | Path, text_column: str | None = None, id_column: str | None = None,
               role: str = "refs") -> TextTable:
    """Read reports from a CSV/TSV or JSONL file.

    `role` ("refs" or "hyps") chooses which text column names are looked for when
    `text_column` is not given. Raises `InputError` when the file cannot be read and
    `DataError` (naming the file and line) when a column is missing, a text is not a string, or
    an id repeats. Missing CSV cells read as empty texts.
    """
    p = Path(path)
    columns, rows = _read_rows(p)
    id_col = _pick(columns, id_column, ID_COLUMNS, "id", p)
    text_col = _pick(columns, text_column, TEXT_COLUMNS.get(role, TEXT_COLUMNS["refs"]),
                     "text", p)
    ids: list[str] = []
    texts: list[str] = []
    seen: dict[str, int] = {}
    for lineno, row in rows:
        rid, text = row.get(id_col), row.get(text_col)
        if rid is None or (isinstance(rid, str) and not rid.strip()):
            raise DataError(f"line {lineno}: empty id", p)
        if isinstance(rid, (dict, list)):
            raise DataError(f"line {lineno}: id must be a string or number", p)
        rid = str(rid).strip()
        if rid in seen:
            raise DataError(f"line {lineno}: id {rid!r} repeats (first on line {seen[rid]})", p)
        seen[rid] = lineno
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise DataError(f"line {lineno}: {text_col!r} must be a string", p)
        ids.append(rid)
        texts.append(text)
    if not ids:
        raise DataError("no reports in file", p)
    empty = sum(1 for t in texts if not t.strip())
    if empty:
        log.warning("%s: %d of %d reports are empty", p, empty, len(texts))
    return TextTable(str(p), tuple(ids), tuple(texts), id_col, text_col)


@dataclass(frozen=True)
class Pairs:
    """References and one or more candidate sets joined by id (in reference-file order).

    `hyps` maps each candidate set's name to its texts, aligned with `ids`. `unmatched` maps a
    description (e.g. ``"in refs, not in hyps"``) to the ids concerned; empty when every id
    matched.
    """

    ids: tuple[str, ...]
    refs: tuple[str, ...]
    hyps: Mapping[str, tuple[str, ...]]
    unmatched: Mapping[str, tuple[str, ...]]

    @property
    def complete(self) -> bool:
        """True when every id matched on every side."""
        return not any(self.unmatched.values())


def join(refs: TextTable, hyps: Mapping[str, TextTable]) -> Pairs:
    """Pair `refs` with each candidate table in `hyps` (name -> table) by id.

    Only ids present everywhere are kept; every id left out is listed in `Pairs.unmatched`.
    Raises `DataError` when no id is common to all files.
    """
    ref_map = refs.as_dict()
    hyp_maps = {name: table.as_dict() for name, table in hyps.items()}
    common = [i for i in refs.ids if all(i in m for m in hyp_maps.values())]
    unmatched: dict[str, tuple[str, ...]] = {}
    for name, m in hyp_maps.items():
        missing = tuple(i for i in refs.ids if i not in m)
        extra = tuple(i for i in hyps[name].ids if i not in ref_map)
        if missing:
            unmatched[f"in refs, not in {name}"] = missing
        if extra:
            unmatched[f"in {name}, not in refs"] = extra
    if not common:
        names = ", ".join(t.path for t in hyps.values())
        raise DataError(f"no report id is common to the references and {names} "
                        f"(reference ids look like {refs.ids[0]!r})", refs.path)
    return Pairs(tuple(common), tuple(ref_map[i] for i in common),
                 {name: tuple(m[i] for i in common) for name, m in hyp_maps.items()}, unmatched)
