"""The report's COMPARISON section: what changed since the prior film, one sentence.

``Compared with the prior film of 2004-08-26: new pleural effusion in the right lower zone;
increased consolidation; unchanged lung lesion.`` Only findings the report covers
(`radlens.report.coverage`) are named; "No Finding" never is. Findings absent on both films
are not listed (a "no change" sentence when nothing else is). The wording is data
(``comparison.json``); finding names and location phrases come from the phrase library.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from radlens.report.coverage import NO_FINDING, covered
from radlens.report.location import phrase
from radlens.report.phrasebook import entry
from radlens.schema import Call, ChangeKind, Interpretation, Location, PriorStudy, Sentence

SECTION = "comparison"


@cache
def wording() -> dict[str, Any]:
    """The parsed ``radlens/report/comparison.json`` (cached; do not modify)."""
    text = resources.files("radlens.report").joinpath("comparison.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _days(days: float, w: dict[str, Any]) -> str:
    if abs(days) < 1:
        return str(w["hours"])
    n = round(days)
    return str(w["days_one"]) if n == 1 else str(w["days_many"]).format(n=n)


def when_text(prior: PriorStudy, w: dict[str, Any] | None = None) -> str:
    """The prior's date and/or offset as the sentence names it ("2004-08-26 (12 days
    earlier)", "12 days earlier", "unknown date")."""
    w = w or wording()
    if prior.study_date and prior.offset_days is not None and abs(prior.offset_days) >= 1:
        return str(w["when_date_offset"]).format(date=prior.study_date,
                                                 days=_days(prior.offset_days, w))
    if prior.study_date:
        return str(w["when_date"]).format(date=prior.study_date)
    if prior.offset_days is not None:
        if abs(prior.offset_days) < 1:
            return str(w["hours"])
        return str(w["when_offset"]).format(days=_days(prior.offset_days, w))
    return str(w["when_unknown"])


def _names(names: list[str], w: dict[str, Any]) -> str:
    if len(names) == 1:
        return names[0]
    return str(w["name_joiner"]).join(names[:-1]) + str(w["name_last_joiner"]) + names[-1]


def comparison_sentences(interp: Interpretation, lib: dict[str, Any]) -> list[Sentence]:
    """The COMPARISON sentence of `interp` ([] without a prior). `lib`: the phrase library
    (finding names, location words)."""
    if interp.prior is None:
        return []
    w = wording()
    when = when_text(interp.prior, w)
    shown = {f.label for f in covered(interp)} - {NO_FINDING}
    groups: dict[str, list[str]] = {}
    labels: list[str] = []
    regions: list[str] = []
    for c in interp.comparison:
        if c.label not in shown:
            continue
        if c.change is ChangeKind.UNCHANGED and not (c.current_call is Call.POSITIVE
                                                     and c.prior_call is Call.POSITIVE):
            continue
        name = str(entry(lib, c.label)["name"]).lower()
        if c.change in (ChangeKind.NEW, ChangeKind.INCREASED):
            finding = interp.finding(c.label)
            loc = finding.location if finding is not None else None
            if loc is not None and loc.known:
                name += phrase(Location(loc.zones, loc.side, loc.status, loc.in_lung),
                               lib["location"])
        groups.setdefault(c.change.value, []).append(name)
        labels.append(c.label)
        regions += [r for r in c.region_ids if r not in regions]
    items = [str(w["kinds"][k]).format(names=_names(groups[k], w))
             for k in w["order"] if groups.get(k)]
    if not items:
        return [Sentence(str(w["no_change"]).format(when=when), SECTION)]
    text = str(w["sentence"]).format(when=when, items=str(w["item_joiner"]).join(items))
    return [Sentence(text[:1].upper() + text[1:], SECTION, tuple(labels), tuple(regions))]
