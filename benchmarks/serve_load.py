"""Load test of the REST API on loopback: N concurrent clients posting images for T seconds.

Starts `radlens serve` (127.0.0.1, free port, `--max-queue` large enough that every client
waits in the bounded queue rather than getting 503, and the abuse limits out of the way: one
client may hold `--clients` uploads (`--max-per-client`) and the upload rate is unlimited
(`--rate-per-minute 0`), so that the load test measures capacity, not throttling), then runs
`--clients` asyncio clients that each POST an image to /v1/interpret in a loop for
`--seconds`. Prints requests, errors (any non-200 or transport error), p50/p99 latency,
throughput and the server's peak memory (VmHWM).

    .venv/bin/python benchmarks/serve_load.py [--clients 32] [--seconds 60] [--image PATH]

Default image: a 1024x1024 chest-like synthetic PNG (or --image, e.g. a shared-data file).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image as PILImage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_common import children_peak_rss_mb, peak_rss_mb, start_server


def synthetic_png(side: int = 1024) -> bytes:
    """A chest-like grey PNG: bright rim and mediastinum, two dark lung fields."""
    y, x = np.mgrid[0:side, 0:side] / (side - 1)
    img = 0.75 - 0.45 * (np.exp(-(((x - 0.28) / 0.12) ** 2 + ((y - 0.5) / 0.25) ** 2))
                         + np.exp(-(((x - 0.72) / 0.12) ** 2 + ((y - 0.5) / 0.25) ** 2)))
    buf = io.BytesIO()
    PILImage.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


async def client(url: str, data: bytes, until: float, lat: list[float],
                 errors: list[str]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=120) as c:
        while time.monotonic() < until:
            start = time.perf_counter()
            try:
                r = await c.post("/v1/interpret", files={"file": ("x.png", data)})
                if r.status_code != 200:
                    errors.append(str(r.status_code))
                    continue
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)
                continue
            lat.append(time.perf_counter() - start)


async def run(url: str, data: bytes, clients: int, seconds: float) -> tuple[list[float],
                                                                            list[str], float]:
    lat: list[float] = []
    errors: list[str] = []
    start = time.monotonic()
    await asyncio.gather(*(client(url, data, start + seconds, lat, errors)
                           for _ in range(clients)))
    return lat, errors, time.monotonic() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--image", type=Path, help="image to post (default: synthetic PNG)")
    ap.add_argument("--max-concurrent", type=int, default=2)
    args = ap.parse_args()
    data = args.image.read_bytes() if args.image else synthetic_png()
    proc, url = start_server("--max-concurrent", str(args.max_concurrent),
                             "--max-queue", str(args.clients),
                             "--max-per-client", str(max(32, args.clients)),
                             "--rate-per-minute", "0")
    try:
        lat, errors, wall = asyncio.run(run(url, data, args.clients, args.seconds))
        peak = peak_rss_mb(proc.pid)
        workers = children_peak_rss_mb(proc.pid)
        alive = httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [float("nan")] * 99
    print(f"clients {args.clients}, {wall:.1f} s, upload {len(data) / 1e3:.0f} kB, "
          f"server --max-concurrent {args.max_concurrent}")
    print(f"requests ok {len(lat)}, errors {len(errors)} {sorted(set(errors))}")
    print(f"latency p50 {q[49] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms")
    print(f"throughput {len(lat) / wall:.1f} req/s")
    print(f"server peak RSS {peak:.0f} MB (+ decode workers {workers:.0f} MB), healthy after "
          f"the run: {alive}")


if __name__ == "__main__":
    main()
