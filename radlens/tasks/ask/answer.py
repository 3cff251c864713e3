"""Intent + `Interpretation` -> `radlens.schema.Answer`, computed only from the reading.

Every answer carries its evidence (`radlens.schema.AnswerEvidence`): the finding with its
probability, threshold and call; the regions and zones; or the metadata field. What the
reading cannot settle is answered ``"cannot answer: <reason>"`` with ``answered=False``,
never guessed:

- a finding no model of the reading assessed (fractures, tubes, the trachea, ...);
- a finding the reading neither states nor rules out: "yes" needs the finding stated (at or
  above its high-specificity threshold, `Finding.stated_from`; the operating threshold when
  the card has none), "no" needs it ruled out (below the card's rule-out threshold, by default
  its Youden threshold, at which validation sensitivity is high; ``answers.json``
  ``rule_out``). Between the two the answer is "cannot answer" with the probability and both
  thresholds: the operating call alone misses too much to rule a finding out;
- a place asked of a finding without a known location (no heatmap or lung segmentation, a
  lateral film);
- the view (PA / AP) when the file records none; the cardiothoracic ratio without a heart
  outline; counts of anything but the segmented lungs; a question not understood.

Answers are in the benchmarks' words (``answers.json``): "yes" / "no", the asked choice, or a
short phrase ("x-ray", "coronal", "lower left lung", "pleural effusion").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from contextvars import ContextVar
from functools import cache
from typing import Any

from radlens.errors import InputError, RadlensError
from radlens.schema import (
    Answer,
    AnswerEvidence,
    AskIntent,
    Call,
    Certainty,
    Finding,
    Interpretation,
    Question,
    RegionKind,
)
from radlens.tasks.ask.lexicon import lexicon
from radlens.tasks.ask.parse import parse

NO_MODEL = "the reading holds no findings (no finding model is installed)"
_ASKS_ABNORMAL = re.compile(r"\b(abnormal\w*|unhealthy|wrong|pathologic\w*|diseased|affected)\b")
_ASKS_NORMAL = re.compile(r"\b(normal|healthy|clear)\b")
_VIEWS = {"pa": "PA", "ap": "AP", "posteroanterior": "PA", "anteroposterior": "AP",
          "anterior posterior": "AP", "anterior-posterior": "AP", "posterior anterior": "PA",
          "posterior-anterior": "PA"}
_VIEW_WORDS = re.compile(r"\b(pa|ap|posteroanterior|anteroposterior|anterior[- ]posterior|"
                         r"posterior[- ]anterior)\b")
_OTHER_PLANES = re.compile(r"\b(sagittal|axial|transverse|lateral|mid-sagittal)\b")
_FRONTAL_PLANES = re.compile(r"\b(coronal|frontal)\b")
_CHOICE = re.compile(r"\b(or|vs|versus)\b")


def _phrases() -> dict[str, object]:
    return lexicon().answers


def _say(key: str) -> str:
    return str(_phrases()[key])


def _cannot(q: Question, interp: Interpretation, reason: str,
            evidence: Iterable[AnswerEvidence] = ()) -> Answer:
    return Answer(answer=f"{_say('cannot')}: {reason}", answered=False, intent=q.intent,
                  evidence=tuple(evidence), reason=reason, question=q,
                  interpretation_id=interp.id, source=interp.image.source)


def _ok(q: Question, interp: Interpretation, text: str,
        evidence: Iterable[AnswerEvidence]) -> Answer:
    return Answer(answer=text, answered=True, intent=q.intent, evidence=tuple(evidence),
                  question=q, interpretation_id=interp.id, source=interp.image.source)


def _yes_no(q: Question, interp: Interpretation, value: bool,
            evidence: Iterable[AnswerEvidence]) -> Answer:
    return _ok(q, interp, _say("yes") if value else _say("no"), evidence)


def finding_evidence(f: Finding) -> AnswerEvidence:
    """The evidence entry of one finding: label, probability, threshold, call, place."""
    loc = f.location
    known = loc is not None and loc.known
    return AnswerEvidence(kind="finding", label=f.label, probability=round(f.probability, 4),
                          threshold=round(f.threshold, 4), call=f.call.value,
                          side=loc.side if known and loc is not None else None,
                          zones=loc.zones if known and loc is not None else (),
                          region_ids=f.region_ids)


def _name(label: str) -> str:
    names = _phrases()["finding_names"]
    assert isinstance(names, dict)
    return str(names.get(label, label.lower()))


def _uncertain(f: Finding) -> str:
    low = f"{f.uncertain_from:.2f}" if f.uncertain_from is not None else "?"
    return (f"{f.label} is uncertain on this reading (probability {f.probability:.2f}, between "
            f"{low} and its threshold {f.threshold:.2f})")


@cache
def rule_out_threshold(model: str, label: str) -> float | None:
    """The probability below which `model`'s card rules `label` out (the ``answers.json``
    ``rule_out`` threshold of its ``thresholds`` block, e.g. "youden"); None when the card or
    the entry is missing (then the negative call rules out)."""
    policy = str(_phrases().get("rule_out", ""))
    if not policy:
        return None
    try:
        value = _card_thresholds(model).get(label, {}).get(policy)
    except AttributeError:
        return None
    return float(value) if isinstance(value, int | float) else None


@cache
def _card_thresholds(model: str) -> dict[str, Any]:
    """The ``thresholds`` block of `model`'s card ({} when there is no card): read once."""
    try:
        from radlens.models.registry import find_card

        block = find_card(model).get("thresholds", {})
    except (RadlensError, OSError, ValueError):
        return {}
    return dict(block) if isinstance(block, dict) else {}


