"""How often a reading withholds sides and zones as lateral, on laterals and on frontal films.

    .venv/bin/python benchmarks/lateral_guard.py [--data ROOT] [--frontals 200] [--json]

Reads every COVID-collection lateral (view L in metadata.csv) and a seeded random sample of
adult frontal films (COVID-collection PA/AP, NIH ChestX-ray14, tb-cxr) through `radlens.Reader`
with the bundled models, and counts the readings that carry the ``lateral_view`` warning, split
by which rule fired: QC's image rule (``probable_lateral``), the DICOM ViewPosition, or the lung
rule on out-of-distribution films (`radlens.tasks.guardrails.lungs_look_lateral`). Prints the
share per group with a 95% Wilson interval.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from radlens import Reader
from radlens.paths import data_root
from radlens.schema import Interpretation


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of k successes in n trials."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def covid(root: Path, lateral: bool) -> list[Path]:
    """COVID-collection films, lateral (view L) or frontal (PA/AP)."""
    meta = root / "covid-cxr" / "metadata.csv"
    if not meta.is_file():
        return []
    with meta.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    views = {"L"} if lateral else {"PA", "AP", "AP SUPINE"}
    paths = [root / "covid-cxr" / r["folder"] / r["filename"] for r in rows
             if r.get("view", "").strip().upper() in views]
    return [p for p in paths if p.is_file()]


def column(path: Path, name: str) -> list[str]:
    """One column of a CSV file ([] when the file is missing)."""
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        return [r[name] for r in csv.DictReader(fh)]


def why(interp: Interpretation) -> str | None:
    """Which rule made the reading lateral, or None when it is not."""
    if not any(w.code == "lateral_view" for w in interp.warnings):
        return None
    if any(i.code == "probable_lateral" for i in interp.qc.issues):
        return "qc"
    if any(w.code == "lateral_view" and w.field for w in interp.warnings):
        return "dicom"
    return "lungs"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None,
                    help="data root (default RADLENS_DATA or ../shared/data)")
    ap.add_argument("--frontals", type=int, default=200, help="frontal films to sample")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    root = Path(args.data) if args.data else data_root()
    rng = random.Random(args.seed)
    frontal = covid(root, lateral=False)
    frontal += [root / "nih-cxr14" / "images" / n
                for n in column(root / "nih-cxr14" / "labels.csv", "image")]
    frontal += [root / "tb-cxr" / "images" / n
                for n in column(root / "tb-cxr" / "labels.csv", "image")]
    rng.shuffle(frontal)
    groups = {"COVID-collection laterals": covid(root, lateral=True),
              "adult frontal films (COVID, NIH, tb-cxr)": frontal[:args.frontals]}
    reader = Reader()
    out: dict[str, Any] = {}
    for name, paths in groups.items():
        counts = {"qc": 0, "dicom": 0, "lungs": 0}
        n = 0
        for res in tqdm(reader.iter_read(paths), total=len(paths), desc=name[:24],
                        unit="img", file=sys.stderr):
            if not isinstance(res, Interpretation):
                continue
            n += 1
            rule = why(res)
            if rule is not None:
                counts[rule] += 1
        k = sum(counts.values())
        out[name] = {"n": n, "lateral": k, "share": k / n if n else math.nan,
                     "ci95": wilson(k, n), "by_rule": counts}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{'group':42s} {'n':>4s} {'lateral':>8s} {'share [95% CI]':>22s}  by rule")
    for name, r in out.items():
        lo, hi = r["ci95"]
        print(f"{name:42s} {r['n']:4d} {r['lateral']:8d} {r['share']:8.3f} [{lo:.3f}, {hi:.3f}]"
              f"  qc {r['by_rule']['qc']}, dicom {r['by_rule']['dicom']}, "
              f"lungs {r['by_rule']['lungs']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
