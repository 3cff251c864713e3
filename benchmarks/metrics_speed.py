"""Speed of radlens BLEU and ROUGE-L vs sacrebleu, rouge-score and NLTK: same pairs, same run.

Usage: ``python benchmarks/metrics_speed.py [--data-root DIR] [--passes 20] [--runs 5]``

Scores the 93 IU report pairs of ``report-metrics/iu-pairs-with-scores.csv`` (shared data) with
each implementation, pinned to one CPU core, and prints pairs per second (median of `--runs`
timings, each over `--passes` passes through the pairs) and radlens's speed-up over the peer.
Tokeniser caches of sacrebleu are cleared before every pass so that neither side re-uses work
across passes (radlens does not cache). Agreement with the peer on the same pairs is printed too
(largest absolute difference). Target (issue 4): >= 10,000 pairs/s for BLEU and ROUGE-L.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")


def timed(fn: Callable[[], object], n_pairs: int, passes: int, runs: int,
          before: Callable[[], None] = lambda: None) -> float:
    """Median pairs/s of `fn` (one pass over `n_pairs` pairs)."""
    rates = []
    for _ in range(runs):
        elapsed = 0.0
        for _ in range(passes):
            before()
            t0 = time.perf_counter()
            fn()
            elapsed += time.perf_counter() - t0
        rates.append(n_pairs * passes / elapsed)
    return statistics.median(rates)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", help="shared data folder (default: RADLENS_DATA or "
                                            "../shared/data)")
    parser.add_argument("--passes", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from radlens.metrics import text as T
    from radlens.metrics.base import get_metric
    from radlens.paths import data_root

    path = data_root(args.data_root) / "report-metrics" / "iu-pairs-with-scores.csv"
    if not path.is_file():
        print(f"metrics_speed: {path}: not found (set RADLENS_DATA)", file=sys.stderr)
        return 2
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    hyps = [r["candidate"] for r in rows]
    refs = [r["reference"] for r in rows]
    want = [float(r["bleu_score"]) for r in rows]
    pairs = list(zip(hyps, refs, strict=True))
    n = len(pairs)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    import sacrebleu
    from nltk.translate.bleu_score import SmoothingFunction
    from nltk.translate.bleu_score import sentence_bleu as nltk_sentence_bleu
    from rouge_score import rouge_scorer
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
    from sacrebleu.tokenizers.tokenizer_re import TokenizerRegexp

    def clear_sacrebleu() -> None:
        Tokenizer13a.__call__.cache_clear()  # type: ignore[attr-defined]
        TokenizerRegexp.__call__.cache_clear()  # type: ignore[attr-defined]

    sb_sent = sacrebleu.BLEU(effective_order=True)
    sb_corpus = sacrebleu.BLEU()
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    smooth = SmoothingFunction().method1

    def nltk_rexrank(h: str, r: str) -> float:
        return float(nltk_sentence_bleu([T.tokenize_rexrank(r)], T.tokenize_rexrank(h),
                                        weights=(0.5, 0.5), smoothing_function=smooth))

    cases = [
        ("sentence BLEU-4 (13a, exp)",
         lambda: [T.sentence_bleu(h, r) for h, r in pairs],
         lambda: [sb_sent.sentence_score(h, [r]).score for h, r in pairs], "sacrebleu",
         lambda: max(abs(T.sentence_bleu(h, r) - sb_sent.sentence_score(h, [r]).score / 100)
                     for h, r in pairs)),
        ("corpus BLEU-4 (13a, exp)",
         lambda: T.corpus_bleu(hyps, refs),
         lambda: sb_corpus.corpus_score(hyps, [refs]).score, "sacrebleu",
         lambda: abs(T.corpus_bleu(hyps, refs) - sb_corpus.corpus_score(hyps, [refs]).score
                     / 100)),
        ("ReXrank sentence BLEU-2",
         lambda: [T.rexrank_bleu(h, r) for h, r in pairs],
         lambda: [nltk_rexrank(h, r) for h, r in pairs], "nltk method1",
         lambda: max(abs(T.rexrank_bleu(h, r) - nltk_rexrank(h, r)) for h, r in pairs)),
        ("ROUGE-L F",
         lambda: [T.rouge_l(h, r) for h, r in pairs],
         lambda: [scorer.score(r, h)["rougeL"].fmeasure for h, r in pairs], "rouge-score",
         lambda: max(abs(T.rouge_l(h, r)[2] - scorer.score(r, h)["rougeL"].fmeasure)
                     for h, r in pairs)),
    ]
    print(f"metrics_speed: {n} IU pairs from {path}; 1 core; python "
          f"{platform.python_version()}; median of {args.runs} runs x {args.passes} passes")
    print(f"{'metric':<28} {'radlens pairs/s':>16} {'peer':<13} {'peer pairs/s':>13} "
          f"{'ratio':>6} {'max |diff|':>10}")
    for label, ours, theirs, peer, diff in cases:
        r_ours = timed(ours, n, args.passes, args.runs)
        r_peer = timed(theirs, n, args.passes, args.runs, before=clear_sacrebleu)
        print(f"{label:<28} {r_ours:>16,.0f} {peer:<13} {r_peer:>13,.0f} "
              f"{r_ours / r_peer:>5.1f}x {diff():>10.1e}")
    worst = max(abs(T.rexrank_bleu(h, r) - w) for (h, r), w in zip(pairs, want, strict=True))
    print(f"ReXrank BLEU-2 vs the reference bleu_score column: max |diff| = {worst:.1e}")
    for name in ("bleu", "rexrank_bleu", "rouge"):
        metric = get_metric(name)
        rate = timed(lambda m=metric: m.compute(refs, hyps), n, args.passes, args.runs)
        print(f"radlens metric {name!r} (all aggregates + per pair): {rate:,.0f} pairs/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