#: How findings become yes / no (`answer`'s `policy`): "card" (default) needs a finding stated
#: for a yes and ruled out for a no; "call" takes the operating call as it is (positive -> yes,
#: negative -> no; only the uncertain call is not answered), for comparison.
POLICIES = ("card", "call")
_POLICY: ContextVar[str] = ContextVar("radlens_ask_policy", default="card")


def verdict(f: Finding) -> tuple[bool | None, str]:
    """Whether `f` may be answered present (True), absent (False) or neither (None), with
    the reason when neither: present needs the stated band, absent needs the probability
    below the card's rule-out threshold (or, without one, a negative call). Under the "call"
    policy (see `POLICIES`) the operating call decides."""
    if f.call is Call.UNCERTAIN:
        return None, _uncertain(f)
    if _POLICY.get() == "call":
        return f.call is Call.POSITIVE, ""
    if f.call is Call.POSITIVE:
        if f.certainty is Certainty.STATED:
            return True, ""
        return None, (f"{f.label} is only possible on this reading (probability "
                      f"{f.probability:.2f}, above its threshold {f.threshold:.2f} but below "
                      f"{f.stated_from:.2f}, where it would be stated)")
    low = rule_out_threshold(f.model, f.label)
    if low is None or f.probability < low:
        return False, ""
    return None, (f"{f.label} is not called (probability {f.probability:.2f}, below its "
                  f"threshold {f.threshold:.2f}) but not ruled out either (the model's "
                  f"rule-out threshold is {low:.2f})")


def _lung_labels(interp: Interpretation) -> list[Finding]:
    skip = set(_phrases()["not_lung_labels"])  # type: ignore[call-overload]
    return [f for f in interp.findings if f.label not in skip]


def _heart(interp: Interpretation) -> list[Finding]:
    heart = set(_phrases()["heart_labels"])  # type: ignore[call-overload]
    return [f for f in interp.findings if f.label in heart]


def _in_place(f: Finding, side: str | None, zone: str | None) -> bool | None:
    """True / False when `f`'s location settles whether it lies at (side, zone); None when
    its location is unknown."""
    loc = f.location
    if loc is None or not loc.known:
        return None
    sides = {z.split(" ")[0] for z in loc.zones} | ({loc.side} if loc.side else set())
    if "bilateral" in sides:
        sides |= {"right", "left"}
    if side == "bilateral" and not {"right", "left"} <= sides:
        return False
    if side in ("right", "left") and side not in sides:
        return False
    if zone is not None:
        on_side = [z for z in loc.zones if side in (None, "bilateral") or z.startswith(side)]
        if any(z.endswith(" " + zone) for z in on_side):
            return True
        if zone != "middle" and any(z.endswith(" middle") for z in on_side):
            return None  # a middle zone is neither clearly upper nor clearly lower
        return False
    return True


