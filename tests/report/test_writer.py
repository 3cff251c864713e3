"""Report writing: sections, grounding, hedging, coverage, context, ordering, style."""

from __future__ import annotations

from pathlib import Path

import pytest

from radlens.errors import DataError
from radlens.report import build_style, check, report_text, structured_report, write_report
from radlens.report.style import load_style
from radlens.schema import Call, Finding, Interpretation, QCReport, Region, RegionKind
from tests.report.factories import interp, meta


def _grounded() -> Interpretation:
    regs = (Region("r1", RegionKind.FINDING, "Pneumonia",
                   zones=(("right lower", 0.7), ("right middle", 0.3)), side="right"),
            Region("r2", RegionKind.FINDING, "Pleural Effusion", side="left"))
    fs = (Finding("Pneumonia", 0.8, 0.5, Call.POSITIVE, "m", region_ids=("r1",)),
          Finding("Lung Opacity", 0.9, 0.5, Call.POSITIVE, "m", region_ids=("r1",)),
          Finding("Pleural Effusion", 0.4, 0.5, Call.UNCERTAIN, "m", 0.3, region_ids=("r2",)),
          Finding("Pneumothorax", 0.1, 0.5, Call.NEGATIVE, "m"),
          Finding("Cardiomegaly", 0.1, 0.6, Call.NEGATIVE, "m"))
    return Interpretation(meta(), QCReport(), fs, regs)


def test_positive_uncertain_and_negative_sentences_are_grounded() -> None:
    i = _grounded()
    r = write_report(i)
    findings = [s for s in r.sentences if s.section == "findings"]
    assert findings[0].text == ("Patchy opacity in the right middle and lower zones, "
                                "consistent with pneumonia.")
    assert set(findings[0].finding_labels) == {"Lung Opacity", "Pneumonia"}
    assert findings[0].region_ids == ("r1",)
    assert findings[1].text == "Possible left pleural effusion."
    assert findings[1].region_ids == ("r2",)
    assert "No pneumothorax." in r.section_text("findings")
    assert "Heart size is normal." in r.section_text("findings")
    assert dict(r.thresholds)["Cardiomegaly"] == pytest.approx(0.6)
    assert "models=m" in r.generator
    assert check(i, r) == []


def test_never_mentions_what_no_model_assessed() -> None:
    r = write_report(interp({"Pneumonia": Call.NEGATIVE}))
    text = report_text(r).lower()
    assert "pneumonia" in text
    for other in ("effusion", "pneumothorax", "heart", "abnormality", "edema"):
        assert other not in text


def test_normal_study_needs_a_model_that_assessed_no_finding() -> None:
    normal = write_report(interp({"No Finding": Call.POSITIVE, "Pneumothorax": Call.NEGATIVE}))
    assert normal.section_text("impression") == (
        "No acute cardiopulmonary abnormality detected within the scope of the models used.")
    without = write_report(interp({"Pneumothorax": Call.NEGATIVE}))
    assert without.section_text("impression") == "No pneumothorax."
    odd = write_report(interp({"No Finding": Call.NEGATIVE, "Pneumothorax": Call.NEGATIVE}))
    assert "Possible abnormality" in odd.section_text("impression")


def test_impression_orders_by_clinical_weight_and_indication() -> None:
    i = interp({"Cardiomegaly": Call.POSITIVE, "Pneumothorax": Call.POSITIVE,
                "Atelectasis": Call.POSITIVE})
    imp = [s.finding_labels[0] for s in write_report(i).sentences if s.section == "impression"]
    assert imp == ["Pneumothorax", "Cardiomegaly", "Atelectasis"]
    asked = write_report(i, indication="Known heart failure, ?cardiomegaly")
    imp = [s.finding_labels[0] for s in asked.sentences if s.section == "impression"]
    assert imp[0] == "Cardiomegaly"


def test_indication_asks_for_an_explicit_negative() -> None:
    i = interp({"No Finding": Call.POSITIVE, "Pneumonia": Call.NEGATIVE})
    plain = write_report(i).section_text("impression")
    asked = write_report(i, indication="Cough and fever").section_text("impression")
    assert "pneumonia" not in plain
    assert asked.endswith("In particular, no radiographic evidence of pneumonia.")
    assert write_report(i, indication="Cough and fever").sentences[1].text == "Cough and fever."


