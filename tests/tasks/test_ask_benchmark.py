"""Scoring of the VQA benchmark (`radlens.tasks.ask.benchmark`), and the real question sets
when ../shared/data is there (skipped cleanly otherwise)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from radlens.errors import DataError
from radlens.schema import AskIntent
from radlens.tasks.ask import parse
from radlens.tasks.ask.benchmark import VqaItem, correct, load_questions, normalise_answer, score


@pytest.mark.parametrize("text,norm", [
    (" The X-Ray.", "x-ray"), ("Yes", "yes"), ("coronal  plane", "coronal plane"),
    ("0.5", "0.5"), ("Lower left lung!", "lower left lung"), ("heart\tlungs", "heart lungs"),
])
def test_normalise_answer(text: str, norm: str) -> None:
    assert normalise_answer(text) == norm


def test_unanswered_is_never_correct() -> None:
    assert correct("yes", True, "Yes")
    assert not correct("yes", False, "yes")
    assert not correct("no", True, "yes")


def _item(i: int, answer: str, closed: bool = True, qtype: str = "PRES") -> VqaItem:
    return VqaItem(Path(f"img{i // 2}.png"), f"q{i}", answer, closed, qtype, str(i))


def test_score_accuracy_coverage_selective_and_majority() -> None:
    items = [_item(0, "yes"), _item(1, "no"), _item(2, "no"), _item(3, "no"),
             _item(4, "x-ray", closed=False, qtype="MODALITY")]
    answers = ["yes", "cannot answer: x", "yes", "no", "x-ray"]
    answered = [True, False, True, True, True]
    res = score(items, answers, answered, n_boot=50)
    closed = res["closed"]
    assert closed["accuracy"]["value"] == 0.5 and closed["accuracy"]["n"] == 4
    assert closed["coverage"]["value"] == 0.75
    assert closed["selective_accuracy"]["value"] == pytest.approx(2 / 3, abs=1e-4)
    assert closed["majority_answer"] == "no" and closed["majority_accuracy"]["value"] == 0.75
    assert closed["accuracy"]["ci_low"] <= 0.5 <= closed["accuracy"]["ci_high"]
    assert set(closed["by_type"]) == {"PRES"}
    assert res["open"]["by_type"]["MODALITY"]["accuracy"]["value"] == 1.0
    with pytest.raises(DataError):
        score(items, answers[:2], answered, n_boot=10)


def test_load_questions_filters_chest(tmp_path: Path) -> None:
    (tmp_path / "vqa-rad").mkdir()
    rows = [{"qid": 1, "image_name": "a.jpg", "image_organ": "CHEST", "answer": "No",
             "answer_type": "CLOSED", "question_type": "PRES, POS", "question": "Is there X?"},
            {"qid": 2, "image_name": "b.jpg", "image_organ": "HEAD", "answer": "Yes",
             "answer_type": "CLOSED", "question_type": "PRES", "question": "Is there Y?"}]
    (tmp_path / "vqa-rad" / "questions.json").write_text(json.dumps(rows))
    (item,) = load_questions(tmp_path, "vqa-rad")
    assert item.qtype == "PRES" and item.closed and item.image.name == "a.jpg"
    with pytest.raises(DataError):
        load_questions(tmp_path, "slake-cxr")


def test_real_question_sets_parse(shared_data: Path) -> None:
    counts = {}
    for name in ("vqa-rad", "slake-cxr"):
        if not (shared_data / name / "questions.json").is_file():
            pytest.skip(f"{name} is not in the shared data")
        items = load_questions(shared_data, name)
        counts[name] = len(items)
        intents = [parse(it.question).intent for it in items]
        assert all(i in set(AskIntent) for i in intents)
        # every closed SLAKE modality / plane / organ question is recognised
        if name == "slake-cxr":
            for it, intent in zip(items, intents, strict=True):
                if it.closed and it.qtype in ("Modality", "Plane", "Organ"):
                    assert intent != AskIntent.UNKNOWN, it.question
    assert counts == {"vqa-rad": 1088, "slake-cxr": 1736}
