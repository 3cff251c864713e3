"""SIGKILL a real `radlens batch` run at random moments, restart it, check every file is read once.

Makes a folder OUTSIDE the repository (a temporary one, deleted afterwards) with `--n` good
chest-like PNGs, a few bad files (garbage, truncated PNG, empty) and names that are not valid
UTF-8 (good and bad), then `--kills` times: starts ``radlens batch FOLDER --store S``, waits
until it has recorded at least one new item plus a random 0..`--max-wait` s, and SIGKILLs the
batch process (only it: its workers and their decode children must notice and exit; any left
after 15 s are counted as orphans and killed); while the store's run lock is held, a second
batch process on it must be refused. A last run completes the folder. Then it checks the
store: SQLite integrity, one row per file listed (nothing lost, nothing extra), every row
written once (``attempts`` = 1: no item recorded twice), every done row a complete
Interpretation, good files done and bad files failed. Prints the figure.

    .venv/bin/python benchmarks/batch_kill.py [--n 200] [--kills 5] [--workers 2] [--seed 0]
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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

BAD_NAMES = (b"garbage.png", b"truncated.png", b"empty.png", b"bad-\xe9\xff.png")
GOOD_ODD_NAMES = (b"caf\xe9-film.png", b"\xff\xfe-film.png")


@dataclass(frozen=True)
class KillReport:
    """What a kill-and-resume run found. Counts are files; `seconds` wall time."""

    files: int
    kills: int
    kills_mid_run: int
    rows: int
    lost: int
    extra: int
    written_twice: int
    done: int
    failed: int
    bad_failed: int
    incomplete_results: int
    orphans: int
    second_refused: bool
    integrity: str
    seconds: float

    @property
    def ok(self) -> bool:
        """True when every file was recorded exactly once and nothing else went wrong."""
        return (self.rows == self.files and self.lost == self.extra == self.written_twice
                == self.incomplete_results == self.orphans == 0 and self.integrity == "ok"
                and self.bad_failed == len(BAD_NAMES) and self.second_refused
                and self.done + self.failed == self.files)


def make_folder(root: Path, n: int, side: int = 256, seed: int = 0) -> int:
    """Write `n` good PNGs (in 4 subfolders), the good odd-named ones and the bad files into
    `root`; returns the number of files."""
    y, x = np.mgrid[0:side, 0:side] / (side - 1)
    base = 0.75 - 0.45 * (np.exp(-(((x - 0.28) / 0.12) ** 2 + ((y - 0.5) / 0.25) ** 2))
                          + np.exp(-(((x - 0.72) / 0.12) ** 2 + ((y - 0.5) / 0.25) ** 2)))
    rng = np.random.default_rng(seed)
    for i in range(n):
        img = np.clip(np.roll(base, i, axis=1) + rng.normal(0, 0.02, base.shape), 0, 1)
        target = root / f"d{i % 4}" / f"img{i:05d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        PILImage.fromarray((img * 255).astype(np.uint8)).save(target)
    raw = os.fsencode(root)
    good = (root / "d0" / "img00000.png").read_bytes()
    for name in GOOD_ODD_NAMES:
        with open(raw + b"/" + name, "wb") as fh:
            fh.write(good)
    contents = (rng.bytes(4000), good[: len(good) // 3], b"", b"not a png")
    for name, data in zip(BAD_NAMES, contents, strict=True):
        with open(raw + b"/" + name, "wb") as fh:
            fh.write(data)
    return n + len(GOOD_ODD_NAMES) + len(BAD_NAMES)


def _rows(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(db, timeout=5)
        try:
            return int(con.execute("SELECT count(*) FROM items").fetchone()[0])
        finally:
            con.close()
    except sqlite3.OperationalError:  # not created yet, or busy
        return 0


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _command(folder: Path, db: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "radlens", "batch", os.fsdecode(folder), "--store", str(db),
            "-j", str(workers), "--no-progress", "--no-explain"]


def second_run_refused(cmd: list[str], db: Path, timeout: float) -> bool:
    """Whether a batch run on `db` is refused while another holder has the store's run lock.
    The lock is held from this process (as a running batch holds it), so the check does not
    depend on how long the first run takes compared with the second one's start-up."""
    from radlens.serve.store import ResultStore

    with ResultStore(db) as store:
        store.run_lock()
        second = subprocess.run(cmd, capture_output=True, timeout=timeout)
    return second.returncode != 0 and b"another batch run" in second.stderr


