"""load_image speed against plain pydicom decoding on the same file, in one run.

For the 1955x1841 15-bit chest CR from pydicom-data (uncompressed and JPEG 2000 lossless), times
``pydicom.dcmread(path).pixel_array`` and ``radlens.load_image(path)`` alternately, `--repeat`
times each, and prints the medians and radlens's overhead beyond decoding as a ratio.

    .venv/bin/python benchmarks/io_speed.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import statistics
import time

import pydicom
from pydicom.data import get_testdata_file

from radlens.io import load_image


def _time(fn, path: str) -> float:
    start = time.perf_counter()
    fn(path)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    print(f"{'file':16s} {'pydicom ms':>10s} {'radlens ms':>10s} {'ratio':>6s} {'overhead':>8s}")
    for name in ("RG1_UNCR.dcm", "RG1_J2KR.dcm"):
        path = str(get_testdata_file(name))
        plain, ours = [], []
        load_image(path)  # warm caches and lazy imports for both
        pydicom.dcmread(path).pixel_array  # noqa: B018
        for _ in range(args.repeat):
            plain.append(_time(lambda p: pydicom.dcmread(p).pixel_array, path))
            ours.append(_time(load_image, path))
        a, b = statistics.median(plain), statistics.median(ours)
        print(f"{name:16s} {a * 1e3:10.1f} {b * 1e3:10.1f} {b / a:6.2f} {b / a - 1:8.0%}")


if __name__ == "__main__":
    main()
