"""``radlens serve``: run the REST API and web viewer with uvicorn.

Binds to 127.0.0.1 by default. ``--api-key-file FILE`` (one key per line; blank lines and
``#`` comments ignored) turns on authentication for ``/v1/*``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from radlens.errors import InputError, MissingDependencyError, RadlensError

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    """Add the ``serve`` subcommand to `sub` (an argparse subparsers object)."""
    p = sub.add_parser("serve", help="run the REST API and web viewer (needs radlens[serve])",
                       description="Serve POST /v1/interpret, the viewer at /viewer/ and the "
                       "OpenAPI docs at /docs.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--api-key-file", type=Path, metavar="FILE",
                   help="require one of the keys in FILE (one per line) on /v1/*")
    p.add_argument("--max-upload-mb", type=float, default=50.0,
                   help="largest accepted upload in MB (default 50)")
    p.add_argument("--max-pixels", type=int, default=40_000_000,
                   help="largest accepted image in pixels (default 40,000,000)")
    p.add_argument("--max-concurrent", type=int, default=2,
                   help="images interpreted at once (default 2)")
    p.add_argument("--max-queue", type=int, default=8,
                   help="uploads that may wait for a slot before 503 (default 8)")
    p.add_argument("--max-per-client", type=int, default=4,
                   help="uploads one client (API key, else address) may have in progress "
                        "before 429 (default 4)")
    p.add_argument("--rate-per-minute", type=float, default=600.0,
                   help="uploads per minute per client before 429 (default 600; 0 = no limit)")
    p.add_argument("--body-timeout", type=float, default=60.0, metavar="SECONDS",
                   help="seconds an admitted upload has to arrive before 408 (default 60)")
    p.add_argument("--decode-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="wall-clock seconds one upload may take to decode, in a worker process "
                        "that is killed past it (default 30; 0 = decode in the server "
                        "process, no deadline)")
    p.add_argument("--decode-memory-mb", type=int, default=3072, metavar="MB",
                   help="memory cap of each decode worker in MB (default "
                        "3072; 0 = no cap)")
    p.add_argument("--keep", type=int, default=200,
                   help="recent results kept for GET /v1/interpretations (default 200)")
    p.add_argument("--model", help="finding model (default: the bundled one)")
    p.add_argument("--no-explain", action="store_true", help="skip heatmaps by default")
    p.add_argument("--no-access-log", action="store_true", help="no per-request log lines")
    p.set_defaults(func=run)


def read_api_keys(path: Path) -> tuple[str, ...]:
    """The keys in `path`: one per line, blank lines and ``#`` comments skipped.

    `InputError` when the file cannot be read or holds no key.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the API key file ({exc})", path) from exc
    keys = tuple(k.strip() for k in lines if k.strip() and not k.strip().startswith("#"))
    if not keys:
        raise InputError("the API key file holds no key", path)
    return keys


def run(args: argparse.Namespace) -> int:
    """Start the server; returns when it stops."""
    try:
        import uvicorn

        from radlens.serve.api import ServeConfig, create_app
    except ImportError as exc:
        raise MissingDependencyError(
            f"serving needs extra packages ({exc.name} is missing): "
            "pip install 'radlens[serve]'") from exc
    for name in ("max_upload_mb", "max_concurrent", "max_queue", "keep", "max_pixels",
                 "max_per_client", "body_timeout"):
        if getattr(args, name) <= 0 and name != "max_queue":
            raise RadlensError(f"--{name.replace('_', '-')} must be positive")
    for name in ("decode_timeout", "decode_memory_mb"):
        if getattr(args, name) < 0:
            raise RadlensError(f"--{name.replace('_', '-')} must be 0 or more")
    keys = read_api_keys(args.api_key_file) if args.api_key_file else ()
    if not keys and args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("serving on %s without --api-key-file: anyone who can reach it can "
                    "use it", args.host)
    cfg = ServeConfig(max_upload_bytes=int(args.max_upload_mb * 1e6), max_pixels=args.max_pixels,
                      max_concurrent=args.max_concurrent, max_queue=max(0, args.max_queue),
                      keep=args.keep, api_keys=keys, model=args.model,
                      explain=not args.no_explain, max_per_client=args.max_per_client,
                      rate_per_minute=max(0.0, args.rate_per_minute),
                      body_timeout_s=args.body_timeout,
                      decode_timeout_s=args.decode_timeout,
                      decode_memory_mb=args.decode_memory_mb)
    logging.getLogger("radlens.serve").setLevel(logging.INFO)
    uvicorn.run(create_app(cfg), host=args.host, port=args.port,
                access_log=not args.no_access_log, timeout_keep_alive=5,
                log_level="info")
    return 0
