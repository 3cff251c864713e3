"""Lexical report-generation metrics: BLEU-1…4, the ReXrank BLEU-2 variant, ROUGE-L.

All scores are in [0, 1] (sacrebleu prints BLEU ×100). Pure Python, no third-party imports.

* `corpus_bleu` / `sentence_bleu` reproduce sacrebleu 2.x defaults: the ``13a`` tokeniser, case
  kept, ``exp`` smoothing; sentence BLEU uses the effective order as ``sacrebleu.sentence_bleu``.
  One reference per candidate.
* `rexrank_bleu` is sentence BLEU-2 exactly as CXR-Report-Metric (the ReXrank leaderboard's
  reference implementation, via ``fast_bleu``) computes its ``bleu_score``.
* `rouge_l` is the rouge-score package's ``rougeL`` with its default settings (lower-cased
  alphanumeric tokens, no stemming), computed with a bit-parallel LCS.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence

import numpy as np

from radlens.metrics.base import Aggregate, Metric, MetricResult, register

MAX_ORDER = 4

# --- tokenisers -----------------------------------------------------------------------------

# mteval-v13a tokenisation, as sacrebleu's Tokenizer13a + TokenizerRegexp. Rule 1 (spaces around
# every character of one class) is a character translation; rules 2-4 only differ from "spaces
# around every '.' and ','" when the line holds a digit, so digit-free lines need no regex.
_13A_CLASS = ("{|}~" + "[\\]^_`" + " !\"#$%&" + "()*+" + ":;<=>?@" + "/")
_13A_RULE1 = str.maketrans({c: f" {c} " for c in _13A_CLASS})
_13A_NO_DIGIT = str.maketrans({c: f" {c} " for c in _13A_CLASS + ".,"})
_13A_DIGIT = re.compile(r"[0-9]")
_13A_RULES = (
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),
)


def tokenize_13a(text: str, lowercase: bool = False) -> list[str]:
    """Tokens of `text` under sacrebleu's default ``13a`` tokeniser (after ``rstrip``)."""
    line = text.rstrip()
    if lowercase:
        line = line.lower()
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = (line.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<")
                .replace("&gt;", ">"))
    if _13A_DIGIT.search(line) is None:
        return line.translate(_13A_NO_DIGIT).split()
    line = f" {line} ".translate(_13A_RULE1)
    for pattern, repl in _13A_RULES:
        line = pattern.sub(repl, line)
    return line.split()


def tokenize_rexrank(text: str) -> list[str]:
    """CXR-Report-Metric's ``prep_reports``: lower-case, "." -> " .", split on single spaces,
    drop empty tokens (other whitespace such as newlines stays inside tokens)."""
    return [t for t in str(text).lower().replace(".", " .").split(" ") if t != ""]


_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def tokenize_rouge(text: str) -> list[str]:
    """rouge-score's default tokeniser: lower-case, non-[a-z0-9] runs become spaces, split."""
    return _NON_ALNUM.sub(" ", text.lower()).split()


# --- BLEU -----------------------------------------------------------------------------------

def _ngrams(tokens: Sequence[str], n: int) -> Iterable[Hashable]:
    if n == 1:
        return tokens
    return zip(*[tokens[i:] for i in range(n)], strict=False)


def _matches(hyp: Sequence[str], ref: Sequence[str], n: int, count: int) -> int:
    """Clipped n-gram matches of `hyp` against `ref` (`count`: number of hyp n-grams)."""
    h_set = set(_ngrams(hyp, n))
    if len(h_set) == count:  # no repeated hyp n-gram: each match counts once
        return len(h_set.intersection(_ngrams(ref, n)))
    h = Counter(_ngrams(hyp, n))
    r = Counter(_ngrams(ref, n))
    return sum(min(c, r[g]) for g, c in h.items() if g in r)


