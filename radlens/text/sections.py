"""Section splitting: FINDINGS, IMPRESSION, INDICATION, … including headers inline with text.

A header is a known section name (from the ``section`` rules in ``rules/sections.tsv``) at the
start of a line or right after a sentence end, followed by a colon or a line break, e.g.
``FINDINGS: No pneumothorax.`` or ``IMPRESSION\\n1. Normal.``. Text before the first header
belongs to a section named None, which is labelled.
"""

from __future__ import annotations

from dataclasses import dataclass

from radlens.text.ruleset import RuleSet, load_rules


@dataclass(frozen=True)
class Section:
    """One section: `name` (lower case, None before the first header), body span [start, end)
    as character offsets into the text, the header span, and whether it is labelled."""

    name: str | None
    start: int
    end: int
    labelled: bool
    header_start: int = -1
    header_end: int = -1


def split_sections(text: str, rules: RuleSet | None = None) -> list[Section]:
    """Split `text` into sections, in order; bodies cover every character not in a header.

    `rules` defaults to the packaged chexpert14 rules (the section rules are shared by every
    vocabulary). Returns at least one section (the whole text when there is no header).
    """
    rs = rules or load_rules("chexpert14")
    out: list[Section] = []
    name: str | None = None
    labelled = True
    pos = 0
    h_start = h_end = -1
    for m in rs.sections.finditer(text):
        out.append(Section(name, pos, m.start(), labelled, h_start, h_end))
        idx = int(m.lastgroup[1:]) if m.lastgroup else 0
        name, labelled = rs.section_info[idx]
        pos = m.end()
        h_start, h_end = m.start(), m.end()
    out.append(Section(name, pos, len(text), labelled, h_start, h_end))
    # Drop the empty preamble before a header at the very start.
    return [s for i, s in enumerate(out) if i > 0 or s.end > s.start or len(out) == 1]
