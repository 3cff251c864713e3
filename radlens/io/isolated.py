"""Decoding untrusted files in a child process that can be killed: `DecodeWorker`, `DecodePool`.

`radlens.load_image` decodes in the calling process: the fast path for files you trust. The
decode budgets of `radlens.io.budget` refuse what a file's headers announce, but a decoder can
still be slow or greedy in ways no header tells; a server or a batch run reading files from
strangers therefore asks a worker instead. A `DecodeWorker` owns one child process
(``python -m radlens.io._decode_child``, started with `subprocess`, so it is spawn-safe and
imports only `radlens.io`) that decodes one file at a time and hands back the `Image`:

- a **wall-clock deadline** per file (`timeout_s`): a decode still running then has its child
  killed (SIGKILL) and replaced, and the caller gets a `DecodeTimeoutError` naming the file
  ("decode took longer than N s, the decode time limit");
- a **memory cap** (`memory_mb`): on Linux the parent watches the child's resident memory
  (``/proc/PID/statm``, every `_POLL_S` seconds while it decodes) and kills it beyond the cap,
  and the child's address space is limited with ``resource.setrlimit(RLIMIT_AS)`` to
  `_AS_FACTOR` times the cap, a hard stop for runaway allocations between two looks (address
  space, not memory: decoders reserve more than they touch, so the looser bound avoids
  refusing files that fit). Elsewhere the address-space limit is the cap itself. Either way
  the caller gets a `DecodeMemoryError` naming the file ("needs more than N MB"), and the
  child is replaced, so no fragmented heap is reused;
- a child that crashes (a decoder segfault, the kernel's out-of-memory killer) is a
  `DecodeError` naming the file, and is replaced; the caller's process never goes down with it.

Messages between the processes are length-prefixed JSON (never pickle: a child that an exploit
took over cannot make its parent run code), followed by the float32 pixels as raw bytes, read
straight into the caller's array. The child also exits when its parent disappears.

`DecodePool` shares `size` workers between threads (one server thread per upload). Where the
platform has no ``fork``/``exec`` pipes and ``poll`` (Windows), isolation is not available and
both fall back to decoding in the calling process, with one warning.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import signal
import struct
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from radlens.errors import (
    DecodeError,
    ImageTooLargeError,
    InputError,
    RadlensError,
    UnsupportedFormatError,
)
from radlens.io import MAX_PIXELS, load_image
from radlens.schema import Image, ImageMeta

log = logging.getLogger(__name__)

#: Default wall-clock seconds one file may take to decode in a worker.
DEFAULT_TIMEOUT_S = 30.0
#: Default memory cap of a worker's child process in MB (the child itself takes ~0.1 GB; a
#: 100 M-pixel image needs ~0.8 GB of memory to decode).
DEFAULT_MEMORY_MB = 3072
#: Seconds a new child may take to start (import its decoders) before it is given up on.
START_TIMEOUT_S = 120.0
#: Seconds between two looks at a decoding child's resident memory (Linux).
_POLL_S = 0.02
#: Address-space limit of a child, as a multiple of the memory cap, where resident memory is
#: watched (Linux); elsewhere the address-space limit is the cap.
_AS_FACTOR = 4
#: Largest control message (JSON) accepted from a child, in bytes.
_MAX_MESSAGE = 1 << 20
#: Pixel bytes moved per read/write call.
_CHUNK = 1 << 22
_LEN = struct.Struct("<Q")
_ERRORS: dict[str, type[RadlensError]] = {
    c.__name__: c for c in (InputError, UnsupportedFormatError, DecodeError, ImageTooLargeError)}


class DecodeTimeoutError(DecodeError):
    """Decoding a file took longer than the decode time limit; the decoder was stopped."""


class DecodeMemoryError(ImageTooLargeError):
    """Decoding a file needed more memory than the decode memory limit."""


class _Timeout(Exception):
    pass


class _OverMemory(Exception):
    pass


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_mb(pid: int) -> float | None:
    """Resident memory of process `pid` in MB (Linux ``/proc``); None where unknown."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE / 2**20
    except (OSError, ValueError, IndexError):
        return None


