"""Property tests: radlens's BLEU and ROUGE-L agree with sacrebleu and rouge-score.

sacrebleu and rouge-score are test-only dependencies; the tests skip when they are missing.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radlens.metrics import text as T

sacrebleu = pytest.importorskip("sacrebleu")
rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")

WORDS = ["the", "lungs", "are", "clear", "no", "pleural", "effusion", "heart", "size", "is",
         "normal", ".", ",", "2.5", "cm", "T12-L1", "(stable)", "&amp;", "Lungs", "CLEAR.",
         "x-ray", "1,000", "3-4", "pneumothorax;", "left", "right", "\n", "'", "\"", "é"]
texts = st.lists(st.sampled_from(WORDS), max_size=30).map(" ".join)
any_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
                   max_size=40)
SETTINGS = settings(max_examples=150, deadline=None)


@SETTINGS
@given(st.one_of(texts, any_text))
def test_tokenizer_13a_agrees(text: str) -> None:
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    assert T.tokenize_13a(text) == Tokenizer13a()(text.rstrip()).split()


@SETTINGS
@given(texts, texts, st.integers(1, 4))
def test_sentence_bleu_agrees(hyp: str, ref: str, order: int) -> None:
    want = sacrebleu.BLEU(max_ngram_order=order, effective_order=True).sentence_score(
        hyp, [ref]).score / 100
    assert T.sentence_bleu(hyp, ref, order) == pytest.approx(want, abs=1e-9)


@SETTINGS
@given(st.lists(st.tuples(texts, texts), min_size=1, max_size=6), st.integers(1, 4),
       st.booleans())
def test_corpus_bleu_agrees(pairs: list[tuple[str, str]], order: int, lower: bool) -> None:
    hyps = [h for h, _ in pairs]
    refs = [r for _, r in pairs]
    want = sacrebleu.BLEU(max_ngram_order=order, lowercase=lower).corpus_score(
        hyps, [refs]).score / 100
    assert T.corpus_bleu(hyps, refs, order, lowercase=lower) == pytest.approx(want, abs=1e-9)


@SETTINGS
@given(st.one_of(texts, any_text), st.one_of(texts, any_text))
def test_rouge_l_agrees(hyp: str, ref: str) -> None:
    want = rouge_scorer.RougeScorer(["rougeL"]).score(ref, hyp)["rougeL"]
    got = T.rouge_l(hyp, ref)
    assert got == pytest.approx((want.precision, want.recall, want.fmeasure), abs=1e-12)
