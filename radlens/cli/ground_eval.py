"""``radlens evaluate-grounding``: finding localisation against expert boxes (COCO)."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``evaluate-grounding`` to the CLI."""
    p = subparsers.add_parser(
        "evaluate-grounding", help="score finding localisation against expert boxes",
        description="Pointing game, heat mass inside the boxes and box AP@0.3/0.5 (95% "
                    "bootstrap CIs), patient-level cross-validated, for the reference "
                    "pointers (image centre, random point in the lungs, training-set location "
                    "prior), the classifier's Grad-CAM and the learned localiser (trained "
                    "per fold on the other folds' boxes), in one run.")
    p.add_argument("--data", default=None,
                   help="folder with images/ and the COCO file (default: <data root>/tbx11k-tb)")
    p.add_argument("--coco", default="tb-boxes.json", help="COCO box file name in --data")
    p.add_argument("--systems", default="centre,random-lung,prior,cam,localiser",
                   help="comma-separated systems to score")
    p.add_argument("--folds", type=int, default=5,
                   help="cross-validation folds by patient (default 5)")
    p.add_argument("--model", default=None, help="classifier for the cam system")
    p.add_argument("--segmenter", default=None, help="segmenter for random-lung")
    p.add_argument("--limit", type=int, default=0, help="score at most N images (0: all)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=run)


def format_grounding(summary: dict[str, dict[str, dict[str, float]]]) -> str:
    """One line per system: each metric as mean [95% CI]."""
    lines = []
    for name, entry in summary.items():
        parts = [f"{k} {v['mean']:.3f} [{v['ci_low']:.3f}, {v['ci_high']:.3f}]"
                 for k, v in entry.items()]
        lines.append(f"{name}: " + "; ".join(parts))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Score and print (text or JSON)."""
    from radlens.errors import DataError
    from radlens.grounding.ground_eval import SYSTEMS, evaluate_grounding
    from radlens.grounding.localisation import load_box_set
    from radlens.paths import data_root

    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        raise DataError(f"unknown system(s) {', '.join(unknown)}; choose from "
                        f"{', '.join(SYSTEMS)}")
    samples = load_box_set(args.data or data_root() / "tbx11k-tb", args.coco)
    if args.limit:
        samples = samples[: args.limit]
    result = evaluate_grounding(samples, systems, args.folds, model=args.model,
                                segmenter=args.segmenter)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['n_images']} images, {result['folds']}-fold patient CV")
        print(format_grounding(result["summary"]))
    return 0
