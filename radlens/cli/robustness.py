"""``radlens robustness``: balanced error of a MedMNIST classifier under MedMNIST-C corruptions.

Clean and per-corruption balanced error (mean of severities 1-5), their mean, and — against
``--baseline`` (e.g. the ResNet-18 trained the same way) — MedMNIST-C's normalised and
relative errors, with 95% bootstrap CIs (`radlens.models.medmnist_eval.robustness`).
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``robustness`` to the CLI."""
    p = subparsers.add_parser(
        "robustness", help="balanced error under MedMNIST-C corruptions (MedMNIST models)",
        description="Run a MedMNIST classifier on one split of a MedMNIST file, clean and under "
                    "every corruption family of the file's modality at severities 1-5; print "
                    "balanced errors and, with --baseline, the normalised and relative errors "
                    "as MedMNIST-C defines them, with 95% bootstrap CIs.")
    p.add_argument("--model", required=True, help="bundled MedMNIST model, card or run folder")
    p.add_argument("--data", required=True, metavar="SPEC", help="medmnist:FILE.npz[?split=val]")
    p.add_argument("--split", default=None, help="split to use (default: the spec's, else val)")
    p.add_argument("--baseline", default=None,
                   help="model to normalise by (e.g. a ResNet-18 run folder trained the same way)")
    p.add_argument("--corruptions", default=None, metavar="A,B",
                   help="only these families (default: all of the modality)")
    p.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples (default 200)")
    p.add_argument("--seed", type=int, default=0, help="corruption seed (default 0)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def _ci(result: dict[str, Any], key: str) -> str:
    c = result["ci"].get(key)
    return f"  [{c['ci_low']:.4f}, {c['ci_high']:.4f}]" if c else ""


def format_table(r: dict[str, Any]) -> str:
    """Human-readable robustness table."""
    base = r.get("baseline")
    lines = [f"model {r['model']} on {r['dataset']} ({r['split']}, {r['n_images']} images, "
             f"modality {r['modality']})" + (f"; baseline {base}" if base else ""),
             f"clean balanced error      {r['clean']:.4f}{_ci(r, 'clean')}"]
    head = f"{'corruption':<18} {'BE mean':>8}  {'by severity 1-5':<36}"
    if base:
        head += f" {'norm.':>6} {'rel.':>6}  {'base BE':>7}"
    lines.append(head)
    bs = r.get("baseline_scores", {}).get("per_corruption", {})
    for c, row in r["per_corruption"].items():
        sev = " ".join(f"{v:.3f}" for v in row["by_severity"])
        line = f"{c:<18} {row['mean']:>8.4f}  {sev:<36}"
        if base:
            def num(x: float | None) -> str:
                return "   n/a" if x is None else f"{x:6.3f}"
            line += f" {num(row.get('normalised'))} {num(row.get('relative'))}"
            line += f"  {bs.get(c, {}).get('mean', float('nan')):7.4f}"
        lines.append(line)
    lines.append(f"mean over corruptions     {r['mean']:.4f}{_ci(r, 'mean')}")
    if base:
        bsc = r["baseline_scores"]
        lines.append(f"baseline: clean {bsc['clean']:.4f}, mean {bsc['mean']:.4f}")
        for key in ("normalised_mean", "relative_mean"):
            v = r.get(key)
            lines.append(f"{key.replace('_', ' '):<25} "
                         f"{'n/a' if v is None else f'{v:.4f}'}{_ci(r, key)}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Compute and print the robustness figures."""
    from radlens.metrics.subgroups import json_safe
    from radlens.models.medmnist_eval import robustness

    fams = [s.strip() for s in args.corruptions.split(",")] if args.corruptions else None
    result = robustness(args.model, args.data, args.baseline, args.split, fams,
                        n_boot=args.n_boot, seed=args.seed, progress=not args.json)
    if args.json:
        print(json.dumps(json_safe(result), indent=2, allow_nan=False))
    else:
        print(format_table(result))
    return 0
