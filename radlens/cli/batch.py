"""``radlens batch INPUT --store results.sqlite``: resumable batch runs over folders and CSVs.

``radlens batch export STORE... --out FILE``: export stores to CSV or JSONL. Rerunning a batch
command skips the items already in the store; ``--retry-failed`` redoes the failed ones.
Exit status: 0 when every item of the (shard of the) input is done, 1 when some failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from radlens.errors import RadlensError


def register(sub: Any) -> None:
    """Add the ``batch`` subcommand to `sub` (an argparse subparsers object)."""
    p = sub.add_parser(
        "batch", help="interpret a folder or CSV of images into a resumable SQLite store",
        description="Interpret every image of INPUT (a folder, scanned recursively, or a CSV "
        "of paths) into --store, in parallel worker processes. Rerunning the command skips "
        "finished items, so a killed run resumes where it stopped. "
        "'radlens batch export STORE... --out FILE' exports stores to CSV or JSONL.")
    p.add_argument("input", metavar="INPUT",
                   help="folder of images or .csv of paths; or the word 'export'")
    p.add_argument("stores", nargs="*", metavar="STORE", help=argparse.SUPPRESS)
    run = p.add_argument_group("batch run")
    run.add_argument("--store", type=Path, metavar="FILE",
                     help="SQLite result store (created if missing)")
    run.add_argument("-j", "--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1),
                     help="worker processes (default: CPU count - 1; 0 = in this process)")
    run.add_argument("--threads-per-worker", type=int, default=1, metavar="N",
                     help="math threads per worker (default 1)")
    run.add_argument("--retry-failed", action="store_true", help="redo items recorded as failed")
    run.add_argument("--item-timeout", type=float, default=600.0, metavar="SECONDS",
                     help="give up on an item after this long in a worker and record it as "
                          "failed (default 600; 0 = no limit)")
    run.add_argument("--decode-timeout", type=float, default=120.0, metavar="SECONDS",
                     help="wall-clock seconds one file may take to decode, in a child process "
                          "killed past it; the item is recorded as failed (default 120; 0 = "
                          "decode in the worker, no deadline)")
    run.add_argument("--decode-memory-mb", type=int, default=3072, metavar="MB",
                     help="memory cap of each decode child in MB (default "
                          "3072; 0 = no cap)")
    run.add_argument("--all-files", action="store_true",
                     help="folder input: read every file, not only image file names")
    run.add_argument("--shard-index", type=int, default=0, metavar="I",
                     help="process only shard I (0-based) of --shard-count (default 0)")
    run.add_argument("--shard-count", type=int, default=1, metavar="N",
                     help="split the input into N shards by a hash of each item's key")
    run.add_argument("--model", help="finding model (default: the bundled one)")
    run.add_argument("--no-explain", action="store_true", help="skip heatmaps (faster)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--json", action="store_true", help="print the run summary as JSON")
    exp = p.add_argument_group("export (radlens batch export STORE... [--out FILE])")
    exp.add_argument("--out", metavar="FILE", help="output file (default: stdout)")
    exp.add_argument("--format", choices=("csv", "jsonl"),
                     help="default: from --out's extension, else csv")
    exp.add_argument("--status", choices=("done", "failed"), help="export only these items")
    p.set_defaults(func=run_command)


def _export(args: argparse.Namespace) -> int:
    from radlens.serve.export import export

    if not args.stores:
        raise RadlensError("batch export: give one or more result stores")
    n = export(args.stores, args.out, args.format, args.status, stdout=sys.stdout)
    if args.out not in (None, "-"):
        print(f"exported {n} items to {args.out}", file=sys.stderr)
    return 0


def run_command(args: argparse.Namespace) -> int:
    """Run a batch (or an export); returns the exit status."""
    if args.input == "export":
        return _export(args)
    if args.stores:
        raise RadlensError(f"batch takes one INPUT, got {len(args.stores) + 1} "
                           "(did you mean 'radlens batch export'?)")
    if args.store is None:
        raise RadlensError("batch: --store FILE is required")
    for flag in ("decode_timeout", "decode_memory_mb", "item_timeout"):
        if getattr(args, flag) < 0:
            raise RadlensError(f"--{flag.replace('_', '-')} must be 0 or more")
    from radlens.serve.batch import list_items, run_batch, select_shard
    from radlens.serve.store import ResultStore

    items = select_shard(list_items(args.input, all_files=args.all_files),
                         args.shard_index, args.shard_count)
    with ResultStore(args.store) as store:
        summary = run_batch(items, store, workers=args.workers, model=args.model,
                            explain=not args.no_explain, retry_failed=args.retry_failed,
                            threads_per_worker=args.threads_per_worker,
                            progress=not args.no_progress,
                            item_timeout=args.item_timeout or None,
                            decode_timeout=args.decode_timeout or None,
                            decode_memory_mb=args.decode_memory_mb)
        counts = store.counts()
    result = {"input": str(args.input), "store": str(args.store),
              "shard": [args.shard_index, args.shard_count], "items": summary.total,
              "skipped": summary.skipped, "done": summary.done, "failed": summary.failed,
              "seconds": round(summary.seconds, 3), "store_counts": counts}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{summary.total} items: {summary.done} done and {summary.failed} failed now, "
              f"{summary.skipped} already in the store; store holds "
              f"{counts.get('done', 0)} done, {counts.get('failed', 0)} failed "
              f"({summary.seconds:.1f} s)", file=sys.stderr)
    shard_keys = {it.key for it in items}
    with ResultStore(args.store, readonly=True) as store:
        failed_here = len(shard_keys & store.keys("failed"))
    return 1 if failed_here else 0
