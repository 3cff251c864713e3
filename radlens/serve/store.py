"""The batch result store: one SQLite file (WAL mode), one row and one transaction per result.

Table ``items`` holds a row per finished item, keyed by the item's `key` (its path relative to
the batch input). A row is written in a single transaction only once its result is complete, so
a process killed at any moment (SIGKILL included) leaves either the whole row or nothing: the
store never holds a partial result. ``status`` is ``"done"`` (``result`` holds the
`Interpretation` JSON) or ``"failed"`` (``error_type`` and ``error`` say why).

Table ``meta`` records what the store was made with (the model name), so that a rerun with a
different model cannot silently mix results.

File names need not be valid UTF-8 (POSIX names are bytes; Python carries undecodable bytes as
lone surrogates). Text that UTF-8 can encode is stored as TEXT; other text (keys, paths, error
messages) is stored as a BLOB of its ``surrogateescape`` bytes and decoded back the same way, so
every name round-trips exactly.

`ResultStore.run_lock` takes an exclusive lock on a ``<store>.lock`` file beside the store for
the length of a batch run: a second batch process on the same store is refused at once
(`DataError`) instead of doing the same items again. The kernel drops the lock when its holder
exits, SIGKILL included, so a killed run never leaves the store locked.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from radlens.errors import DataError, InputError

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    key        TEXT PRIMARY KEY,
    path       TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    result     TEXT,
    error_type TEXT,
    error      TEXT,
    attempts   INTEGER NOT NULL DEFAULT 1,
    elapsed_s  REAL,
    updated    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def to_db(text: str | None) -> str | bytes | None:
    """`text` as SQLite stores it: itself when UTF-8 can encode it, else its
    ``surrogateescape`` bytes (a BLOB). `from_db` inverts it exactly."""
    if text is None:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")
    return text


def from_db(value: Any) -> Any:
    """The text `to_db` stored (bytes decode with ``surrogateescape``); other values as-is."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value


@dataclass(frozen=True)
class StoredItem:
    """One row of the store. `result` is the Interpretation JSON text (None when failed)."""

    key: str
    path: str
    status: str
    result: str | None
    error_type: str | None
    error: str | None
    attempts: int
    elapsed_s: float | None
    updated: str


