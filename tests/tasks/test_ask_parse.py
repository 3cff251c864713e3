"""Question parsing: intent and slots from many phrasings (rules as data, no model needed)."""

from __future__ import annotations

import pytest

from radlens.schema import AskIntent
from radlens.tasks.ask import normalise, parse
from radlens.tasks.ask.parse import EMPTY, NOT_ENGLISH


@pytest.mark.parametrize("text,label", [
    ("Is there a pleural effusion?", "Pleural Effusion"),
    ("Is/Are there pleural effusions?", "Pleural Effusion"),
    ("Does the patient have pneumonia?", "Pneumonia"),
    ("Do you see a pneumothorax?", "Pneumothorax"),
    ("Is there evidence of a pneumothorax", "Pneumothorax"),
    ("Is a pneuomothorax present?", "Pneumothorax"),
    ("Can cardiomegaly be observed in this picture?", "Cardiomegaly"),
    ("Is the heart enlarged?", "Cardiomegaly"),
    ("Is the cardiac silhouette enlarged?", "Cardiomegaly"),
    ("Is there a lung mass?", "Lung Lesion"),
    ("Is/Are there nodules in the patient's lung?", "Lung Lesion"),
    ("Are there patchy infiltrates present?", "Lung Opacity"),
    ("Is there any costophrenic angle blunting?", "Pleural Effusion"),
    ("Has the left lung collapsed?", "Atelectasis"),
    ("Are there signs of tuberculosis?", "Tuberculosis"),
    ("Is there pulmonary edema", "Edema"),
    ("Is/Are there pulmonary consolidations?", "Consolidation"),
    ("Does this patient have emphysema?", "Emphysema"),
])
def test_presence_questions_name_their_finding(text: str, label: str) -> None:
    q = parse(text)
    assert q.intent == AskIntent.PRESENCE
    assert q.closed
    assert label in q.labels
    assert not q.negated
    assert q.rules  # the rule that fired travels with the question


@pytest.mark.parametrize("text,label", [
    ("Are there lungs free of consolidation?", "Consolidation"),
    ("Is there no pneumothorax?", "Pneumothorax"),
    ("Is the heart size normal?", "Cardiomegaly"),
])
def test_negated_questions_ask_about_absence(text: str, label: str) -> None:
    q = parse(text)
    assert label in q.labels and q.negated


@pytest.mark.parametrize("text,side,zone", [
    ("Can mass be observed on the lower left lung in this picture?", "left", "lower"),
    ("Can pneumonia be observed on the upper right lung in this picture?", "right", "upper"),
    ("Is/Are there a pneumothorax in the patient's right lung?", "right", None),
    ("Is/Are the nodules located near/in the both lungs?", "bilateral", None),
])
def test_side_and_zone_slots(text: str, side: str, zone: str | None) -> None:
    q = parse(text)
    assert (q.side, q.zone) == (side, zone)
    assert q.labels


@pytest.mark.parametrize("text,intent,closed", [
    ("Is this image normal?", AskIntent.NORMALITY, True),
    ("Are the lungs normal appearing?", AskIntent.NORMALITY, True),
    ("Is anything wrong in this image?", AskIntent.NORMALITY, True),
    ("Is the lung healthy?", AskIntent.NORMALITY, True),
    ("Does this image look abnormal?", AskIntent.NORMALITY, True),
    ("Which organ is abnormal, heart or lung?", AskIntent.ABNORMAL_ORGAN, False),
    ("Where is the pneumonia?", AskIntent.LOCATION, False),
    ("Which side of lung is abnormal in this image,left or right?", AskIntent.LOCATION, False),
    ("Which lobe is abnormal in this image?", AskIntent.LOCATION, False),
    ("What part of the lung is the nodule located in?", AskIntent.LOCATION, False),
    ("What modality is used to take this image?", AskIntent.MODALITY, False),
    ("How was this image taken?", AskIntent.MODALITY, False),
    ("Is this a CT scan?", AskIntent.MODALITY, True),
    ("Is this image taken via x-ray?", AskIntent.MODALITY, True),
    ("Is this a PA film?", AskIntent.PLANE, True),
    ("Is this an AP or PA film?", AskIntent.PLANE, True),
    ("What is the scanning plane of this image?", AskIntent.PLANE, False),
    ("Is this a coronal plane?", AskIntent.PLANE, True),
    ("What is the cardiothoracic ratio?", AskIntent.HEART_SIZE, False),
    ("Is the heart greater than 50% of the chest diameter", AskIntent.HEART_SIZE, True),
    ("How many lungs are shown in this image?", AskIntent.COUNT, False),
    ("How many existing heart in this image?", AskIntent.COUNT, False),
    ("What organ system is pictured?", AskIntent.ORGAN, False),
    ("Which part of the body does this image belong to?", AskIntent.ORGAN, False),
    ("Is this a study of the chest?", AskIntent.ORGAN, True),
    ("What diseases are included in the picture?", AskIntent.FINDINGS, False),
    ("What is abnormal in this image?", AskIntent.FINDINGS, False),
])
def test_intents(text: str, intent: AskIntent, closed: bool) -> None:
    q = parse(text)
    assert q.intent == intent
    assert q.closed is closed


