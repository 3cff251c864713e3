"""Answers computed from hand-built Interpretations (no model needed): every answer carries
its evidence, and what the reading cannot settle is "cannot answer: <reason>"."""

from __future__ import annotations

import pytest

from radlens.errors import InputError
from radlens.schema import (
    Answer,
    AskIntent,
    Box,
    Call,
    Finding,
    ImageMeta,
    Interpretation,
    Location,
    QCIssue,
    QCReport,
    Region,
    RegionKind,
    Severity,
)
from radlens.schema_json import from_json, to_json
from radlens.tasks.ask import answer, heart_ratio
from radlens.tasks.ask.answer import rule_out_threshold, verdict

MODEL = "stand-in"  # no card: a negative call rules a finding out


def _f(label: str, p: float, thr: float = 0.5, *, stated: float | None = None,
       zones: tuple[str, ...] = (), side: str | None = None, model: str = MODEL,
       uncertain_from: float | None = None) -> Finding:
    call = Call.from_probability(p, thr, uncertain_from)
    loc = Location(zones=zones, side=side, status="located") if zones or side else None
    return Finding(label, p, thr, call, model, uncertain_from=uncertain_from,
                   stated_from=stated, location=loc)


def _lungs() -> tuple[Region, ...]:
    return (Region("lr", RegionKind.LUNG, "right lung", box=Box(10, 10, 45, 90), side="right"),
            Region("ll", RegionKind.LUNG, "left lung", box=Box(55, 10, 90, 90), side="left"))


def _interp(*findings: Finding, view: str | None = "PA", modality: str | None = "DX",
            regions: tuple[Region, ...] | None = None,
            qc: tuple[QCIssue, ...] = ()) -> Interpretation:
    meta = ImageMeta(source="x.dcm", format="dicom", width=100, height=100,
                     modality=modality, view_position=view)
    return Interpretation(image=meta, qc=QCReport(qc), findings=findings,
                          regions=_lungs() if regions is None else regions, id="r1")


SICK = _interp(_f("No Finding", 0.1), _f("Pleural Effusion", 0.9, zones=("left lower",),
                                         side="left"),
               _f("Cardiomegaly", 0.05), _f("Pneumonia", 0.2), _f("Pneumothorax", 0.01),
               _f("Lung Lesion", 0.8, zones=("right upper",), side="right"))
WELL = _interp(_f("No Finding", 0.9), _f("Pleural Effusion", 0.05), _f("Cardiomegaly", 0.1),
               _f("Pneumonia", 0.1), _f("Lung Lesion", 0.05))


def _check(a: Answer, expected: str, answered: bool = True) -> None:
    assert a.answered is answered, a.answer
    if answered:
        assert a.answer == expected
        assert a.reason is None
    else:
        assert a.answer.startswith("cannot answer: ") and a.reason
        assert expected in a.answer


@pytest.mark.parametrize("question,expected", [
    ("Is there a pleural effusion?", "yes"),
    ("Does the patient have pneumonia?", "no"),
    ("Is there a pneumothorax?", "no"),
    ("Is the heart enlarged?", "no"),
    ("Is the heart size normal?", "yes"),
    ("Are the lungs free of effusion?", "no"),
    ("Is there a lung mass?", "yes"),
    ("Is there an effusion in the left lung?", "yes"),
    ("Is there an effusion in the right lung?", "no"),
    ("Can mass be observed on the upper right lung in this picture?", "yes"),
    ("Can mass be observed on the lower left lung in this picture?", "no"),
    ("Is a pneumonia or pleural effusion seen in this image?", "pleural effusion"),
])
def test_presence(question: str, expected: str) -> None:
    a = answer(SICK, question)
    _check(a, expected)
    assert a.intent in (AskIntent.PRESENCE, AskIntent.NORMALITY)  # "is the heart size normal?"
    ev = [e for e in a.evidence if e.kind == "finding"]
    assert ev and all(e.probability is not None and e.threshold is not None and e.call
                      for e in ev)


def test_presence_evidence_names_the_finding_and_its_place() -> None:
    a = answer(SICK, "Is there a pleural effusion?")
    (ev,) = a.evidence
    assert (ev.label, ev.probability, ev.threshold, ev.call) == ("Pleural Effusion", 0.9, 0.5,
                                                                 "positive")
    assert ev.zones == ("left lower",) and ev.side == "left"


