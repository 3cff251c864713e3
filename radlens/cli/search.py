"""``radlens search --text "..." | --image IMAGE --store index.sqlite``: top-k matches."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``search`` to the CLI."""
    p = subparsers.add_parser(
        "search", help="find images or reports similar to a text or an image",
        description="Search an index built with 'radlens index build' by text or by image; "
                    "prints the top-k items with their cosine similarity.")
    q = p.add_mutually_exclusive_group(required=True)
    q.add_argument("--text", help="query text, e.g. 'right lower lobe consolidation'")
    q.add_argument("--image", help="query image file")
    p.add_argument("--store", required=True, help="SQLite index file")
    p.add_argument("-k", "--top", type=int, default=10, help="number of results (default 10)")
    p.add_argument("--kind", choices=("image", "text", "all"), default="all",
                   help="search only images or only texts (default: all)")
    p.add_argument("--model", default=None,
                   help="vision-language model (must be the one that built the index)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Embed the query, rank the index, print the hits."""
    from radlens.errors import InputError
    from radlens.io import load_image
    from radlens.vlm.index import Index
    from radlens.vlm.model import load

    if args.top < 1:
        raise InputError("-k must be at least 1")
    model = load(args.model)
    index = Index(args.store, model)
    if args.text is not None:
        if not args.text.strip():
            raise InputError("the query text is empty")
        query = model.embed_texts([args.text])[0]
    else:
        query = model.embed_pixels([load_image(args.image).pixels])[0]
    hits = index.search(query, args.top, None if args.kind == "all" else args.kind)
    if args.json:
        print(json.dumps({"query": {"text": args.text, "image": args.image},
                          "store": args.store, "n_items": len(index),
                          "hits": [asdict(h) for h in hits]}, indent=2))
    else:
        for rank, h in enumerate(hits, 1):
            where = h.source + (f"  \"{h.text}\"" if h.text else "")
            print(f"{rank:>3}  {h.score:+.4f}  {h.kind:<5}  {where}")
    return 0
