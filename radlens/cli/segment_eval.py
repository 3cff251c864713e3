"""``radlens evaluate-segmentation``, ``radlens train segmenter`` and ``train localiser``.

The ``train`` command itself lives in `radlens.cli.train`, which adds the ``segmenter`` and
``localiser`` targets defined here with `add_train_segmenter` / `add_train_localiser`.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``evaluate-segmentation`` (and ``train segmenter``) to the CLI."""
    p = subparsers.add_parser(
        "evaluate-segmentation", help="score lung segmentation (Dice, HD95, box IoU)",
        description="Score the lung segmenter against the development lung masks (both "
                    "annotation conventions) and lung boxes, next to a classical threshold-"
                    "and-morphology baseline, with 95% bootstrap CIs. By default only the "
                    "patients the model card says were held out are scored.")
    p.add_argument("--data", default=None,
                   help="covid-cxr folder (default: <data root>/covid-cxr)")
    p.add_argument("--model", default=None, help="segmenter name, model.json or run folder")
    p.add_argument("--all", action="store_true",
                   help="score every frontal image with a mask, not only held-out patients")
    p.add_argument("--no-baseline", action="store_true", help="skip the classical baseline")
    p.add_argument("--limit", type=int, default=0, help="score at most N images (0: all)")
    p.add_argument("--rows", action="store_true", help="include per-image rows in --json")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=run_evaluate)


def add_train_segmenter(sub: argparse._SubParsersAction) -> None:
    """Add the ``segmenter`` target to the subparsers of ``radlens train``."""
    c = sub.add_parser(
        "segmenter", help="train the lung segmenter",
        description="Train the lung segmentation U-Net on the covid-cxr lung masks. Patients "
                    "are split into --folds folds; --fold is held out. Starting again with the "
                    "same --out resumes. Writes model.safetensors + model.json into --out.")
    c.add_argument("--data", default=None,
                   help="covid-cxr folder (default: <data root>/covid-cxr)")
    c.add_argument("--out", required=True, help="run folder")
    c.add_argument("--size", type=int, default=256, help="input side (multiple of 32)")
    c.add_argument("--epochs", type=int, default=40, help="training epochs (default 40)")
    c.add_argument("--batch-size", type=int, default=12, help="images per step (default 12)")
    c.add_argument("--lr", type=float, default=2e-3, help="learning rate (default 2e-3)")
    c.add_argument("--folds", type=int, default=5,
                   help="patient-level folds; one is held out for validation (default 5)")
    c.add_argument("--fold", type=int, default=0,
                   help="which fold (0-based) is the validation fold (default 0)")
    c.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    c.add_argument("--max-minutes", type=float, default=0.0,
                   help="time budget: no epoch starts that would end after it (0: none)")
    c.add_argument("--threads", type=int, default=2,
                   help="torch threads (default 2)")
    c.add_argument("--no-augment", action="store_true", help="no training augmentation")
    c.add_argument("--name", default="radlens-lungs-lite0", help="model name in the card")
    c.add_argument("--json", action="store_true", help="print the run summary as JSON")
    c.set_defaults(func=run_train)


def add_train_localiser(sub: argparse._SubParsersAction) -> None:
    """Add the ``localiser`` target to the subparsers of ``radlens train``."""
    c = sub.add_parser(
        "localiser", help="train the learned finding localiser on expert boxes",
        description="Train the localisation head (frozen EfficientNet-Lite0 features) on a "
                    "folder with images/ and a COCO box file; writes model.safetensors + "
                    "model.json into --out.")
    c.add_argument("--data", default=None,
                   help="folder with images/ and the COCO file (default: <data root>/tbx11k-tb)")
    c.add_argument("--coco", default="tb-boxes.json",
                   help="COCO box file name in --data (default tb-boxes.json)")
    c.add_argument("--label", default="Tuberculosis", help="finding the boxes show")
    c.add_argument("--out", required=True, help="run folder")
    c.add_argument("--epochs", type=int, default=80, help="training epochs (default 80)")
    c.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    c.set_defaults(func=run_train_localiser)