def test_finding_no_model_assesses_cannot_be_answered() -> None:
    _check(answer(SICK, "Is there a rib fracture?"), "fractures", answered=False)
    _check(answer(SICK, "Is there tuberculosis?"), "Tuberculosis", answered=False)
    _check(answer(SICK, "Is there a chest tube?"), "tubes", answered=False)
    _check(answer(_interp(), "Is there a pleural effusion?"), "no findings", answered=False)


def test_uncertain_and_possible_findings_are_not_guessed() -> None:
    r = _interp(_f("Pneumonia", 0.45, uncertain_from=0.3),
                _f("Pleural Effusion", 0.6, stated=0.8))
    _check(answer(r, "Is there pneumonia?"), "uncertain", answered=False)
    _check(answer(r, "Is there a pleural effusion?"), "only possible", answered=False)


def test_call_policy_takes_the_operating_call() -> None:
    r = _interp(_f("Pleural Effusion", 0.6, stated=0.8))
    _check(answer(r, "Is there a pleural effusion?", policy="call"), "yes")
    with pytest.raises(InputError):
        answer(r, "Is there a pleural effusion?", policy="guess")


def test_a_no_needs_the_card_rule_out_threshold() -> None:
    model = "radlens-cxr-adult-lite0"
    low = rule_out_threshold(model, "Cardiomegaly")
    assert low is not None and 0 < low < 0.898
    above = _f("Cardiomegaly", min(0.89, low + 0.05), 0.898, model=model)
    below = _f("Cardiomegaly", low / 2, 0.898, model=model)
    assert verdict(above)[0] is None and verdict(below) == (False, "")
    _check(answer(_interp(above), "Is there cardiomegaly?"), "not ruled out", answered=False)
    _check(answer(_interp(below), "Is there cardiomegaly?"), "no")


def test_a_present_finding_with_a_quality_no_model_judges() -> None:
    _check(answer(SICK, "Is there a cavitary lesion?"), "cavitary", answered=False)
    _check(answer(WELL, "Is there a cavitary lesion?"), "no")


def test_middle_zone_does_not_settle_upper_or_lower() -> None:
    r = _interp(_f("Pneumonia", 0.9, zones=("right middle",), side="right"))
    _check(answer(r, "Can pneumonia be observed on the lower right lung?"), "location",
           answered=False)
    _check(answer(r, "Can pneumonia be observed on the left lung?"), "no")


@pytest.mark.parametrize("question,interp,expected", [
    ("Is this image normal?", SICK, "no"),
    ("Is this image abnormal?", SICK, "yes"),
    ("Is this image normal?", WELL, "yes"),
    ("Are there abnormalities in this image?", WELL, "no"),
    ("Is the lung healthy?", SICK, "no"),
    ("Are the lungs normal?", WELL, "yes"),
    ("Is the heart abnormal?", SICK, "no"),
    ("Is/Are there abnormalities in the patient's right lung?", SICK, "yes"),
    ("Which organ is abnormal, heart or lung?", SICK, "lung"),
])
def test_normality(question: str, interp: Interpretation, expected: str) -> None:
    _check(answer(interp, question), expected)


def test_normal_needs_the_normal_output_to_agree() -> None:
    r = _interp(_f("No Finding", 0.2), _f("Pneumonia", 0.1), _f("Cardiomegaly", 0.1))
    _check(answer(r, "Is this image normal?"), "does not call the film normal", answered=False)


@pytest.mark.parametrize("question,expected", [
    ("Where is the pleural effusion?", "lower left lung"),
    ("Where is the lung lesion?", "upper right lung"),
    ("Where is/are the abnormality located?", "both lungs"),
    ("Which side of lung is abnormal in this image, left or right?", "both"),
    ("What diseases are included in the picture?", "pleural effusion, lung lesion"),
])
def test_location_and_open_findings(question: str, expected: str) -> None:
    a = answer(SICK, question)
    _check(a, expected)
    assert all(e.kind == "finding" for e in a.evidence) and a.evidence


def test_location_of_an_absent_finding_cannot_be_given() -> None:
    _check(answer(SICK, "Where is the pneumonia?"), "negative", answered=False)
    _check(answer(SICK, "Where is the heart in this image?"), "heart", answered=False)