def kill_and_resume(folder: Path, db: Path, files: int, kills: int = 5, workers: int = 2,
                    max_wait: float = 3.0, seed: int = 0, start_timeout: float = 300.0
                    ) -> KillReport:
    """Run the batch over `folder` into store `db`, SIGKILLing it `kills` times at random
    moments and restarting it, checks that a second process is refused while the store's run
    lock is held (`second_run_refused`), then finishes the run and checks the store.
    `max_wait`: most seconds waited after a run's first new item before its kill. Returns a
    `KillReport`."""
    rng = random.Random(seed)
    cmd = _command(folder, db, workers)
    start = time.monotonic()
    orphans = mid_run = 0
    for _ in range(kills):
        before = _rows(db)
        proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + start_timeout
        while _rows(db) <= before and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, max_wait))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)  # the batch process only
            mid_run += 1
        proc.wait(timeout=30)
        wait_until = time.monotonic() + 15
        while _group_alive(proc.pid) and time.monotonic() < wait_until:
            time.sleep(0.1)
        if _group_alive(proc.pid):
            orphans += 1
            os.killpg(proc.pid, signal.SIGKILL)
    refused = second_run_refused(cmd, db, start_timeout)
    last = subprocess.run(cmd, capture_output=True, timeout=max(600.0, 5.0 * files))
    if last.returncode not in (0, 1):  # 1: some files failed, as the bad ones must
        raise RuntimeError(f"the final batch run failed: {last.stderr.decode()[-500:]}")
    seconds = time.monotonic() - start
    return check_store(db, folder, files, kills, mid_run, orphans, refused, seconds)


def check_store(db: Path, folder: Path, files: int, kills: int, mid_run: int, orphans: int,
                refused: bool, seconds: float) -> KillReport:
    """Compare the store `db` with the files of `folder` (see `KillReport`)."""
    from radlens.schema import Interpretation
    from radlens.schema_json import from_json
    from radlens.serve.batch import list_items
    from radlens.serve.store import from_db

    keys = {os.fsencode(it.key) for it in list_items(folder)}
    con = sqlite3.connect(db)
    try:
        integrity = str(con.execute("PRAGMA integrity_check").fetchone()[0])
        rows = [(os.fsencode(from_db(k)), s, r, a) for k, s, r, a in
                con.execute("SELECT key, status, result, attempts FROM items")]
    finally:
        con.close()
    stored = {k for k, _, _, _ in rows}
    incomplete = 0
    for _, status, result, _ in rows:
        if status == "done":
            try:
                from_json(result, Interpretation)
            except Exception:
                incomplete += 1
    bad = {name for name in BAD_NAMES}
    return KillReport(
        files=files, kills=kills, kills_mid_run=mid_run, rows=len(rows),
        lost=len(keys - stored), extra=len(stored - keys),
        written_twice=sum(1 for _, _, _, a in rows if a != 1),
        done=sum(1 for _, s, _, _ in rows if s == "done"),
        failed=sum(1 for _, s, _, _ in rows if s == "failed"),
        bad_failed=sum(1 for k, s, _, _ in rows if s == "failed" and k in bad),
        incomplete_results=incomplete, orphans=orphans, second_refused=refused,
        integrity=integrity, seconds=seconds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="good PNGs (plus 6 odd and bad files)")
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-wait", type=float, default=3.0,
                    help="most seconds after a run's first new item before its kill")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="radlens-batch-kill-"))
    try:
        folder = tmp / "in"
        files = make_folder(folder, args.n, seed=args.seed)
        r = kill_and_resume(folder, tmp / "run.sqlite", files, args.kills, args.workers,
                            args.max_wait, args.seed)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{r.files} files ({args.n} good PNGs, {len(GOOD_ODD_NAMES)} good and 1 bad with "
          f"non-UTF-8 names, {len(BAD_NAMES) - 1} other bad), {r.kills} SIGKILLs "
          f"({r.kills_mid_run} mid-run), -j {args.workers}, {r.seconds:.0f} s")
    print(f"recorded once: {r.rows - r.written_twice}/{r.files}; lost {r.lost}, extra {r.extra}, "
          f"written twice {r.written_twice}, incomplete results {r.incomplete_results}")
    print(f"done {r.done}, failed {r.failed} (bad files failed {r.bad_failed}/{len(BAD_NAMES)}); "
          f"orphan process groups {r.orphans}; concurrent second process refused: "
          f"{r.second_refused}; SQLite integrity {r.integrity}")
    print("PASS" if r.ok else "FAIL")
    sys.exit(0 if r.ok else 1)


if __name__ == "__main__":
    main()
