"""Hostile traffic against a real `radlens serve` on loopback (API keys on).

1. Hostile uploads, each must get a clear 4xx: garbage, a truncated DICOM, a zip bomb, a PNG
   declaring 60000x60000 pixels, a 200 MB upload (with and without Content-Length), a bad key.
2. Load: `--clients` keyed clients (one key each) POST a film in a loop for `--seconds`; every
   answer must be 200, or 429/503 with ``Retry-After``; transport errors (connection resets)
   are counted. Prints answers by status, resets, p50/p99 latency of the 200s.
3. Slow-body attack: `--legit` keyed clients loop for `--seconds` alone, then again while
   `--attackers` clients without a key each open uploads that send one byte per second; prints
   the legitimate throughput in both phases and its ratio.
4. Decode deadline: a second server with ``--decode-timeout 0.3`` gets a 40 M-pixel PNG that
   passes every size budget (a small file) but takes longer than that to decode: it must
   answer 422 ``DecodeTimeoutError`` about when the deadline passes, then serve a film (200).
Prints the server's peak RSS (VmHWM) at the end, and its decode workers'.

The film posted is a real chest radiograph from the shared data (RADLENS_DATA) when one is
there (`--image` picks another; `--synthetic` the synthetic 1024^2 PNG).

    .venv/bin/python benchmarks/serve_abuse.py [--clients 32] [--seconds 60] [--legit 4]
        [--attackers 10] [--image PATH | --synthetic]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_common import children_peak_rss_mb, peak_rss_mb, start_server
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


def real_film() -> Path | None:
    """A real chest film from the shared data (nih-cxr14 JPEG, else pneumonia-kermany), or
    None when no shared data is present."""
    from radlens.paths import data_root

    root = data_root()
    for pattern in ("nih-cxr14/images/*.jpg", "pneumonia-kermany/train/NORMAL/*.jpeg"):
        found = sorted(root.glob(pattern))
        if found:
            return found[0]
    return None


def slow_png(side: int = 6300) -> bytes:
    """A grey gradient PNG of `side`^2 pixels (40 M at the default): a small file, within the
    server's pixel limit, that takes a while to inflate and convert."""
    import numpy as np
    from PIL import Image as PILImage

    row = np.linspace(0, 255, side).astype(np.uint8)
    buf = io.BytesIO()
    PILImage.fromarray(np.tile(row, (side, 1))).save(buf, format="PNG", compress_level=9)
    return buf.getvalue()


def decode_deadline(film: bytes, timeout_s: float = 0.3) -> list[tuple[str, int, str, float]]:
    """Part 4: a slow decode on a server with a short decode deadline, then a film."""
    proc, url = start_server("--decode-timeout", str(timeout_s))
    rows = []
    try:
        with httpx.Client(base_url=url, timeout=120) as c:
            for name, data in ((f"slow decode (deadline {timeout_s:g} s)", slow_png()),
                               ("film after it", film)):
                t = time.perf_counter()
                r = c.post("/v1/interpret", files={"file": ("x.png", data)})
                kind = r.json()["error"]["type"] if r.status_code != 200 else "ok"
                rows.append((name, r.status_code, kind, time.perf_counter() - t))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return rows


def hostile(url: str, key: str) -> list[tuple[str, int, str, float]]:
    """Part 1: hostile uploads, one at a time."""
    rows = []
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, timeout=120, headers=auth) as c:
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
        t = time.perf_counter()
        r = c.post("/v1/interpret", content=b"--x\r\nnot even multipart",
                   headers={"Authorization": "Bearer wrong",
                            "content-type": "multipart/form-data; boundary=x"})
        rows.append(("bad key, malformed body", r.status_code, r.json()["error"]["type"],
                     time.perf_counter() - t))
    return rows


async def _loop(url: str, key: str, data: bytes, until: float, stats: dict[str, list]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=120,
                                 headers={"Authorization": f"Bearer {key}"}) as c:
        while time.monotonic() < until:
            start = time.perf_counter()
            try:
                r = await c.post("/v1/interpret", files={"file": ("x.png", data)})
            except httpx.HTTPError as exc:
                stats["transport"].append(type(exc).__name__)
                await asyncio.sleep(0.05)
                continue
            stats.setdefault(str(r.status_code), []).append(time.perf_counter() - start)
            if r.status_code in (429, 503):
                if "retry-after" not in r.headers:
                    stats["no_retry_after"].append(r.status_code)
                await asyncio.sleep(float(r.headers.get("retry-after", "1")))


