"""Export batch result stores to CSV (one flat row per item) or JSONL (one object per item).

CSV columns: ``key, path, status, error_type, error, attempts, elapsed_s, updated, id,
positive, qc_warnings`` and then ``p:<label>`` (the finding probability) for every label that
occurs in the stores, in sorted order. JSONL objects: ``key, path, status, attempts,
elapsed_s, updated`` plus ``interpretation`` (the full Interpretation JSON) for done items or
``error: {type, message}`` for failed ones. Several stores (one per shard) export as one file.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from radlens.errors import InputError
from radlens.serve.store import iter_stores, summary_row

BASE_COLUMNS = ("key", "path", "status", "error_type", "error", "attempts", "elapsed_s",
                "updated", "id", "positive", "qc_warnings")


def _labels(stores: Sequence[str | os.PathLike[str]]) -> list[str]:
    labels: set[str] = set()
    for item in iter_stores(stores):
        if item.result is not None:
            labels.update(f["label"] for f in json.loads(item.result).get("findings", []))
    return sorted(labels)


def write_csv(stores: Sequence[str | os.PathLike[str]], out: IO[str],
              status: str | None = None) -> int:
    """Write the CSV export of `stores` to the text stream `out`; returns the row count.

    `status`: only items with this status ("done" or "failed").
    """
    columns = [*BASE_COLUMNS, *(f"p:{label}" for label in _labels(stores))]
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", restval="")
    writer.writeheader()
    n = 0
    for item in iter_stores(stores):
        if status is None or item.status == status:
            writer.writerow(summary_row(item))
            n += 1
    return n


def write_jsonl(stores: Sequence[str | os.PathLike[str]], out: IO[str],
                status: str | None = None) -> int:
    """Write the JSONL export of `stores` to the text stream `out`; returns the line count."""
    n = 0
    for item in iter_stores(stores):
        if status is not None and item.status != status:
            continue
        obj: dict[str, Any] = {"key": item.key, "path": item.path, "status": item.status,
                               "attempts": item.attempts, "elapsed_s": item.elapsed_s,
                               "updated": item.updated}
        if item.result is not None:
            obj["interpretation"] = json.loads(item.result)
        else:
            obj["error"] = {"type": item.error_type, "message": item.error}
        out.write(json.dumps(obj, separators=(",", ":")) + "\n")
        n += 1
    return n


def export(stores: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str] | None,
           fmt: str | None = None, status: str | None = None, stdout: IO[str] | None = None
           ) -> int:
    """Export `stores` to the file `out` (or `stdout` when `out` is None or ``-``).

    `fmt`: "csv" or "jsonl" (default: from the file name, else csv). Returns the number of
    items written. `InputError` when a store is missing or the file cannot be written.
    """
    for s in stores:
        if not Path(s).is_file():
            raise InputError("no such result store", s)
    if fmt is None:
        fmt = "jsonl" if out is not None and str(out).lower().endswith((".jsonl", ".json")) \
            else "csv"
    writer = write_jsonl if fmt == "jsonl" else write_csv
    if out is None or str(out) == "-":
        assert stdout is not None, "stdout stream needed when no output file is given"
        return writer(stores, stdout, status)
    target = Path(out)
    tmp = target.with_name(target.name + ".partial")
    try:
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            n = writer(stores, fh, status)
        tmp.replace(target)
    except OSError as exc:
        raise InputError(f"cannot write the export ({exc.strerror or exc})", target) from exc
    return n