def isolation_available() -> bool:
    """True where decoding can run in a killable child process (POSIX: pipes and ``poll``)."""
    import select

    return os.name == "posix" and hasattr(select, "poll")


# -- framing (both sides) ---------------------------------------------------------------------
def _wait_readable(fd: int, deadline: float | None) -> None:
    """Block until `fd` has data or EOF; `_Timeout` once `deadline` (monotonic s) passes."""
    import select

    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    while True:
        if deadline is None:
            wait_ms = None
        else:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Timeout
            wait_ms = max(1, int(left * 1000))
        if poller.poll(wait_ms):
            return


def read_exact(fd: int, view: memoryview, deadline: float | None = None) -> None:
    """Fill the byte view `view` from `fd`; `EOFError` when the pipe closes first, `_Timeout`
    past `deadline` (monotonic seconds; None: wait for ever)."""
    got, size = 0, len(view)
    while got < size:
        _wait_readable(fd, deadline)
        n = os.readv(fd, [view[got:got + _CHUNK]])
        if n == 0:
            raise EOFError("pipe closed")
        got += n


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write every byte of `data` to `fd` (`BrokenPipeError` when the reader has gone)."""
    view = memoryview(data).cast("B")
    while view:
        n = os.write(fd, view[:_CHUNK])
        view = view[n:]


def send_message(fd: int, obj: Any) -> None:
    """Send `obj` (JSON-serialisable) as one length-prefixed message."""
    payload = json.dumps(obj, separators=(",", ":")).encode("utf-8", "surrogatepass")
    write_all(fd, _LEN.pack(len(payload)) + payload)


def recv_message(fd: int, deadline: float | None = None) -> Any:
    """Receive one message sent by `send_message`; `EOFError` when the pipe closed."""
    head = bytearray(_LEN.size)
    read_exact(fd, memoryview(head), deadline)
    (size,) = _LEN.unpack(head)
    if size > _MAX_MESSAGE:
        raise EOFError(f"oversized message ({size} bytes)")
    body = bytearray(size)
    read_exact(fd, memoryview(body), deadline)
    return json.loads(body.decode("utf-8", "surrogatepass"))


def meta_to_json(meta: ImageMeta) -> dict[str, Any]:
    """`meta` as a JSON-ready dict (tuples become lists)."""
    return asdict(meta)


def meta_from_json(data: Any) -> ImageMeta:
    """An `ImageMeta` from `meta_to_json`'s dict, checked field by field (`ValueError`)."""
    if not isinstance(data, dict) or set(data) - set(ImageMeta.__dataclass_fields__):
        raise ValueError("bad image metadata")
    spacing = data.get("pixel_spacing_mm")
    if spacing is not None:
        data = {**data, "pixel_spacing_mm": (float(spacing[0]), float(spacing[1]))}
    meta = ImageMeta(**data)
    if not isinstance(meta.width, int) or not isinstance(meta.height, int):
        raise ValueError("bad image size")
    return meta


# -- parent side ------------------------------------------------------------------------------
def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = "1"  # a decoder child needs no math threads (and their address space)
    root = str(Path(__file__).resolve().parents[2])  # the folder holding the radlens package
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


def _widen_pipe(stream: Any) -> None:
    """Grow a pipe's kernel buffer to 1 MB where Linux allows it (fewer, larger copies)."""
    try:
        import fcntl

        fcntl.fcntl(stream.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError, AttributeError):
        pass


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