def _place_phrase(findings: list[Finding]) -> str | None:
    """One location phrase for positive findings (None when any location is unknown)."""
    loc_words = _phrases()["location"]
    assert isinstance(loc_words, dict)
    heart = {f.label for f in _heart_like(findings)}
    zones: list[str] = []
    for f in findings:
        if f.label in heart:
            continue
        if f.location is None or not f.location.known:
            return None
        zones += list(f.location.zones)
        if f.location.side and not f.location.zones:
            zones.append(f.location.side)
    if not zones:
        return str(loc_words["heart"]) if heart else None
    sides = {z.split(" ")[0] for z in zones}
    if "bilateral" in sides or sides >= {"right", "left"}:
        return str(loc_words["bilateral"])
    side = next(iter(sides))
    distinct = sorted({z for z in zones if " " in z})
    if len(distinct) == 1 and not distinct[0].endswith("middle"):
        return str(loc_words["zone"]).format(side=side, zone=distinct[0].split(" ")[1])
    return str(loc_words["side"]).format(side=side)


def _heart_like(findings: list[Finding]) -> list[Finding]:
    heart = set(_phrases()["heart_labels"])  # type: ignore[call-overload]
    return [f for f in findings if f.label in heart]


def _sides_of(findings: list[Finding]) -> set[str] | None:
    out: set[str] = set()
    for f in findings:
        if f.location is None or not f.location.known:
            return None
        out |= {z.split(" ")[0] for z in f.location.zones}
        if f.location.side:
            out |= {"right", "left"} if f.location.side == "bilateral" else {f.location.side}
    return out


# -- intents ------------------------------------------------------------------------------
def _presence(q: Question, interp: Interpretation) -> Answer:
    if q.unsupported:
        return _cannot(q, interp, f"no radlens model assesses {', '.join(q.unsupported)}")
    if not q.labels:
        return _cannot(q, interp, "the question names no finding radlens knows")
    if not interp.findings:
        return _cannot(q, interp, NO_MODEL)
    if q.closed and len(q.choices) < 2 and _CHOICE.search(q.text.lower()):
        return _cannot(q, interp, "a choice between options radlens does not assess")
    found: list[Finding] = []
    for label in q.labels:
        f = interp.finding(label)
        if f is None:
            covered = ", ".join(x.label for x in interp.findings if x.label != "No Finding")
            return _cannot(q, interp, f"no radlens model of this reading assesses {label} "
                           f"(they cover {covered})")
        found.append(f)
    evidence = [finding_evidence(f) for f in found]
    verdicts = [verdict(f) for f in found]
    if len(q.choices) > 1:  # "is a pneumonia or a pleural effusion seen?"
        unsure = [why for v, why in verdicts if v is None]
        if unsure:
            return _cannot(q, interp, unsure[0], evidence)
        positive = [f for f, (v, _) in zip(found, verdicts, strict=True) if v]
        if len(positive) == len(found):
            return _ok(q, interp, _say("both"), evidence)
        if not positive:
            return _ok(q, interp, _say("neither"), evidence)
        return _ok(q, interp, _name(positive[0].label), evidence)
    present: list[bool] = []
    for f, (v, why) in zip(found, verdicts, strict=True):
        if v is None:
            return _cannot(q, interp, why, evidence)
        if v and q.qualified:
            return _cannot(q, interp, f"{f.label} is present, but the reading cannot tell "
                           f"whether it is {', '.join(q.qualified)}", evidence)
        if v and (q.side is not None or q.zone is not None):
            placed = _in_place(f, q.side, q.zone)
            if placed is None:
                status = f.location.status if f.location is not None else "unknown"
                zones = ", ".join(f.location.zones) if f.location is not None else ""
                return _cannot(q, interp, f"{f.label} is present, but its location "
                               f"({zones or status}) does not settle whether it lies in the "
                               "place asked about", evidence)
            v = placed
        present.append(v)
    value = all(present)
    return _yes_no(q, interp, (not value) if q.negated else value, evidence)


def _findings(q: Question, interp: Interpretation) -> Answer:
    if not interp.findings:
        return _cannot(q, interp, NO_MODEL)
    pool = [f for f in interp.findings if f.label != _say("normal_label")]
    if q.subject == "lung":
        pool = [f for f in pool if f in _lung_labels(interp)]
    elif q.subject == "heart":
        pool = _heart_like(pool)
    verdicts = {f.label: verdict(f) for f in pool}
    positive = [f for f in pool if verdicts[f.label][0]]
    if q.side is not None or q.zone is not None:
        placed = [(f, _in_place(f, q.side, q.zone)) for f in positive]
        if any(p is None for _, p in placed):
            return _cannot(q, interp, "a finding present on this reading has no location "
                           "that settles the place asked about",
                           [finding_evidence(f) for f in positive])
        positive = [f for f, p in placed if p]
    evidence = [finding_evidence(f) for f in pool if f.call is not Call.NEGATIVE]
    if not positive:
        unsure = [why for v, why in verdicts.values() if v is None]
        if unsure:
            return _cannot(q, interp, unsure[0], [finding_evidence(f) for f in pool
                                                  if verdicts[f.label][0] is None])
        return _ok(q, interp, _say("none"), [finding_evidence(f) for f in pool])
    positive.sort(key=lambda f: f.probability - f.threshold, reverse=True)
    return _ok(q, interp, ", ".join(_name(f.label) for f in positive), evidence)


