"""``radlens evaluate``: per-label metrics with patient-bootstrap CIs for a model on a dataset."""

from __future__ import annotations

import argparse
import json
from typing import Any

_ROWS = (("auroc", "AUROC"), ("ap", "AP"), ("sens_youden", "sens@youden"),
         ("spec_youden", "spec@youden"), ("sens_95", "sens@sens95"),
         ("spec_95", "spec@sens95"), ("ece", "ECE"))


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``evaluate`` to the CLI."""
    p = subparsers.add_parser(
        "evaluate", help="evaluate a classifier on a dataset (AUROC, AP, sens/spec, ECE)",
        description="Per-label AUROC, average precision, sensitivity and specificity at the "
                    "model card's thresholds and expected calibration error, each with a 95%% "
                    "bootstrap CI over patients.")
    p.add_argument("--model", default=None,
                   help="bundled model name, model.json path or run folder (default: bundled)")
    p.add_argument("--data", action="append", required=True, metavar="SPEC",
                   help="dataset spec KIND:PATH[?k=v] (see radlens train classifier --help)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--plots", metavar="DIR", help="write roc.png and reliability.png here")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.set_defaults(func=run)


def format_table(result: dict[str, Any]) -> str:
    """The human-readable table of an evaluation result."""
    lines = [f"model {result['model']} on {', '.join(result['data'])}: "
             f"{result['n_images']} images, {result['n_patients']} patients"
             + (f", {result['n_skipped']} unreadable skipped" if result["n_skipped"] else "")]
    for label, m in result["metrics"].items():
        lines.append(f"{label}  (n={m['n']}, positives={m['n_pos']}, "
                     f"patients={m['n_patients']})")
        for key, name in _ROWS:
            e = m[key]
            lines.append(f"  {name:<12} {e['value']:.4f}  [{e['ci_low']:.4f}, "
                         f"{e['ci_high']:.4f}]")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print a table (or JSON)."""
    from radlens.errors import ModelError
    from radlens.models import registry
    from radlens.models.evaluation import evaluate

    model = args.model or registry.default_model("classify")
    if model is None:
        raise ModelError("no bundled classifier; pass --model")
    result = evaluate(model, args.data, plots=args.plots, n_boot=args.n_boot)
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return 0
