"""The label() contract: evidence, ids, bad input, extra rules, CheXpert samples, properties."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import radlens
from radlens.errors import DataError
from radlens.text.labeler import MAX_CHARS, label, label_detailed
from radlens.vocab import CHEXPERT14, NIH14


def test_evidence_for_every_non_blank_label() -> None:
    text = "FINDINGS: Left pleural effusion. No pneumothorax.\nIMPRESSION: Possible pneumonia."
    rec = label([text], ids=["r1"])[0]
    assert rec.id == "r1" and rec.vocabulary == "chexpert14"
    assert [lab for lab, _ in rec.labels] == list(CHEXPERT14.labels)
    for lab, value in rec.labels:
        evs = [e for e in rec.evidence if e.label == lab]
        assert (value is None) == (not evs)
    eff = next(e for e in rec.evidence if e.label == "Pleural Effusion")
    assert text[eff.start:eff.end] == "effusion"
    assert text[eff.sentence_start:eff.sentence_end] == "Left pleural effusion."
    assert eff.section == "findings" and "mentions_chexpert14.tsv" in eff.rule
    pna = next(e for e in rec.evidence if e.label == "Pneumonia")
    assert pna.value == -1 and pna.section == "impression" and "possible" in pna.rule


def test_package_level_api() -> None:
    assert radlens.label(["No effusion."])[0].value("Pleural Effusion") == 0


def test_default_ids_and_vocab() -> None:
    recs = label(["a", "b"], vocab="nih14")
    assert [r.id for r in recs] == ["0", "1"]
    assert [lab for lab, _ in recs[0].labels] == list(NIH14.labels)


@pytest.mark.parametrize("bad", ["", "   \n", None, 42, "\x00\x01\x02" * 100])
def test_bad_input_never_raises(bad: object) -> None:
    out = label_detailed(["Cardiomegaly.", bad, "No effusion."])
    assert len(out) == 3
    assert out[0].record.value("Cardiomegaly") == 1
    assert out[2].record.value("Pleural Effusion") == 0
    assert out[1].warnings


def test_huge_report_is_truncated_with_warning() -> None:
    text = "Cardiomegaly. " + "Normal. " * (MAX_CHARS // 8 + 10)
    res = label_detailed([text])[0]
    assert res.record.value("Cardiomegaly") == 1
    assert any("characters" in w for w in res.warnings)


def test_ids_length_mismatch() -> None:
    with pytest.raises(DataError):
        label(["a"], ids=["x", "y"])


def test_unknown_vocab() -> None:
    with pytest.raises(DataError):
        label(["a"], vocab="radgraph")


def test_extra_rules(tmp_path: Path) -> None:
    rules = tmp_path / "extra.tsv"
    rules.write_text("# mine\nmention\tPneumonia\tlobar infection\n"
                     "mention\tNodule\tspot\n"  # nih14 label: ignored for chexpert14
                     "negation\tpre\tgone is\n", encoding="utf-8")
    v = label(["Lobar infection.", "Gone is the lobar infection."], extra_rules=rules)
    assert v[0].value("Pneumonia") == 1
    assert v[1].value("Pneumonia") == 0
    assert label(["A spot."], vocab="nih14", extra_rules=rules)[0].value("Nodule") == 1


@pytest.mark.parametrize("content,msg", [
    ("mention\tPneumonia\n", "columns"),
    ("bogus\tx\ty\n", "kind"),
    ("mention\tNot A Label\tfoo\n", "label"),
    ("mention\tPneumonia\t(unclosed\n", "regular expression"),
])
def test_bad_rule_file(tmp_path: Path, content: str, msg: str) -> None:
    rules = tmp_path / "bad.tsv"
    rules.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=msg) as exc:
        label(["x"], extra_rules=rules)
    assert exc.value.source == str(rules)


def test_missing_rule_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        label(["x"], extra_rules=tmp_path / "nope.tsv")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(max_size=300), max_size=6))
def test_property_never_raises_and_keeps_length(texts: list[str]) -> None:
    recs = label(texts)
    assert len(recs) == len(texts)
    for text, rec in zip(texts, recs, strict=True):
        for ev in rec.evidence:
            assert 0 <= ev.start <= ev.end <= len(text)
            assert ev.sentence_start <= ev.start and ev.end <= ev.sentence_end
        assert all(v in (1, 0, -1, None) for _, v in rec.labels)


WORDS = ["no", "effusion", "pneumothorax", "possible", "heart", "enlarged", ",", ".", "or",
         "FINDINGS:", "may", "represent", "atelectasis", "without", "edema", "\n", "XXXX"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=40))
def test_property_report_like_text(words: list[str]) -> None:
    text = " ".join(words)
    rec = label([text], vocab="nih14")[0]
    for ev in rec.evidence:
        assert text[ev.start:ev.end].strip() == text[ev.start:ev.end]


def test_chexpert_labeller_samples(shared_data: Path) -> None:
    path = shared_data / "samples" / "chexpert-labeler" / "labeled_reports.csv"
    if not path.is_file():
        pytest.skip("CheXpert labeller samples absent")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    recs = label([r["Reports"] for r in rows])
    for row, rec in zip(rows, recs, strict=True):
        want = {lab: (None if row[lab] == "" else int(float(row[lab])))
                for lab in CHEXPERT14.labels}
        assert rec.as_dict() == want, row["Reports"]


def test_trigger_flags(tmp_path: Path) -> None:
    from radlens.text.ruleset import load_rules
    alt = {t.pattern for t in load_rules("chexpert14").triggers if t.alternative}
    assert "versus" in alt and "or" not in alt  # "or" ships disabled (see context.tsv)
    # NIH-14 follows the NegBio convention: the flagged cues are left out of its rules
    nih = load_rules("nih14")
    assert not any(t.alternative or t.leaning for t in nih.triggers)
    assert dict(nih.conventions) == {"alternative": "positive", "leaning": "positive"}
    rules = tmp_path / "flags.tsv"
    rules.write_text("uncertainty\tpre\tmaybe\tstrong\n", encoding="utf-8")
    with pytest.raises(DataError, match="flags"):
        label(["x"], extra_rules=rules)


def test_duplicate_texts_keep_their_ids() -> None:
    recs = label(["Cardiomegaly.", "No effusion.", "Cardiomegaly."], ids=["a", "b", "c"])
    assert [r.id for r in recs] == ["a", "b", "c"]
    assert recs[0].labels == recs[2].labels and recs[0].evidence == recs[2].evidence


@pytest.mark.parametrize("text,label_,chexpert,negbio", [
    ("Left basilar atelectasis versus scarring.", "Atelectasis", -1, 1),
    ("Probable small left pleural effusion.", "Pleural Effusion", -1, 1),
    ("Opacity may represent atelectasis versus pneumonia.", "Atelectasis", -1, -1),
    ("No effusion versus thickening.", "Pleural Effusion", 0, 0),
])
def test_conventions(text: str, label_: str, chexpert: int, negbio: int) -> None:
    """'A versus B' and 'probable X': uncertain under CheXpert, present under NegBio, and other
    cues in the sentence still decide ("may represent", "no")."""
    assert label([text], convention="chexpert")[0].as_dict()[label_] == chexpert
    assert label([text], convention="negbio")[0].as_dict()[label_] == negbio
    nih = "Effusion" if label_ == "Pleural Effusion" else label_
    assert label([text], vocab="nih14")[0].as_dict()[nih] == negbio  # NIH-14 default
    assert label([text])[0].as_dict()[label_] == chexpert  # CheXpert-14 default


def test_convention_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="convention"):
        label(["x"], convention="strict")
    bad = tmp_path / "conv.tsv"
    bad.write_text("convention\tweak\tpositive\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 1: convention"):
        label(["x"], extra_rules=bad)
    user = tmp_path / "user.tsv"  # a user's rule file can switch the convention
    user.write_text("convention\talternative\tpositive\n", encoding="utf-8")
    rec = label(["Atelectasis versus scarring."], extra_rules=user)[0]
    assert rec.as_dict()["Atelectasis"] == 1
