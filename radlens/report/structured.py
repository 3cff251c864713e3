"""The structured report: one entry per covered finding, ready for JSON and the exports."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from radlens.report.coverage import covered
from radlens.report.location import locate
from radlens.report.location import phrase as location_phrase
from radlens.report.phrasebook import library
from radlens.schema import Interpretation


@dataclass(frozen=True)
class Entry:
    """One covered finding: `call` ("positive"/"negative"/"uncertain"), calibrated
    `probability` in [0, 1], the `threshold` (and `uncertain_from`) behind the call, the `model`,
    the location (`zones` strongest first, patient `side`, and the `location` phrase) and the
    `region_ids` it rests on."""

    label: str
    call: str
    probability: float
    threshold: float
    uncertain_from: float | None
    model: str
    zones: tuple[str, ...]
    side: str | None
    location: str
    region_ids: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["zones"] = list(self.zones)
        out["region_ids"] = list(self.region_ids)
        return out


def structured_report(interp: Interpretation) -> tuple[Entry, ...]:
    """One `Entry` per covered finding of `interp`, in the Interpretation's order."""
    words = library()["location"]
    out = []
    for f in covered(interp):
        regions = [r for r in (interp.region(i) for i in f.region_ids) if r is not None]
        loc = locate(regions, float(words["min_fraction"]), int(words["max_zones"]))
        out.append(Entry(f.label, f.call.value, float(f.probability), float(f.threshold),
                         f.uncertain_from, f.model, loc.zones, loc.side,
                         location_phrase(loc, words).strip(), tuple(r.id for r in regions)))
    return tuple(out)
