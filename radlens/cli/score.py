"""``radlens score --refs REFS --hyps HYPS [--metrics bleu,rouge,radlens_f1] [--json]``.

Scores generated reports against reference reports joined by id (CSV/TSV or JSONL, see
`radlens.metrics.io`), with a 95% bootstrap confidence interval for every aggregate. Ids found on
one side only are reported on stderr (and under ``unmatched`` in the JSON); ``--strict`` makes
them an error (exit status 1). The helpers here are shared with ``radlens compare``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

DEFAULT_METRICS = "bleu,rexrank_bleu,rouge,radlens_f1"


def add_common_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``score`` and ``compare``."""
    p.add_argument("--metrics", default=DEFAULT_METRICS,
                   help=f"comma-separated metric names (default: {DEFAULT_METRICS}); "
                        "see docs/metrics.md")
    p.add_argument("--id-col", help="id column/key in every input (default: found by name)")
    p.add_argument("--ref-col", help="text column/key of the references (default: by name)")
    p.add_argument("--n-boot", type=int, default=1000,
                   help="bootstrap resamples for the 95%% CIs (0: no CIs; default 1000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--strict", action="store_true",
                   help="fail (exit 1) when any id is present on one side only")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def register(sub: Any) -> None:
    """Add the ``score`` subcommand to `sub` (an argparse subparsers object)."""
    p = sub.add_parser("score", help="score generated reports against references "
                                     "(BLEU, ROUGE-L, radlens_f1) with bootstrap CIs",
                       description="Score generated reports against reference reports joined "
                                   "by id, with 95% bootstrap confidence intervals.")
    p.add_argument("--refs", required=True, type=Path, help="reference reports (CSV/JSONL)")
    p.add_argument("--hyps", required=True, type=Path, help="generated reports (CSV/JSONL)")
    p.add_argument("--hyp-col", help="text column/key of the candidates (default: by name)")
    add_common_options(p)
    p.add_argument("--per-pair", type=Path, metavar="CSV",
                   help="also write every per-pair value to this CSV file")
    p.set_defaults(func=run)


def parse_metric_names(text: str) -> list[str]:
    """The metric names of a ``--metrics`` value, validated against the registry."""
    from radlens.errors import DataError
    from radlens.metrics.base import available

    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    known = available()
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise DataError(f"unknown metric {', '.join(unknown) or '(none given)'}; "
                        f"choose from {', '.join(known)}", "--metrics")
    return list(dict.fromkeys(names))


def check_options(args: argparse.Namespace) -> None:
    """Reject out-of-range numeric options with a one-line error."""
    from radlens.errors import DataError

    if args.n_boot < 0:
        raise DataError("must be 0 or more", "--n-boot")
    if getattr(args, "n_perm", 1) < 1:
        raise DataError("must be 1 or more", "--n-perm")


def report_unmatched(unmatched: Mapping[str, Sequence[str]], strict: bool) -> bool:
    """Print one stderr line per group of unmatched ids; True when scoring should stop."""
    for what, ids in unmatched.items():
        if ids:
            shown = ", ".join(ids[:5]) + (", …" if len(ids) > 5 else "")
            kind = "error" if strict else "warning"
            print(f"radlens: {kind}: {len(ids)} id(s) {what} (left out): {shown}",
                  file=sys.stderr)
    return strict and any(unmatched.values())


def unmatched_json(unmatched: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """JSON form of `Pairs.unmatched`."""
    return {what: {"count": len(ids), "ids": list(ids)} for what, ids in unmatched.items()}


def fmt(x: float | None) -> str:
    """A score for the text tables."""
    return "   nan" if x is None else f"{x:.4f}"


def run(args: argparse.Namespace) -> int:
    """Run ``radlens score``; returns the exit status."""
    from radlens.metrics.base import get_metric
    from radlens.metrics.io import join, read_texts

    check_options(args)
    names = parse_metric_names(args.metrics)
    refs = read_texts(args.refs, args.ref_col, args.id_col, role="refs")
    hyps = read_texts(args.hyps, args.hyp_col, args.id_col, role="hyps")
    pairs = join(refs, {"hyps": hyps})
    if report_unmatched(pairs.unmatched, args.strict):
        return 1
    results = {}
    for name in names:
        results[name] = get_metric(name).compute(pairs.refs, pairs.hyps["hyps"], pairs.ids)
    out: dict[str, Any] = {"refs": str(args.refs), "hyps": str(args.hyps),
                           "n_pairs": len(pairs.ids),
                           "unmatched": unmatched_json(pairs.unmatched), "metrics": {}}
    from tqdm import tqdm

    for name in tqdm(names, desc="confidence intervals", unit="metric", file=sys.stderr,
                     disable=None if args.n_boot else True, leave=False):
        out["metrics"][name] = results[name].to_dict(n_boot=args.n_boot, seed=args.seed)
    if args.per_pair:
        write_per_pair(args.per_pair, pairs.ids, results)
    if args.json:
        print(json.dumps(out, indent=2, allow_nan=False))
        return 0
    ci = f"95% bootstrap CI over {args.n_boot} resamples" if args.n_boot else "no CIs"
    print(f"{len(pairs.ids)} pairs scored ({refs.path} vs {hyps.path}); {ci}")
    for name, res in out["metrics"].items():
        for agg, v in res["aggregates"].items():
            interval = f"  [{fmt(v['ci_low'])}, {fmt(v['ci_high'])}]" if "ci_low" in v else ""
            print(f"{name:<13} {agg:<28} {fmt(v['value'])}{interval}")
    return 0


def write_per_pair(path: Path, ids: Sequence[str], results: Mapping[str, Any]) -> None:
    """Write one CSV row per pair: id, then ``<metric>.<name>`` per per-pair value."""
    from radlens.errors import InputError

    columns: list[tuple[str, Any]] = [(f"{m}.{k}", v) for m, r in results.items()
                                      for k, v in r.per_pair.items()]
    try:
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["id", *(c for c, _ in columns)])
            for i, pid in enumerate(ids):
                writer.writerow([pid, *(repr(float(v[i])) for _, v in columns)])
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", path) from None