class DecodeWorker:
    """One killable decoder child process; `load` decodes a file in it.

    `timeout_s`: wall-clock seconds one file may take (> 0). `memory_mb`: the child's memory
    cap in MB (0: no cap; see the module docstring). Thread-safe (one decode at a time); the
    child is started on first use (or by `start`), replaced after a timeout, a memory failure
    or a crash, and stopped by `close`.
    """

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S,
                 memory_mb: int = DEFAULT_MEMORY_MB) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.timeout_s = float(timeout_s)
        self.memory_mb = max(0, int(memory_mb))
        self._proc: subprocess.Popen[bytes] | None = None
        self._ready = False
        self._watch = False  # resident memory watched by this process (Linux)
        self._lock = threading.Lock()
        self.busy = False  # True while a file is being decoded (tests watch it)

    @property
    def pid(self) -> int | None:
        """Process id of the current child (None before it starts)."""
        return None if self._proc is None else self._proc.pid

    def start(self) -> None:
        """Start the child now (it imports its decoders in the background)."""
        with self._lock:
            self._spawn()

    def _spawn(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        self._watch = self.memory_mb > 0 and Path("/proc/self/statm").exists()
        address_mb = self.memory_mb * (_AS_FACTOR if self._watch else 1)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "radlens.io._decode_child", str(address_mb),
             str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, env=_child_env(),
            close_fds=True, bufsize=0)
        self._ready = False
        _widen_pipe(self._proc.stdout)

    def _kill(self) -> int | None:
        """Kill the child (if running) and reap it; returns its exit status."""
        proc, self._proc, self._ready = self._proc, None, False
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.kill()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        return proc.returncode

    def _ensure_ready(self) -> subprocess.Popen[bytes]:
        self._spawn()
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        if not self._ready:
            try:
                hello = recv_message(proc.stdout.fileno(), time.monotonic() + START_TIMEOUT_S)
            except (EOFError, OSError, ValueError, _Timeout) as exc:
                code = self._kill()
                raise RadlensError(f"the decode worker process did not start (exit status "
                                   f"{code}, {type(exc).__name__}); check the radlens "
                                   "installation") from None
            if hello != ["ready"]:
                self._kill()
                raise RadlensError("the decode worker process sent an unexpected greeting")
            self._ready = True
        return proc

    def load(self, path: str | os.PathLike[str], *, max_pixels: int = MAX_PIXELS) -> Image:
        """Decode `path` in the child, as `radlens.load_image(path, max_pixels=...)` would.

        Returns the `Image` (float32 pixels (H, W) in [0, 1], metadata with ``source`` =
        the path as given). Raises what `load_image` raises, plus `DecodeTimeoutError` past
        `timeout_s` seconds, `DecodeMemoryError` beyond `memory_mb` MB and `DecodeError` when
        the child crashes, each naming the file.
        """
        source = os.fspath(path)
        with self._lock:
            self.busy = True
            try:
                return self._load(source, max_pixels)
            finally:
                self.busy = False

    def _load(self, source: str, max_pixels: int) -> Image:
        proc = self._ensure_ready()
        assert proc.stdin is not None and proc.stdout is not None
        fd_in, fd_out = proc.stdout.fileno(), proc.stdin.fileno()
        try:
            send_message(fd_out, {"path": source, "max_pixels": int(max_pixels)})
            deadline = time.monotonic() + self.timeout_s
            self._wait_watching(fd_in, proc.pid, deadline)
            reply = recv_message(fd_in, deadline)
            if not isinstance(reply, dict):
                raise ValueError("bad reply")
            if reply.get("status") == "error":
                return self._raise(reply, source)
            shape = tuple(int(n) for n in reply["shape"])
            if len(shape) != 2 or shape[0] * shape[1] > max(max_pixels, 1):
                raise ValueError("bad pixel shape")
            meta = meta_from_json(reply["meta"])
            if (meta.height, meta.width) != shape:
                raise ValueError("pixel shape does not match the metadata")
            pixels = np.empty(shape, dtype=np.float32)
            read_exact(fd_in, pixels.reshape(-1).data.cast("B"),
                       deadline + self.timeout_s)  # the decode is done; the copy is quick
        except _OverMemory:
            self._kill()
            self._spawn()
            raise DecodeMemoryError(f"decoding this image needs more than {self.memory_mb} MB, "
                                    "the decode memory limit; it was stopped", source) from None
        except _Timeout:
            self._kill()
            self._spawn()  # the replacement imports its decoders while the caller moves on
            raise DecodeTimeoutError(f"decode took longer than {self.timeout_s:g} s, the "
                                     "decode time limit; it was stopped", source) from None
        except (EOFError, OSError) as exc:
            code = self._kill()
            if code is not None and code < 0:
                how = f"was killed by {_signal_name(code)}"
            else:
                how = f"exited ({type(exc).__name__}, status {code})"
            cap = f" or need more than {self.memory_mb} MB, the decode memory limit" \
                if self.memory_mb else ""
            raise DecodeError(f"the decoder process {how} while reading this file; the file "
                              f"may be corrupt{cap}", source) from None
        except (ValueError, KeyError, TypeError) as exc:
            self._kill()
            raise DecodeError(f"the decoder process sent a malformed answer "
                              f"({type(exc).__name__})", source) from None
        return Image(pixels=pixels, meta=meta)

    def _wait_watching(self, fd: int, pid: int, deadline: float) -> None:
        """Wait for the child's answer until `deadline`, looking at its resident memory every
        `_POLL_S` s when it is watched; `_OverMemory` beyond the cap, `_Timeout` at the
        deadline."""
        if not self._watch:
            return
        while True:
            try:
                _wait_readable(fd, min(deadline, time.monotonic() + _POLL_S))
                return
            except _Timeout:
                if time.monotonic() >= deadline:
                    raise
            rss = resident_mb(pid)
            if rss is not None and rss > self.memory_mb:
                raise _OverMemory from None

    def _raise(self, reply: dict[str, Any], source: str) -> Image:
        kind, reason = str(reply.get("type", "")), str(reply.get("reason", "cannot decode"))
        if reply.get("memory"):
            self._kill()  # a child that ran out of memory is not reused
            self._spawn()
            if self.memory_mb:
                raise DecodeMemoryError(f"decoding this image needs more than "
                                        f"{self.memory_mb} MB, the decode memory limit", source)
            raise ImageTooLargeError(reason, source)
        raise _ERRORS.get(kind, DecodeError)(reason, source)

    def close(self) -> None:
        """Stop the child: close its input (it exits), then kill it if it lingers."""
        with self._lock:
            proc = self._proc
            if proc is not None and proc.poll() is None and proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=2)
            self._kill()

    def __enter__(self) -> DecodeWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_warned = False