def _location(q: Question, interp: Interpretation) -> Answer:
    if q.unsupported:
        return _cannot(q, interp, f"no radlens model assesses {', '.join(q.unsupported)}")
    if q.closed and not q.choices:
        if q.labels:
            return _presence(q, interp)
        return _cannot(q, interp, "only where-questions and left/right choices about the "
                       "reading's findings are answered")
    if not interp.findings:
        return _cannot(q, interp, NO_MODEL)
    if q.labels:
        chosen = []
        for label in q.labels:
            f = interp.finding(label)
            if f is None:
                return _cannot(q, interp, f"no radlens model of this reading assesses {label}")
            if f.call is Call.UNCERTAIN:
                return _cannot(q, interp, _uncertain(f), [finding_evidence(f)])
            if f.call is Call.NEGATIVE:
                return _cannot(q, interp, f"the reading calls {f.label} negative, so it has "
                               "no place to give", [finding_evidence(f)])
            chosen.append(f)
    elif q.subject == "heart" and not _ASKS_ABNORMAL.search(q.text.lower()):
        return _cannot(q, interp, "radlens does not outline the heart, so it cannot place it")
    else:
        pool = _lung_labels(interp) if q.subject == "lung" else [
            f for f in interp.findings if f.label != _say("normal_label")]
        chosen = [f for f in pool if f.call is Call.POSITIVE]
        if not chosen:
            return _cannot(q, interp, "the reading calls no finding positive, so there is no "
                           "abnormality to place", [finding_evidence(f) for f in pool
                                                    if f.call is Call.UNCERTAIN])
    evidence = [finding_evidence(f) for f in chosen]
    norm = q.text.lower()
    side_only = bool(q.choices) or bool(re.search(r"\b(which|what) (side|lobe|lung)\b", norm))
    if side_only:
        lungs = [f for f in chosen if f not in _heart_like(chosen)]
        sides = _sides_of(lungs) if lungs else None
        if not sides:
            return _cannot(q, interp, "the abnormal findings have no known side", evidence)
        if _ASKS_NORMAL.search(norm) and not _ASKS_ABNORMAL.search(norm):
            sides = {"right", "left"} - sides  # "which lobe is normal?"
            if not sides:
                return _cannot(q, interp, "both sides hold a positive finding", evidence)
        if q.choices == ("unilateral", "bilateral"):
            return _ok(q, interp, "bilateral" if len(sides) > 1 else "unilateral", evidence)
        if q.choices == ("one side", "both sides"):
            return _ok(q, interp, "both sides" if len(sides) > 1 else "one side", evidence)
        return _ok(q, interp, _say("both") if len(sides) > 1 else next(iter(sides)), evidence)
    phrase = _place_phrase(chosen)
    if phrase is None:
        status = ", ".join(sorted({f.location.status if f.location else "unknown"
                                   for f in chosen}))
        return _cannot(q, interp, f"the location of the finding is not known ({status})",
                       evidence)
    return _ok(q, interp, phrase, evidence)


