"""TB localisation: the learned localiser against four reference pointers, in one run.

Patient-level 5-fold cross-validation on the TBX11K TB images of the shared data (every image
is TB-positive; the localiser and the location prior are rebuilt from the training folds for
each held-out fold). Systems: image centre, a random point inside the segmented lungs, the
training-set location prior (its single most likely point), Grad-CAM of the bundled classifier,
and the learned localiser. Prints pointing game, heat mass inside the boxes and box AP@0.3 /
AP@0.5 with 95% bootstrap CIs, and checks the target (localiser pointing >= 0.80).

    .venv/bin/python benchmarks/grounding_eval.py [--systems centre,prior,...] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from radlens.cli.ground_eval import format_grounding
from radlens.grounding.ground_eval import SYSTEMS, evaluate_grounding
from radlens.grounding.localisation import load_box_set
from radlens.models.classifier import set_threads
from radlens.paths import data_root

TARGET_POINTING = 0.80


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--model", default=None, help="classifier for cam (default: bundled)")
    ap.add_argument("--segmenter", default=None, help="segmenter for random-lung")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (1 on a busy CPU)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    root = data_root() / "tbx11k-tb"
    if not (root / "tb-boxes.json").is_file():
        sys.exit(f"no TB boxes under {root} (set RADLENS_DATA)")
    set_threads(args.threads)
    samples = load_box_set(root)
    t0 = time.time()
    result = evaluate_grounding(samples, [s for s in args.systems.split(",") if s],
                                args.folds, model=args.model, segmenter=args.segmenter)
    result["seconds"] = round(time.time() - t0, 1)
    loc = result["summary"].get("localiser")
    if loc:
        result["target_pointing>=0.80"] = loc["pointing"]["mean"] >= TARGET_POINTING
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"grounding_eval: {result['n_images']} TB images, {args.folds}-fold patient CV, "
          f"{result['seconds']} s")
    print(format_grounding(result["summary"]))
    if loc:
        ok = result["target_pointing>=0.80"]
        print(f"target localiser pointing >= {TARGET_POINTING}: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
