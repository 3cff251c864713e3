"""Lung segmentation accuracy: the bundled segmenter vs the classical threshold baseline.

Scores both systems in one run on the development lung masks (covid-cxr, frontal views) of
the patients the model card says were held out from training (default) or on every image
(``--all``, optimistic: includes training patients). Prints, per system and mask convention,
mean Dice (per image: mean of both lungs), per-lung Dice and HD95 (original pixels), and lung
box IoU against ``lung-boxes.json``, with 95% bootstrap CIs over images, and checks the
targets (Dice >= 0.95, box IoU >= 0.85).

    .venv/bin/python benchmarks/segmentation_eval.py [--model NAME] [--all] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from radlens.cli.segment_eval import _finite, format_summary, held_out_samples
from radlens.grounding.evaluate import evaluate
from radlens.paths import data_root

TARGET_DICE = 0.95
TARGET_BOX_IOU = 0.85


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--all", action="store_true", help="every image, not only held-out ones")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    data = data_root() / "covid-cxr"
    if not (data / "metadata.csv").is_file():
        sys.exit(f"no lung-mask data under {data} (set RADLENS_DATA)")
    samples = held_out_samples(str(data), args.model, args.all)
    t0 = time.time()
    result = evaluate(samples, args.model, baseline=True, progress=True)
    result.pop("rows")
    result["seconds"] = round(time.time() - t0, 1)
    s = result["summary"]
    full = s.get("radlens/full", {})
    result["targets"] = {
        "dice_full>=0.95": full.get("dice", {}).get("mean", 0) >= TARGET_DICE,
        "box_iou>=0.85": full.get("box_iou", {}).get("mean", 0) >= TARGET_BOX_IOU}
    if args.json:
        print(json.dumps(_finite(result), indent=2))
        return 0
    scope = "all images" if args.all else "held-out patients"
    print(f"segmentation_eval: {result['n_images']} images, {result['n_patients']} patients "
          f"({scope}), {result['seconds']} s")
    print(format_summary(s))
    for name, ok in result["targets"].items():
        print(f"target {name}: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