class ResultStore:
    """A batch result store in one SQLite file; use as a context manager or call `close()`.

    `path`: the ``.sqlite`` file (created with its folder when missing). `readonly`: open an
    existing store for reading only (`InputError` when it does not exist).
    """

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly and not self.path.is_file():
            raise InputError("no such result store", self.path)
        try:
            if readonly:
                self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                self._db.execute("PRAGMA journal_mode=WAL")
                # NORMAL is crash-safe in WAL mode: a killed process never loses a commit.
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.executescript(SCHEMA)
            self._db.execute("SELECT count(*) FROM items").fetchone()
        except sqlite3.DatabaseError as exc:
            raise DataError(f"not a radlens result store ({exc})", self.path) from exc

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connection (and release the run lock, if held)."""
        self.release_run_lock()
        self._db.close()

    # -- run lock -----------------------------------------------------------------------------
    _lock_file: IO[str] | None = None

    def run_lock(self) -> None:
        """Take the store's exclusive run lock (see the module docstring), held until
        `release_run_lock` or `close`. `DataError` naming the store when another process holds
        it. Where the platform has no ``fcntl`` (Windows) this does nothing."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return
        if self._lock_file is not None:
            return
        lock_path = self.path.with_name(self.path.name + ".lock")
        fh = lock_path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise DataError(f"another batch run (pid {holder}) is using this store; wait for "
                            "it to finish, or give this run its own --store (or shard)",
                            self.path) from exc
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._lock_file = fh

    def release_run_lock(self) -> None:
        """Release the run lock if this store holds it."""
        if self._lock_file is not None:
            with contextlib.suppress(OSError):
                self._lock_file.close()  # closing the descriptor drops the flock
            self._lock_file = None

    # -- metadata -----------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        """The stored metadata value for `key`, or None."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Record a metadata value (one transaction)."""
        with self._transaction():
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                             (key, value))

    # -- items --------------------------------------------------------------------------------
    def keys(self, status: str | None = None) -> set[str]:
        """Keys of all stored items, or only of those with `status` ("done" / "failed")."""
        if status is None:
            rows = self._db.execute("SELECT key FROM items")
        else:
            rows = self._db.execute("SELECT key FROM items WHERE status = ?", (status,))
        return {from_db(r[0]) for r in rows}

    def get(self, key: str) -> StoredItem | None:
        """The stored row of `key`, or None when the store does not hold it."""
        row = self._db.execute(
            "SELECT key, path, status, result, error_type, error, attempts, elapsed_s, updated"
            " FROM items WHERE key = ?", (to_db(key),)).fetchone()
        return None if row is None else StoredItem(*(from_db(v) for v in row))

    def counts(self) -> dict[str, int]:
        """Number of items per status, e.g. ``{"done": 10, "failed": 2}``."""
        rows = self._db.execute("SELECT status, count(*) FROM items GROUP BY status")
        return {str(s): int(n) for s, n in rows}

    def record_done(self, key: str, path: str, result_json: str, elapsed_s: float) -> None:
        """Store a finished item's Interpretation JSON in one transaction (replaces a failure)."""
        self._record(key, path, "done", result_json, None, None, elapsed_s)

    def record_failed(self, key: str, path: str, error_type: str, error: str,
                      elapsed_s: float | None) -> None:
        """Store a failed item with its error type and one-line message, in one transaction."""
        self._record(key, path, "failed", None, error_type, error, elapsed_s)

    def _record(self, key: str, path: str, status: str, result: str | None,
                error_type: str | None, error: str | None, elapsed_s: float | None) -> None:
        now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        with self._transaction():
            self._db.execute(
                "INSERT INTO items (key, path, status, result, error_type, error, attempts,"
                " elapsed_s, updated) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)"
                " ON CONFLICT(key) DO UPDATE SET path=excluded.path, status=excluded.status,"
                " result=excluded.result, error_type=excluded.error_type, error=excluded.error,"
                " attempts=items.attempts + 1, elapsed_s=excluded.elapsed_s,"
                " updated=excluded.updated",
                (to_db(key), to_db(path), status, result, to_db(error_type), to_db(error),
                 elapsed_s, now))

    def items(self, status: str | None = None) -> Iterator[StoredItem]:
        """Iterate over stored items in key order (all, or those with `status`)."""
        sql = ("SELECT key, path, status, result, error_type, error, attempts, elapsed_s, updated"
               " FROM items")
        params: tuple[Any, ...] = ()
        if status is not None:
            sql += " WHERE status = ?"
            params = (status,)
        for row in self._db.execute(sql + " ORDER BY key", params):
            yield StoredItem(*(from_db(v) for v in row))

    def _transaction(self) -> _Tx:
        return _Tx(self._db)


class _Tx:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")


def summary_row(item: StoredItem) -> dict[str, Any]:
    """A flat dict for CSV export: item fields, plus ``p:<label>`` probabilities and the
    positive labels (``positive``, ``;``-separated) for done items."""
    row: dict[str, Any] = {"key": item.key, "path": item.path, "status": item.status,
                           "error_type": item.error_type or "", "error": item.error or "",
                           "attempts": item.attempts, "elapsed_s": item.elapsed_s,
                           "updated": item.updated}
    if item.result is not None:
        data = json.loads(item.result)
        row["id"] = data.get("id", "")
        findings = data.get("findings", [])
        row["positive"] = ";".join(f["label"] for f in findings if f.get("call") == "positive")
        for f in findings:
            row[f"p:{f['label']}"] = f["probability"]
        row["qc_warnings"] = ";".join(i["code"] for i in data.get("qc", {}).get("issues", [])
                                      if i.get("severity") == "warning")
    return row


def iter_stores(paths: Iterable[str | os.PathLike[str]]) -> Iterator[StoredItem]:
    """Items of several stores in turn (e.g. one store per shard), each opened read-only."""
    for p in paths:
        with ResultStore(p, readonly=True) as store:
            yield from store.items()
