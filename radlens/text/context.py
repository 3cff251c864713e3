"""Mentions and their context: is a finding affirmed, negated or uncertain in its sentence?

For one sentence: find every mention of every label (``mention`` rules, minus ``exclude``
spans), find every trigger (``negation``, ``uncertainty``, ``pseudo``, ``terminate`` rules; at
one position the longest wins), then give each mention the value of the nearest trigger whose
scope covers it: a ``pre`` trigger covers what follows it up to the next terminator, a ``post``
trigger what precedes it back to the previous terminator, a trigger inside the mention's own span
("heart is not enlarged") covers that mention. No covering trigger: positive.
"""

from __future__ import annotations

from dataclasses import dataclass

from radlens.text.ruleset import RuleSet

POSITIVE, NEGATIVE, UNCERTAIN = 1, 0, -1


@dataclass(frozen=True)
class Trigger:
    """A context cue in a sentence: `kind` negation/uncertainty/pseudo/terminate."""

    kind: str
    direction: str
    start: int
    end: int
    rule: str


@dataclass(frozen=True)
class Mention:
    """One labelled mention: `label`, `value` (1/0/-1), span, and the rules that decided it."""

    label: str
    value: int
    start: int
    end: int
    rule: str


def find_triggers(text: str, start: int, end: int, rules: RuleSet) -> list[Trigger]:
    """Triggers in ``text[start:end]``, in order, with offsets into `text`."""
    out: list[Trigger] = []
    for m in rules.triggers.finditer(text, start, end):
        kind, direction, name, pattern = rules.trigger_info[int(m.lastgroup[1:])]  # type: ignore[index]
        out.append(Trigger(kind, direction, m.start(), m.end(), f"{kind}.{direction} {name} "
                                                               f"'{pattern}'"))
    return out


def find_mentions(text: str, start: int, end: int, rules: RuleSet,
                  abnormal: bool = False) -> list[tuple[str, int, int, int | None, str]]:
    """Raw mentions (label, start, end, fixed value or None, rule) in ``text[start:end]``.

    With `abnormal`, the No-Finding blockers (label ``*``) instead of the vocabulary's labels.
    Mentions overlapping an ``exclude`` match of their label, or a longer mention of the same
    label, are dropped.
    """
    found: list[tuple[str, int, int, int | None, str]] = []
    pool = rules.abnormal if abnormal else rules.mentions
    for mr in pool:
        for m in mr.regex.finditer(text, start, end):
            if m.end() > m.start():
                found.append((mr.label, m.start(), m.end(), mr.value,
                              f"mention {mr.name} '{mr.pattern}'"))
    if not found:
        return found
    excl: dict[str, list[tuple[int, int]]] = {}
    for lab in {f[0] for f in found}:
        for rx in rules.excludes.get(lab, ()):
            excl.setdefault(lab, []).extend((m.start(), m.end())
                                            for m in rx.finditer(text, start, end))
    found.sort(key=lambda f: (f[1], -(f[2] - f[1])))
    kept: list[tuple[str, int, int, int | None, str]] = []
    for f in found:
        if any(s < f[2] and f[1] < e for s, e in excl.get(f[0], ())):
            continue
        if any(k[0] == f[0] and k[1] < f[2] and f[1] < k[2] for k in kept):
            continue
        kept.append(f)
    return kept


def _blocked(triggers: list[Trigger], a: int, b: int) -> bool:
    """True when a terminator lies in [a, b)."""
    return any(t.kind == "terminate" and a <= t.start and t.end <= b for t in triggers)


def classify(text: str, start: int, end: int, rules: RuleSet,
             abnormal: bool = False) -> list[Mention]:
    """Mentions in the sentence ``text[start:end]`` with their values (see module docstring)."""
    raw = find_mentions(text, start, end, rules, abnormal)
    if not raw:
        return []
    triggers = find_triggers(text, start, end, rules)
    cues = [t for t in triggers if t.kind in ("negation", "uncertainty")]
    out: list[Mention] = []
    for label, ms, me, fixed, rule in raw:
        if fixed is not None:
            out.append(Mention(label, fixed, ms, me, rule))
            continue
        best: Trigger | None = None
        best_dist = 1 << 30
        for t in cues:
            if ms <= t.start and t.end <= me:
                dist = 0
            elif t.end <= ms and t.direction in ("pre", "both"):
                if _blocked(triggers, t.end, ms):
                    continue
                dist = ms - t.end
            elif t.start >= me and t.direction in ("post", "both"):
                if _blocked(triggers, me, t.start):
                    continue
                dist = t.start - me
            else:
                continue
            if dist < best_dist:
                best, best_dist = t, dist
        if best is None:
            out.append(Mention(label, POSITIVE, ms, me, rule))
        else:
            value = NEGATIVE if best.kind == "negation" else UNCERTAIN
            out.append(Mention(label, value, ms, me, f"{rule} + {best.rule}"))
    return out
