"""Negation, uncertainty, list scope, sections and sentences."""

from __future__ import annotations

from pathlib import Path

import pytest

from radlens.text import split_sections, split_sentences
from radlens.text.labeler import label


def values(text: str, vocab: str = "chexpert14") -> dict[str, int | None]:
    return {k: v for k, v in label([text], vocab)[0].labels if v is not None}


@pytest.mark.parametrize("text", [
    "No pneumothorax.",
    "There is no pneumothorax.",
    "Without pneumothorax.",
    "Negative for pneumothorax.",
    "No evidence of pneumothorax.",
    "Pneumothorax is not seen.",
    "The pneumothorax has resolved.",
    "Resolved pneumothorax.",
    "Lungs are clear of pneumothorax.",
    "Free of pneumothorax.",
])
def test_negation_constructs(text: str) -> None:
    assert values(text)["Pneumothorax"] == 0


@pytest.mark.parametrize("text", [
    "Possible pneumonia.",
    "Findings may represent pneumonia.",
    "Pneumonia cannot be excluded.",
    "Cannot exclude pneumonia.",
    "Findings suggestive of pneumonia.",
    "Atelectasis versus pneumonia.",
    "Pneumonia versus atelectasis.",
    "Questionable pneumonia.",
    "Concerning for pneumonia.",
])
def test_uncertainty_constructs(text: str) -> None:
    assert values(text)["Pneumonia"] == -1


@pytest.mark.parametrize("text", ["Right lower lobe pneumonia.", "Pneumonia is present.",
                                  "No change in the right lower lobe pneumonia."])
def test_affirmed(text: str) -> None:
    assert values(text)["Pneumonia"] == 1


def test_negation_list_scope() -> None:
    v = values("No effusion, pneumothorax or consolidation.")
    assert (v["Pleural Effusion"], v["Pneumothorax"], v["Consolidation"]) == (0, 0, 0)


def test_scope_ends_at_terminator_and_sentence() -> None:
    v = values("No pneumothorax, but there is a left pleural effusion. Atelectasis.")
    assert v["Pneumothorax"] == 0
    assert v["Pleural Effusion"] == 1
    assert v["Atelectasis"] == 1


def test_mixed_uncertain_and_negated_in_one_sentence() -> None:
    v = values("Possible small effusion, no pneumothorax.")
    assert v["Pleural Effusion"] == -1 and v["Pneumothorax"] == 0


def test_heart_size_phrases() -> None:
    assert values("Heart size is normal.")["Cardiomegaly"] == 0
    assert values("The heart is not enlarged.")["Cardiomegaly"] == 0
    assert values("The heart is enlarged.")["Cardiomegaly"] == 1
    assert values("Cardiomegaly without overt edema.")["Edema"] == 0


def test_no_finding_logic() -> None:
    assert values("No acute disease. No effusion.")["No Finding"] == 1
    assert "No Finding" not in values("Mild cardiomegaly.")
    assert "No Finding" not in values("Possible pneumonia.")
    # another abnormality (not one of the 14) also rules out No Finding
    assert "No Finding" not in values("Hyperinflated lungs. No effusion.")
    # support devices do not
    v = values("Pacemaker in place. No effusion.")
    assert v["Support Devices"] == 1 and v["No Finding"] == 1
    # negated other abnormality does not block
    assert values("No emphysema.")["No Finding"] == 1


def test_aggregation_prefers_positive_then_uncertain() -> None:
    assert values("No effusion on the right. Left effusion.")["Pleural Effusion"] == 1
    assert values("No right effusion. Possible left effusion.")["Pleural Effusion"] == -1


def test_indication_is_not_labelled() -> None:
    text = "INDICATION: Rule out pneumonia.\nFINDINGS: Lungs are clear. No pneumothorax."
    v = values(text)
    assert "Pneumonia" not in v and v["Pneumothorax"] == 0


def test_nih_vocab() -> None:
    v = values("Hiatal hernia. Small nodule in the right upper lobe. No effusion.", "nih14")
    assert v == {"Hernia": 1, "Nodule": 1, "Effusion": 0}


