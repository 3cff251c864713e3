"""Where a finding is, in words, from its one `radlens.schema.Location`.

The location itself (zones, side, status) comes from `radlens.grounding.locate.location_of`, the
same object the findings line, the overlay and the exports read. The wording comes from the
phrase library's ``location`` block; a location that is "not_determined" reads
``not_determined`` (e.g. " (location not determined)"), a withheld one (lateral film) nothing.
"""

from __future__ import annotations

from typing import Any

from radlens.grounding.locate import locate, location_of
from radlens.schema import Location, LocationStatus

__all__ = ["Location", "locate", "location_of", "phrase", "side_word"]

_LEVELS = ("upper", "middle", "lower")


def _split(zone: str) -> tuple[str, str]:
    parts = zone.split()
    if len(parts) >= 2 and parts[0] in ("right", "left"):
        return parts[0], " ".join(parts[1:])
    return "", zone


def phrase(loc: Location, words: dict[str, Any]) -> str:
    """The location phrase (leading space, e.g. " in the right lower zone"; "" when unknown)."""
    if loc.status == LocationStatus.NOT_DETERMINED:
        return str(words.get("not_determined", ""))
    if not loc.known:
        return ""
    if len(loc.zones) == 1:
        return str(words["one_zone"]).format(zone=loc.zones[0])
    if len(loc.zones) >= 2:
        (s1, l1), (s2, l2) = _split(loc.zones[0]), _split(loc.zones[1])
        if s1 and s1 == s2:
            a, b = sorted((l1, l2), key=lambda lv: _LEVELS.index(lv) if lv in _LEVELS else 9)
            return str(words["two_zones_same_side"]).format(side=s1, level1=a, level2=b)
        if s1 and s2 and l1 == l2:
            return str(words["both_sides_same_level"]).format(level=l1)
        return str(words["two_zones"]).format(zone1=loc.zones[0], zone2=loc.zones[1])
    if loc.side in ("right", "left"):
        return str(words["side_only"]).format(side=loc.side)
    if loc.side == "bilateral":
        return str(words["bilateral_only"])
    return ""


def side_word(loc: Location, words: dict[str, Any]) -> str:
    """"Right " / "Left " / "Bilateral " (capitalised, trailing space) or "" when unknown."""
    if not loc.known:
        return ""
    return str(words["side_words"].get(loc.side or "", ""))
