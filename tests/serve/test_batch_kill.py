"""A real batch process is SIGKILLed mid-run; the store stays sound and a rerun completes it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from benchmarks.batch_kill import _rows as _done  # items recorded in a store so far
from radlens.schema import Interpretation
from radlens.schema_json import from_json
from tests.serve.conftest import write_png

N_IMAGES = 120


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_sigkill_then_resume(tmp_path: Path, chest_like: np.ndarray) -> None:
    folder = tmp_path / "in"
    big = np.kron(chest_like, np.ones((2, 2)))  # 512 x 512: slow enough to be caught mid-run
    for i in range(N_IMAGES):
        write_png(folder / f"d{i % 4}" / f"img{i:03d}.png", np.roll(big, i, axis=1))
    db = tmp_path / "run.sqlite"
    cmd = [sys.executable, "-m", "radlens", "batch", str(folder), "--store", str(db),
           "-j", "2", "--no-progress", "--no-explain"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while _done(db) < 5 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # the batch process only: workers must notice and stop
    proc.wait(timeout=10)
    at_kill = _done(db)
    assert 5 <= at_kill < N_IMAGES, f"kill did not land mid-run ({at_kill} done)"
    deadline = time.monotonic() + 15
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    orphans = _group_alive(proc.pid)
    if orphans:
        os.killpg(proc.pid, signal.SIGKILL)
    assert not orphans, "worker processes outlived the killed batch process"

    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for (result,) in con.execute("SELECT result FROM items WHERE status = 'done'"):
        assert isinstance(from_json(result, Interpretation), Interpretation)  # no partial rows
    con.close()

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{at_kill} already in the store" in rerun.stderr
    con = sqlite3.connect(db)
    keys = [k for (k,) in con.execute("SELECT key FROM items WHERE status = 'done'")]
    assert len(keys) == len(set(keys)) == N_IMAGES
    con.close()


@pytest.mark.slow
def test_repeated_sigkills_record_every_file_exactly_once(tmp_path: Path) -> None:
    """The test-sized `benchmarks/batch_kill.py`: 3 SIGKILLs at random moments on a folder
    with bad files and non-UTF-8 names, restarts, a refused concurrent second process."""
    from benchmarks.batch_kill import BAD_NAMES, kill_and_resume, make_folder

    folder = tmp_path / "in"
    files = make_folder(folder, 24, side=128)
    report = kill_and_resume(folder, tmp_path / "k.sqlite", files, kills=3, workers=1,
                             max_wait=0.3, seed=1)
    assert report.integrity == "ok" and report.rows == files == report.done + report.failed
    assert (report.lost, report.extra, report.written_twice, report.incomplete_results) == \
        (0, 0, 0, 0)
    assert report.bad_failed == len(BAD_NAMES) and report.orphans == 0
    assert report.second_refused and report.kills_mid_run >= 1
    assert report.ok
