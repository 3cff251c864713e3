"""``radlens label INPUT -o OUTPUT``: finding labels, with evidence, from report text.

INPUT: a CSV (text column by --column, guessed otherwise), a JSONL file, a folder of .txt / IU
XML reports, or one IU/OpenI XML report. OUTPUT: .csv (CheXpert format: Reports + 14 columns of
1/0/-1/blank; with --vocab nih14 also a ``Finding Labels`` column joined by ``|``) or .jsonl (one
LabelRecord per line, evidence included); ``-`` or no -o writes CSV to stdout. Every input row
gives one output row; rows with problems get a one-line warning on stderr. Report ids come
from --id-column, else a column named id, study_id, report_id, ... (as ``radlens score``
guesses), else the row number.

With --gold GOLD.csv (an id column and one 1/0/-1/blank column per label) the labels are also
scored against the gold ones: precision, recall and F1 per label and micro-averaged, with 95%
bootstrap CIs, printed on stderr (and written as JSON with --gold-json).
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
    from radlens.vocab import names

    p.add_argument("--vocab", default="chexpert14", choices=names(),
                   help="label vocabulary (default chexpert14)")
    p.add_argument("--column", help="report text column (CSV) or field (JSONL); default: "
                                    "report, text, findings or impression")
    p.add_argument("--id-column", help="id column (CSV) or field (JSONL); default: id, "
                                       "study_id, report_id, uid, dicom_id or image_id")
    p.add_argument("--rules", help="extra rule file (TSV) added to the packaged rules")
    p.add_argument("--convention", choices=["chexpert", "negbio"],
                   help="read 'A versus B' and 'probable X' as uncertain (chexpert) or present "
                        "(negbio); default: the vocabulary's own (chexpert14: chexpert, "
                        "nih14: negbio)")
    p.add_argument("--explain", action="store_true",
                   help="print each label's evidence (text span and rule) on stdout")
    p.add_argument("--json", action="store_true", help="write JSONL to stdout (with -o -)")
    g = p.add_argument_group("scoring against gold labels")
    g.add_argument("--gold", metavar="GOLD.csv",
                   help="gold labels (id column + one 1/0/-1/blank column per label): print "
                        "precision, recall and F1 per label with 95%% bootstrap CIs")
    g.add_argument("--gold-id-column", metavar="COLUMN",
                   help="id column of --gold (default: id, study_id, report_id, filename, ...)")
    g.add_argument("--uncertain-as", choices=("absent", "present"), default="absent",
                   help="how -1 (uncertain) counts, in the gold and the labels (default absent)")
    g.add_argument("--bootstrap", type=int, default=1000, metavar="N",
                   help="bootstrap resamples for the CIs (default 1000)")
    g.add_argument("--gold-json", metavar="FILE", help="also write the scores as JSON here")
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
    if args.gold:
        _score_gold(args, [r.record for r in results])
    return 1 if problems else 0


def _score_gold(args: argparse.Namespace, records: list[Any]) -> None:
    """Score `records` against ``args.gold``; the table goes to stderr (stdout may carry the
    labels), the JSON to ``args.gold_json``."""
    import json
    from pathlib import Path

    from radlens.errors import InputError
    from radlens.metrics.labeller import read_gold, score_against_gold

    gold = read_gold(args.gold, args.vocab, args.gold_id_column)
    result = score_against_gold(records, gold, args.uncertain_as, args.bootstrap)
    notes = [f"{result.n} reports scored against {args.gold} (id column "
             f"{gold.id_column!r}; uncertain counts as {args.uncertain_as})"]
    if result.missing_gold:
        notes.append(f"{len(result.missing_gold)} reports have no gold row (left out)")
    if result.missing_reports:
        notes.append(f"{len(result.missing_reports)} gold rows have no report (left out)")
    if gold.ignored:
        notes.append(f"gold columns that name no {args.vocab} label, ignored: "
                     f"{', '.join(gold.ignored)}")
    print("\n".join(notes) + "\n" + result.table(), file=sys.stderr)
    if args.gold_json:
        try:
            Path(args.gold_json).write_text(json.dumps(result.as_dict(), indent=2) + "\n")
        except OSError as exc:
            raise InputError(f"cannot write the scores ({exc.strerror or exc})",
                             args.gold_json) from exc
