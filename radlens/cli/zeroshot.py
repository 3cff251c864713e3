"""``radlens zeroshot IMAGE --labels "pneumonia,pleural effusion"``: zero-shot finding scores."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``zeroshot`` to the CLI."""
    p = subparsers.add_parser(
        "zeroshot", help="score findings by comparing the image with text prompts",
        description="Zero-shot classification with the vision-language model: for each label, "
                    "the image is compared with '{label}' and 'no {label}' prompt sets and the "
                    "two similarities are turned into a probability (softmax). Scores are "
                    "relative, not calibrated.")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image file(s)")
    p.add_argument("--labels", required=True,
                   help="comma-separated finding names, e.g. 'pneumonia,pleural effusion'")
    p.add_argument("--model", default=None,
                   help="vision-language model: bundled name, model.json or run folder")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Score every image; one error line per unreadable image (exit 1 when any failed)."""
    from radlens.cli.main import error_line
    from radlens.errors import RadlensError
    from radlens.io import load_image
    from radlens.vlm.model import load
    from radlens.vlm.zeroshot import parse_labels, prompt_pairs, zeroshot_scores

    labels = parse_labels(args.labels)
    model = load(args.model)
    pairs = prompt_pairs(model, labels)
    results, failed = [], 0
    for path in args.images:
        try:
            pixels = load_image(path).pixels
        except RadlensError as exc:
            print(error_line(exc.one_line()), file=sys.stderr)
            failed += 1
            continue
        probs = zeroshot_scores(model, model.embed_pixels([pixels]), pairs)[0]
        results.append({"image": path, "probabilities": {lab: round(float(p), 4) for lab, p
                                                         in zip(labels, probs, strict=True)}})
    if args.json:
        print(json.dumps({"model": model.card["name"], "labels": labels,
                          "prompts": {p.label: {"positive": list(p.positive_prompts),
                                                "negative": list(p.negative_prompts)}
                                      for p in pairs},
                          "results": results}, indent=2))
    else:
        for r in results:
            print(r["image"])
            for lab, p in r["probabilities"].items():
                print(f"  {lab:<24} {p:.3f}")
    return 1 if failed else 0
