"""Subgroup figures (sex, age band) of the adult recipe from its cross-validation predictions.

    .venv/bin/python benchmarks/classifier_subgroups.py --oof RUN/oof.npz \
        [--card radlens/weights/radlens-cxr-adult-lite0.json]

Reads the out-of-fold probabilities written by ``classifier_cv.py`` (every film predicted by a
model that never saw its patient), joins each film's metadata (age, sex) from the same
harmonised data, and computes `radlens.metrics.subgroups.subgroup_figures` on the adult films:
per label AUROC, AP, ECE and sensitivity/specificity at the card's youden and sens95
thresholds, with patient-bootstrap CIs, per sex and per age band, and the largest gap between
groups. Hannover withholds age and the TB sets give neither age nor sex, so those films fall in
``unknown``. With ``--card`` the block is written into the card under ``subgroups``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from radlens.data import spec as data_spec
from radlens.data.samples import harmonise
from radlens.metrics.subgroups import json_safe, subgroup_figures
from radlens.paths import data_root

SETS = ("nih-cxr14", "tb-cxr", "covid-hannover", "covid-cxr", "pneumonia-kermany/train")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--oof", required=True, help="oof.npz from classifier_cv.py")
    ap.add_argument("--card", default=None, help="model card to record the block in")
    ap.add_argument("--data", default=None)
    ap.add_argument("--n-boot", type=int, default=300)
    ap.add_argument("--folds", default="all 5 folds",
                    help="which CV folds the predictions cover (recorded in the card)")
    args = ap.parse_args()
    z = np.load(args.oof, allow_pickle=False)
    names = [str(n) for n in z["names"]]
    root = Path(args.data) if args.data else data_root()
    data = harmonise([data_spec.load(str(root / s)) for s in SETS], names)
    by_path = {s.path: s for s in data.samples}
    cache = [s for s in data.samples if s.path in by_path]
    if len(cache) != len(z["probs"]):
        raise SystemExit(f"{args.oof}: {len(z['probs'])} rows, the data has {len(cache)}")
    meta = [dict(s.meta) for s in cache]
    keep = z["tested"] & np.asarray([m.get("population") == "adult" for m in meta])
    card = json.loads(Path(args.card).read_text()) if args.card else None
    thresholds = {n: {"threshold_youden": card["thresholds"][n]["youden"],
                      "threshold_sens95": card["thresholds"][n]["sens95"]}
                  if card else {"threshold_youden": 0.5, "threshold_sens95": 0.5}
                  for n in names}
    idx = np.flatnonzero(keep)
    block = subgroup_figures(z["probs"][idx], z["labels"][idx], z["mask"][idx],
                             [str(p) for p in z["patients"][idx]], [meta[i] for i in idx],
                             names, thresholds, n_boot=args.n_boot)
    block["population"] = (f"adult films, out-of-fold predictions ({args.folds}) of the "
                           "patient-level cross-validation (benchmarks/classifier_cv.py); "
                           "sensitivity/specificity at the card's youden and sens95 thresholds")
    for factor, entry in block["by"].items():
        print(f"{factor}: " + ", ".join(f"{g} {v['n_images']}" for g, v in
                                        entry["groups"].items()))
        for label, gap in entry["largest_gap"].items():
            a = gap["auroc"]
            if a.get("gap") is None:
                continue
            print(f"  {label:20s} AUROC gap {a['gap']:.3f}: {a['high']['group']} "
                  f"{a['high']['value']:.3f} vs {a['low']['group']} {a['low']['value']:.3f}"
                  f"{'' if a['ci_overlap'] else ' (CIs do not overlap)'}")
    if card is not None and args.card:
        card["subgroups"] = json_safe(block)
        Path(args.card).write_text(json.dumps(card, indent=2, allow_nan=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