def bleu_stats(hyp: Sequence[str], ref: Sequence[str], max_order: int = MAX_ORDER) -> list[int]:
    """Sufficient statistics of one tokenised pair, sacrebleu's layout:
    ``[hyp_len, ref_len, correct_1..correct_N, total_1..total_N]`` (N = `max_order`)."""
    correct = [0] * max_order
    total = [0] * max_order
    for n in range(1, min(max_order, len(hyp)) + 1):
        count = len(hyp) - n + 1
        total[n - 1] = count
        correct[n - 1] = _matches(hyp, ref, n, count)
    return [len(hyp), len(ref), *correct, *total]


def bleu_from_stats(stats: Sequence[float], max_order: int = MAX_ORDER,
                    effective_order: bool = False, stats_order: int | None = None) -> float:
    """BLEU in [0, 1] from summed `bleu_stats`, with sacrebleu's ``exp`` smoothing.

    `max_order` is the BLEU order (BLEU-1…4: uniform weights over orders 1..max_order);
    `stats_order` is the order the statistics were collected with (default `max_order`).
    With `effective_order` (sentence BLEU) orders beyond the candidate length are left out.
    """
    so = stats_order or max_order
    sys_len, ref_len = stats[0], stats[1]
    correct = stats[2:2 + max_order]
    total = stats[2 + so:2 + so + max_order]
    if not any(correct):
        return 0.0
    bp = 1.0
    if sys_len < ref_len:
        bp = math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0
    smooth = 1.0
    eff = max_order
    log_sum = 0.0
    for n in range(max_order):
        if total[n] == 0:
            if not effective_order:
                return 0.0  # precision 0 for this order (sacrebleu floors log(0))
            break
        eff = n + 1
        if correct[n] == 0:
            smooth *= 2
            log_sum += math.log(1.0 / (smooth * total[n]))
        else:
            log_sum += math.log(correct[n] / total[n])
    return bp * math.exp(log_sum / eff)


def sentence_bleu(hyp: str, ref: str, max_order: int = MAX_ORDER,
                  lowercase: bool = False) -> float:
    """Sentence BLEU-`max_order` in [0, 1], as ``sacrebleu.sentence_bleu(hyp, [ref]).score/100``
    (13a tokens, exp smoothing, effective order)."""
    stats = bleu_stats(tokenize_13a(hyp, lowercase), tokenize_13a(ref, lowercase), max_order)
    return bleu_from_stats(stats, max_order, effective_order=True)


def corpus_bleu(hyps: Sequence[str], refs: Sequence[str], max_order: int = MAX_ORDER,
                lowercase: bool = False) -> float:
    """Corpus BLEU-`max_order` in [0, 1], as ``sacrebleu.corpus_bleu(hyps, [refs]).score/100``
    with one reference per candidate."""
    totals = np.zeros(2 + 2 * max_order, dtype=np.int64)
    for h, r in zip(hyps, refs, strict=True):
        totals += bleu_stats(tokenize_13a(h, lowercase), tokenize_13a(r, lowercase), max_order)
    return bleu_from_stats(totals.tolist(), max_order)


def rexrank_bleu_tokens(hyp: Sequence[str], ref: Sequence[str]) -> float:
    """ReXrank BLEU-2 of already tokenised texts (see `rexrank_bleu`)."""
    if not hyp:
        return 0.0
    log_sum = 0.0
    for n in (1, 2):
        count = max(1, len(hyp) - n + 1)
        matches = _matches(hyp, ref, n, count) if len(hyp) >= n else 0
        if matches == 0:
            if n == 1:
                return 0.0
            log_sum += 0.5 * math.log(0.1 / count)
        else:
            log_sum += 0.5 * math.log(matches / count)
    c, rl = len(hyp), len(ref)
    bp = 1.0 if c > rl else math.exp(1 - rl / c)
    return bp * math.exp(log_sum)