async def _slow_attacker(host: str, port: int, until: float) -> None:
    """An unauthenticated upload that sends one byte per second, reconnecting when closed."""
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"POST /v1/interpret HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n"
                         b"Content-Type: multipart/form-data; boundary=b\r\n\r\n")
            while time.monotonic() < until and not reader.at_eof():
                writer.write(b"-")
                await writer.drain()
                await asyncio.sleep(1.0)
            writer.close()
        except OSError:
            await asyncio.sleep(0.2)


async def load(url: str, keys: list[str], data: bytes, seconds: float,
               attackers: int = 0) -> dict[str, list]:
    """Parts 2 and 3: one looping client per key (plus slow attackers) for `seconds`."""
    stats: dict[str, list] = {"transport": [], "no_retry_after": []}
    until = time.monotonic() + seconds
    host, port = url.split("//")[1].split(":")
    tasks = [_loop(url, k, data, until, stats) for k in keys]
    tasks += [_slow_attacker(host, int(port), until) for _ in range(attackers)]
    await asyncio.gather(*tasks)
    return stats


def _summary(stats: dict[str, list], seconds: float) -> str:
    ok = sorted(stats.get("200", []))
    answers = {k: len(v) for k, v in stats.items() if k.isdigit()}
    p = (lambda q: ok[min(len(ok) - 1, int(q * len(ok)))] * 1000) if ok else (lambda q: 0.0)
    return (f"answers {answers}, transport errors {len(stats['transport'])} "
            f"{sorted(set(stats['transport']))}, 429/503 without Retry-After "
            f"{len(stats['no_retry_after'])}; 200s: {len(ok) / seconds:.2f}/s, "
            f"p50 {p(0.5):.0f} ms, p99 {p(0.99):.0f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--legit", type=int, default=4)
    ap.add_argument("--attackers", type=int, default=10)
    ap.add_argument("--image", type=Path,
                    help="film to post (default: a real film from the shared data)")
    ap.add_argument("--synthetic", action="store_true", help="post a synthetic 1024^2 PNG")
    args = ap.parse_args()
    film = None if args.synthetic else (args.image or real_film())
    data = film.read_bytes() if film else synthetic_png()
    print(f"film: {film.name if film else 'synthetic 1024^2 PNG'} ({len(data) / 1e3:.0f} kB)")
    for name, status, kind, secs in decode_deadline(data):
        print(f"{name:24s} -> {status} {kind:24s} {secs * 1000:7.0f} ms")
    keys = [f"key-{i:02d}" for i in range(max(args.clients, args.legit))]
    key_file = Path(tempfile.mkdtemp()) / "keys.txt"
    key_file.write_text("\n".join(keys) + "\n")
    proc, url = start_server("--api-key-file", str(key_file))
    try:
        rows = hostile(url, keys[0])
        for name, status, kind, secs in rows:
            print(f"{name:24s} -> {status} {kind:24s} {secs * 1000:7.0f} ms")
        stats = asyncio.run(load(url, keys[: args.clients], data, args.seconds))
        print(f"load, {args.clients} keyed clients x {args.seconds:g} s: "
              + _summary(stats, args.seconds))
        alone = asyncio.run(load(url, keys[: args.legit], data, args.seconds))
        print(f"{args.legit} keyed clients alone: " + _summary(alone, args.seconds))
        attacked = asyncio.run(load(url, keys[: args.legit], data, args.seconds,
                                    attackers=args.attackers))
        print(f"same with {args.attackers} slow-body attackers (no key): "
              + _summary(attacked, args.seconds))
        ratio = len(attacked.get("200", [])) / max(1, len(alone.get("200", [])))
        print(f"legitimate throughput kept under attack: {ratio:.0%}")
        with httpx.Client(base_url=url, timeout=60) as c:
            healthy = c.get("/healthz").json()
        print(f"healthz afterwards: {healthy}")
        peak = peak_rss_mb(proc.pid)
        workers = children_peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"server peak RSS {peak:.0f} MB (+ decode workers, sum of their peaks: "
          f"{workers:.0f} MB)")


if __name__ == "__main__":
    main()
