"""``radlens index build DIR --store index.sqlite``: embed images and reports for search."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``index`` (with ``build``) to the CLI."""
    p = subparsers.add_parser("index", help="build a search index of images and reports")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    b = sub.add_parser(
        "build", help="embed every image (and .txt report) under a folder",
        description="Embed every image under DIR (and every .txt report: its FINDINGS and "
                    "IMPRESSION, or each sentence with --sentences) into a SQLite store. "
                    "Files already in the store are skipped, so the build can be resumed or "
                    "extended.")
    b.add_argument("directory", metavar="DIR",
                   help="folder of images and .txt reports to index (recursive)")
    b.add_argument("--store", required=True, help="SQLite index file (created if absent)")
    b.add_argument("--model", default=None, help="vision-language model (default: bundled)")
    b.add_argument("--sentences", action="store_true", help="index report sentences separately")
    b.add_argument("--batch", type=int, default=64, help="images per batch")
    b.add_argument("--json", action="store_true", help="print the counts as JSON")
    b.set_defaults(func=run_build)


def run_build(args: argparse.Namespace) -> int:
    """Build or extend the index; prints the counts."""
    from radlens.vlm.index import build
    from radlens.vlm.model import load

    counts = build(args.directory, args.store, load(args.model), args.sentences, args.batch)
    if args.json:
        print(json.dumps({"store": args.store, **counts}))
    else:
        print(f"{args.store}: added {counts['images']} images and {counts['texts']} texts "
              f"({counts['skipped']} unreadable skipped, {counts['existing']} already there)")
    return 0