def _load_in_process(path: str | os.PathLike[str], max_pixels: int) -> Image:
    global _warned
    if not _warned:
        log.warning("decoding in this process: killable decode workers need POSIX")
        _warned = True
    return load_image(path, max_pixels=max_pixels)


class DecodePool:
    """`size` `DecodeWorker`s shared by threads; `load` waits for a free one.

    `timeout_s`: deadline per file in seconds; 0 or None decodes in the calling process (no
    isolation; for trusted input). `memory_mb`: each child's memory cap (0: none).
    Children start on demand (warm ones are reused first) and stop at `close`.
    """

    def __init__(self, size: int = 1, timeout_s: float | None = DEFAULT_TIMEOUT_S,
                 memory_mb: int = DEFAULT_MEMORY_MB) -> None:
        self.isolated = bool(timeout_s) and isolation_available()
        self.timeout_s = float(timeout_s or 0.0)
        self.memory_mb = memory_mb
        self._workers = [DecodeWorker(timeout_s or 1.0, memory_mb)
                         for _ in range(max(1, size) if self.isolated else 0)]
        self._idle: queue.LifoQueue[DecodeWorker] = queue.LifoQueue()
        for w in reversed(self._workers):
            self._idle.put(w)

    def start(self, count: int = 1) -> None:
        """Start `count` children now, so that the first uploads need not wait for them."""
        for w in self._workers[:count]:
            w.start()

    def load(self, path: str | os.PathLike[str], *, max_pixels: int = MAX_PIXELS) -> Image:
        """Decode `path` in a free worker (see `DecodeWorker.load`); in this process when the
        pool is not isolated."""
        if not self.isolated:
            if self.timeout_s and not isolation_available():
                return _load_in_process(path, max_pixels)
            return load_image(path, max_pixels=max_pixels)
        worker = self._idle.get()
        try:
            return worker.load(path, max_pixels=max_pixels)
        finally:
            self._idle.put(worker)

    def close(self) -> None:
        """Stop every child."""
        for w in self._workers:
            w.close()


def memory_caused(exc: BaseException) -> bool:
    """True when `exc` was caused (directly or through its chain) by a `MemoryError`."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, MemoryError):
            return True
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return False


__all__ = ["DEFAULT_MEMORY_MB", "DEFAULT_TIMEOUT_S", "DecodeMemoryError", "DecodePool",
           "DecodeTimeoutError", "DecodeWorker", "isolation_available"]