def test_sections_inline_headers() -> None:
    text = "COMPARISON: None. FINDINGS: No pneumothorax. IMPRESSION: Normal."
    secs = split_sections(text)
    names = [s.name for s in secs]
    assert names == ["comparison", "findings", "impression"]
    body = {s.name: text[s.start:s.end].strip() for s in secs}
    assert body["findings"] == "No pneumothorax."
    assert body["impression"] == "Normal."
    assert not secs[0].labelled and secs[1].labelled


def test_sections_header_on_own_line_and_none() -> None:
    text = "IMPRESSION\n1. Normal chest."
    secs = split_sections(text)
    assert secs[-1].name == "impression" and text[secs[-1].start:].strip() == "1. Normal chest."
    assert [s.name for s in split_sections("No header here.")] == [None]


@pytest.mark.parametrize("text,expected", [
    ("Dr. XXXX was notified. No effusion.", ["Dr. XXXX was notified.", "No effusion."]),
    ("A 2.5 cm nodule. No effusion.", ["A 2.5 cm nodule.", "No effusion."]),
    ("1. Stable cardiomegaly. 2. Clear lungs.", ["1. Stable cardiomegaly.", "2. Clear lungs."]),
    ("Normal chest x-XXXX. XXXX are intact.", ["Normal chest x-XXXX.", "XXXX are intact."]),
    ("Opacity, e.g. atelectasis. Next", ["Opacity, e.g. atelectasis.", "Next"]),
    ("First line\n\nSecond line", ["First line", "Second line"]),
])
def test_sentences(text: str, expected: list[str]) -> None:
    assert [text[s:e] for s, e in split_sentences(text)] == expected


# --- CheXpert conventions (patterns/*.txt of the CheXpert labeller) ---

@pytest.mark.parametrize("text", ["Probable pneumonia.", "Pneumonia is less likely.",
                                  "Pneumonia is suspected.", "Opacity favoring pneumonia.",
                                  "Pneumonia difficult to exclude.",
                                  "Opacity may be compatible with pneumonia."])
def test_chexpert_uncertain(text: str) -> None:
    assert values(text)["Pneumonia"] == -1


@pytest.mark.parametrize("text", ["Likely pneumonia.", "Opacity, probably pneumonia.",
                                  "Opacity consistent with pneumonia.",
                                  "Opacity most likely pneumonia."])
def test_chexpert_has_no_cue_for_likely(text: str) -> None:
    # CheXpert lists "probable" and "less likely" as uncertain, but not "likely"/"probably"
    assert values(text)["Pneumonia"] == 1


@pytest.mark.parametrize("text", ["No definite pneumonia.", "No obvious pneumonia.",
                                  "No convincing evidence of pneumonia."])
def test_no_definite_is_negation(text: str) -> None:
    assert values(text)["Pneumonia"] == 0


def test_or_is_positive_by_default_and_uncertain_with_the_chexpert_rule(tmp_path: Path) -> None:
    v = values("Left basilar scarring or atelectasis.")
    assert v["Atelectasis"] == 1  # the IU human gold reads "A or B" as present
    rules = tmp_path / "or.tsv"
    rules.write_text("uncertainty\tboth\tor\tweak,alternative\n", encoding="utf-8")

    def strict(text: str) -> dict[str, int | None]:
        return label([text], extra_rules=rules)[0].as_dict()

    assert strict("Left basilar scarring or atelectasis.")["Atelectasis"] == -1
    v = strict("No effusion or pneumothorax.")  # negation wins over "or"
    assert v["Pleural Effusion"] == 0 and v["Pneumothorax"] == 0
    assert strict("Atelectasis, stable or slightly improved.")["Atelectasis"] == 1  # not across ,
    v = strict("Effusion and/or atelectasis.")
    assert v["Pleural Effusion"] == -1 and v["Atelectasis"] == -1


def test_heart_size_conventions() -> None:
    assert values("Heart size is at the upper limits of normal.")["Cardiomegaly"] == 0
    assert values("Borderline heart size.")["Cardiomegaly"] == -1
    assert values("Borderline cardiomegaly.")["Cardiomegaly"] == 1


def test_nih_phrases() -> None:
    assert values("Cystic fibrosis.", "nih14").get("Fibrosis") is None
    assert values("Pulmonary fibrosis.", "nih14")["Fibrosis"] == 1
    assert values("Right lower lobe pneumonitis.", "nih14")["Pneumonia"] == 1
