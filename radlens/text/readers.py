"""Reading report texts for the labeller: CSV, JSONL, a folder of .txt files, IU/OpenI XML.

Every reader returns `ReportRow`s, one per input row, in order, so that the output has one row per
input row: a row that cannot be read keeps its place with empty text and a `problem` saying why.
Whole-input problems (missing file, missing column, unknown format) raise `DataError` naming the
file.
"""

from __future__ import annotations

import csv
import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from radlens.errors import DataError, InputError

ID_COLUMNS = ("id", "study_id", "report_id", "uid", "dicom_id", "image_id")
"""Column names taken as the report id when none is named (case-insensitive, first match);
`radlens.metrics.io` (``radlens score``) uses the same list."""

IU_SECTIONS = ("findings", "impression")
"""IU/OpenI sections labelled by default (INDICATION, COMPARISON are context, not findings)."""


@dataclass(frozen=True)
class ReportRow:
    """One input report: `id`, its `text` ("" when unreadable) and a `problem` (or "")."""

    id: str
    text: str
    problem: str = ""


def _decode(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("utf-8"), ""
    except UnicodeDecodeError as exc:
        return (data.decode("utf-8", errors="replace"),
                f"not valid UTF-8 (first bad byte at offset {exc.start}); "
                "undecodable bytes replaced")


def read_iu_xml(path: str | Path, sections: Iterable[str] = IU_SECTIONS) -> ReportRow:
    """One IU/OpenI report: id ``CXR<file stem>`` and text ``FINDINGS: … IMPRESSION: …``.

    Only the named `sections` are kept (case-insensitive), each with its header so that section
    names reach the evidence. A malformed file gives a row with a `problem` and empty text.
    """
    p = Path(path)
    rid = "CXR" + p.stem
    try:
        root = ET.parse(p).getroot()
    except (ET.ParseError, OSError) as exc:
        return ReportRow(rid, "", f"{p}: not a readable XML report ({exc})")
    uid = root.find("uId")
    if uid is not None and uid.get("id"):
        rid = str(uid.get("id"))
    wanted = [s.lower() for s in sections]
    found = {(a.get("Label") or "").lower(): (a.text or "").strip()
             for a in root.iter("AbstractText")}
    parts = [f"{name.upper()}: {found[name]}" for name in wanted if found.get(name)]
    if not parts:
        return ReportRow(rid, "", f"{p}: no {' or '.join(s.upper() for s in wanted)} text")
    return ReportRow(rid, "\n".join(parts))


def _read_csv(path: Path, column: str | None, id_column: str | None) -> list[ReportRow]:
    text, problem = _decode(path.read_bytes())
    if problem:
        raise DataError(problem, path)
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    reader = csv.DictReader(text.splitlines(keepends=True))
    fields = reader.fieldnames or []
    if not fields:
        raise DataError("empty CSV (no header row)", path)
    col = column or next((f for f in fields if f.lower() in ("report", "reports", "text",
                                                             "findings", "impression")), None)
    if col is None and len(fields) == 1 and not id_column:
        # the CheXpert labeller's input convention: one report per row, no header
        texts = [r[0] if r else "" for r in csv.reader(text.splitlines(keepends=True))]
        return [ReportRow(str(i), value, "" if value else f"row {i + 1}: empty text")
                for i, value in enumerate(texts)]
    if col is None:
        raise DataError(f"no report text column; choose one with --column from: "
                        f"{', '.join(fields)}", path)
    if col not in fields:
        raise DataError(f"no column {col!r}; columns are: {', '.join(fields)}", path)
    if id_column and id_column not in fields:
        raise DataError(f"no id column {id_column!r}; columns are: {', '.join(fields)}", path)
    id_column = id_column or guess_id_column(fields, exclude=col)
    rows = []
    for i, row in enumerate(reader):
        rid = str(row.get(id_column) or i) if id_column else str(i)
        value = row.get(col)
        rows.append(ReportRow(rid, value or "", "" if value else f"row {i + 1}: empty text"))
    return rows


def guess_id_column(fields: Iterable[str], exclude: str | None = None) -> str | None:
    """The first of `fields` whose name (case-insensitive) is in `ID_COLUMNS`, in that
    list's order, other than `exclude` (the text column); None when none is."""
    lower = {f.strip().lower(): f for f in fields if f != exclude}
    return next((lower[c] for c in ID_COLUMNS if c in lower), None)


def _read_jsonl(path: Path, column: str | None, id_column: str | None) -> list[ReportRow]:
    text, problem = _decode(path.read_bytes())
    if problem:
        raise DataError(problem, path)
    key = column or "text"
    rows = []
    for i, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            rows.append(ReportRow(str(i), "", f"line {i + 1}: not JSON ({exc.msg})"))
            continue
        if isinstance(obj, str):
            obj = {key: obj}
        if not isinstance(obj, dict):
            rows.append(ReportRow(str(i), "", f"line {i + 1}: not a JSON object"))
            continue
        key_id = id_column or guess_id_column(list(obj), exclude=key) or "id"
        rid = str(obj.get(key_id, i))
        value = obj.get(key)
        if not isinstance(value, str) or not value:
            rows.append(ReportRow(rid, "", f"line {i + 1}: no text in field {key!r}"))
        else:
            rows.append(ReportRow(rid, value))
    return rows


def _read_txt(path: Path) -> ReportRow:
    try:
        text, problem = _decode(path.read_bytes())
    except OSError as exc:
        return ReportRow(path.stem, "", f"{path}: cannot read ({exc.strerror})")
    return ReportRow(path.stem, text, f"{path}: {problem}" if problem else "")


def read_reports(path: str | Path, column: str | None = None,
                 id_column: str | None = None) -> list[ReportRow]:
    """Read every report from `path`: a .csv (text column `column`, guessed when None), a
    .jsonl (field `column`, default "text"), an .xml IU report, or a folder of .txt and/or
    .xml files (sorted by name; ids are file stems / IU ids). CSV and JSONL ids come from
    `id_column`, else from the first column / field named like `ID_COLUMNS` (``id``,
    ``study_id``, ...; what ``radlens score`` guesses), else the row number."""
    p = Path(path)
    if not p.exists():
        raise InputError("no such file or folder", p)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in (".txt", ".xml"))
        if not files:
            raise DataError("folder has no .txt or .xml reports", p)
        return [read_iu_xml(f) if f.suffix.lower() == ".xml" else _read_txt(f) for f in files]
    suffix = p.suffix.lower()
    if suffix == ".csv":
        return _read_csv(p, column, id_column)
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl(p, column, id_column)
    if suffix == ".xml":
        return [read_iu_xml(p)]
    if suffix == ".txt":
        return [_read_txt(p)]
    raise DataError("unknown input format; give a .csv, .jsonl, .xml, .txt or a folder", p)
