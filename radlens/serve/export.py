"""Export batch result stores to CSV (one flat row per item) or JSONL (one object per item).

CSV columns: ``key, path, status, error_type, error, attempts, elapsed_s, updated, id,
positive, qc_warnings, warnings, report`` (``warnings``: the reading's guardrail warning
codes, ``;``-separated; ``report``: the draft report text on one line, sections joined by
" | "), then for every label that occurs in the stores, in sorted order: ``p:<label>`` (the
probability), ``call:<label>`` (positive / uncertain / negative), ``certainty:<label>``
(stated / possible / uncertain / absent) and ``where:<label>`` (the location as the report
words it, from the finding's one `Location`). JSONL objects: ``key, path, status, attempts,
elapsed_s, updated`` plus ``interpretation`` (the full Interpretation JSON) for done items or
``error: {type, message}`` for failed ones. Several stores (one per shard) export as one file.

File names need not be valid UTF-8 (see `radlens.serve.store`). The CSV writes a name's own
bytes (``surrogateescape``), so a ``path`` cell leads back to the same file and the CSV can be
fed to ``radlens batch`` again; JSONL stays pure ASCII, a name's undecodable bytes appearing as
``\\udcXX`` escapes that ``json.loads`` turns back into the same str (`os.fsencode` then gives
the bytes).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from radlens.errors import InputError
from radlens.serve.store import iter_stores, summary_row

BASE_COLUMNS = ("key", "path", "status", "error_type", "error", "attempts", "elapsed_s",
                "updated", "id", "positive", "qc_warnings", "warnings", "report")
PER_LABEL = ("p", "call", "certainty", "where")


def reading_columns(result: str) -> dict[str, Any]:
    """The reading's own columns of one stored result (Interpretation JSON text): warnings,
    report text and per label call, certainty band and location wording."""
    from radlens.render.legend import where_text
    from radlens.report.writer import report_text
    from radlens.schema import Interpretation
    from radlens.schema_json import from_dict

    interp = from_dict(json.loads(result), Interpretation)
    row: dict[str, Any] = {
        "warnings": ";".join(w.code for w in interp.warnings),
        "report": " | ".join(report_text(interp.report).split("\n\n"))
        if interp.report is not None else ""}
    for f in interp.findings:
        row[f"call:{f.label}"] = f.call.value
        row[f"certainty:{f.label}"] = f.certainty.value
        row[f"where:{f.label}"] = where_text(interp, f)
    return row


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
    columns = [*BASE_COLUMNS, *(f"{kind}:{label}" for label in _labels(stores)
                                for kind in PER_LABEL)]
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", restval="")
    writer.writeheader()
    n = 0
    for item in iter_stores(stores):
        if status is None or item.status == status:
            row = summary_row(item)
            if item.result is not None:
                row.update(reading_columns(item.result))
            writer.writerow(row)
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


@contextlib.contextmanager
def _bytes_preserving(stream: IO[str]) -> Iterator[IO[str]]:
    """`stream` as a UTF-8 text stream that writes undecodable file-name bytes as themselves
    (``surrogateescape``): a wrapper over its binary buffer when it has one (``sys.stdout``),
    else the stream itself (a ``StringIO`` holds any str)."""
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        yield stream
        return
    stream.flush()
    wrapper = io.TextIOWrapper(buffer, encoding="utf-8", errors="surrogateescape", newline="",
                               write_through=True)
    try:
        yield wrapper
    finally:
        wrapper.flush()
        wrapper.detach()  # the caller's stream keeps its buffer


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
        with _bytes_preserving(stdout) as stream:
            return writer(stores, stream, status)
    target = Path(out)
    tmp = target.with_name(target.name + ".partial")
    try:
        with tmp.open("w", newline="", encoding="utf-8", errors="surrogateescape") as fh:
            n = writer(stores, fh, status)
        tmp.replace(target)
    except OSError as exc:
        raise InputError(f"cannot write the export ({exc.strerror or exc})", target) from exc
    return n
