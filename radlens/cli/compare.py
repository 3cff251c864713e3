"""``radlens compare --refs REFS --hyps-a A --hyps-b B [--metrics ...] [--json]``.

Scores two systems on the same references (ids common to all three inputs) and, for every
aggregate, prints both values with 95% bootstrap CIs, the difference B − A and the p-value of a
paired approximate-randomisation test (two-sided; H0: both systems score the same).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from radlens.cli.score import (
    add_common_options,
    check_options,
    fmt,
    parse_metric_names,
    report_unmatched,
    unmatched_json,
)


def register(sub: Any) -> None:
    """Add the ``compare`` subcommand to `sub` (an argparse subparsers object)."""
    p = sub.add_parser("compare", help="compare two report generators on the same references "
                                       "(CIs and paired randomisation p-values)",
                       description="Score two systems on the same references; per aggregate: "
                                   "both values with 95% bootstrap CIs, B - A, and the p-value "
                                   "of a paired approximate-randomisation test.")
    p.add_argument("--refs", required=True, type=Path, help="reference reports (CSV/JSONL)")
    p.add_argument("--hyps-a", required=True, type=Path, help="system A's reports")
    p.add_argument("--hyps-b", required=True, type=Path, help="system B's reports")
    p.add_argument("--hyp-col-a", help="text column/key of system A (default: by name)")
    p.add_argument("--hyp-col-b", help="text column/key of system B (default: by name)")
    p.add_argument("--name-a", default="A", help="display name of system A")
    p.add_argument("--name-b", default="B", help="display name of system B")
    p.add_argument("--n-perm", type=int, default=10000,
                   help="permutations of the randomisation test (default 10000)")
    add_common_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``radlens compare``; returns the exit status."""
    from tqdm import tqdm

    from radlens.errors import DataError
    from radlens.metrics.base import Aggregate, get_metric
    from radlens.metrics.io import join, read_texts

    check_options(args)
    if args.name_a == args.name_b:
        raise DataError("the two systems need different names", "--name-b")
    names = parse_metric_names(args.metrics)
    refs = read_texts(args.refs, args.ref_col, args.id_col, role="refs")
    hyp_a = read_texts(args.hyps_a, args.hyp_col_a, args.id_col, role="hyps")
    hyp_b = read_texts(args.hyps_b, args.hyp_col_b, args.id_col, role="hyps")
    pairs = join(refs, {args.name_a: hyp_a, args.name_b: hyp_b})
    if report_unmatched(pairs.unmatched, args.strict):
        return 1
    rows: dict[str, dict[str, Any]] = {}
    todo: list[tuple[str, str, Aggregate, Aggregate]] = []
    for name in names:
        metric = get_metric(name)  # one instance: radlens_f1 labels the references once
        res_a = metric.compute(pairs.refs, pairs.hyps[args.name_a], pairs.ids)
        res_b = metric.compute(pairs.refs, pairs.hyps[args.name_b], pairs.ids)
        todo.extend((name, agg, res_a.aggregates[agg], res_b.aggregates[agg])
                    for agg in res_a.aggregates)
    for name, agg, a, b in tqdm(todo, desc="CIs and tests", unit="aggregate",
                                file=sys.stderr, disable=None, leave=False):
        row: dict[str, Any] = {"a": a.value, "b": b.value, "diff": b.value - a.value,
                               "p_value": a.compare(b, n_perm=args.n_perm, seed=args.seed)}
        if args.n_boot:
            for key, x in (("a", a), ("b", b)):
                est = x.confidence_interval(n_boot=args.n_boot, seed=args.seed)
                row[f"{key}_ci"] = [est.low, est.high]
        rows.setdefault(name, {})[agg] = row
    if args.json:
        out = {"refs": str(args.refs), "a": {"name": args.name_a, "path": str(args.hyps_a)},
               "b": {"name": args.name_b, "path": str(args.hyps_b)},
               "n_pairs": len(pairs.ids), "unmatched": unmatched_json(pairs.unmatched),
               "test": {"method": "paired approximate randomisation, two-sided",
                        "n_perm": args.n_perm, "seed": args.seed},
               "ci": {"method": "percentile bootstrap over pairs", "level": 0.95,
                      "n_boot": args.n_boot},
               "metrics": rows}
        print(json.dumps(out, indent=2))
        return 0
    print(f"{len(pairs.ids)} pairs; A = {args.name_a} ({hyp_a.path}), "
          f"B = {args.name_b} ({hyp_b.path}); p: paired randomisation, {args.n_perm} perms")
    print(f"{'metric':<13} {'aggregate':<28} {'A [95% CI]':<24} {'B [95% CI]':<24} "
          f"{'B-A':>7} {'p':>7}")
    for name, aggs in rows.items():
        for agg, r in aggs.items():
            cells = []
            for key in ("a", "b"):
                ci = r.get(f"{key}_ci")
                interval = f" [{fmt(ci[0])},{fmt(ci[1])}]" if ci else ""
                cells.append(f"{fmt(r[key]) + interval:<24}")
            print(f"{name:<13} {agg:<28} {cells[0]} {cells[1]} {r['diff']:+.4f} "
                  f"{r['p_value']:.4f}")
    return 0
