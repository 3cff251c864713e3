"""Writing label records: CheXpert-style CSV (NIH ``Finding Labels`` for nih14) or JSONL."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from radlens.errors import InputError
from radlens.schema import LabelRecord
from radlens.schema_json import to_dict


def _csv(out: TextIO, texts: Sequence[str], records: Sequence[LabelRecord]) -> None:
    if not records:
        return
    labels = [lab for lab, _ in records[0].labels]
    nih = records[0].vocabulary == "nih14"
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["id", "Reports", *(["Finding Labels"] if nih else []), *labels])
    for text, rec in zip(texts, records, strict=True):
        vals = ["" if v is None else str(v) for _, v in rec.labels]
        extra = []
        if nih:
            pos = [lab for lab, v in rec.labels if v == 1]
            extra = ["|".join(pos) if pos else "No Finding"]
        w.writerow([rec.id, text, *extra, *vals])


def _jsonl(out: TextIO, records: Sequence[LabelRecord]) -> None:
    for rec in records:
        out.write(json.dumps(to_dict(rec)) + "\n")


def write_records(path: str, texts: Sequence[str], records: Sequence[LabelRecord],
                  fmt: str | None = None, stdout_ok: bool = True) -> None:
    """Write `records` to `path` (``-`` = stdout) as CSV or JSONL, chosen by `fmt` or by the
    file extension (.jsonl / .ndjson -> JSONL, anything else CSV)."""
    kind = fmt or ("jsonl" if path.lower().endswith((".jsonl", ".ndjson")) else "csv")
    if path == "-":
        if not stdout_ok:
            return
        _jsonl(sys.stdout, records) if kind == "jsonl" else _csv(sys.stdout, texts, records)
        return
    try:
        with open(Path(path), "w", newline="", encoding="utf-8") as f:
            _jsonl(f, records) if kind == "jsonl" else _csv(f, texts, records)
    except OSError as exc:
        raise InputError(f"cannot write output ({exc.strerror})", path) from None
