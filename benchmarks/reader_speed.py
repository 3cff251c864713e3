"""Whole-pipeline reading speed through `radlens.Reader` and `radlens batch`, against a plain
DenseNet-121 forward in the same run (issue 15).

Films: `--n` real development films of mixed size taken in turn from the COVID collection
(up to 1024 px, JPEG/PNG), TBX11K (512 px PNG), NIH ChestX-ray14 (512 px JPEG) and Kermany
(224 px JPEG) under the data root (RADLENS_DATA or ../shared/data), plus the full-size
`pydicom-data` radiograph RG1_UNCR.dcm (1841x1955, 15-bit) once. Figures printed:

1. ``Reader.read`` over the list (decode, QC, classify, Grad-CAM, segment, ground, report),
   images/s, models already loaded;
2. ``radlens batch`` over the same files (a CSV of paths, `--workers` processes, a fresh
   store in a temporary folder), images/s from the command's own wall time and from the
   process's start (with interpreter start and model loading);
3. the peer: plain PyTorch DenseNet-121 (`radlens.models.backbones.build("densenet121")`,
   random weights, 15 outputs) forward alone at 224 px in batches of `--batch`, images/s,
   and the ratio of 1 and 2 to it;
4. single-image latency through ``Reader.read`` on a 512-px film (median of `--repeats`);
5. ``Reader.predict`` on a (64, 1, S, S) batch vs the raw network forward on it (median of
   `--repeats`), and the overhead in percent.

    .venv/bin/python benchmarks/reader_speed.py [--n 200] [--workers 2] [--repeats 10]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from radlens.paths import data_root

SOURCES = (("covid-cxr/images", ("*.jpg", "*.jpeg", "*.png")),
           ("tbx11k-tb/images", ("*.png",)),
           ("nih-cxr14/images", ("*.jpg", "*.png")),
           ("pneumonia-kermany/train", ("*/*.jpeg", "*/*.jpg")))


def films(n: int) -> list[str]:
    """`n` film paths: the pydicom-data radiograph (when installed), then the sources in turn."""
    root = data_root()
    pools = []
    for folder, patterns in SOURCES:
        found = sorted(p for pat in patterns for p in (root / folder).glob(pat))
        if found:
            pools.append(found)
    if not pools:
        sys.exit(f"no development films under {root} (set RADLENS_DATA)")
    out: list[str] = []
    try:
        from pydicom.data import get_testdata_file

        dcm = get_testdata_file("RG1_UNCR.dcm", download=False)
        if dcm:
            out.append(str(dcm))
    except ImportError:
        pass
    k = 0
    while len(out) < n:
        pool = pools[k % len(pools)]
        out.append(str(pool[(k // len(pools)) % len(pool)]))
        k += 1
    return out[:n]


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of `fn` over `repeats` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def peer_rate(n: int, batch: int) -> float:
    """Images/s of a plain DenseNet-121 forward at 224 px over `n` images in batches."""
    from radlens.models import backbones

    net = backbones.build("densenet121", 15, in_channels=1, pretrained=False).eval()
    x = torch.rand(batch, 1, 224, 224)
    with torch.no_grad():
        net(x[:2])  # warm-up
        t = time.perf_counter()
        done = 0
        while done < n:
            k = min(batch, n - done)
            net(x[:k])
            done += k
    return n / (time.perf_counter() - t)


def batch_rate(paths: list[str], workers: int) -> tuple[float, float, dict[str, object]]:
    """(images/s by the command's own seconds, images/s from process start, its summary)."""
    tmp = Path(tempfile.mkdtemp(prefix="radlens-reader-bench-"))
    try:
        listing = tmp / "films.csv"
        with listing.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["path"])
            w.writerows([p] for p in paths)
        cmd = [sys.executable, "-m", "radlens", "batch", str(listing), "--store",
               str(tmp / "store.sqlite"), "-j", str(workers), "--no-progress", "--json"]
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t
        if proc.returncode not in (0, 1):
            sys.exit(f"radlens batch failed ({proc.returncode}): {proc.stderr[-2000:]}")
        summary: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
        seconds = float(summary["seconds"])  # type: ignore[arg-type]
        return len(paths) / seconds, len(paths) / wall, summary
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="films to read (default 200)")
    ap.add_argument("--workers", type=int, default=2,
                    help="radlens batch worker processes (default 2)")
    ap.add_argument("--batch", type=int, default=16,
                    help="Reader batch size and the peer's batch (default 16)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--repeats", type=int, default=10,
                    help="repeats of the latency and predict timings (default 10)")
    ap.add_argument("--skip-batch", action="store_true", help="do not time radlens batch")
    args = ap.parse_args()

    from radlens.models.classifier import preprocess, set_threads
    from radlens.reader import Reader, to_image
    from radlens.schema import ReadFailure

    set_threads(args.threads)
    paths = films(args.n)
    reader = Reader(batch_size=args.batch, workers=1)
    print(f"{len(paths)} films; torch threads {torch.get_num_threads()}; {reader}")

    reader.read(paths[:4])  # warm-up: caches, lazy imports
    t = time.perf_counter()
    out = reader.read(paths)
    read_secs = time.perf_counter() - t
    failed = [o for o in out if isinstance(o, ReadFailure)]
    read_ips = len(paths) / read_secs
    print(f"Reader.read: {read_ips:.1f} images/s ({read_secs:.1f} s, {len(failed)} failed)")
    for f in failed[:5]:
        print(f"  failed: {f.message}")

    peer = peer_rate(len(paths), args.batch)
    print(f"peer DenseNet-121 forward at 224 px (batch {args.batch}): {peer:.1f} images/s")
    print(f"Reader.read / peer: {read_ips / peer:.2f}x")

    if not args.skip_batch:
        own, total, summary = batch_rate(paths, args.workers)
        print(f"radlens batch -j {args.workers}: {own:.1f} images/s by its own clock, "
              f"{total:.1f} images/s from process start (done {summary['done']}, failed "
              f"{summary['failed']})")
        print(f"radlens batch / peer: {own / peer:.2f}x")

    film512 = next((p for p in paths if "tbx11k" in p or "nih-cxr14" in p), paths[0])
    image = to_image(film512)
    latency = median_seconds(lambda: reader.read(film512), args.repeats)
    print(f"single-image latency, {image.meta.width}x{image.meta.height} film "
          f"({Path(film512).name}): {latency * 1000:.0f} ms (median of {args.repeats})")

    x = torch.cat([preprocess(to_image(p).pixels, reader.size) for p in paths[:64]])
    if x.shape[0] < 64:
        x = x.repeat((64 + x.shape[0] - 1) // x.shape[0], 1, 1, 1)[:64]
    net = reader.classifier.network if reader.classifier is not None else None
    if net is None:
        sys.exit("no bundled classifier")

    def raw() -> object:
        with torch.no_grad():
            return net(x)

    t_pred = median_seconds(lambda: reader.predict(x), args.repeats)
    t_raw = median_seconds(raw, args.repeats)
    print(f"predict on (64, 1, {reader.size}, {reader.size}): {t_pred * 1000:.0f} ms; raw "
          f"forward {t_raw * 1000:.0f} ms; overhead {100 * (t_pred / t_raw - 1):+.1f}%")


if __name__ == "__main__":
    main()