def run_train_localiser(args: argparse.Namespace) -> int:
    """Train the localiser on every image of --data and print the card path."""
    from radlens.grounding.localisation import load_box_set
    from radlens.models.classifier import set_threads
    from radlens.paths import data_root
    from radlens.train.localiser import train_localiser

    set_threads(args.threads)
    samples = load_box_set(args.data or data_root() / "tbx11k-tb", args.coco)
    path = train_localiser(samples, args.out, args.label, args.epochs)
    print(f"model card: {path} ({len(samples)} images)")
    return 0


def _data(arg: str | None) -> str:
    from radlens.paths import data_root

    return arg or str(data_root() / "covid-cxr")


def run_train(args: argparse.Namespace) -> int:
    """Train and export; prints the card path and held-out Dice."""
    from radlens.errors import DataError
    from radlens.train.segmenter import SegmenterConfig, train_segmenter

    if args.size % 32 or args.size < 64:
        raise DataError(f"--size must be a multiple of 32 and >= 64, got {args.size}")
    if not 0 <= args.fold < args.folds:
        raise DataError(f"--fold must be in 0..{args.folds - 1}")
    cfg = SegmenterConfig(data=_data(args.data), out=args.out, size=args.size,
                          epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                          folds=args.folds, fold=args.fold, seed=args.seed,
                          max_minutes=args.max_minutes, threads=args.threads,
                          augment=not args.no_augment, name=args.name)
    card_path = train_segmenter(cfg, progress=True)
    card = json.loads(card_path.read_text())
    summary = {"card": str(card_path), "epochs": card["training"]["epochs_run"],
               "minutes": card["training"]["train_minutes"],
               "held_out_dice": card["validation"]["dice_at_input_size"]}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"model card: {summary['card']} ({summary['minutes']} min, "
              f"{summary['epochs']} epochs)")
        for name, value in summary["held_out_dice"].items():
            print(f"  {name}: held-out Dice {value:.4f} (at input size)")
    return 0


def held_out_samples(data: str, model: str | None, every: bool) -> list[Any]:
    """The samples to score: all, or the held-out patients recorded in the model's card."""
    from radlens.grounding.data import load_mask_set, split
    from radlens.models.segmenter import load_segmenter

    samples = load_mask_set(data)
    if every:
        return samples
    cfg = load_segmenter(model).card["training"]["config"]
    return split(samples, int(cfg["folds"]), int(cfg["fold"]), int(cfg["seed"]))[1]


def format_summary(summary: dict[str, Any]) -> str:
    """Human-readable table of `radlens.grounding.evaluate.summarise` output."""
    lines = []
    for key, agg in summary.items():
        parts = []
        for metric, est in agg.items():
            if "mean" not in est:
                if est.get("n"):
                    parts.append(f"{metric} {est['n']}")
                continue
            parts.append(f"{metric} {est['mean']:.3f} [{est['ci_low']:.3f}, "
                         f"{est['ci_high']:.3f}]")
        lines.append(f"{key} (n={agg['dice']['n']}): " + "; ".join(parts))
    return "\n".join(lines)


def _finite(obj: Any) -> Any:
    """JSON-safe copy: non-finite floats (HD95 of a missed lung) become null."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def run_evaluate(args: argparse.Namespace) -> int:
    """Score and print (text or JSON)."""
    from radlens.grounding.evaluate import evaluate

    samples = held_out_samples(_data(args.data), args.model, args.all)
    if args.limit:
        samples = samples[: args.limit]
    result = evaluate(samples, args.model, baseline=not args.no_baseline, progress=True)
    if not args.rows:
        result.pop("rows")
    if args.json:
        print(json.dumps(_finite(result), indent=2))
    else:
        print(f"{result['n_images']} images, {result['n_patients']} patients")
        print(format_summary(result["summary"]))
    return 0
