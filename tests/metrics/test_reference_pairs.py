"""The 93 IU report pairs scored by the ReXrank reference implementation (shared data)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from radlens.metrics import text as T
from radlens.metrics.base import get_metric
from radlens.metrics.io import join, read_texts

PAIRS = Path("report-metrics") / "iu-pairs-with-scores.csv"


@pytest.fixture(scope="module")
def iu_rows(shared_data: Path) -> list[dict[str, str]]:
    with (shared_data / PAIRS).open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 93
    return rows


def test_rexrank_bleu_reproduces_reference_scores(iu_rows: list[dict[str, str]]) -> None:
    for row in iu_rows:
        got = T.rexrank_bleu(row["candidate"], row["reference"])
        assert abs(got - float(row["bleu_score"])) <= 1e-9, row["study_id"]


def test_rexrank_metric_mean_and_per_pair(iu_rows: list[dict[str, str]]) -> None:
    result = get_metric("rexrank_bleu").compute(
        [r["reference"] for r in iu_rows], [r["candidate"] for r in iu_rows],
        [r["study_id"] for r in iu_rows])
    want = np.array([float(r["bleu_score"]) for r in iu_rows])
    np.testing.assert_allclose(result.per_pair["bleu2"], want, rtol=0, atol=1e-9)
    assert result["bleu2"] == pytest.approx(want.mean(), abs=1e-12)
    ci = result.aggregates["bleu2"].confidence_interval(n_boot=200)
    assert ci.low < want.mean() < ci.high


def test_reading_the_csv_as_refs_and_hyps(shared_data: Path) -> None:
    path = shared_data / PAIRS
    refs = read_texts(path, role="refs")
    hyps = read_texts(path, role="hyps")
    assert (refs.id_column, refs.text_column, hyps.text_column) == (
        "study_id", "reference", "candidate")
    pairs = join(refs, {"hyps": hyps})
    assert len(pairs.ids) == 93 and pairs.complete


def test_sacrebleu_and_rouge_score_agree_on_iu_pairs(iu_rows: list[dict[str, str]]) -> None:
    sacrebleu = pytest.importorskip("sacrebleu")
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    hyps = [r["candidate"] for r in iu_rows]
    refs = [r["reference"] for r in iu_rows]
    result = get_metric("bleu").compute(refs, hyps)
    for k in range(1, 5):
        want = sacrebleu.BLEU(max_ngram_order=k).corpus_score(hyps, [refs]).score / 100
        assert result[f"bleu{k}"] == pytest.approx(want, abs=1e-12)
    sent = sacrebleu.BLEU(effective_order=True)
    want4 = [sent.sentence_score(h, [r]).score / 100 for h, r in zip(hyps, refs, strict=True)]
    np.testing.assert_allclose(result.per_pair["bleu4"], want4, rtol=0, atol=1e-12)
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    want_f = [scorer.score(r, h)["rougeL"].fmeasure for h, r in zip(hyps, refs, strict=True)]
    rouge = get_metric("rouge").compute(refs, hyps)
    np.testing.assert_allclose(rouge.per_pair["rougeL_f"], want_f, rtol=0, atol=1e-12)
