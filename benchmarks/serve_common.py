"""Helpers for the serving benchmarks: start `radlens serve` on loopback and watch its memory."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

HOST = "127.0.0.1"  # load and abuse traffic stays on loopback


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def start_server(*extra: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start `radlens serve` on a free loopback port; returns (process, base URL) once healthy."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "radlens", "serve", "--host", HOST,
                             "--port", str(port), "--no-access-log", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of process `pid` in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children_peak_rss_mb(pid: int) -> float:
    """Sum of the peak resident memory (VmHWM) of the live child processes of `pid` (the
    server's decode workers) in MB; an upper bound of their peak together."""
    total = 0.0
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            try:
                total += peak_rss_mb(int(child))
            except (OSError, ValueError):
                continue
    return total
