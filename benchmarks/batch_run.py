"""Batch throughput over N images, and the kill-at-random-points resume check.

Makes N PNGs by resizing copies of shared-data radiographs (pneumonia-kermany, 224 px) to
`--side` px into a temporary folder OUTSIDE the repository (deleted afterwards), then:

1. times one `radlens batch` run over all of them (images/s, `--workers` processes);
2. runs again on a fresh store, SIGKILLing the whole process group at a random moment
   `--kills` times (each after a random 1.5 s to
   min(`--max-wait`, 90% of the expected remaining time)), resumes to completion, and checks
   that the store holds every image exactly once, all done, and passes SQLite's integrity check.

    .venv/bin/python benchmarks/batch_run.py [--n 2000] [--workers 2] [--kills 5]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image as PILImage

from radlens.paths import data_root


def make_images(n: int, side: int, out: Path) -> None:
    """Write `n` resized copies of shared-data images into `out` (10 subfolders)."""
    src = sorted((data_root() / "pneumonia-kermany" / "train").rglob("*.jp*g"))
    if not src:
        sys.exit(f"no source images under {data_root()} (set RADLENS_DATA)")
    for i in range(n):
        target = out / f"part{i % 10}" / f"img{i:05d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        with PILImage.open(src[i % len(src)]) as im:
            im.convert("L").resize((side, side), PILImage.Resampling.BILINEAR).save(target)


def command(folder: Path, store: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "radlens", "batch", str(folder), "--store", str(store),
            "-j", str(workers), "--no-progress", "--json"]


def count(store: Path) -> tuple[int, int, int]:
    """(rows, distinct keys, done rows) of a store."""
    con = sqlite3.connect(store)
    try:
        return con.execute("SELECT count(*), count(DISTINCT key), "
                           "sum(status = 'done') FROM items").fetchone()
    finally:
        con.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--side", type=int, default=512)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--max-wait", type=float, default=8.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="radlens-batch-bench-"))
    try:
        folder = tmp / "images"
        t = time.perf_counter()
        make_images(args.n, args.side, folder)
        print(f"made {args.n} {args.side}x{args.side} PNGs in {time.perf_counter() - t:.1f} s")
        store = tmp / "full.sqlite"
        t = time.perf_counter()
        subprocess.run(command(folder, store, args.workers), check=True,
                       stdout=subprocess.DEVNULL)
        secs = time.perf_counter() - t
        print(f"full run: {args.n} images in {secs:.1f} s = {args.n / secs:.1f} images/s "
              f"({args.workers} workers, including start-up); store {count(store)}")
        rng = random.Random(args.seed)
        store = tmp / "killed.sqlite"
        for k in range(args.kills):
            proc = subprocess.Popen(command(folder, store, args.workers),
                                    start_new_session=True, stdout=subprocess.DEVNULL)
            rows = count(store)[0] if store.exists() else 0
            left = 2.0 + (args.n - rows) / (args.n / secs)  # start-up + expected remaining time
            time.sleep(rng.uniform(1.5, max(2.0, min(args.max_wait, 0.9 * left))))
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rows = count(store)[0] if store.exists() else 0
            print(f"kill {k + 1}: store holds {rows} rows (mid-run: {rows < args.n})")
        subprocess.run(command(folder, store, args.workers), check=True,
                       stdout=subprocess.DEVNULL)
        rows, keys, done = count(store)
        con = sqlite3.connect(store)
        ok = con.execute("PRAGMA integrity_check").fetchone()[0]
        con.close()
        exact = rows == keys == done == args.n
        print(f"after {args.kills} kills and a resume: {rows} rows, {keys} distinct, {done} "
              f"done, integrity {ok}: every image exactly once = {exact}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