def test_age_sex_and_view_change_the_text() -> None:
    calls = {"Cardiomegaly": Call.NEGATIVE}
    adult = write_report(interp(calls, patient_age_years=64.0, patient_sex="F"))
    child = write_report(interp(calls, patient_age_years=6.0, patient_sex="M"))
    infant = write_report(interp(calls, patient_age_years=0.5, patient_sex=None))
    assert adult.sentences[0].text == "64-year-old woman."
    assert child.sentences[0].text == "6-year-old boy."
    assert infant.sentences[0].text == "6-month-old infant."
    assert "Heart size is normal for age." in child.section_text("findings")
    assert "for age" not in adult.section_text("findings")
    ap = write_report(interp({"Cardiomegaly": Call.POSITIVE}, view_position="AP"))
    assert "AP projection" in ap.section_text("findings")
    assert ap.section_text("technique") == "Single frontal AP view of the chest."


def test_unknown_label_uses_the_fallback_phrasing() -> None:
    r = write_report(interp({"Kerley Lines": Call.UNCERTAIN}))
    assert r.section_text("findings") == "Possible kerley lines."


def test_structured_report_has_one_entry_per_covered_finding() -> None:
    entries = structured_report(_grounded())
    assert [e.label for e in entries] == ["Pneumonia", "Lung Opacity", "Pleural Effusion",
                                          "Pneumothorax", "Cardiomegaly"]
    e = entries[0]
    assert (e.call, e.zones, e.side) == ("positive", ("right lower", "right middle"), "right")
    assert e.location == "in the right middle and lower zones"
    assert entries[2].uncertain_from == pytest.approx(0.3)


def _corpus(tmp_path: Path) -> Path:
    normal = "FINDINGS: Heart size is within normal limits. There is no pneumothorax."
    reports = [normal + " Effusion is seen.", normal, normal + " Effusion is seen.",
               "FINDINGS: Effusion is seen. Right lower lobe effusion.",
               "FINDINGS: Right lower lobe effusion. Right lower lobe effusion."]
    folder = tmp_path / "corpus"
    folder.mkdir()
    for k, text in enumerate(reports):
        (folder / f"{k}.txt").write_text(text)
    return folder


def test_style_corpus_supplies_the_most_common_phrasing(tmp_path: Path) -> None:
    style = build_style(_corpus(tmp_path))
    assert style.phrases["Pneumothorax|negative"][0] == "There is no pneumothorax."
    assert style.phrases["Cardiomegaly|negative"][0] == "Heart size is within normal limits."
    assert "Pleural Effusion|positive" in style.phrases  # "Right lower lobe" ones are skipped
    assert style.phrases["Pleural Effusion|positive"][0] == "Effusion is seen."
    i = interp({"Pneumothorax": Call.NEGATIVE, "Cardiomegaly": Call.NEGATIVE,
                "Pleural Effusion": Call.POSITIVE})
    r = write_report(i, style=style)
    text = r.section_text("findings")
    assert "There is no pneumothorax." in text and "Heart size is within normal limits." in text
    assert check(i, r) == []
    saved = style.save(tmp_path / "style.json")
    assert load_style(saved) == style
    assert write_report(i, style=saved) == r


def test_bad_style_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="style corpus not found"):
        write_report(interp({}), style=tmp_path / "missing")
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(DataError, match="not a radlens style file"):
        load_style(bad)


def test_iu_corpus_style_stays_self_consistent(shared_data: Path) -> None:
    from hypothesis import given, settings

    from tests.report.factories import interpretations

    style = build_style(shared_data / "iu-xray" / "reports")
    assert style.phrases["Pneumothorax|negative"][0] == "No pneumothorax."

    @settings(max_examples=100, deadline=None)
    @given(interpretations("chexpert14"))
    def prop(i: Interpretation) -> None:
        assert check(i, write_report(i, style=style)) == []

    prop()
