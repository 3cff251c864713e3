"""``radlens evaluate``: per-label metrics with patient-bootstrap CIs for a model on a dataset.

``--by sex,age`` adds the same figures per subgroup and the largest gap between subgroups
(`radlens.metrics.subgroups`).
"""

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
                    "model card's thresholds and expected calibration error, each with a 95% "
                    "bootstrap CI over patients.")
    p.add_argument("--model", default=None,
                   help="bundled model name, model.json path or run folder (default: bundled)")
    p.add_argument("--data", action="append", required=True, metavar="SPEC",
                   help="dataset spec KIND:PATH[?k=v] (see radlens train classifier --help)")
    p.add_argument("--split", default=None,
                   help="medmnist data: the split to evaluate (train, val, test; default val)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--plots", metavar="DIR", help="write roc.png and reliability.png here")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--by", metavar="FACTORS",
                   help="also report per subgroup: sex (M, F, unknown), age (bands 0-17, "
                        "18-39, 40-64, 65+, unknown) or sex,age (each factor separately)")
    p.add_argument("--min-group-size", type=int, default=10, metavar="N",
                   help="subgroups with fewer known entries of a label get no figures for it "
                        "(default 10)")
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


def _num(x: Any) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def _estimate(e: dict[str, Any]) -> str:
    if e.get("value") is None:
        return "n/a"
    ci = "" if e.get("ci_low") is None else f"  [{_num(e['ci_low'])}, {_num(e['ci_high'])}]"
    return f"{_num(e['value'])}{ci}"


_GAP_NAMES = {"auroc": "AUROC", "sens_youden": "sens@youden", "spec_youden": "spec@youden",
              "sens_95": "sens@sens95", "spec_95": "spec@sens95"}


def format_subgroups(block: dict[str, Any]) -> str:
    """The human-readable table of a subgroups block: per factor, per group, per label AUROC
    with its CI (or why there is none), then the largest gap per label and figure."""
    lines: list[str] = []
    for factor, part in block["by"].items():
        lines.append(f"by {factor} (groups with < {block['min_samples']} known entries or one "
                     "class: no figures; gaps leave out 'unknown')")
        if part.get("n_unreadable"):
            lines.append(f"  {part['n_unreadable']} unreadable {factor} value(s) counted as "
                         "unknown")
        for group, g in part["groups"].items():
            lines.append(f"  {group:<8} {g['n_images']} images, {g['n_patients']} patients")
            for label, m in g["metrics"].items():
                tail = f"  ({m['note']})" if m.get("note") else ""
                lines.append(f"    {label:<22} AUROC {_estimate(m['auroc'])}  "
                             f"n={m['n']} pos={m['n_pos']}{tail}")
        lines.append(f"  largest gap by {factor}:")
        for label, gaps in part["largest_gap"].items():
            for gap in gaps.values():
                name = _GAP_NAMES.get(gap["metric"]) or gap["metric"].replace("_", "@", 1)
                if gap["gap"] is None:
                    lines.append(f"    {label:<22} {name:<12} n/a ({gap['note']})")
                    continue
                hi, lo = gap["high"], gap["low"]
                overlap = "" if gap["ci_overlap"] is None else (
                    "  CIs overlap" if gap["ci_overlap"] else "  CIs do not overlap")
                lines.append(f"    {label:<22} {name:<12} {gap['gap']:.4f}  ({hi['group']} "
                             f"{hi['value']:.4f} vs {lo['group']} {lo['value']:.4f}){overlap}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print a table (or JSON)."""
    from radlens.errors import DataError, ModelError
    from radlens.metrics.subgroups import json_safe
    from radlens.models import registry
    from radlens.models.evaluation import evaluate

    if args.min_group_size < 1:
        raise DataError("must be at least 1", "--min-group-size")
    from radlens.train.medmnist import is_medmnist

    if is_medmnist(args.data):
        return run_medmnist(args)
    model = args.model or registry.default_model("classify")
    if model is None:
        raise ModelError("no bundled classifier; pass --model")
    result = evaluate(model, args.data, plots=args.plots, n_boot=args.n_boot, by=args.by,
                      min_samples=args.min_group_size)
    if args.json:
        print(json.dumps(json_safe(result), indent=2, allow_nan=False))
        return 0
    print(format_table(result))
    if "subgroups" in result:
        print("\n" + format_subgroups(result["subgroups"]))
    return 0


def format_medmnist(result: dict[str, Any]) -> str:
    """The human-readable table of a MedMNIST evaluation."""
    m = result["metrics"]
    lines = [f"model {result['model']} on {result['dataset']} ({result['split']} split, "
             f"{result['n_images']} images, {result['task']}; class counts "
             f"{m['class_counts']})"]
    for key, name in (("auc", "AUC"), ("acc", "ACC"), ("qwk", "QWK"),
                      ("balanced_error", "bal. error")):
        if key in m:
            e = m[key]
            lines.append(f"  {name:<11} {e['value']:.4f}  [{e['ci_low']:.4f}, "
                         f"{e['ci_high']:.4f}]")
    return "\n".join(lines)


def run_medmnist(args: argparse.Namespace) -> int:
    """``radlens evaluate --model M --data medmnist:FILE.npz --split val``."""
    from radlens.errors import DataError, ModelError
    from radlens.metrics.subgroups import json_safe
    from radlens.models.medmnist_eval import evaluate

    if not args.model:
        raise ModelError("MedMNIST data needs --model (e.g. radlens-breastmnist)")
    if len(args.data) != 1:
        raise DataError("evaluate one medmnist:FILE.npz at a time", ", ".join(args.data))
    result = evaluate(args.model, args.data[0], args.split, n_boot=args.n_boot)
    if args.json:
        print(json.dumps(json_safe(result), indent=2, allow_nan=False))
    else:
        print(format_medmnist(result))
    return 0
