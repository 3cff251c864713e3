"""Hypothesis strategies and builders for synthetic Interpretations (no image, no model)."""

from __future__ import annotations

from hypothesis import strategies as st

from radlens import vocab
from radlens.schema import (
    Call,
    Finding,
    ImageMeta,
    Interpretation,
    ModelInfo,
    QCReport,
    Region,
    RegionKind,
)

ZONES = tuple(f"{s} {lv}" for s in ("right", "left") for lv in ("upper", "middle", "lower"))
INDICATIONS = (None, "", "Cough and fever.", "Shortness of breath, ?CHF", "Rule out pneumothorax",
               "Trauma, fall from ladder", "PICC line placement", "Night sweats, weight loss",
               "Chest pain", "Follow-up of known mass")


def meta(**kw: object) -> ImageMeta:
    base: dict[str, object] = dict(source="synthetic.dcm", format="dicom", width=512, height=512,
                                   modality="DX", view_position="PA", patient_age_years=64.0,
                                   patient_sex="F",
                                   study_instance_uid="1.2.826.0.1.3680043.8.498.1",
                                   series_instance_uid="1.2.826.0.1.3680043.8.498.2",
                                   sop_instance_uid="1.2.826.0.1.3680043.8.498.3")
    base.update(kw)
    return ImageMeta(**base)  # type: ignore[arg-type]


@st.composite
def regions_for(draw: st.DrawFn, label: str, index: int) -> tuple[Region, ...]:
    n = draw(st.integers(0, 2))
    out = []
    for k in range(n):
        zones = draw(st.lists(st.sampled_from(ZONES), max_size=3, unique=True))
        fracs = draw(st.lists(st.floats(0.05, 1.0), min_size=len(zones), max_size=len(zones)))
        side = draw(st.sampled_from((None, "right", "left")))
        out.append(Region(id=f"r{index}-{k}", kind=RegionKind.FINDING, label=label,
                          zones=tuple(zip(zones, fracs, strict=True)), side=side,
                          score=draw(st.floats(0, 1))))
    return tuple(out)


@st.composite
def interpretations(draw: st.DrawFn, vocabulary: str = "chexpert14") -> Interpretation:
    """A random Interpretation over a random subset of `vocabulary`'s labels."""
    labels = draw(st.lists(st.sampled_from(vocab.get(vocabulary).labels), min_size=0,
                           max_size=14, unique=True))
    findings, regions = [], []
    for i, lab in enumerate(labels):
        call = draw(st.sampled_from(list(Call)))
        thr = draw(st.floats(0.2, 0.8))
        unc = thr - 0.15 if call is Call.UNCERTAIN else None
        prob = {Call.POSITIVE: min(1.0, thr + 0.1), Call.UNCERTAIN: thr - 0.05,
                Call.NEGATIVE: max(0.0, thr - 0.2)}[call]
        regs = draw(regions_for(lab, i)) if call is not Call.NEGATIVE else ()
        regions += regs
        # the high-specificity threshold: none (older card), below p (stated), above (possible)
        high = draw(st.sampled_from((None, thr + 0.05, thr + 0.3)))
        findings.append(Finding(lab, prob, thr, call, "synthetic-model", unc,
                                tuple(r.id for r in regs), high))
    m = meta(view_position=draw(st.sampled_from((None, "PA", "AP", "LL"))),
             patient_age_years=draw(st.one_of(st.none(), st.floats(0.1, 99))),
             patient_sex=draw(st.sampled_from((None, "F", "M", "O"))))
    return Interpretation(m, QCReport(), tuple(findings), tuple(regions),
                          models=(ModelInfo("synthetic-model", "1", "classify"),))


def interp(calls: dict[str, Call], **meta_kw: object) -> Interpretation:
    """A fixed Interpretation: label -> call, no regions."""
    fs = tuple(Finding(lab, 0.9 if c is Call.POSITIVE else 0.4 if c is Call.UNCERTAIN else 0.1,
                       0.5, c, "synthetic-model", 0.3 if c is Call.UNCERTAIN else None)
               for lab, c in calls.items())
    return Interpretation(meta(**meta_kw), QCReport(), fs,
                          models=(ModelInfo("synthetic-model", "1", "classify"),))
