"""``radlens label INPUT -o OUTPUT``: finding labels, with evidence, from report text.

INPUT: a CSV (text column by --column, guessed otherwise), a JSONL file, a folder of .txt / IU
XML reports, or one IU/OpenI XML report. OUTPUT: .csv (CheXpert format: Reports + 14 columns of
1/0/-1/blank; with --vocab nih14 also a ``Finding Labels`` column joined by ``|``) or .jsonl (one
LabelRecord per line, evidence included); ``-`` or no -o writes CSV to stdout. Every input row
gives one output row; rows with problems get a one-line warning on stderr.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``label`` subcommand to `subparsers`."""
    p = subparsers.add_parser("label", help="label radiology report text (CheXpert / NIH)",
                              description=__doc__)
    p.add_argument("input", help="CSV, JSONL, folder of .txt/.xml, or an IU XML report")
    p.add_argument("-o", "--output", default="-", help="output .csv or .jsonl (default stdout)")
    p.add_argument("--vocab", default="chexpert14", help="chexpert14 (default) or nih14")
    p.add_argument("--column", help="report text column (CSV) or field (JSONL)")
    p.add_argument("--id-column", help="id column (CSV) or field (JSONL)")
    p.add_argument("--rules", help="extra rule file (TSV) added to the packaged rules")
    p.add_argument("--convention", choices=["chexpert", "negbio"],
                   help="read 'A versus B' and 'probable X' as uncertain (chexpert) or present "
                        "(negbio); default: the vocabulary's own (chexpert14: chexpert, "
                        "nih14: negbio)")
    p.add_argument("--explain", action="store_true",
                   help="print each label's evidence (text span and rule) on stdout")
    p.add_argument("--json", action="store_true", help="write JSONL to stdout (with -o -)")
    p.set_defaults(func=run)


def _explain(text: str, record: Any) -> str:
    lines = [f"== {record.id}"]
    for ev in record.evidence:
        span = " ".join(text[ev.start:ev.end].split())
        sentence = " ".join(text[ev.sentence_start:ev.sentence_end].split())
        lines.append(f"  {ev.label}: {ev.value:+d}  \"{span}\" [{ev.start}:{ev.end}] "
                     f"section={ev.section or '-'}\n      sentence: {sentence}\n"
                     f"      rule: {ev.rule}")
    if len(lines) == 1:
        lines.append("  (nothing mentioned)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Label every report of ``args.input``; 0 when all rows were clean, 1 with warnings."""
    from radlens.text.labeler import label_detailed
    from radlens.text.readers import read_reports
    from radlens.text.writers import write_records

    rows = read_reports(args.input, args.column, args.id_column)
    progress = None
    if len(rows) > 20000 and sys.stderr.isatty():
        from tqdm import tqdm
        progress = tqdm(total=len(rows), unit="report", file=sys.stderr)
    results = []
    chunk = 5000
    for i in range(0, len(rows), chunk):
        part = rows[i:i + chunk]
        results.extend(label_detailed([r.text for r in part], args.vocab,
                                      [r.id for r in part], args.rules, args.convention))
        if progress:
            progress.update(len(part))
    if progress:
        progress.close()
    problems = 0
    for row, res in zip(rows, results, strict=True):
        notes = ([row.problem] if row.problem else []) + [
            w for w in res.warnings if not (row.problem and "empty" in w)]
        for note in notes:
            print(f"radlens: {args.input}: report {row.id}: {note}", file=sys.stderr)
        problems += bool(notes)
    if args.explain:
        for row, res in zip(rows, results, strict=True):
            print(_explain(row.text, res.record))
    fmt = "jsonl" if args.json else None
    write_records(args.output, [r.text for r in rows], [r.record for r in results], fmt,
                  stdout_ok=not args.explain)
    return 1 if problems else 0
