"""Issue 14 figures: where positive findings' heat lies, guardrail warnings, added time.

Usage: python benchmarks/reading_trust.py [--n 30] [--threads 1] [--data-root DIR]

Populations (development data in ../shared/data): adult frontal (covid-cxr PA/AP, age from
metadata.csv), paediatric (pneumonia-kermany pneumonia films, no age in the files), lateral
(covid-cxr view L) and TB (tb-cxr tuberculosis films). Each image is read with the bundled models
(`radlens.read`); a QC-fatal image counts as refused. Prints per population: readings, refused,
positive findings (No Finding aside), the share whose heat lies mostly (> 50%) inside the
segmented lungs, the share of readings with a guardrail warning with the bundled card, and the
same share against the adult population the next card states (age 18-120, PA/AP; see
`radlens.tasks.guardrails`); then the median / p90 time of the guardrail and location steps
(`assess` with its header read, `locate_findings`), i.e. what this adds to `read`.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

ADULT = {"age_min": 18, "age_max": 120, "views": ["PA", "AP"], "sources": [], "description": ""}


def _populations(root: Path, n: int) -> dict[str, list[tuple[Path, float | None]]]:
    out: dict[str, list[tuple[Path, float | None]]] = {"adult frontal": [], "paediatric": [],
                                                       "lateral": [], "TB": []}
    with (root / "covid-cxr" / "metadata.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            path = root / "covid-cxr" / "images" / row["filename"]
            if not path.is_file():
                continue
            age = float(row["age"]) if row["age"].strip() else None
            key = "lateral" if row["view"].strip() == "L" else "adult frontal"
            if len(out[key]) < n:
                out[key].append((path, age))
    kermany = sorted((root / "pneumonia-kermany" / "train" / "PNEUMONIA").iterdir())
    out["paediatric"] = [(p, None) for p in kermany[:: max(1, len(kermany) // n)][:n]]
    with (root / "tb-cxr" / "labels.csv").open(newline="") as fh:
        tb = [r["image"] for r in csv.DictReader(fh) if r["tuberculosis"] == "1"]
    step = max(1, len(tb) // n)
    out["TB"] = [(root / "tb-cxr" / "images" / name, None) for name in tb[::step][:n]]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30, help="images per population")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-root")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from radlens.errors import QualityError
    from radlens.grounding.locate import locate_findings
    from radlens.paths import data_root
    from radlens.pipeline import read
    from radlens.tasks.guardrails import assess

    root = data_root(args.data_root)
    times: list[float] = []
    print(f"{'population':14s} {'n':>3s} {'refused':>7s} {'positives':>9s} {'heat in lungs':>13s} "
          f"{'warned (card)':>13s} {'warned (adult pop.)':>19s}")
    for name, items in _populations(root, args.n).items():
        refused = positives = inside = warned = warned_pop = read_ok = 0
        for path, age in items:
            try:
                interp = read(str(path), age=age)
            except QualityError:
                refused += 1
                continue
            read_ok += 1
            warned += bool(interp.warnings)
            for f in interp.findings:
                if f.call.value == "positive" and f.label != "No Finding":
                    positives += 1
                    loc = f.location
                    inside += bool(loc is not None and loc.in_lung is not None
                                   and loc.in_lung > 0.5)
            t0 = time.perf_counter()
            guard = assess(interp.image, interp.qc, ADULT, "adult-model", age)
            locate_findings(interp.findings, interp.regions, withheld=guard.lateral)
            times.append((time.perf_counter() - t0) * 1000)
            warned_pop += bool(guard.warnings or any(w.code == "location_not_determined"
                                                     for w in interp.warnings))
        share = f"{inside / positives:.2f} ({inside}/{positives})" if positives else "-"
        print(f"{name:14s} {len(items):3d} {refused:7d} {positives:9d} {share:>13s} "
              f"{warned / max(1, read_ok):13.2f} {warned_pop / max(1, read_ok):19.2f}")
    times.sort()
    print(f"guardrails + location: median {statistics.median(times):.2f} ms, "
          f"p90 {times[int(0.9 * (len(times) - 1))]:.2f} ms over {len(times)} readings")


if __name__ == "__main__":
    main()
