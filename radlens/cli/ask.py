"""``radlens ask IMAGE "QUESTION" [--json]`` and ``radlens ask --batch QUESTIONS.jsonl``.

One image and one question: the image is read and the question answered from the reading
(`radlens.tasks.ask`): the answer, then its evidence (finding, probability and threshold;
regions and zones; or the metadata field). ``--json`` prints the `Answer` as JSON. A question
the reading cannot settle prints ``cannot answer: <reason>`` (exit status 0: that is an
answer); an image that cannot be read is an error (exit status 2).

``--batch FILE``: one JSON object per line, ``{"image": PATH, "question": TEXT}`` (a relative
PATH is taken from the current folder, else from the file's folder); each image is read once
however many questions it has. Out: one JSON line per input line, in order: the `Answer` with
``line`` and ``image`` added, or ``{"line", "image", "error": {"type", "message"}}`` for a
line that is not such an object or whose image cannot be read; the other lines go on. Exit
status 1 when any line failed, else 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from radlens.errors import RadlensError


def register(sub: Any) -> None:
    """Add the ``ask`` subcommand to `sub` (an argparse subparsers object)."""
    p = sub.add_parser("ask", help="answer a question about a chest X-ray from its reading",
                       description="Read an image and answer a question about it, with the "
                       "evidence; 'cannot answer: <reason>' when the reading cannot say.")
    p.add_argument("image", nargs="?", metavar="IMAGE", help="image file")
    p.add_argument("question", nargs="?", metavar="QUESTION", help="the question (quoted)")
    p.add_argument("--batch", type=Path, metavar="QUESTIONS.jsonl",
                   help='one {"image": ..., "question": ...} per line; JSONL answers out')
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.add_argument("--model", help="finding model to use (default: the bundled one)")
    p.add_argument("--age", type=float, metavar="YEARS",
                   help="patient age in years (overrides the DICOM header)")
    p.set_defaults(func=run)


def answer_lines(answer: Any) -> list[str]:
    """The text form of an `Answer`: the answer, then one line per evidence entry."""
    lines = [answer.answer]
    for e in answer.evidence:
        if e.kind == "finding":
            where = (" " + ", ".join(e.zones)) if e.zones else (f" {e.side}" if e.side else "")
            lines.append(f"  evidence: {e.label} p={e.probability:.2f} threshold "
                         f"{e.threshold:.2f} {e.call}{where}")
        elif e.kind == "region":
            lines.append(f"  evidence: {e.label} region(s) {len(e.region_ids)}: {e.value}")
        else:
            lines.append(f"  evidence: {e.kind} {e.field}: {e.value}")
    return lines


def _reader(args: argparse.Namespace) -> Any:
    from radlens.reader import Reader

    return Reader(args.model, report=False, age=args.age)


def _resolve(image: str, base: Path) -> str:
    p = Path(image)
    if p.is_absolute() or p.exists():
        return image
    alt = base / p
    return str(alt) if alt.exists() else image


def _parse_line(raw: str) -> tuple[str, str]:
    try:
        row = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg})") from None
    if not isinstance(row, dict):
        raise ValueError("expected an object {\"image\": ..., \"question\": ...}")
    image, question = row.get("image"), row.get("question")
    if not isinstance(image, str) or not image:
        raise ValueError("missing or empty \"image\" (a path)")
    if not isinstance(question, str):
        raise ValueError("missing \"question\" (text)")
    return image, question


def run_batch(args: argparse.Namespace) -> int:
    """Answer every line of ``--batch``; JSONL on stdout; 1 when any line failed."""
    from radlens.schema import Interpretation
    from radlens.schema_json import to_dict
    from radlens.tasks.ask import answer

    path: Path = args.batch
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RadlensError(f"{path}: cannot read the questions file ({exc})") from None
    rows: list[tuple[int, str, str] | tuple[int, str, Exception]] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            image, question = _parse_line(raw)
            rows.append((n, _resolve(image, path.parent), question))
        except ValueError as exc:
            rows.append((n, "", exc))
    images = list(dict.fromkeys(r[1] for r in rows if isinstance(r[2], str)))
    readings: dict[str, Any] = {}
    if images:
        reader = _reader(args)
        for image, result in zip(images, reader.iter_read(images), strict=True):
            readings[image] = result
    failed = 0
    for n, image, q in rows:
        record: dict[str, Any]
        if isinstance(q, Exception):
            record = {"line": n, "image": None,
                      "error": {"type": "InputError", "message": f"line {n}: {q}"}}
        elif isinstance(readings.get(image), Interpretation):
            record = {"line": n, "image": image, **to_dict(answer(readings[image], q))}
        else:
            bad = readings[image]
            record = {"line": n, "image": image,
                      "error": {"type": bad.error_type, "message": bad.message}}
        failed += "error" in record
        print(json.dumps(record, allow_nan=False), flush=True)
    return 1 if failed else 0


def run(args: argparse.Namespace) -> int:
    """One question (or ``--batch``); returns the exit status."""
    if args.batch is not None:
        if args.image or args.question:
            raise RadlensError("give either IMAGE QUESTION or --batch FILE, not both")
        return run_batch(args)
    if not args.image or args.question is None:
        raise RadlensError('give an IMAGE and a "QUESTION" (or --batch QUESTIONS.jsonl)')
    from radlens.schema_json import to_json
    from radlens.tasks.ask import answer

    interp = _reader(args).read(args.image)
    reply = answer(interp, args.question)
    if args.json:
        print(to_json(reply))
    else:
        sys.stdout.write("\n".join(answer_lines(reply)) + "\n")
    return 0
