"""Text shared by the findings line (`radlens read`) and the overlay legend.

Both read a finding's one `radlens.schema.Location` (`radlens.grounding.locate.location_of`)
and word it with the report's phrase library, so they say what the report says.
"""

from __future__ import annotations

from radlens.report.location import location_of, phrase
from radlens.report.phrasebook import library
from radlens.schema import Call, Finding, Interpretation, LocationStatus

WITHHELD = "location withheld (lateral view)"


def where_text(interp: Interpretation, finding: Finding) -> str:
    """Where `finding` is, as the report words it ("in the right lower zone", "(location not
    determined)", "location withheld (lateral view)"), or "" when no place is known."""
    loc = location_of(interp, finding)
    if loc.status == LocationStatus.WITHHELD:
        return WITHHELD
    return phrase(loc, library()["location"]).strip()


def legend_lines(interp: Interpretation) -> list[str]:
    """One line per positive or uncertain finding, strongest first:
    "<label> p=<probability> <certainty band> <where>"."""
    out = []
    shown = [f for f in interp.findings if f.call is not Call.NEGATIVE and f.label != "No Finding"]
    for f in sorted(shown, key=lambda f: -f.probability):
        where = where_text(interp, f)
        out.append(f"{f.label} p={f.probability:.2f} {f.certainty.value}"
                   + (f" {where}" if where else ""))
    return out
