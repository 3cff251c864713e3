"""Clinical context for the report: indication, age, sex and view, and what they change.

The indication (free text, from `--indication`) asks about findings in two ways: findings the
radlens labeller finds mentioned in it ("rule out pneumonia"), and findings tied to clinical
words by ``templates/clinical.json`` ("fever" asks about pneumonia). Asked findings are answered
first in the IMPRESSION, and an asked finding the models ruled out gets an explicit negative.
Age selects paediatric wording; age and sex open the CLINICAL INFORMATION line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from radlens.report.phrasebook import clinical
from radlens.schema import ImageMeta


@dataclass(frozen=True)
class ClinicalContext:
    """What is known about the patient and the request.

    `age_years` in years (None when unknown), `sex` "M"/"F"/"O" or None, `indication` free
    text or None, `view` the DICOM view position (e.g. "PA", "AP") or None, `asked` the finding
    labels the indication asks about.
    """

    indication: str | None = None
    age_years: float | None = None
    sex: str | None = None
    view: str | None = None
    asked: frozenset[str] = frozenset()

    @property
    def paediatric(self) -> bool:
        adult = float(clinical()["demographics"]["adult_age"])
        return self.age_years is not None and self.age_years < adult

    @property
    def variants(self) -> tuple[str, ...]:
        """Phrase-library variants this context selects ("paediatric", "ap_view")."""
        out = []
        if self.paediatric:
            out.append("paediatric")
        if self.view and self.view.upper().startswith("AP"):
            out.append("ap_view")
        return tuple(out)


@cache
def _question_rules() -> tuple[tuple[re.Pattern[str], tuple[str, ...]], ...]:
    rules = []
    for q in clinical()["questions"]:
        rules.append((re.compile(rf"\b(?:{q['pattern']})\b", re.IGNORECASE), tuple(q["labels"])))
    return tuple(rules)


def asked_labels(indication: str | None) -> frozenset[str]:
    """Finding labels (CheXpert-14, NIH-14 and keyword-rule names) `indication` asks about."""
    if not indication or not indication.strip():
        return frozenset()
    from radlens.text.labeler import label

    asked: set[str] = set()
    for vocab in ("chexpert14", "nih14"):
        record = label([f"FINDINGS: {indication}"], vocab=vocab)[0]
        asked.update(k for k, v in record.labels if v is not None and k != "No Finding")
    for pattern, labels in _question_rules():
        if pattern.search(indication):
            asked.update(labels)
    return frozenset(asked)


def context_for(meta: ImageMeta, indication: str | None = None) -> ClinicalContext:
    """The `ClinicalContext` of an image: age, sex and view from its metadata, plus `indication`.

    `indication` is stripped of surrounding white space; an empty one counts as none.
    """
    text = " ".join(indication.split()) if indication else None
    sex = meta.patient_sex.upper()[:1] if meta.patient_sex else None
    return ClinicalContext(indication=text or None, age_years=meta.patient_age_years,
                           sex=sex if sex in ("M", "F", "O") else None,
                           view=meta.view_position, asked=asked_labels(text))


def demographic_line(ctx: ClinicalContext) -> str | None:
    """"64-year-old woman." style line from age and sex; None when both are unknown."""
    if ctx.age_years is None and ctx.sex is None:
        return None
    demo = clinical()["demographics"]
    age = ctx.age_years
    band = "adult"
    if age is not None and age * 12 < float(demo["infant_months"]):
        band = "infant"
    elif ctx.paediatric:
        band = "child"
    person = str(demo["persons"][band].get(ctx.sex or "", demo["persons"][band][""]))
    if age is None:
        text = str(demo["without_age"])
        return text.format(Person=person[:1].upper() + person[1:], person=person)
    if band == "infant" and age < 1:
        return str(demo["with_months"]).format(months=max(1, int(age * 12)), person=person)
    return str(demo["with_age"]).format(age=int(age), person=person)
