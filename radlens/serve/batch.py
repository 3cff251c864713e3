"""Resumable batch runs: interpret every image of a folder or CSV into a `ResultStore`.

`list_items` turns the input into items (a stable `key` plus the file path), `select_shard`
keeps one shard of them, and `run_batch` interprets the items the store does not already hold,
in parallel worker processes, writing each result in its own transaction as it arrives. Because
nothing is recorded until an item's result is complete, a run killed at any moment loses only
the items in flight, and rerunning the same command carries on where it stopped.

A worker that dies while reading a file (a crash or the out-of-memory killer) breaks the pool;
the pool is restarted and the items that were in flight are retried one at a time, so the file
at fault is recorded as failed and the others are not blamed.

Each worker decodes its files in a killable child process of its own
(`radlens.io.isolated.DecodeWorker`): a decode past `decode_timeout` seconds, or needing more
than `decode_memory_mb` MB, is stopped there and the item is recorded as failed with a message
naming the file and the limit ("decode took longer than N s"); the worker itself goes on.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from radlens.errors import DataError, InputError, RadlensError
from radlens.io.isolated import DEFAULT_MEMORY_MB, DecodeWorker, isolation_available
from radlens.serve.store import ResultStore

log = logging.getLogger(__name__)

#: File name endings a folder scan picks up (case-insensitive) unless `all_files` is set.
#: Default wall-clock seconds one file may take to decode in a batch worker.
DEFAULT_DECODE_TIMEOUT_S = 120.0

IMAGE_SUFFIXES = (".dcm", ".dicom", ".dic", ".png", ".jpg", ".jpeg", ".jpe", ".tif", ".tiff",
                  ".nii", ".nii.gz")


@dataclass(frozen=True)
class BatchItem:
    """One input: `key` identifies it in the store (stable across reruns and machines), `path`
    is the file to read."""

    key: str
    path: str


@dataclass(frozen=True)
class BatchSummary:
    """What a run did: items newly `done` / `failed`, `skipped` (already in the store), `total`
    items of the (shard of the) input, and `seconds` of wall time."""

    done: int
    failed: int
    skipped: int
    total: int
    seconds: float


def _scan_folder(root: Path, all_files: bool) -> list[BatchItem]:
    items: list[BatchItem] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            if not all_files and not name.lower().endswith(IMAGE_SUFFIXES):
                continue
            full = Path(dirpath) / name
            items.append(BatchItem(full.relative_to(root).as_posix(), os.path.abspath(full)))
    return items


def _read_csv(path: Path) -> list[BatchItem]:
    try:
        # surrogateescape: a path that is not valid UTF-8 keeps its bytes (an export's CSV)
        with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as fh:
            rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read the CSV of paths ({exc})", path) from exc
    if not rows:
        raise DataError("the CSV of paths is empty", path)
    header = [c.strip().lower() for c in rows[0]]
    column = header.index("path") if "path" in header else 0
    body = rows[1:] if "path" in header else rows
    items: list[BatchItem] = []
    seen: set[str] = set()
    for n, row in enumerate(body, start=2 if "path" in header else 1):
        if column >= len(row) or not row[column].strip():
            raise DataError(f"row {n} has no path", path)
        key = row[column].strip()
        if key in seen:
            continue
        seen.add(key)
        full = Path(key) if Path(key).is_absolute() else path.parent / key
        items.append(BatchItem(key, os.path.abspath(full)))
    return items


def list_items(source: str | os.PathLike[str], *, all_files: bool = False) -> list[BatchItem]:
    """The items of a batch input, in a stable order.

    `source`: a folder (scanned recursively for files ending in `IMAGE_SUFFIXES`, or every
    non-hidden file with `all_files`; keys are paths relative to the folder, with ``/``) or a
    ``.csv`` file (a ``path`` column, or the first column when no header names one; relative
    paths are relative to the CSV's folder; the key is the path as written). Duplicate keys are
    dropped. `InputError` / `DataError` when the input cannot be used.
    """
    p = Path(source)
    if p.is_dir():
        return _scan_folder(p, all_files)
    if not p.exists():
        raise InputError("no such folder or CSV file", p)
    if p.suffix.lower() != ".csv":
        raise InputError("batch input must be a folder or a .csv file of paths", p)
    return _read_csv(p)


def shard_of(key: str, count: int) -> int:
    """The shard (0..count-1) an item key belongs to: SHA-256 of the key modulo `count`, so
    every machine computes the same split without coordination."""
    raw = key.encode("utf-8", "surrogateescape")  # names need not be valid UTF-8
    return int.from_bytes(hashlib.sha256(raw).digest()[:8], "big") % count


def select_shard(items: Sequence[BatchItem], index: int, count: int) -> list[BatchItem]:
    """The items of shard `index` of `count` (0 <= index < count); `DataError` otherwise."""
    if count < 1 or not 0 <= index < count:
        raise DataError(f"shard index must be in 0..count-1 (got index {index}, "
                        f"count {count})")
    if count == 1:
        return list(items)
    return [it for it in items if shard_of(it.key, count) == index]


# -- worker side ---------------------------------------------------------------------------------
_Outcome = tuple[str, str, str, str, str, float]  # key, path, status, payload, error_type, secs


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:  # the batch process is gone (killed): stop working
            os._exit(1)


#: This process's decode settings (seconds, MB; 0 s: decode in this process) and its worker.
_decode_limits: tuple[float, int] = (0.0, 0)
_decoder: DecodeWorker | None = None


def set_decode_limits(timeout_s: float | None, memory_mb: int) -> None:
    """How `interpret_item` decodes in this process: in a killable child with a deadline of
    `timeout_s` seconds and a memory cap of `memory_mb` MB (0: none), or, when
    `timeout_s` is 0 or None (or isolation is unavailable), in this process. Stops the
    previous child, if any."""
    global _decode_limits, _decoder
    if _decoder is not None:
        _decoder.close()
        _decoder = None
    _decode_limits = (float(timeout_s or 0.0), max(0, int(memory_mb)))


def _decode(path: str) -> Any:
    """`path` decoded under this process's decode limits: an `Image`, or `path` itself when
    decoding is left to the reader in this process."""
    global _decoder
    timeout_s, memory_mb = _decode_limits
    if timeout_s <= 0 or not isolation_available():
        return path
    if _decoder is None:
        _decoder = DecodeWorker(timeout_s, memory_mb)
    return _decoder.load(path)


def _init_worker(parent: int, threads: int, decode_timeout: float | None = None,
                 decode_memory_mb: int = 0) -> None:
    """Worker start-up: limit math threads, set the decode limits and exit when the parent
    process disappears."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)  # read by torch / BLAS when they are first imported
    set_decode_limits(decode_timeout, decode_memory_mb)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def interpret_item(key: str, path: str, model: str | None, explain: bool) -> _Outcome:
    """Interpret one file; never raises for a bad file (the error becomes a failed outcome).

    The file is decoded under this process's decode limits (`set_decode_limits`)."""
    from radlens.pipeline import read
    from radlens.schema_json import to_json

    start = time.perf_counter()
    try:
        interp = read(_decode(path), model=model, explain=explain)
        payload = to_json(interp)
    except RadlensError as exc:
        return key, path, "failed", exc.one_line(), type(exc).__name__, time.perf_counter() - start
    except Exception as exc:  # a bug or an unexpected library error: record it, keep going
        log.exception("unexpected error on item %s", key)
        message = " ".join(f"{path}: {exc}".split())
        return key, path, "failed", message, f"internal:{type(exc).__name__}", \
            time.perf_counter() - start
    return key, path, "done", payload, "", time.perf_counter() - start


# -- parent side -------------------------------------------------------------------------------
def resolved_model_name(model: str | None) -> str:
    """The model name a run records in its store: `model`, else the bundled default, else
    ``"none"``."""
    if model:
        return model
    if importlib.util.find_spec("radlens.models.registry") is not None:
        from radlens.models.registry import default_model

        return default_model("classify") or "none"
    return "none"


def _check_store_model(store: ResultStore, model_name: str) -> None:
    recorded = store.get_meta("model")
    if recorded is None:
        store.set_meta("model", model_name)
    elif recorded != model_name:
        raise DataError(f"this store holds results of model {recorded!r}, not {model_name!r}: "
                        "use a new --store (or the same --model)", store.path)


def _save(store: ResultStore, outcome: _Outcome) -> bool:
    key, path, status, payload, error_type, secs = outcome
    if status == "done":
        store.record_done(key, path, payload, secs)
        return True
    store.record_failed(key, path, error_type, payload, secs)
    log.info("failed: %s", payload.encode("utf-8", "backslashreplace").decode())
    return False


def run_batch(items: Sequence[BatchItem], store: ResultStore, *, workers: int = 1,
              model: str | None = None, explain: bool = True, retry_failed: bool = False,
              threads_per_worker: int = 1, progress: bool = True,
              task: Callable[[str, str, str | None, bool], _Outcome] | None = None,
              item_timeout: float | None = None,
              decode_timeout: float | None = DEFAULT_DECODE_TIMEOUT_S,
              decode_memory_mb: int = DEFAULT_MEMORY_MB) -> BatchSummary:
    """Interpret the `items` that `store` does not hold yet, writing each result as it comes.

    `workers`: worker processes (0 runs everything in this process, for debugging).
    `retry_failed`: also redo items recorded as failed. `threads_per_worker`: math threads of
    each worker. `progress`: show a tqdm bar (rate, ETA) on stderr. `task`: the per-item
    function (default `interpret_item`; tests swap it). `item_timeout`: seconds one item may
    run in a worker (None: no limit; needs workers >= 1): on expiry the workers are restarted,
    the items in flight are retried one at a time, and an item that runs out of time alone is
    recorded as failed ("TimedOut") -- a hung decoder cannot stall the batch.
    `decode_timeout` (seconds; 0 or None: decode in the worker itself) and `decode_memory_mb`
    (MB; 0: no cap): each worker decodes its files in a killable child process under these
    limits, and a file over one is recorded as failed (`DecodeTimeoutError`,
    `DecodeMemoryError`) without restarting the worker. Returns a `BatchSummary`.
    Raises `DataError` when the store was made with another model, or when another batch
    process is running on it (the store's run lock, held for the length of the run).
    """
    from tqdm import tqdm

    fn = task or interpret_item

    start = time.perf_counter()
    store.run_lock()
    try:
        return _run_locked(items, store, fn, start, workers, model, explain, retry_failed,
                           threads_per_worker, progress, item_timeout, tqdm,
                           (decode_timeout, decode_memory_mb))
    finally:
        store.release_run_lock()


def _run_locked(items: Sequence[BatchItem], store: ResultStore,
                fn: Callable[[str, str, str | None, bool], _Outcome], start: float,
                workers: int, model: str | None, explain: bool, retry_failed: bool,
                threads_per_worker: int, progress: bool, item_timeout: float | None,
                tqdm: Any, decode: tuple[float | None, int]) -> BatchSummary:
    _check_store_model(store, resolved_model_name(model))
    finished = store.keys("done") if retry_failed else store.keys()
    pending = deque(it for it in items if it.key not in finished)
    skipped = len(items) - len(pending)
    counts = {"done": 0, "failed": 0}
    bar = tqdm(total=len(pending), unit="img", desc="batch", file=sys.stderr,
               disable=not progress, dynamic_ncols=True)

    def record(outcome: _Outcome) -> None:
        counts["done" if _save(store, outcome) else "failed"] += 1
        bar.update(1)
        bar.set_postfix(failed=counts["failed"], refresh=False)

    try:
        if workers <= 0:
            set_decode_limits(*decode)
            try:
                while pending:
                    it = pending.popleft()
                    record(fn(it.key, it.path, model, explain))
            finally:
                set_decode_limits(None, 0)  # stops this process's decode child
        else:
            _run_pool(pending, record, fn, workers, model, explain, threads_per_worker,
                      item_timeout, decode)
    finally:
        bar.close()
    return BatchSummary(counts["done"], counts["failed"], skipped, len(items),
                        time.perf_counter() - start)


_Record = Callable[[_Outcome], None]


def _new_pool(workers: int, threads: int,
              decode: tuple[float | None, int] = (None, 0)) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                               initializer=_init_worker,
                               initargs=(os.getpid(), threads, *decode))


