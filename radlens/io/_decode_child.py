"""The decoder child process of `radlens.io.isolated.DecodeWorker` (not for direct use).

``python -m radlens.io._decode_child ADDRESS_MB PARENT_PID``: caps its address space at
ADDRESS_MB (0: no cap), turns core dumps off, imports the decoders, says ``["ready"]`` on
stdout, then answers one request per line of work read from stdin -- ``{"path", "max_pixels"}``
-> ``{"status": "ok", "meta", "shape"}`` followed by the float32 pixels as raw bytes, or
``{"status": "error", "type", "reason", "memory"}``. It exits at end of input, when its parent
process disappears, and after a decode that ran out of memory.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time


def _limit(address_mb: int) -> None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if address_mb > 0 and hasattr(resource, "RLIMIT_AS"):
            cap = address_mb * 2**20
            _, hard = resource.getrlimit(resource.RLIMIT_AS)
            if hard != resource.RLIM_INFINITY:
                cap = min(cap, hard)
            resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (OSError, ValueError):  # a platform that refuses: run without the cap
        pass


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(1)


def main(argv: list[str]) -> int:
    """Serve decode requests until stdin closes; returns the exit status."""
    address_mb, parent = int(argv[1]), int(argv[2])
    out_fd = os.dup(1)  # the protocol's channel; fd 1 now goes to stderr, so that a stray
    os.dup2(2, 1)       # print from a library cannot corrupt it
    in_fd = 0
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when the child stops
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    _limit(address_mb)

    from radlens.errors import RadlensError
    from radlens.io import dicom as _dicom  # noqa: F401  (warm the decoders before "ready")
    from radlens.io import load_image
    from radlens.io import nifti as _nifti  # noqa: F401
    from radlens.io import raster as _raster  # noqa: F401
    from radlens.io.isolated import (
        memory_caused,
        meta_to_json,
        recv_message,
        send_message,
        write_all,
    )

    send_message(out_fd, ["ready"])
    while True:
        try:
            request = recv_message(in_fd)
        except EOFError:
            return 0
        path, max_pixels = str(request["path"]), int(request["max_pixels"])
        try:
            image = load_image(path, max_pixels=max_pixels)
            pixels = image.pixels
            if not pixels.flags.c_contiguous:
                pixels = pixels.copy(order="C")
            reply = {"status": "ok", "meta": meta_to_json(image.meta),
                     "shape": list(pixels.shape)}
        except MemoryError:
            send_message(out_fd, {"status": "error", "type": "ImageTooLargeError",
                                  "reason": "not enough memory to decode this image",
                                  "memory": True})
            return 3
        except RadlensError as exc:
            memory = memory_caused(exc)
            send_message(out_fd, {"status": "error", "type": type(exc).__name__,
                                  "reason": exc.reason, "memory": memory})
            if memory:
                return 3
            continue
        send_message(out_fd, reply)
        write_all(out_fd, pixels.reshape(-1).data.cast("B"))
        del image, pixels


def _run(argv: list[str]) -> int:
    """`main`, ending quietly when the parent has gone (its pipes closed under us)."""
    try:
        return main(argv)
    except (BrokenPipeError, ConnectionError, EOFError):
        return 0


if __name__ == "__main__":
    sys.exit(_run(sys.argv))
