"""Sentence splitting that survives abbreviations, decimals, numbered lists and ``XXXX``.

A sentence ends at ``.``, ``!`` or ``?`` followed by white space (or the end of the text), unless
the period ends a known abbreviation (``Dr.``, ``e.g.``, ``vs.`` …, listed in
``rules/abbreviations.txt``) or the next word starts in lower case; a blank line or a list item
number (``2.``, ``3)``) also starts a new sentence. Decimals such as ``2.5 cm`` are never split
because the period is not followed by white space.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_CANDIDATE = re.compile(
    r"[.!?]+[\"')\]]*(?=\s|$)"          # sentence-final punctuation
    r"|\n[ \t]*\n\s*"                   # blank line
    r"|(?<=\s)(?=\d{1,2}[.)][ \t]+\S)"  # a list item number after white space
)
_LIST_NUMBER = re.compile(r"(?:^|(?<=\s))\d{1,2}$")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")


@cache
def _abbreviations() -> frozenset[str]:
    text = resources.files("radlens.text.rules").joinpath("abbreviations.txt").read_text("utf-8")
    return frozenset(w.strip().lower().rstrip(".") for w in text.splitlines()
                     if w.strip() and not w.startswith("#"))


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans [s, e) within ``text[start:end]``, as offsets into `text`.

    Leading and trailing white space is excluded from each span; empty sentences are dropped.
    """
    stop = len(text) if end is None else end
    abbrev = _abbreviations()
    spans: list[tuple[int, int]] = []
    s = start
    for m in _CANDIDATE.finditer(text, start, stop):
        cut = m.end()
        if m.group().startswith((".", "!", "?")) or m.group()[:1] in "\"')]":
            if m.group().startswith("."):
                w = _WORD_BEFORE.search(text, max(start, m.start() - 12), m.start())
                if w and w.group(1).lower().rstrip(".") in abbrev:
                    continue
                if m.group() == "." and _LIST_NUMBER.search(text, max(start, m.start() - 3),
                                                            m.start()):
                    continue
            nxt = re.match(r"\s*(\S)", text[cut:cut + 40])
            if nxt and nxt.group(1).islower():
                continue
        elif m.group() == "":
            cut = m.start()
        _add(text, s, cut, spans)
        s = cut
    _add(text, s, stop, spans)
    return spans


def _add(text: str, s: int, e: int, spans: list[tuple[int, int]]) -> None:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    if e > s:
        spans.append((s, e))