def test_choices_are_the_asked_options() -> None:
    assert parse("Is this an AP or PA film?").choices == ("ap", "pa film")
    assert parse("Which plane is the image scanned, transverse plane or coronal plane?"
                 ).choices == ("transverse plane", "coronal plane")
    assert parse("Is a pneumonia or pleural effusion seen in this image?").choices == (
        "Pneumonia", "Pleural Effusion")
    assert parse("Is the hyperinflation unilateral or bilateral?").choices == (
        "unilateral", "bilateral")
    assert parse("Is this a CT scan?").choices == ("ct",)
    assert parse("Is this a study of the abdomen?").choices == ("abdomen",)


@pytest.mark.parametrize("text,thing", [
    ("Are there any rib fractures?", "fractures"),
    ("Is there a central line?", "tubes, lines and devices"),
    ("Is there tracheal deviation?", "the trachea"),
    ("Is there free air under the diaphragm?", "free air"),
    ("Is the mediastinum widened?", "the mediastinum"),
])
def test_things_no_model_assesses_are_flagged(text: str, thing: str) -> None:
    assert thing in parse(text).unsupported


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_question_is_invalid(text: str) -> None:
    q = parse(text)
    assert q.intent == AskIntent.INVALID and q.problem == EMPTY


@pytest.mark.parametrize("text", ["¿Hay un derrame pleural en esta imagen?",
                                  "这张图片中有胸腔积液吗？",
                                  "Y a-t-il quelque chose d'anormal ici ?",
                                  "Gibt es hier einen Befund?"])
def test_non_english_question_is_invalid(text: str) -> None:
    q = parse(text)
    assert q.intent == AskIntent.INVALID and q.problem == NOT_ENGLISH


@pytest.mark.parametrize("text,word", [
    ("Is the liver enlarged on this CT?", "CT"),
    ("Is there a pleural effusion on this MRI?", "MRI"),
    ("Does the ultrasound show gallstones?", "ultrasound"),
    ("Is the liver enlarged?", "liver"),
    ("Is there air in the abdominal cavity?", "abdomen"),
])
def test_other_modality_or_organ_is_invalid_and_says_which(text: str, word: str) -> None:
    q = parse(text)
    assert q.intent == AskIntent.INVALID
    assert q.problem is not None and word in q.problem


def test_knowledge_questions_are_not_taken() -> None:
    q = parse("How to treat the disease located on the left of lung in this image?")
    assert q.intent == AskIntent.UNKNOWN and q.problem is not None


def test_normalise_undoes_vqa_templates() -> None:
    assert normalise("Is/Are there a mass near/in the lung? -yes/no") == \
        "is there a mass in the lung"
    assert normalise("  What   modality?  ") == "what modality"


def test_parse_never_raises_on_odd_text() -> None:
    for text in ["?", "???", "x" * 5000, "is is is", "1234", "\x00\x01", "Is there a"]:
        q = parse(text)
        assert q.intent in set(AskIntent)
