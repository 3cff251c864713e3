"""Hostile uploads against a real `radlens serve` on loopback: each must get a clear 4xx.

Sends garbage bytes, a truncated DICOM, a zip bomb (20 MB of zeros deflated), a PNG declaring
60000x60000 pixels, and a 200 MB upload (streamed, with and without Content-Length), then
checks /healthz and a normal upload still succeed. Prints status, error type and time per case
and the server's peak memory.

    .venv/bin/python benchmarks/serve_abuse.py
"""

from __future__ import annotations

import io
import sys
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_common import peak_rss_mb, start_server
from serve_load import synthetic_png

BOUNDARY = "radlensabuse"


def multipart_stream(total: int) -> Iterator[bytes]:
    """A multipart body holding `total` bytes of zeros, generated on the fly."""
    yield (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
           "filename=\"big.dcm\"\r\n\r\n").encode()
    chunk = b"\0" * 1_000_000
    for _ in range(total // len(chunk)):
        yield chunk
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def cases() -> dict[str, bytes]:
    from pydicom.data import get_testdata_file

    dcm = Path(get_testdata_file("CT_small.dcm")).read_bytes()  # type: ignore[arg-type]
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xray.png", b"\0" * 20_000_000)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (len(data).to_bytes(4, "big") + kind + data
                + zlib.crc32(kind + data).to_bytes(4, "big"))
    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", (60000).to_bytes(4, "big") * 2
                                        + bytes([8, 0, 0, 0, 0]))
            + chunk(b"IDAT", zlib.compress(b"\0" * 5_000_000)) + chunk(b"IEND", b""))
    return {"garbage 64 kB": bytes(range(256)) * 256, "truncated DICOM": dcm[: len(dcm) // 2],
            "zip bomb": zbuf.getvalue(), "PNG bomb 60000x60000": bomb}


def main() -> None:
    proc, url = start_server()
    rows = []
    try:
        with httpx.Client(base_url=url, timeout=120) as c:
            for name, data in cases().items():
                t = time.perf_counter()
                r = c.post("/v1/interpret", files={"file": ("x", data)})
                rows.append((name, r.status_code, r.json()["error"]["type"],
                             time.perf_counter() - t))
            for name, headers in (("200 MB, Content-Length", {"content-length": str(
                    200_000_000 + 200)}), ("200 MB, chunked", {})):
                t = time.perf_counter()
                try:
                    r = c.post("/v1/interpret", content=multipart_stream(200_000_000), headers={
                        "content-type": f"multipart/form-data; boundary={BOUNDARY}", **headers})
                    status, kind = r.status_code, r.json()["error"]["type"]
                except httpx.HTTPError as exc:  # server answered 413 and closed mid-upload
                    status, kind = 0, type(exc).__name__
                rows.append((name, status, kind, time.perf_counter() - t))
            healthy = c.get("/healthz").status_code == 200
            normal = c.post("/v1/interpret", files={"file": ("x.png", synthetic_png())})
        peak = peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    for name, status, kind, secs in rows:
        print(f"{name:24s} -> {status} {kind:24s} {secs * 1000:7.0f} ms")
    print(f"server healthy afterwards: {healthy}; normal upload afterwards: "
          f"{normal.status_code}; server peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
