"""Calibration figures for the image-based QC heuristics (lateral view, inverted photometry).

Reads the COVID-collection images (frontal PA/AP vs lateral L, by metadata.csv) and a sample of
Kermany images from the shared data, computes `symmetry_score` and `mediastinum_contrast` on each
image and on its inverted copy, and prints how often each QC rule fires per group.

    .venv/bin/python benchmarks/qc_heuristics.py [--data-root PATH] [--kermany 300]
"""

from __future__ import annotations

import argparse
import csv
import random

import numpy as np

from radlens.io import load_image
from radlens.io.qc import mediastinum_contrast, rules, symmetry_score
from radlens.paths import data_root


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-root")
    ap.add_argument("--kermany", type=int, default=300)
    args = ap.parse_args()
    root = data_root(args.data_root)
    groups: dict[str, list] = {"covid frontal": [], "covid lateral": [], "kermany frontal": []}
    with (root / "covid-cxr" / "metadata.csv").open(encoding="utf-8", errors="replace") as fh:
        for row in csv.DictReader(fh):
            path = root / "covid-cxr" / "images" / row["filename"]
            if not path.is_file():
                continue
            key = "covid lateral" if row["view"].strip() == "L" else "covid frontal"
            groups[key].append(path)
    kermany = sorted((root / "pneumonia-kermany" / "train").rglob("*.jpeg"))
    random.Random(0).shuffle(kermany)
    groups["kermany frontal"] = kermany[: args.kermany]
    r = rules()
    lo, hi = r["inverted_contrast_below"], r["lateral_contrast_below"]
    print(f"rules: {lo} <= contrast < {hi} -> probable_lateral; contrast < {lo} -> "
          "suspected_inverted (symmetry is shown for reference)")
    print(f"{'group':18s} {'n':>4s} {'sym median':>10s} {'lateral flag':>12s} "
          f"{'contrast med':>12s} {'inverted flag':>13s} {'flag on inverted copy':>21s}")
    for name, paths in groups.items():
        sym, con, con_inv = [], [], []
        for p in paths:
            px = load_image(p).pixels
            sym.append(symmetry_score(px))
            con.append(mediastinum_contrast(px))
            con_inv.append(mediastinum_contrast(1.0 - px))
        s, c, ci = np.array(sym), np.array(con), np.array(con_inv)
        print(f"{name:18s} {len(paths):4d} {np.median(s):10.3f} "
              f"{np.mean((c >= lo) & (c < hi)):12.1%} {np.median(c):12.3f} "
              f"{np.mean(c < lo):13.1%} {np.mean(ci < lo):21.1%}")


if __name__ == "__main__":
    main()
