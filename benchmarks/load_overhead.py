"""load_image's overhead over a plain decode of the same real files, side by side in one run.

For each file, times the plain decode -- ``pydicom.dcmread(path).pixel_array`` for DICOM,
``np.asarray(PIL.Image.open(path))`` for PNG/JPEG -- and the guarded ``radlens.load_image``
(every decode budget, float32 [0, 1] conversion, metadata), alternately, `--repeat` times each,
and prints the medians, the ratio and the overhead. With ``--isolated`` it also times the same
file through a killable decode worker (`radlens.io.isolated.DecodeWorker`, as the server and
batch runs use it). Files: the 1955x1841 15-bit chest CR of pydicom-data, uncompressed (the
issue-19 target: overhead <= 20%) and JPEG 2000 lossless, then up to `--raster` real chest
PNG/JPEG films from RADLENS_DATA (../shared/data) when present.

    .venv/bin/python benchmarks/load_overhead.py [--repeat 15] [--raster 4] [--isolated]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image as PILImage
from pydicom.data import get_testdata_file

from radlens.io import load_image

TARGET = 0.20


def _plain(path: str) -> np.ndarray:
    if path.lower().endswith(".dcm"):
        return np.asarray(pydicom.dcmread(path).pixel_array)
    with PILImage.open(path) as im:
        return np.asarray(im)


def _median_ms(fn: Callable[[str], object], path: str, times: list[float]) -> None:
    start = time.perf_counter()
    fn(path)
    times.append((time.perf_counter() - start) * 1e3)


def _raster_files(count: int) -> list[str]:
    root = Path(os.environ.get("RADLENS_DATA", Path(__file__).resolve().parents[1].parent
                               / "shared" / "data"))
    found: list[str] = []
    for pattern in ("nih-cxr14/images/*.jpg", "pneumonia-kermany/train/NORMAL/*.jpeg",
                    "covid-cxr/images/*.png"):
        found += [str(p) for p in sorted(root.glob(pattern))[:max(1, count // 3)]]
    return found[:count]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--raster", type=int, default=3, help="real PNG/JPEG films to add")
    ap.add_argument("--isolated", action="store_true", help="also time a decode worker")
    args = ap.parse_args()
    files = [str(get_testdata_file(n)) for n in ("RG1_UNCR.dcm", "RG1_J2KR.dcm")]
    files += _raster_files(args.raster)
    worker = None
    if args.isolated:
        from radlens.io.isolated import DecodeWorker

        worker = DecodeWorker(timeout_s=60)
    head = f"{'file':28s} {'pixels':>9s} {'plain ms':>9s} {'radlens ms':>10s} {'ratio':>6s} " \
           f"{'overhead':>8s}"
    print(head + (f" {'worker ms':>9s}" if worker else ""))
    verdict = ""
    try:
        for path in files:
            plain, ours, iso = [], [], []
            img = load_image(path)  # warm caches and lazy imports for both
            _plain(path)
            if worker is not None:
                worker.load(path)
            for _ in range(args.repeat):
                _median_ms(_plain, path, plain)
                _median_ms(load_image, path, ours)
                if worker is not None:
                    _median_ms(worker.load, path, iso)
            a, b = statistics.median(plain), statistics.median(ours)
            line = (f"{Path(path).name[:28]:28s} {img.pixels.size:9,d} {a:9.1f} {b:10.1f} "
                    f"{b / a:6.2f} {b / a - 1:8.0%}")
            if worker is not None:
                line += f" {statistics.median(iso):9.1f}"
            print(line)
            if Path(path).name == "RG1_UNCR.dcm":
                verdict = (f"RG1_UNCR overhead {b / a - 1:.0%} (target <= {TARGET:.0%}): "
                           f"{'met' if b / a - 1 <= TARGET else 'not met'}")
    finally:
        if worker is not None:
            worker.close()
    from radlens.io.dicom import _conversion_threads

    print(f"{verdict}; radlens converted with {_conversion_threads()} thread(s) "
          "(OMP_NUM_THREADS sets it)")


if __name__ == "__main__":
    main()
