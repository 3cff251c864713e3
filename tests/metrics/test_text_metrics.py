"""Hand-computed cases for BLEU (sacrebleu-style and ReXrank) and ROUGE-L."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from radlens.metrics import text as T

HYP = "the cat sat on the mat"
REF = "the cat is on the mat"


def test_tokenize_13a_splits_punctuation_but_keeps_numbers() -> None:
    assert T.tokenize_13a("No effusion, 2.5 cm (stable).") == [
        "No", "effusion", ",", "2.5", "cm", "(", "stable", ")", "."]
    assert T.tokenize_13a("T12-L1 level") == ["T12", "-", "L1", "level"]
    assert T.tokenize_13a("a &amp; b") == ["a", "&", "b"]
    assert T.tokenize_13a("") == []


def test_tokenize_rexrank_and_rouge() -> None:
    assert T.tokenize_rexrank("Lungs  are Clear.No effusion.") == [
        "lungs", "are", "clear", ".no", "effusion", "."]
    assert T.tokenize_rouge("Lungs are CLEAR. 2-view, no T12!") == [
        "lungs", "are", "clear", "2", "view", "no", "t12"]


def test_sentence_bleu_by_hand() -> None:
    # matches: 1-grams 5/6, 2-grams 3/5, 3-grams 1/4, 4-grams 0/3 -> exp smoothing 1/(2*3)
    assert T.sentence_bleu(HYP, REF, 1) == pytest.approx(5 / 6, abs=1e-12)
    assert T.sentence_bleu(HYP, REF, 2) == pytest.approx(math.sqrt(0.5), abs=1e-12)
    assert T.sentence_bleu(HYP, REF, 4) == pytest.approx((1 / 48) ** 0.25, abs=1e-12)
    assert T.sentence_bleu(REF, REF) == pytest.approx(1.0)
    assert T.sentence_bleu("lungs", "heart") == 0.0
    # effective order: a 2-token candidate is scored on orders 1-2 only; brevity penalty 2 < 3
    expected = math.exp(1 - 3 / 2) * math.sqrt(1.0 * 0.5)
    assert T.sentence_bleu("no effusion", "no pleural effusion") == pytest.approx(expected)


def test_corpus_bleu_by_hand() -> None:
    hyps = [HYP, "no effusion"]
    refs = [REF, "no pleural effusion"]
    # sums: lengths 8 vs 9; correct 7,3,1,0; totals 8,6,4,3
    expected = math.exp(1 - 9 / 8) * (7 / 8 * 3 / 6 * 1 / 4 * 1 / 6) ** 0.25
    assert T.corpus_bleu(hyps, refs) == pytest.approx(expected, abs=1e-12)
    stats = np.array([T.bleu_stats(T.tokenize_13a(h), T.tokenize_13a(r))
                      for h, r in zip(hyps, refs, strict=True)])
    assert stats.sum(axis=0).tolist() == [8, 9, 7, 3, 1, 0, 8, 6, 4, 3]
    # without any 4-gram in the corpus, corpus BLEU-4 is 0 (sacrebleu's floored log)
    assert T.corpus_bleu(["no effusion"], ["no effusion"]) == 0.0
    assert T.corpus_bleu(["no effusion"], ["no effusion"], max_order=2) == pytest.approx(1.0)


def test_vectorised_corpus_bleu_matches_scalar() -> None:
    rng = random.Random(3)
    words = ["a", "b", "c", "d", "."]
    rows = []
    for _ in range(200):
        h = [rng.choice(words) for _ in range(rng.randint(0, 7))]
        r = [rng.choice(words) for _ in range(rng.randint(0, 7))]
        rows.append(T.bleu_stats(h, r))
    stats = np.array(rows)
    for k in range(1, 5):
        for size in (1, 2, 5, 50):
            sums = stats[:size].sum(axis=0)
            want = T.bleu_from_stats(sums.tolist(), k, stats_order=4)
            got = T.bleu_from_sums(sums[None, :], k)[0]
            assert got == pytest.approx(want, abs=1e-12)
        # sentence BLEU (effective order), one pair per row
        want_rows = [T.bleu_from_stats(row, k, effective_order=True, stats_order=4)
                     for row in rows]
        got_rows = T.bleu_from_sums(stats, k, effective_order=True)
        np.testing.assert_allclose(got_rows, want_rows, rtol=0, atol=1e-12)


def test_rexrank_bleu_by_hand() -> None:
    assert T.rexrank_bleu(HYP, REF) == pytest.approx(math.sqrt(5 / 6 * 3 / 5), abs=1e-15)
    # no bigram match: precision 0.1 / (number of candidate bigrams)
    assert T.rexrank_bleu("a b", "b a") == pytest.approx(math.sqrt(0.1), abs=1e-15)
    assert T.rexrank_bleu("a b c", "c b a") == pytest.approx(math.sqrt(0.1 / 2), abs=1e-15)
    # one-token candidate: bigram count floored at 1; brevity penalty exp(1 - 4/1)
    assert T.rexrank_bleu("Lungs", "lungs are clear.") == pytest.approx(
        math.sqrt(0.1) * math.exp(-3), abs=1e-15)
    # no unigram match, or empty candidate: 0
    assert T.rexrank_bleu("heart", "lungs") == 0.0
    assert T.rexrank_bleu("", "lungs") == 0.0
    # lower-cased; "." split off; equal lengths keep a brevity penalty of exp(0) = 1
    assert T.rexrank_bleu("Lungs clear.", "lungs clear .") == pytest.approx(1.0)


def _lcs_dp(a: list[str], b: list[str]) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = (table[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1]
                           else max(table[i - 1][j], table[i][j - 1]))
    return table[-1][-1]


def test_lcs_matches_dynamic_programming() -> None:
    rng = random.Random(0)
    for _ in range(500):
        a = [rng.choice("abcd") for _ in range(rng.randint(0, 40))]
        b = [rng.choice("abcd") for _ in range(rng.randint(0, 40))]
        assert T.lcs_length(a, b) == _lcs_dp(a, b)


def test_rouge_l_by_hand() -> None:
    p, r, f = T.rouge_l(HYP, REF)  # LCS "the cat on the mat" = 5 of 6 and 6
    assert (p, r, f) == pytest.approx((5 / 6, 5 / 6, 5 / 6))
    p, r, f = T.rouge_l("no effusion", "No pleural effusion.")
    assert (p, r) == pytest.approx((1.0, 2 / 3))
    assert f == pytest.approx(2 * 1.0 * (2 / 3) / (1 + 2 / 3))
    assert T.rouge_l("", "lungs clear") == (0.0, 0.0, 0.0)
    assert T.rouge_l("...", "lungs clear") == (0.0, 0.0, 0.0)
