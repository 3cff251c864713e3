"""One location per finding: the zones, side and status every output states.

A grounded FINDING region carries `zones` (zone name, fraction of the region's whole heat mass
in that zone; the rest lies outside the lungs). `locate` turns such regions into one
`radlens.schema.Location`: the zones holding at least ``min_fraction`` of the in-lung heat
(strongest first, at most ``max_zones``), the patient's side, the share of heat inside the
lungs and a status (`LocationStatus`). When less than ``min_in_lung`` of the heat lies inside
the segmented lungs the status is "not_determined" and no zone or side is given. The
parameters are data (``location.json``).

The pipeline stores the result in `Finding.location`; `location_of` returns it, or computes it
from the finding's regions for Interpretations made without it (older JSON, hand-built ones),
so the findings line, the report, the overlay and every export always read the same object.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

from radlens.schema import (
    Finding,
    Interpretation,
    Location,
    LocationStatus,
    ReadingWarning,
    Region,
    WarningCode,
)

SIDES = ("right", "left")


@cache
def params() -> dict[str, Any]:
    """The location rules (``radlens/grounding/location.json``, parsed and cached)."""
    text = resources.files("radlens.grounding").joinpath("location.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _norm(name: str) -> str:
    return " ".join(name.lower().split())


def locate(regions: Sequence[Region], grounded: bool = False) -> Location:
    """Combine the finding's `regions` into one `Location`.

    Zone fractions are summed over regions. `grounded`: the regions were grounded against a
    lung segmentation (`radlens.tasks.ground.ground_region`), so each region's zone fractions
    sum to its in-lung share of the heat and the in-lung test applies; False for regions whose
    zones are not heat shares (hand-made, or no segmenter): no in-lung test.
    """
    p = params()
    mass: dict[str, float] = {}
    for r in regions:
        for name, frac in r.zones:
            key = _norm(name)
            mass[key] = mass.get(key, 0.0) + max(0.0, float(frac))
    total = sum(mass.values())
    in_lung = None
    if grounded and regions:
        in_lung = round(min(1.0, total / len(regions)), 4)
        if in_lung < float(p["min_in_lung"]):
            return Location((), None, LocationStatus.NOT_DETERMINED.value, in_lung)
    zones: tuple[str, ...] = ()
    side: str | None = None
    if total > 0:
        ranked = sorted(mass.items(), key=lambda kv: (-kv[1], kv[0]))
        zones = tuple(z for z, m in ranked if m / total >= float(p["min_fraction"]))
        zones = zones[:int(p["max_zones"])] or (ranked[0][0],)
    sides = {z.split()[0] for z in zones if z.split()[0] in SIDES}
    if not sides:
        sides = {r.side.lower() for r in regions if r.side and r.side.lower() in
                 ("right", "left", "bilateral")}
    if "bilateral" in sides or len(sides) > 1:
        side = "bilateral"
    elif sides:
        side = next(iter(sides))
    if not zones and side is None:
        return Location((), None, LocationStatus.UNKNOWN.value, in_lung)
    return Location(zones, side, LocationStatus.LOCATED.value, in_lung)


def location_of(interp: Interpretation, finding: Finding) -> Location:
    """The `Location` of `finding`: `finding.location` when set, else `locate` of its regions."""
    if finding.location is not None:
        return finding.location
    regions = [r for r in (interp.region(i) for i in finding.region_ids) if r is not None]
    return locate(regions)


def locate_findings(findings: Sequence[Finding], regions: Sequence[Region], *,
                    grounded: bool = True, withheld: bool = False) -> tuple[tuple[Finding, ...],
                                                     tuple[ReadingWarning, ...]]:
    """Findings with their `location` set from `regions`, and the warnings that go with them.

    `grounded`: `regions` were grounded in segmented lungs (see `locate`). `withheld`: sides
    and zones cannot hold on this film (a lateral view): every finding with a
    region gets status "withheld". A positive finding whose heat lies mostly outside the lungs
    gets status "not_determined" and a `location_not_determined` warning naming it.
    """
    by_id = {r.id: r for r in regions}
    out: list[Finding] = []
    warnings: list[ReadingWarning] = []
    for f in findings:
        regs = [by_id[i] for i in f.region_ids if i in by_id]
        if not regs:
            out.append(f)
            continue
        if withheld:
            loc = Location(status=LocationStatus.WITHHELD.value)
        else:
            loc = locate(regs, grounded)
        if loc.status == LocationStatus.NOT_DETERMINED:
            share = 1.0 - (loc.in_lung or 0.0)
            warnings.append(ReadingWarning(
                WarningCode.LOCATION_NOT_DETERMINED.value,
                f"{f.label}: location not determined ({share:.0%} of the model's attention "
                "lies outside the segmented lungs).", None, f.label))
        out.append(dataclasses.replace(f, location=loc))
    return tuple(out), tuple(warnings)