def _kill_pool(pool: ProcessPoolExecutor) -> None:
    """Stop a pool whose workers may be hung: kill its processes, then shut it down."""
    for proc in list(getattr(pool, "_processes", {}).values()):  # no public API for this
        if proc.is_alive():
            proc.kill()
    pool.shutdown(wait=True, cancel_futures=True)


def _run_pool(pending: deque[BatchItem], record: _Record,
              fn: Callable[[str, str, str | None, bool], _Outcome], workers: int,
              model: str | None, explain: bool, threads: int,
              item_timeout: float | None = None,
              decode: tuple[float | None, int] = (None, 0)) -> None:
    suspects: deque[BatchItem] = deque()  # in flight when a worker died: retried one by one
    pool = _new_pool(workers, threads, decode)
    in_flight: dict[Future[_Outcome], BatchItem] = {}
    started: dict[Future[_Outcome], float] = {}  # when each future was first seen running
    try:
        solo = False  # True while a suspect runs alone, so the outcome is its own
        while pending or suspects or in_flight:
            if not (solo and in_flight):
                solo = bool(suspects)
                source = suspects if solo else pending
                while source and len(in_flight) < (1 if solo else 2 * workers):
                    it = source.popleft()
                    in_flight[pool.submit(fn, it.key, it.path, model, explain)] = it
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED,
                           timeout=None if item_timeout is None else min(1.0, item_timeout))
            broken: list[BatchItem] = []
            for fut in done:
                it = in_flight.pop(fut)
                started.pop(fut, None)
                try:
                    record(fut.result())
                except BrokenProcessPool:
                    broken.append(it)
            late = _overdue(in_flight, started, item_timeout)
            if late is None and not broken:
                continue
            # A worker hung (late) or died (broken): restart the pool. When the items lost
            # are a single suspect that ran alone, it is the culprit; otherwise every item
            # that was in flight is retried one at a time.
            lost = broken + list(in_flight.values())
            in_flight.clear()
            started.clear()
            _kill_pool(pool)
            pool = _new_pool(workers, threads, decode)
            if solo and len(lost) == 1:
                it = lost[0]
                if late is not None:
                    record((it.key, it.path, "failed", f"{it.path}: reading this file took "
                            f"longer than {item_timeout:g} s; stopped", "TimedOut", late))
                else:
                    record((it.key, it.path, "failed", f"{it.path}: the worker process died "
                            "while reading this file (crash or out of memory)",
                            "WorkerDied", 0.0))
            else:
                why = "an item ran past the time limit" if late is not None else \
                    "a worker process died"
                log.warning("%s; retrying %d items one at a time", why, len(lost))
                suspects.extend(lost)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _overdue(in_flight: dict[Future[_Outcome], BatchItem], started: dict[Future[_Outcome], float],
             item_timeout: float | None) -> float | None:
    """Seconds the longest-running future has run, when past `item_timeout`; else None.

    A future counts from when it is first seen running (handed to a worker's queue), so with
    several workers the figure may include a short wait behind another item; only an item
    that overruns alone is ever blamed."""
    if item_timeout is None:
        return None
    now = time.perf_counter()
    worst = 0.0
    for fut in in_flight:
        if fut.running():
            worst = max(worst, now - started.setdefault(fut, now))
    return worst if worst > item_timeout else None