def _normality(q: Question, interp: Interpretation) -> Answer:
    if q.unsupported:
        return _cannot(q, interp, f"no radlens model assesses {', '.join(q.unsupported)}")
    if not interp.findings:
        return _cannot(q, interp, NO_MODEL)
    norm = q.text.lower()
    if not q.closed:
        return _findings(q, interp)
    if q.labels:  # "is the heart size normal?", "is the heart larger than normal?"
        return _presence(q, interp)
    if _CHOICE.search(norm):
        return _cannot(q, interp, "a choice between options radlens does not assess")
    asks_abnormal = bool(_ASKS_ABNORMAL.search(norm)) or not _ASKS_NORMAL.search(norm)
    heart_labels = set(_phrases()["heart_labels"])  # type: ignore[call-overload]
    heart_only = q.subject == "heart" or bool(q.labels and set(q.labels) <= heart_labels)
    placed_q = q.side is not None or q.zone is not None
    if heart_only:
        pool = _heart(interp)
        if not pool:
            return _cannot(q, interp, "no radlens model of this reading assesses the heart")
    elif q.subject == "lung" or placed_q:
        pool = _lung_labels(interp)
    else:
        pool = [f for f in interp.findings if f.label != _say("normal_label")]
    verdicts = {f.label: verdict(f) for f in pool}
    present = [f for f in pool if verdicts[f.label][0]]
    if placed_q:
        placed = [(f, _in_place(f, q.side, q.zone)) for f in present]
        if any(p is None for _, p in placed):
            return _cannot(q, interp, "a finding present on this reading has no location "
                           "that settles the place asked about",
                           [finding_evidence(f) for f in present])
        here = [f for f, p in placed if p]
        if here:
            return _yes_no(q, interp, asks_abnormal, [finding_evidence(f) for f in here])
        if present:  # the abnormality found lies elsewhere
            return _yes_no(q, interp, not asks_abnormal,
                           [finding_evidence(f) for f in present])
    elif present:
        return _yes_no(q, interp, asks_abnormal, [finding_evidence(f) for f in present])
    unsure = [f for f in pool if verdicts[f.label][0] is None]
    if unsure:
        return _cannot(q, interp, verdicts[unsure[0].label][1],
                       [finding_evidence(f) for f in unsure])
    normal = interp.finding(_say("normal_label"))
    if normal is not None and not heart_only and normal.call is not Call.POSITIVE:
        return _cannot(q, interp, f"every finding is ruled out, but the {normal.label} "
                       f"output does not call the film normal (probability "
                       f"{normal.probability:.2f}, threshold {normal.threshold:.2f})",
                       [finding_evidence(normal)])
    evidence = [finding_evidence(f) for f in pool]
    if normal is not None and not heart_only:
        evidence.insert(0, finding_evidence(normal))
    return _yes_no(q, interp, not asks_abnormal, evidence)


def _abnormal_organ(q: Question, interp: Interpretation) -> Answer:
    if not interp.findings:
        return _cannot(q, interp, NO_MODEL)
    pool = _heart(interp) + _lung_labels(interp)
    verdicts = {f.label: verdict(f) for f in pool}
    heart = [f for f in _heart(interp) if verdicts[f.label][0]]
    lung = [f for f in _lung_labels(interp) if verdicts[f.label][0]]
    evidence = [finding_evidence(f) for f in heart + lung]
    if heart and lung:
        return _ok(q, interp, _say("both"), evidence)
    unsure = [f for f in pool if verdicts[f.label][0] is None]
    if unsure and not (heart or lung):
        return _cannot(q, interp, verdicts[unsure[0].label][1],
                       [finding_evidence(f) for f in unsure])
    if heart or lung:
        other = _lung_labels(interp) if heart else _heart(interp)
        if any(verdicts[f.label][0] is None for f in other):
            return _cannot(q, interp, "one organ is abnormal, but the other is not ruled out",
                           evidence)
        return _ok(q, interp, "heart" if heart else "lung", evidence)
    return _ok(q, interp, _say("neither"), [finding_evidence(f) for f in pool])


def _modality_evidence(interp: Interpretation) -> tuple[str | None, AnswerEvidence]:
    """("x-ray" or None when the header names another modality, evidence)."""
    meta = interp.image
    if meta.modality:
        xray = meta.modality.upper() in set(_phrases()["x_ray_modalities"])  # type: ignore
        return (_say("modality") if xray else None,
                AnswerEvidence(kind="metadata", field="modality", value=meta.modality))
    return _say("modality"), AnswerEvidence(
        kind="scope", field="qc", value=f"a {meta.format} image that passed radlens's "
        "chest-radiograph quality gate (radlens reads projection radiographs only; the file "
        "records no modality)")


def _modality(q: Question, interp: Interpretation) -> Answer:
    modality, ev = _modality_evidence(interp)
    if modality is None:
        return _cannot(q, interp, f"the file's modality is {interp.image.modality}, which "
                       "radlens does not read", [ev])
    if re.search(r"\bnot\b", q.text.lower()):
        return _cannot(q, interp, "a question about what the image is not is not answered",
                       [ev])
    if not q.closed:
        return _ok(q, interp, modality, [ev])
    if len(q.choices) > 1:
        if modality in q.choices:
            return _ok(q, interp, modality, [ev])
        return _ok(q, interp, _say("neither"), [ev])
    if len(q.choices) == 1:
        return _yes_no(q, interp, q.choices[0] == modality, [ev])
    return _cannot(q, interp, "the question names no modality to confirm", [ev])


