"""Killable decode workers: same images as `load_image`, deadline, memory cap, crash, pool."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from radlens.errors import DecodeError, ImageTooLargeError, UnsupportedFormatError
from radlens.io import load_image
from radlens.io.isolated import (
    DecodeMemoryError,
    DecodePool,
    DecodeTimeoutError,
    DecodeWorker,
    isolation_available,
)
from tests.io.factories import write_dicom

pytestmark = pytest.mark.skipif(not isolation_available(), reason="needs POSIX")


def _png(path: Path, pixels: np.ndarray) -> Path:
    PILImage.fromarray(pixels).save(path)
    return path


@pytest.fixture(scope="module")
def worker() -> Iterator[DecodeWorker]:
    w = DecodeWorker(timeout_s=30, memory_mb=0)
    yield w
    w.close()


def test_worker_returns_what_load_image_returns(worker: DecodeWorker, tmp_path: Path,
                                                chest_like: np.ndarray) -> None:
    png = _png(tmp_path / "a.png", (chest_like * 255).astype(np.uint8))
    dcm = write_dicom(tmp_path / "b.dcm", (chest_like * 4000).astype(np.uint16),
                      bits_stored=12, PixelSpacing=[0.2, 0.2], PatientAge="045Y")
    for path in (png, dcm):
        got, want = worker.load(path), load_image(path)
        assert got.pixels.dtype == np.float32 and got.pixels.flags.writeable
        assert got == want  # pixels bit-identical, metadata equal (tuples included)


def test_worker_errors_are_load_image_errors_naming_the_file(worker: DecodeWorker,
                                                             tmp_path: Path) -> None:
    bad = tmp_path / "not-an-image.png"
    bad.write_bytes(b"\x00" * 500)
    with pytest.raises(UnsupportedFormatError, match=r"not-an-image\.png: not an image"):
        worker.load(bad)
    name = tmp_path / "caf\udce9.png"  # not valid UTF-8: the name survives the round trip
    _png(Path(os.fsdecode(os.fsencode(name))), np.full((64, 64), 9, np.uint8))
    assert worker.load(name).meta.source == str(name)


def test_deadline_kills_the_decode_and_the_worker_recovers(tmp_path: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (3000, 3000, 3), dtype=np.uint8)
    big = _png(tmp_path / "slow.png", noise)
    small = _png(tmp_path / "ok.png", np.full((64, 64), 50, np.uint8))
    with DecodeWorker(timeout_s=0.02, memory_mb=0) as w:
        w.start()
        first = w.pid
        start = time.monotonic()
        with pytest.raises(DecodeTimeoutError,
                           match=r"slow\.png: decode took longer than 0\.02 s"):
            w.load(big)
        assert time.monotonic() - start < 5  # killed at the deadline, not after the decode
        assert w.pid != first  # a fresh child, started at once
        w.timeout_s = 30
        assert w.load(small).pixels.shape == (64, 64)


def test_memory_cap_gives_a_clear_error_and_a_fresh_child(tmp_path: Path) -> None:
    wide = _png(tmp_path / "wide.png", np.zeros((10000, 10000), np.uint8))  # tiny file, 100 M px
    small = _png(tmp_path / "ok.png", np.full((64, 64), 50, np.uint8))
    with DecodeWorker(timeout_s=60, memory_mb=300) as w:
        first = w.pid
        with pytest.raises(DecodeMemoryError, match=r"wide\.png: .*needs more than 300 MB"):
            w.load(wide)  # ~0.5 GB to decode and convert
        assert isinstance(DecodeMemoryError("x"), ImageTooLargeError)  # API: 413
        assert w.pid != first
        assert w.load(small).pixels.shape == (64, 64)


def test_address_space_reserved_but_untouched_is_not_refused(tmp_path: Path) -> None:
    """Where resident memory is watched (Linux), a decoder that reserves more address space
    than the cap without touching it still decodes (the cap is on memory actually used)."""
    from radlens.io.isolated import resident_mb

    if resident_mb(os.getpid()) is None:
        pytest.skip("resident memory is not watched on this platform")
    small = _png(tmp_path / "ok.png", np.full((300, 300), 50, np.uint8))
    with DecodeWorker(timeout_s=60, memory_mb=300) as w:
        w.start()
        w.load(small)
        assert w.pid is not None
        import resource

        # the child may reserve up to 4x the cap: what counts is what it touches
        assert resource.prlimit(w.pid, resource.RLIMIT_AS)[0] == 4 * 300 * 2**20
        assert (resident_mb(w.pid) or 0) < 300


def test_a_child_that_dies_is_a_decode_error_and_is_replaced(tmp_path: Path) -> None:
    noise = np.random.default_rng(1).integers(0, 256, (3000, 3000, 3), dtype=np.uint8)
    big = _png(tmp_path / "crash.png", noise)
    with DecodeWorker(timeout_s=60, memory_mb=0) as w:
        w.start()
        w.load(_png(tmp_path / "warm.png", np.zeros((8, 8), np.uint8)))
        pid = w.pid
        assert pid is not None

        def kill_when_busy() -> None:
            while not w.busy:
                time.sleep(0.001)
            time.sleep(0.05)
            os.kill(pid, signal.SIGKILL)

        t = threading.Thread(target=kill_when_busy)
        t.start()
        with pytest.raises(DecodeError, match=r"crash\.png: the decoder process was killed "
                                              r"by SIGKILL"):
            w.load(big)
        t.join()
        assert w.load(tmp_path / "warm.png").pixels.shape == (8, 8)


def test_pool_serves_threads_and_stops_its_children(tmp_path: Path,
                                                    chest_like: np.ndarray) -> None:
    paths = [_png(tmp_path / f"p{i}.png", (np.roll(chest_like, i) * 255).astype(np.uint8))
             for i in range(6)]
    pool = DecodePool(size=2, timeout_s=30, memory_mb=0)
    results: dict[int, float] = {}

    def run(i: int) -> None:
        results[i] = float(pool.load(paths[i]).pixels.mean())

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6
    pids = [w.pid for w in pool._workers if w.pid is not None]
    assert pids
    pool.close()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_pool_without_a_deadline_decodes_in_process(tmp_path: Path) -> None:
    pool = DecodePool(size=2, timeout_s=0)
    assert not pool.isolated
    assert pool.load(_png(tmp_path / "a.png", np.zeros((8, 8), np.uint8))).pixels.shape == (8, 8)


def test_fuzz_attacks_through_a_worker_match_in_process(tmp_path: Path) -> None:
    """The fuzz benchmark's structural attacks (bombs, header lies, odd VRs) give the same
    outcome through a decode worker as in process, and the worker survives all of them."""
    from benchmarks.fuzz_inputs import cases, check

    with DecodeWorker(timeout_s=30) as w:
        n = 0
        for case in cases(0, seed=0):  # the attacks only
            path = tmp_path / f"case{case.suffix}"
            path.write_bytes(case.data)
            here, there = check(path), check(path, w.load)
            assert there == here, case.cid
            assert there[1] is None, (case.cid, there)
            n += 1
        assert n >= 40


def test_child_exits_when_its_parent_is_killed() -> None:
    import subprocess
    import sys

    code = ("import sys, time\n"
            "from radlens.io.isolated import DecodeWorker\n"
            "w = DecodeWorker(timeout_s=5)\n"
            "w.start()\n"
            "print(w.pid, flush=True)\n"
            "time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(child, signal.SIGKILL)
    pytest.fail("the decode child outlived its parent")
