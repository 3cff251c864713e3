"""The data files of question answering, loaded and compiled once.

Files in this package (all plain data; see each file's header for its columns):

- ``intents.tsv``: question patterns -> intent, first match wins;
- ``findings.tsv``: finding words of questions beyond the report labeller's mention rules
  (which are used as they are), the mapping of labeller labels to classifier labels, and
  things no radlens model assesses ("fractures", "the trachea", ...);
- ``words.tsv``: slot words (subject, side, zone, modality, body region, out-of-chest organ)
  and the English word list of the language check;
- ``answers.json``: answer phrases in the benchmarks' words.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from radlens.errors import DataError

PACKAGE = "radlens.tasks.ask"
INTENTS = ("knowledge", "heart_size", "abnormal_organ", "count", "plane", "modality", "organ",
           "location", "normality", "findings")
SLOTS = ("subject", "side", "zone", "modality", "body", "organ", "english")
FINDING_KINDS = ("label", "mention", "qualifier", "unsupported")


def word_regex(pattern: str) -> re.Pattern[str]:
    """`pattern` compiled case-insensitively as whole words (a boundary is added on a side
    only where the pattern starts / ends with a word character, as the labeller does)."""
    return re.compile(rf"(?:(?<!\w)|(?!\w))(?:{pattern})(?:(?!\w)|(?<!\w))", re.IGNORECASE)


@dataclass(frozen=True)
class Rule:
    """One compiled line of a data file: `kind` (intent, slot or finding kind), `target`,
    `value` and `regex`; `name` is ``<file>:<line>`` (travels with answers as evidence)."""

    kind: str
    target: str
    value: str
    regex: re.Pattern[str]
    name: str


@dataclass(frozen=True)
class Lexicon:
    """Everything the parser needs: `intents` (ordered), `slots` (per slot, ordered),
    `labels` (labeller label -> classifier label), `mentions` (extra finding words),
    `qualifiers` (qualities of a finding no model judges), `unsupported` (things no model
    assesses), `english` (known English words), `answers`
    (the phrases of ``answers.json``)."""

    intents: tuple[Rule, ...]
    slots: dict[str, tuple[Rule, ...]]
    labels: dict[str, str]
    mentions: tuple[Rule, ...]
    qualifiers: tuple[Rule, ...]
    unsupported: tuple[Rule, ...]
    english: frozenset[str]
    answers: dict[str, Any]


def _lines(name: str, columns: int) -> list[tuple[int, list[str]]]:
    text = resources.files(PACKAGE).joinpath(name).read_text("utf-8")
    out = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        cols = [c.strip() for c in raw.split("\t")]
        if len(cols) != columns:
            raise DataError(f"line {lineno}: expected {columns} tab-separated columns, got "
                            f"{len(cols)}", name)
        out.append((lineno, cols))
    return out


def _compile(pattern: str, name: str, anywhere: bool = False) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE) if anywhere else word_regex(pattern)
    except re.error as exc:
        raise DataError(f"bad regular expression {pattern!r}: {exc}", name) from None


@cache
def lexicon() -> Lexicon:
    """The compiled data files (cached); `DataError` naming the file and line when one is
    malformed."""
    intents = []
    for lineno, (intent, pattern) in _lines("intents.tsv", 2):
        if intent not in INTENTS:
            raise DataError(f"line {lineno}: unknown intent {intent!r}", "intents.tsv")
        name = f"intents.tsv:{lineno}"
        intents.append(Rule("intent", intent, "", _compile(pattern, name, anywhere=True), name))
    slots: dict[str, list[Rule]] = {s: [] for s in SLOTS}
    english: set[str] = set()
    for lineno, (slot, value, pattern) in _lines("words.tsv", 3):
        if slot not in SLOTS:
            raise DataError(f"line {lineno}: unknown slot {slot!r}", "words.tsv")
        if slot == "english":
            english.update(w.strip().lower() for w in pattern.split("|") if w.strip())
            continue
        name = f"words.tsv:{lineno}"
        slots[slot].append(Rule(slot, value, "", _compile(pattern, name), name))
    labels: dict[str, str] = {}
    mentions: list[Rule] = []
    qualifiers: list[Rule] = []
    unsupported: list[Rule] = []
    for lineno, (kind, target, pattern) in _lines("findings.tsv", 3):
        name = f"findings.tsv:{lineno}"
        if kind not in FINDING_KINDS:
            raise DataError(f"line {lineno}: unknown kind {kind!r}", "findings.tsv")
        if kind == "label":
            labels[target] = pattern
            continue
        rule = Rule(kind, target, "", _compile(pattern, name), name)
        {"mention": mentions, "qualifier": qualifiers}.get(kind, unsupported).append(rule)
    answers = json.loads(resources.files(PACKAGE).joinpath("answers.json").read_text("utf-8"))
    for rules in (mentions, qualifiers, unsupported, *slots.values()):
        for r in rules:
            english.update(re.findall(r"[a-z]+", r.regex.pattern.lower()))
    return Lexicon(tuple(intents), {k: tuple(v) for k, v in slots.items()}, labels,
                   tuple(mentions), tuple(qualifiers), tuple(unsupported), frozenset(english),
                   answers)
