"""The structured report: one entry per covered finding, ready for JSON and the exports."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from radlens.report.coverage import covered
from radlens.report.location import location_of
from radlens.report.location import phrase as location_phrase
from radlens.report.phrasebook import library
from radlens.schema import Change, Interpretation


@dataclass(frozen=True)
class Entry:
    """One covered finding: `call` ("positive"/"negative"/"uncertain"), its `certainty` band
    ("stated"/"possible"/"uncertain"/"absent"), calibrated `probability` in [0, 1], the
    `threshold` (and `uncertain_from`, `stated_from`) behind the call and band, the `model`, the
    location (`zones` strongest first, patient `side`, `location_status` such as "located" or
    "not_determined", `in_lung` heat share, and the `location` phrase) and the `region_ids` it
    rests on. Every field is read from the finding and its one `Location`. With a prior film:
    `change` (new/resolved/increased/decreased/unchanged), the prior's probability and the
    two extents (share of the aligned lung area; `radlens.schema.Change`)."""

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
    certainty: str = "stated"
    stated_from: float | None = None
    location_status: str = "unknown"
    in_lung: float | None = None
    change: str | None = None  # change since the prior film (a ChangeKind value), if one
    prior_probability: float | None = None
    prior_extent: float | None = None
    extent: float | None = None  # share of the aligned lung area (see radlens.tasks.compare)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["zones"] = list(self.zones)
        out["region_ids"] = list(self.region_ids)
        return out


def structured_report(interp: Interpretation) -> tuple[Entry, ...]:
    """One `Entry` per covered finding of `interp`, in the Interpretation's order."""
    words = library()["location"]
    changes = {c.label: c for c in interp.comparison}
    out = []
    for f in covered(interp):
        regions = [r for r in (interp.region(i) for i in f.region_ids) if r is not None]
        loc = location_of(interp, f)
        shown = loc.known
        out.append(Entry(f.label, f.call.value, float(f.probability), float(f.threshold),
                         f.uncertain_from, f.model, loc.zones if shown else (),
                         loc.side if shown else None, location_phrase(loc, words).strip(),
                         tuple(r.id for r in regions), f.certainty.value, f.stated_from,
                         loc.status, loc.in_lung, *_change_fields(changes.get(f.label))))
    return tuple(out)


def _change_fields(c: Change | None) -> tuple[str | None, float | None, float | None,
                                              float | None]:
    if c is None:
        return None, None, None, None
    return c.change.value, c.prior_probability, c.prior_extent, c.current_extent
