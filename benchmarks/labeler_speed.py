"""Speed of the radlens report labeller on the IU reports (single process, one core).

Prints reports per second for radlens (best of --repeat runs over all IU reports, rules already
compiled) and, when medspacy is installed, for the medspacy ConText peer on the same reports, and
their ratio. radlens labels identical texts within one call once (the IU reports hold 351 exact
duplicates, mostly normal studies), so the rate on the distinct texts alone is printed too.

Usage: python benchmarks/labeler_speed.py [--repeat 5] [--vocab nih14] [--no-peer]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from labeler_common import MedspacyPeer, load_iu, timed

from radlens.text.labeler import label


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--vocab", default="chexpert14")
    ap.add_argument("--no-peer", action="store_true")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    iu = load_iu("all")
    texts = [t for t in iu.texts]
    n = len(texts)
    label(texts[:5], args.vocab)  # compile the rules once
    best = min(timed(label, texts, args.vocab)[1] for _ in range(args.repeat))
    rate = n / best
    print(f"radlens  : {n} IU reports in {best:.3f} s (best of {args.repeat}) = "
          f"{rate:,.0f} reports/s  [vocab {args.vocab}]")
    uniq = list(dict.fromkeys(texts))
    ubest = min(timed(label, uniq, args.vocab)[1] for _ in range(args.repeat))
    print(f"radlens  : {len(uniq)} distinct IU reports in {ubest:.3f} s = "
          f"{len(uniq) / ubest:,.0f} reports/s (no duplicates)")
    if not args.no_peer:
        try:
            peer = MedspacyPeer(args.vocab)
        except ImportError as exc:
            print(f"medspacy peer: not installed ({exc}); skipped")
            return 0
        peer.label(texts[:5])
        psecs = timed(peer.label, texts)[1]
        prate = n / psecs
        print(f"medspacy : {n} IU reports in {psecs:.3f} s = {prate:,.0f} reports/s")
        print(f"ratio radlens / medspacy: {rate / prate:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
