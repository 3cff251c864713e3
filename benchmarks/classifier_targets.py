"""Issue-13 target figures of a classifier on the validation patients of its own run.

    .venv/bin/python benchmarks/classifier_targets.py [--model radlens-cxr-adult-lite0]

The validation patients (recomputed from the card's training config) were never trained on,
but the card's temperatures and thresholds were fitted on them, so the figures that depend on
a threshold (calls, sensitivity, F1) are optimistic; the threshold-free ones (AUROC) are not.
Out-of-fold figures with thresholds fitted on a separate part are ``classifier_cv.py``'s.
Paediatric films are called at the card's paediatric thresholds, the others at the adult ones.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from adult_targets import lines, targets
from classifier_shortcuts import logits_of, validation_split

from radlens.models import registry


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--data", default=None)
    ap.add_argument("--cache-dir", default="/tmp/radlens-cache")
    ap.add_argument("--n-boot", type=int, default=500)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    loaded = registry.load(str(args.model or registry.default_model("classify")))
    split, val = validation_split(loaded, args.data, args.cache_dir)
    logits, _ = logits_of(loaded.network, split.images[val].astype(np.float32) / 255)
    probs = 1 / (1 + np.exp(-logits / loaded.temperatures))
    names = list(loaded.labels)
    calls = np.zeros_like(probs)
    for r, i in enumerate(val):
        pop = "paediatric" if split.meta[i].get("population") == "paediatric" else None
        thr = np.array([loaded.threshold(n, population=pop) for n in names])
        calls[r] = probs[r] >= thr
    res = targets(probs, calls, split.labels[val], split.mask[val], names,
                  [split.sources[i] for i in val], [split.patients[i] for i in val],
                  n_boot=args.n_boot)
    if args.json:
        print(json.dumps(res, indent=2, default=float))
        return 0
    print(f"{loaded.info.name} on its validation patients ({len(val)} films)")
    print("\n".join(lines(res)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