def _frontal(interp: Interpretation) -> tuple[bool | None, AnswerEvidence]:
    view = (interp.image.view_position or "").upper()
    if view in ("PA", "AP"):
        return True, AnswerEvidence(kind="metadata", field="view_position", value=view)
    if view:
        return False, AnswerEvidence(kind="metadata", field="view_position", value=view)
    lateral = [i for i in interp.qc.issues if i.code in ("probable_lateral", "lateral_view")]
    if lateral:
        return None, AnswerEvidence(kind="qc", field=lateral[0].code, value=lateral[0].message)
    return True, AnswerEvidence(kind="qc", field="probable_lateral",
                                value="no lateral-view sign: a frontal film")


def _plane(q: Question, interp: Interpretation) -> Answer:
    norm = q.text.lower()
    view = (interp.image.view_position or "").upper()
    asks_view = _VIEW_WORDS.search(norm) is not None or (not q.closed and re.search(
        r"\b(orient\w*|laterality|how was this film taken|position)\b", norm) is not None)
    if asks_view:
        ev = AnswerEvidence(kind="metadata", field="view_position", value=view or None)
        if view not in ("PA", "AP"):
            return _cannot(q, interp, "the file records no view position (PA or AP) and "
                           "radlens does not estimate it from the pixels" if not view else
                           f"the view position is {view}, not PA or AP", [ev])
        if len(q.choices) > 1:
            chosen = [c for c in q.choices if _VIEWS.get(c.split(" ")[0]) == view]
            return _ok(q, interp, chosen[0].split(" ")[0] if chosen else _say("neither"), [ev])
        if q.closed:
            m = _VIEW_WORDS.search(norm)
            asked = _VIEWS.get(m.group(1)) if m is not None else None
            if asked is None:
                return _cannot(q, interp, "the question names no view to confirm", [ev])
            return _yes_no(q, interp, asked == view, [ev])
        return _ok(q, interp, view.lower(), [ev])
    frontal, ev = _frontal(interp)
    if frontal is None:
        return _cannot(q, interp, "the film may be a lateral view (quality check), so its "
                       "plane is not settled", [ev])
    if len(q.choices) > 1:
        if frontal:
            chosen = [c for c in q.choices if _FRONTAL_PLANES.search(c)]
        else:
            chosen = [c for c in q.choices if c.startswith(("sagittal", "lateral"))]
        return _ok(q, interp, chosen[0] if chosen else _say("neither"), [ev])
    if q.closed:
        if _FRONTAL_PLANES.search(norm):
            return _yes_no(q, interp, frontal, [ev])
        if _OTHER_PLANES.search(norm):
            other = _OTHER_PLANES.search(norm)
            sag = other is not None and other.group(1) in ("sagittal", "lateral")
            return _yes_no(q, interp, (not frontal) and sag, [ev])
        return _cannot(q, interp, "the question names no plane to confirm", [ev])
    if not frontal:
        return _ok(q, interp, "sagittal", [ev])
    return _ok(q, interp, _say("plane_frontal"), [ev])


def _lung_regions(interp: Interpretation) -> list[str]:
    return [r.id for r in interp.regions if r.kind is RegionKind.LUNG]


def heart_ratio(interp: Interpretation) -> tuple[float, tuple[str, ...]] | None:
    """Cardiothoracic ratio from a heart outline: heart width / thoracic width, where the
    heart is a region labelled "heart" (box or mask) and the thorax spans the segmented lungs'
    boxes (outer edge to outer edge); with the ids used. None without both."""
    heart = next((r for r in interp.regions if r.label.lower() == "heart" and r.box), None)
    lungs = [r for r in interp.regions if r.kind is RegionKind.LUNG and r.box is not None]
    if heart is None or heart.box is None or len(lungs) < 2:
        return None
    x0 = min(r.box.x0 for r in lungs if r.box is not None)
    x1 = max(r.box.x1 for r in lungs if r.box is not None)
    if x1 <= x0:
        return None
    ratio = (heart.box.x1 - heart.box.x0) / (x1 - x0)
    return ratio, (heart.id, *(r.id for r in lungs))


