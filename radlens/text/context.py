"""Mentions and their context: is a finding affirmed, negated or uncertain in its sentence?

`scan` visits a stretch of text once and collects every mention (``mention`` rules, minus
``exclude`` spans and shorter overlaps of the same label), every No-Finding blocker
(``abnormal``) and every trigger (``negation``, ``uncertainty``, ``pseudo``, ``terminate``; at
one position the longest wins, triggers never overlap). `classify` then gives each mention of a
sentence the value of the nearest trigger whose scope covers it: a ``pre`` trigger covers what
follows it up to the next terminator, a ``post`` trigger what precedes it back to the previous
terminator, and a trigger inside the mention's own span ("heart is not enlarged") covers that
mention. A weak cue (CheXpert's "X or Y": uncertain unless negated) counts only when no other
cue covers the mention, and only within its clause (no comma in between). No covering trigger:
positive. A mention rule with a fixed value ignores context.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from radlens.text.dispatch import token_starts
from radlens.text.ruleset import MentionRule, RuleSet, TriggerRule

POSITIVE, NEGATIVE, UNCERTAIN = 1, 0, -1


@dataclass(frozen=True)
class Trigger:
    """A context cue found in the text (offsets into the text)."""

    rule: TriggerRule
    start: int
    end: int


@dataclass(frozen=True)
class Mention:
    """One labelled mention: `label`, `value` (1/0/-1), span, and the rules that decided it."""

    label: str
    value: int
    start: int
    end: int
    rule: str


@dataclass
class Scan:
    """Everything found in one stretch of text, each list sorted by start offset."""

    mentions: list[tuple[MentionRule, int, int]] = field(default_factory=list)
    abnormal: list[tuple[MentionRule, int, int]] = field(default_factory=list)
    triggers: list[Trigger] = field(default_factory=list)
    text: str = ""


def scan(text: str, low: str, start: int, end: int, rules: RuleSet) -> Scan:
    """Find mentions, blockers and triggers in ``text[start:end]``; `low` is ``text.lower()``."""
    out = Scan(text=text)
    excl: list[tuple[str, int, int]] = []
    trig_end = start
    cands = rules.dispatch.candidates
    for pos in token_starts(text, start, end):
        best: Trigger | None = None
        for cat, rule in cands(low, pos):
            if cat == "trigger":
                if pos < trig_end:
                    continue
                m = rule.regex.match(text, pos, end)
                if m and m.end() > pos and (best is None or m.end() > best.end):
                    best = Trigger(rule, pos, m.end())
            elif cat == "exclude":
                m = rule[1].match(text, pos, end)
                if m:
                    excl.append((rule[0], pos, m.end()))
            else:
                m = rule.regex.match(text, pos, end)
                if m and m.end() > pos:
                    (out.mentions if cat == "mention" else out.abnormal).append(
                        (rule, pos, m.end()))
        if best is not None:
            out.triggers.append(best)
            trig_end = best.end
    if out.mentions:
        kept: list[tuple[MentionRule, int, int]] = []
        for f in sorted(out.mentions, key=lambda f: (f[1], f[1] - f[2])):
            lab, s, e = f[0].label, f[1], f[2]
            if any(x[0] == lab and x[1] < e and s < x[2] for x in excl):
                continue
            if any(k[0].label == lab and k[1] < e and s < k[2] for k in kept):
                continue
            kept.append(f)
        out.mentions = kept
    return out


def _blocked(triggers: list[Trigger], a: int, b: int) -> bool:
    """True when a terminator lies within [a, b)."""
    return any(t.rule.kind == "terminate" and a <= t.start and t.end <= b for t in triggers)


def classify(found: Scan, start: int, end: int,
             abnormal: bool = False) -> list[Mention]:
    """Values of the mentions (or, with `abnormal`, the blockers) of sentence [start, end)."""
    pool = found.abnormal if abnormal else found.mentions
    raw = [f for f in pool if start <= f[1] and f[2] <= end]
    if not raw:
        return []
    triggers = [t for t in found.triggers if start <= t.start and t.end <= end]
    cues = [t for t in triggers if t.rule.kind in ("negation", "uncertainty")]
    out: list[Mention] = []
    for mr, ms, me in raw:
        rule = f"mention {mr.name} '{mr.pattern}'"
        if mr.value is not None:
            out.append(Mention(mr.label, mr.value, ms, me, rule))
            continue
        best: Trigger | None = None
        weak: Trigger | None = None
        best_dist = weak_dist = 1 << 30
        for t in cues:
            direction = t.rule.direction
            if ms <= t.start and t.end <= me:
                a = b = dist = 0
            elif t.end <= ms and direction in ("pre", "both"):
                a, b = t.end, ms
                dist = ms - t.end
            elif t.start >= me and direction in ("post", "both"):
                a, b = me, t.start
                dist = t.start - me
            else:
                continue
            if t.rule.weak:
                if dist < weak_dist and "," not in found.text[a:b] and \
                        not _blocked(triggers, a, b):
                    weak, weak_dist = t, dist
            elif dist < best_dist and not _blocked(triggers, a, b):
                best, best_dist = t, dist
        if best is None:
            best = weak
        if best is None:
            out.append(Mention(mr.label, POSITIVE, ms, me, rule))
        else:
            value = NEGATIVE if best.rule.kind == "negation" else UNCERTAIN
            cue = f"{best.rule.kind}.{best.rule.direction} {best.rule.name} '{best.rule.pattern}'"
            out.append(Mention(mr.label, value, ms, me, f"{rule} + {cue}"))
    return out
