"""Write a grounded draft report from an `Interpretation`.

FINDINGS has one sentence per positive or uncertain finding (with its location), worded by its
certainty band (`radlens.schema.Certainty`: stated at or above the card's high-specificity
threshold, "Possible ..." between the operating threshold and that one, hedged when uncertain;
the band-to-phrase table is the phrase library's ``certainty`` block), then pertinent negatives
grouped by anatomy; IMPRESSION lists positive and uncertain findings by clinical weight times
the band's weight factor (findings the indication asks about first), or says the study is
normal when a model assessed "No Finding" as positive. With a prior film
(`Interpretation.comparison`), a COMPARISON section says what changed since it
(`radlens.report.comparison`). A CAUTION section carries the reading's
guardrail warnings (`Interpretation.warnings`) as plain sentences. Every sentence carries the
finding labels and region ids it rests on; every location comes from the finding's one
`Location` (`radlens.grounding.locate.location_of`). Only covered findings (see
`radlens.report.coverage`) are ever mentioned. Wording comes from the phrase library
(`radlens.report.templates`), optionally replaced by a user's own phrasing (`radlens.report.style`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from radlens.report.comparison import comparison_sentences
from radlens.report.context import ClinicalContext, context_for, demographic_line
from radlens.report.coverage import NO_FINDING, covered
from radlens.report.location import Location, location_of, phrase, side_word
from radlens.report.phrasebook import band_spec, entry, library
from radlens.report.phrasebook import phrase as template
from radlens.report.style import Style, resolve_style
from radlens.schema import Call, Certainty, Finding, Interpretation, Report, Sentence

GENERATOR = "radlens.report"
SUPPORT_DEVICES = "Support Devices"
SECTION_ORDER = ("clinical", "technique", "comparison", "caution", "findings",
                 "impression")
_STYLE_CALL = {Certainty.STATED: Call.POSITIVE, Certainty.POSSIBLE: Call.UNCERTAIN,
               Certainty.UNCERTAIN: Call.UNCERTAIN, Certainty.ABSENT: Call.NEGATIVE}


@dataclass(frozen=True)
class _Item:
    """One statement to make: findings (1 or a merge) sharing one band and one location."""

    labels: tuple[str, ...]
    band: Certainty
    location: Location
    region_ids: tuple[str, ...]
    weight: float
    merge: dict[str, Any] | None = None

    @property
    def call(self) -> Call:
        return Call.UNCERTAIN if self.band is Certainty.UNCERTAIN else Call.POSITIVE


def _cap(text: str) -> str:
    text = " ".join(text.split())
    return text[:1].upper() + text[1:]


def _fill(text: str, lib: dict[str, Any], item: _Item, name: str) -> str:
    words = lib["location"]
    side = side_word(item.location, words)
    return _cap(text.format(location=phrase(item.location, words), Side=side,
                            side=side.lower(), name=name, Name=_cap(name)))


def _item(interp: Interpretation, lib: dict[str, Any], findings: Sequence[Finding],
          merge: dict[str, Any] | None = None) -> _Item:
    ids: list[str] = []
    for f in findings:
        ids += [r for r in f.region_ids if r not in ids]
    regions = [r for r in (interp.region(i) for i in ids) if r is not None]
    weight = max(float(entry(lib, f.label)["weight"]) for f in findings)
    return _Item(tuple(f.label for f in findings), findings[0].certainty,
                 location_of(interp, findings[0]), tuple(r.id for r in regions), weight, merge)


def _merge_band(merge: dict[str, Any]) -> str:
    """The band a merge applies to ("call": "positive" in older phrase files means stated)."""
    if "band" in merge:
        return str(merge["band"])
    return {"positive": "stated", "uncertain": "uncertain"}.get(str(merge.get("call")), "")


def _items(interp: Interpretation, lib: dict[str, Any], found: Sequence[Finding]
           ) -> list[_Item]:
    """Positive and uncertain findings as statements, merges applied, heaviest first.

    Findings merge into one sentence only when they share the merge's band and one location,
    so a merged sentence never states a place one of its findings does not have.
    """
    todo = {f.label: f for f in found if f.call is not Call.NEGATIVE and f.label != NO_FINDING}
    items: list[_Item] = []
    for merge in lib["merges"]:
        group = [todo.get(lab) for lab in merge["labels"]]
        members = [f for f in group if f is not None]
        if len(members) != len(group) or any(f.certainty != _merge_band(merge)
                                             for f in members):
            continue
        if len({location_of(interp, f) for f in members}) != 1:
            continue
        items.append(_item(interp, lib, members, merge))
        for f in members:
            del todo[f.label]
    items += [_item(interp, lib, [f]) for f in todo.values()]
    return sorted(items, key=lambda it: (-it.weight, it.labels))


def _statement(lib: dict[str, Any], item: _Item, section: str, ctx: ClinicalContext,
               style: Style | None) -> Sentence:
    label = item.labels[0]
    if item.merge is not None:
        text = str(item.merge[section])
    else:
        text = None
        if style is not None and section == "findings":
            text = style.sentence(label, _STYLE_CALL[item.band],
                                  phrase(item.location, lib["location"]))
        if text is None:
            for key in band_spec(lib, item.band)["phrases"]:
                text = template(lib, label, section, str(key), ctx.variants)
                if text:
                    break
    name = str(entry(lib, label)["name"])
    return Sentence(_fill(text or "", lib, item, name), section, item.labels, item.region_ids)


def _negatives(lib: dict[str, Any], negatives: Sequence[Finding], ctx: ClinicalContext,
               style: Style | None) -> list[Sentence]:
    """Pertinent negatives: standalone sentences, then one "No a, b or c." per group."""
    out: list[Sentence] = []
    groups: dict[str, list[Finding]] = {}
    for f in negatives:
        own = style.sentence(f.label, Call.NEGATIVE, "") if style is not None else None
        group = entry(lib, f.label).get("group")
        if own is None and group is None:
            own = template(lib, f.label, "findings", Call.NEGATIVE, ctx.variants)
        if own is not None:
            out.append(Sentence(_cap(own), "findings", (f.label,)))
        else:
            groups.setdefault(str(group), []).append(f)
    spec = lib["negative_groups"]
    order = list(spec["order"]) + sorted(set(groups) - set(spec["order"]))
    for g in order:
        members = groups.get(g, [])
        if not members:
            continue
        members.sort(key=lambda f: -float(entry(lib, f.label)["weight"]))
        names = [str(entry(lib, f.label).get("list_name") or entry(lib, f.label)["name"])
                 for f in members]
        items = names[0] if len(names) == 1 else (
            str(spec["joiner"]).join(names[:-1]) + str(spec["last_joiner"]) + names[-1])
        out.append(Sentence(_cap(str(spec["template"]).format(items=items)), "findings",
                            tuple(f.label for f in members)))
    return out


def _impression(lib: dict[str, Any], items: list[_Item], found: Sequence[Finding],
                ctx: ClinicalContext) -> list[Sentence]:
    imp = lib["impression"]
    bonus = float(imp["question_bonus"])

    def score(it: _Item) -> float:
        asked = bonus if ctx.asked.intersection(it.labels) else 0.0
        return asked + it.weight * float(band_spec(lib, it.band)["weight_factor"])

    out = [_statement(lib, it, "impression", ctx, None)
           for it in sorted(items, key=lambda it: (-score(it), it.labels))]
    relevant = [it for it in items if it.labels != (SUPPORT_DEVICES,)]
    negatives = [f for f in found if f.call is Call.NEGATIVE and f.label != NO_FINDING]
    nf = next((f for f in found if f.label == NO_FINDING), None)
    said: set[str] = set()
    if not relevant:
        if nf is not None and nf.call is Call.POSITIVE:
            key = "normal_paediatric" if ctx.paediatric else "normal"
            out.append(Sentence(str(imp[key]), "impression", (NO_FINDING,)))
        elif nf is not None:
            out.append(Sentence(str(imp["unspecified_abnormality"]), "impression",
                                (NO_FINDING,)))
        elif negatives and len(negatives) > int(imp["max_listed_negatives"]):
            out.append(Sentence(str(imp["many_negatives"]).format(n=len(negatives)),
                                "impression", tuple(f.label for f in negatives)))
        else:
            for f in negatives:
                text = template(lib, f.label, "impression", Call.NEGATIVE, ctx.variants)
                if text:
                    out.append(Sentence(_cap(text), "impression", (f.label,)))
                    said.add(f.label)
    for f in negatives:
        if f.label in ctx.asked and f.label not in said:
            text = template(lib, f.label, "impression", Call.NEGATIVE, ctx.variants)
            if not text:
                continue
            if out:
                text = str(imp["question_negative_prefix"]) + text[:1].lower() + text[1:]
            out.append(Sentence(_cap(text), "impression", (f.label,)))
    return out


def _generator(lib: dict[str, Any], interp: Interpretation, style: Style | None) -> str:
    models = [f"{m.name} {m.version}" for m in interp.models]
    if not models:
        models = sorted({f.model for f in interp.findings if f.model})
    parts = [f"{GENERATOR} phrases={lib.get('name', 'custom')}/{lib.get('version', '?')}",
             f"style={style.name if style is not None else 'none'}",
             f"models={', '.join(models) or 'none'}"]
    return "; ".join(parts)


def write_report(interp: Interpretation, *, indication: str | None = None,
                 style: Style | str | os.PathLike[str] | None = None,
                 phrases: str | os.PathLike[str] | None = None) -> Report:
    """Write the draft report of `interp` (any `Interpretation`; the image is not needed).

    `indication`: free-text clinical question (e.g. "cough and fever, ?pneumonia"); it opens
    the report and puts the findings it asks about first in the IMPRESSION. `style`: a `Style`
    or a path (report corpus folder/file, or a saved style JSON) whose most common phrasing per
    finding replaces the template wording in FINDINGS. `phrases`: a user phrase-library JSON.
    Returns a `Report` whose sentences are in section order clinical, technique,
    comparison, caution, findings, impression; `thresholds` holds (label, operating
    threshold) and `certainty` (label, band) of every covered finding, and `generator` names
    the phrase library, style and models. Raises `DataError` for bad files.
    """
    lib = library(phrases)
    sty = resolve_style(style)
    ctx = context_for(interp.image, indication)
    found = covered(interp)
    sentences: list[Sentence] = []
    demo = demographic_line(ctx)
    if demo:
        sentences.append(Sentence(demo, "clinical"))
    if ctx.indication:
        text = ctx.indication if ctx.indication[-1] in ".?!" else ctx.indication + "."
        sentences.append(Sentence(_cap(text), "clinical"))
    if ctx.view:
        tech = lib["technique"].get(ctx.view.upper(), lib["technique"]["default"])
        sentences.append(Sentence(str(tech), "technique"))
    sentences += comparison_sentences(interp, lib)
    for w in interp.warnings:
        sentences.append(Sentence(_cap(w.message), "caution", (w.label,) if w.label else ()))
    items = _items(interp, lib, found)
    sentences += [_statement(lib, it, "findings", ctx, sty) for it in items]
    negatives = [f for f in found if f.call is Call.NEGATIVE and f.label != NO_FINDING]
    sentences += _negatives(lib, negatives, ctx, sty)
    sentences += _impression(lib, items, found, ctx)
    return Report(sentences=tuple(sentences), generator=_generator(lib, interp, sty),
                  thresholds=tuple((f.label, float(f.threshold)) for f in found),
                  certainty=tuple((f.label, f.certainty.value) for f in found))


def report_text(report: Report, sections: Sequence[str] = SECTION_ORDER,
                phrases: str | os.PathLike[str] | None = None) -> str:
    """The report as plain text, one ``HEADER: sentences`` paragraph per non-empty section."""
    headers = library(phrases)["sections"]
    parts = []
    for sec in sections:
        text = report.section_text(sec)
        if text:
            parts.append(f"{headers.get(sec, sec.upper())}: {text}")
    return "\n\n".join(parts)