def rexrank_bleu(hyp: str, ref: str) -> float:
    """Sentence BLEU-2 in [0, 1] exactly as the ReXrank leaderboard's CXR-Report-Metric.

    Tokens: `tokenize_rexrank`. Weights (1/2, 1/2); clipped n-gram precision over hypothesis
    n-grams (count floored at 1); an order with zero matches gets precision 0.1 / count
    (fast_bleu smoothing 1), except that zero unigram matches give 0; brevity penalty
    ``exp(1 - r/c)`` when ``c <= r`` (c, r: candidate and reference token counts).
    """
    return rexrank_bleu_tokens(tokenize_rexrank(hyp), tokenize_rexrank(ref))


# --- ROUGE-L --------------------------------------------------------------------------------

def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of token sequences `a` and `b`.

    Bit-parallel (Crochemore et al. 2001): O(len(b)) big-integer operations.
    """
    if len(a) < len(b):
        a, b = b, a
    masks: dict[str, int] = {}
    bit = 1
    for tok in a:
        masks[tok] = masks.get(tok, 0) | bit
        bit <<= 1
    full = bit - 1
    v = full
    get = masks.get
    for tok in b:
        m = get(tok)
        if m:
            u = v & m
            v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def rouge_l_tokens(hyp: Sequence[str], ref: Sequence[str]) -> tuple[float, float, float]:
    """(precision, recall, F1) of ROUGE-L for tokenised texts; all 0 when either is empty."""
    if not hyp or not ref:
        return 0.0, 0.0, 0.0
    lcs = lcs_length(ref, hyp)
    p = lcs / len(hyp)
    r = lcs / len(ref)
    f = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return p, r, f


def rouge_l(hyp: str, ref: str) -> tuple[float, float, float]:
    """ROUGE-L (precision, recall, F-measure) in [0, 1], as rouge-score's
    ``RougeScorer(["rougeL"]).score(ref, hyp)["rougeL"]`` (no stemming)."""
    return rouge_l_tokens(tokenize_rouge(hyp), tokenize_rouge(ref))


# --- registered metrics ---------------------------------------------------------------------

def bleu_from_sums(sums: np.ndarray, max_order: int = MAX_ORDER,
                   stats_order: int = MAX_ORDER, effective_order: bool = False) -> np.ndarray:
    """BLEU-`max_order` for each row of `sums`, an (m, 2 + 2 * stats_order) array of (summed)
    `bleu_stats` rows: the vectorised `bleu_from_stats`. Returns shape (m,), values in [0, 1].
    Corpus BLEU: the column sums of a corpus; sentence BLEU: one pair per row with
    `effective_order`."""
    sums = np.asarray(sums, dtype=float)
    sys_len, ref_len = sums[:, 0], sums[:, 1]
    correct = sums[:, 2:2 + max_order]
    total = sums[:, 2 + stats_order:2 + stats_order + max_order]
    valid = total > 0  # orders with candidate n-grams (a prefix: totals never increase)
    eff = valid.sum(axis=1)
    ok = (correct.sum(axis=1) > 0) & (eff > 0 if effective_order else valid.all(axis=1))
    zero = (correct == 0) & valid
    smooth = np.cumprod(np.where(zero, 2.0, 1.0), axis=1)
    safe_total = np.where(valid, total, 1.0)
    log_prec = np.where(valid, np.log(np.where(zero, 1.0 / (smooth * safe_total),
                                               np.where(valid, correct, 1.0) / safe_total)),
                        0.0)
    log_mean = log_prec.sum(axis=1) / np.maximum(eff if effective_order else max_order, 1)
    short = sys_len < ref_len
    bp_log = np.where(short, 1 - ref_len / np.where(sys_len > 0, sys_len, 1.0), 0.0)
    return np.where(ok, np.exp(bp_log + log_mean), 0.0)


def _bleu_sums_fn(order: int) -> Callable[[np.ndarray], np.ndarray]:
    def from_sums(sums: np.ndarray) -> np.ndarray:
        return bleu_from_sums(sums, order, MAX_ORDER)
    return from_sums


@register
class Bleu(Metric):
    """Corpus BLEU-1…4 (sacrebleu-compatible) with sentence BLEU-1…4 per pair."""

    name = "bleu"
    description = "corpus BLEU-1..4 (sacrebleu 13a, exp smoothing); sentence BLEU per pair"

    def __init__(self, lowercase: bool = False) -> None:
        self.lowercase = lowercase

    def compute(self, refs: Sequence[str], hyps: Sequence[str],
                ids: Sequence[str] | None = None) -> MetricResult:
        """See `Metric.compute`. Aggregates ``bleu1``..``bleu4`` (corpus); per pair, the same
        names hold sentence BLEU."""
        pair_ids = self.check_inputs(refs, hyps, ids)
        lc = self.lowercase
        rows = [bleu_stats(tokenize_13a(h, lc), tokenize_13a(r, lc))
                for h, r in zip(hyps, refs, strict=True)]
        stats = np.array(rows, dtype=np.int64).reshape(len(rows), 2 + 2 * MAX_ORDER)
        aggregates = {f"bleu{k}": Aggregate(f"bleu{k}", stats, _bleu_sums_fn(k))
                      for k in range(1, MAX_ORDER + 1)}
        per_pair = {f"bleu{k}": bleu_from_sums(stats, k, MAX_ORDER, effective_order=True)
                    for k in range(1, MAX_ORDER + 1)}
        details = {"tokenizer": "13a", "lowercase": lc, "smoothing": "exp",
                   "aggregate": "corpus", "per_pair": "sentence BLEU, effective order",
                   "scale": "0-1 (sacrebleu score / 100)"}
        return MetricResult(self.name, pair_ids, aggregates, per_pair, details)


@register
class RexrankBleu(Metric):
    """ReXrank / CXR-Report-Metric sentence BLEU-2, averaged over pairs."""

    name = "rexrank_bleu"
    description = "sentence BLEU-2 exactly as the ReXrank leaderboard (CXR-Report-Metric)"

    def compute(self, refs: Sequence[str], hyps: Sequence[str],
                ids: Sequence[str] | None = None) -> MetricResult:
        """See `Metric.compute`. Aggregate ``bleu2`` = mean of per-pair ``bleu2``."""
        pair_ids = self.check_inputs(refs, hyps, ids)
        values = np.array([rexrank_bleu(h, r) for h, r in zip(hyps, refs, strict=True)],
                          dtype=float)
        agg = Aggregate.mean("bleu2", values)
        details = {"reference_implementation": "CXR-Report-Metric add_bleu_col (fast_bleu)",
                   "aggregate": "mean of sentence BLEU-2"}
        return MetricResult(self.name, pair_ids, {"bleu2": agg}, {"bleu2": values}, details)


@register
class RougeL(Metric):
    """ROUGE-L F-measure (rouge-score defaults), averaged over pairs."""

    name = "rouge"
    description = "ROUGE-L F-measure as the rouge-score package (no stemming), mean over pairs"

    def compute(self, refs: Sequence[str], hyps: Sequence[str],
                ids: Sequence[str] | None = None) -> MetricResult:
        """See `Metric.compute`. Aggregates ``rougeL_f`` (also ``rougeL_p``, ``rougeL_r``):
        means of the per-pair values of the same names."""
        pair_ids = self.check_inputs(refs, hyps, ids)
        prf = np.array([rouge_l(h, r) for h, r in zip(hyps, refs, strict=True)],
                       dtype=float).reshape(len(pair_ids), 3)
        names = ("rougeL_p", "rougeL_r", "rougeL_f")
        per_pair = {name: prf[:, i].copy() for i, name in enumerate(names)}
        aggregates = {name: Aggregate.mean(name, per_pair[name])
                      for name in ("rougeL_f", "rougeL_p", "rougeL_r")}
        details = {"tokenizer": "rouge-score default (lower-case [a-z0-9]+)", "stemming": False,
                   "aggregate": "mean over pairs"}
        return MetricResult(self.name, pair_ids, aggregates, per_pair, details)