def _heart_size(q: Question, interp: Interpretation) -> Answer:
    found = heart_ratio(interp)
    if found is None:
        return _cannot(q, interp, "the segmentation has no heart outline, so the "
                       "cardiothoracic ratio cannot be measured (ask about cardiomegaly for "
                       "the classifier's call)")
    ratio, ids = found
    ev = AnswerEvidence(kind="region", label="cardiothoracic ratio", region_ids=ids,
                        value=f"{ratio:.3f}")
    if q.closed:
        return _yes_no(q, interp, ratio > 0.5, [ev])
    return _ok(q, interp, f"{ratio:.2f}", [ev])


def _count(q: Question, interp: Interpretation) -> Answer:
    if q.unsupported or q.labels or q.subject != "lung":
        return _cannot(q, interp, "radlens counts only the segmented lungs")
    ids = _lung_regions(interp)
    if not ids:
        return _cannot(q, interp, "the reading has no lung segmentation")
    ev = AnswerEvidence(kind="region", label="lung", region_ids=tuple(ids), value=str(len(ids)))
    return _ok(q, interp, str(len(ids)), [ev])


def _organ(q: Question, interp: Interpretation) -> Answer:
    ids = _lung_regions(interp)
    ev = (AnswerEvidence(kind="region", label="lung", region_ids=tuple(ids),
                         value=f"{len(ids)} segmented lungs") if ids else
          AnswerEvidence(kind="scope", field="qc", value="radlens reads chest radiographs "
                         "only, and this image passed its chest-radiograph quality gate"))
    norm = q.text.lower()
    if q.closed:
        if q.choices:
            return _yes_no(q, interp, q.choices[0] == _say("body"), [ev])
        if re.search(r"\b(pulmonary|respiratory|cardiovascular|cv|heart|lungs?)\b", norm):
            return _yes_no(q, interp, True, [ev])
        return _cannot(q, interp, "the question names no body region to confirm", [ev])
    if re.search(r"\bcirculatory\b", norm):
        return _ok(q, interp, _say("circulatory_organ"), [ev])
    if re.search(r"\brespiratory\b", norm):
        return _ok(q, interp, _say("respiratory_organ"), [ev])
    if re.search(r"\bpairs?\b", norm):
        return _ok(q, interp, _say("paired_organ"), [ev])
    if re.search(r"\b(main|largest|primar\w*|biggest) organ\b|organ is primarily", norm):
        return _ok(q, interp, _say("main_organ"), [ev])
    if re.search(r"\bhow many\b|\btwo\b|\borgans\b", norm):
        return _cannot(q, interp, "radlens segments the lungs only, not every organ shown",
                       [ev])
    return _ok(q, interp, _say("body"), [ev])


_HANDLERS = {
    AskIntent.PRESENCE: _presence, AskIntent.FINDINGS: _findings,
    AskIntent.LOCATION: _location, AskIntent.NORMALITY: _normality,
    AskIntent.ABNORMAL_ORGAN: _abnormal_organ, AskIntent.MODALITY: _modality,
    AskIntent.PLANE: _plane, AskIntent.HEART_SIZE: _heart_size, AskIntent.COUNT: _count,
    AskIntent.ORGAN: _organ,
}


def answer(interp: Interpretation, question: Question | str, *, policy: str = "card"
           ) -> Answer:
    """Answer `question` (text, or already parsed by `radlens.tasks.ask.parse.parse`) from
    `interp` alone; never raises for any question text. Unanswerable questions get
    ``answered=False`` and ``"cannot answer: <reason>"``. `policy`: how a finding's
    probability becomes yes / no (`POLICIES`; `InputError` for another value)."""
    if policy not in POLICIES:
        raise InputError(f"unknown answer policy {policy!r}; choose one of "
                         f"{', '.join(POLICIES)}")
    q = parse(question) if isinstance(question, str) else question
    if q.problem is not None:
        return _cannot(q, interp, q.problem)
    handler = _HANDLERS.get(AskIntent(q.intent)) if q.intent in set(AskIntent) else None
    if handler is None:
        return _cannot(q, interp, "the question was not understood (radlens answers presence, "
                       "location, normal/abnormal, view, modality, organ, lung-count and heart-"
                       "size questions)")
    token = _POLICY.set(policy)
    try:
        return handler(q, interp)
    finally:
        _POLICY.reset(token)
