"""Lung segmentation + zoning time per image on this CPU (2 threads), next to the baseline.

Times, per image already loaded in memory, `radlens.tasks.segment.segment_lungs` followed by
`lung_regions` (boxes and the six zones), and the classical threshold baseline in the same run,
over N development images of their original sizes (covid-cxr, up to 1024 px). Prints the median
and 90th percentile in milliseconds and checks the target (median <= 40 ms).

    .venv/bin/python benchmarks/segmentation_speed.py [--n 40] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from radlens.grounding.baseline import threshold_lungs
from radlens.io import load_image
from radlens.paths import data_root
from radlens.tasks.segment import lung_regions, segment_lungs

TARGET_MS = 40.0


def timed(fn: object, images: list, repeat: int) -> list[float]:
    out = []
    for img in images:
        best = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            fn(img)  # type: ignore[operator]
            best = min(best, time.perf_counter() - t)
        out.append(best * 1000)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3, help="best of R runs per image")
    args = ap.parse_args()
    folder = data_root() / "covid-cxr" / "images"
    paths = sorted(folder.glob("*"))[:: max(1, 277 // args.n)][: args.n]
    if not paths:
        sys.exit(f"no images under {folder} (set RADLENS_DATA)")
    images = [load_image(p) for p in paths]
    segment_lungs(images[0])  # load the model once

    def ours(img: object) -> None:
        lung_regions(segment_lungs(img))  # type: ignore[arg-type]

    def baseline(img: object) -> None:
        threshold_lungs(img.pixels)  # type: ignore[attr-defined]

    by_area = sorted(images, key=lambda i: i.meta.width * i.meta.height)
    sizes = [f"{i.meta.width}x{i.meta.height}" for i in (by_area[0], by_area[-1])]
    print(f"segmentation_speed: {len(images)} images ({sizes[0]} .. {sizes[1]}), "
          f"best of {args.repeat}, {torch.get_num_threads()} torch thread(s)")
    for name, fn in (("radlens segment+zones", ours), ("threshold baseline", baseline)):
        ms = sorted(timed(fn, images, args.repeat))
        p90 = ms[int(0.9 * (len(ms) - 1))]
        print(f"{name}: median {statistics.median(ms):.1f} ms, p90 {p90:.1f} ms")
        if name.startswith("radlens"):
            ok = statistics.median(ms) <= TARGET_MS
            print(f"target median <= {TARGET_MS:.0f} ms: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