def test_one_sided_location() -> None:
    r = _interp(_f("Pneumonia", 0.9, zones=("right lower", "right middle"), side="right"))
    _check(answer(r, "Which side of lung is abnormal in this image, left or right?"), "right")
    _check(answer(r, "Where is the pneumonia?"), "right lung")
    _check(answer(r, "Which lobe is normal in this image?"), "left")


@pytest.mark.parametrize("question,expected,field", [
    ("What modality is used to take this image?", "x-ray", "modality"),
    ("Is this a CT scan?", "no", "modality"),
    ("Is this image taken via x-ray?", "yes", "modality"),
    ("Which type of modality is shown about this image, mri, ct or x-ray?", "x-ray",
     "modality"),
    ("Is this a PA film?", "yes", "view_position"),
    ("Is this an AP or PA film?", "pa", "view_position"),
    ("Is this an AP image?", "no", "view_position"),
    ("What is the scanning plane of this image?", "coronal plane", "view_position"),
    ("Is this a transverse plane?", "no", "view_position"),
    ("Which plane is the image scanned, transverse plane or coronal plane?", "coronal plane",
     "view_position"),
])
def test_metadata_answers_name_their_field(question: str, expected: str, field: str) -> None:
    a = answer(SICK, question)
    _check(a, expected)
    assert a.evidence[0].kind == "metadata" and a.evidence[0].field == field


def test_view_unknown_without_header() -> None:
    r = _interp(_f("Pneumonia", 0.1), view=None, modality=None)
    _check(answer(r, "Is this a PA film?"), "no view position", answered=False)
    a = answer(r, "What modality is used to take this image?")
    _check(a, "x-ray")
    assert a.evidence[0].kind == "scope"
    a = answer(r, "In what plane is this image scanned?")
    _check(a, "coronal plane")
    assert a.evidence[0].kind == "qc"


def test_probable_lateral_leaves_the_plane_open() -> None:
    lateral = QCIssue("probable_lateral", Severity.WARNING, "probably a lateral view")
    r = _interp(view=None, qc=(lateral,))
    _check(answer(r, "What is the scanning plane of this image?"), "lateral", answered=False)


def test_counts_organs_and_heart_size() -> None:
    a = answer(SICK, "How many lungs are shown in this image?")
    _check(a, "2")
    assert a.evidence[0].kind == "region" and set(a.evidence[0].region_ids) == {"lr", "ll"}
    _check(answer(SICK, "How many existing heart in this image?"), "lungs", answered=False)
    _check(answer(_interp(regions=()), "How many lungs are shown?"), "no lung segmentation",
           answered=False)
    _check(answer(SICK, "What organ system is pictured?"), "chest")
    _check(answer(SICK, "Is this a study of the abdomen?"), "no")
    _check(answer(SICK, "Which organs/organ is part of the respiratory system in this image?"),
           "lung")
    _check(answer(SICK, "What is the cardiothoracic ratio?"), "heart outline", answered=False)


def test_cardiothoracic_ratio_from_a_heart_outline() -> None:
    heart = Region("h", RegionKind.FINDING, "heart", box=Box(35, 40, 75, 80))
    r = _interp(regions=(*_lungs(), heart))
    ratio = heart_ratio(r)
    assert ratio is not None and ratio[0] == pytest.approx(40 / 80)
    a = answer(r, "What is the cardiothoracic ratio?")
    _check(a, "0.50")
    assert a.evidence[0].region_ids == ("h", "lr", "ll")
    _check(answer(r, "Is the heart greater than 50% of the chest diameter?"), "no")


@pytest.mark.parametrize("question,word", [
    ("", "empty"),
    ("¿Hay un derrame pleural?", "English"),
    ("Is the liver enlarged on this CT?", "CT"),
    ("Is the liver enlarged?", "liver"),
    ("What colour is the sky?", "not understood"),
])
def test_bad_questions_say_why(question: str, word: str) -> None:
    a = answer(SICK, question)
    _check(a, word, answered=False)


def test_answer_json_round_trip() -> None:
    a = answer(SICK, "Where is the pleural effusion?")
    assert from_json(to_json(a), Answer) == a
    assert a.interpretation_id == "r1" and a.source == "x.dcm"
    assert a.question is not None and a.question.intent == AskIntent.LOCATION
