"""Where a finding is, in words: lung zones and side from the finding's regions.

Regions carry `zones` (zone name such as "right lower", fraction of the region's heatmap mass)
and `side` (the patient's "right"/"left"). The wording comes from the phrase library's
``location`` block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from radlens.schema import Region

_LEVELS = ("upper", "middle", "lower")


@dataclass(frozen=True)
class Location:
    """A finding's location: zones (strongest first, each "<side> <level>") and side.

    `side` is "right", "left", "bilateral" or None (unknown).
    """

    zones: tuple[str, ...] = ()
    side: str | None = None

    @property
    def known(self) -> bool:
        return bool(self.zones or self.side)


def locate(regions: Sequence[Region], min_fraction: float = 0.2, max_zones: int = 2
           ) -> Location:
    """Combine `regions` into one `Location`.

    Zone fractions are summed over regions and normalised; zones holding at least
    `min_fraction` (0-1) of the mass are kept, strongest first, at most `max_zones`. The side is
    "bilateral" when kept zones (or region sides) lie on both sides.
    """
    mass: dict[str, float] = {}
    for r in regions:
        for name, frac in r.zones:
            key = " ".join(name.lower().split())
            mass[key] = mass.get(key, 0.0) + max(0.0, float(frac))
    total = sum(mass.values())
    zones: tuple[str, ...] = ()
    if total > 0:
        ranked = sorted(mass.items(), key=lambda kv: (-kv[1], kv[0]))
        zones = tuple(z for z, m in ranked if m / total >= min_fraction)[:max_zones]
        if not zones:
            zones = (ranked[0][0],)
    sides = {z.split()[0] for z in zones if z.split()[0] in ("right", "left")}
    if not sides:
        sides = {r.side.lower() for r in regions if r.side and r.side.lower() in
                 ("right", "left", "bilateral")}
    side = None
    if "bilateral" in sides or len(sides) > 1:
        side = "bilateral"
    elif sides:
        side = next(iter(sides))
    return Location(zones, side)


def _split(zone: str) -> tuple[str, str]:
    parts = zone.split()
    if len(parts) >= 2 and parts[0] in ("right", "left"):
        return parts[0], " ".join(parts[1:])
    return "", zone


def phrase(loc: Location, words: dict[str, Any]) -> str:
    """The location phrase (leading space, e.g. " in the right lower zone"; "" when unknown)."""
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
    return str(words["side_words"].get(loc.side or "", ""))
