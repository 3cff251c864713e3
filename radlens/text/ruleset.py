"""Loading the labeller's rules: tab-separated data files, compiled once per vocabulary.

Every rule file (the packaged ones in ``radlens/text/rules/`` and a user's extra file) has the same
format: one rule per line, tab-separated columns ``kind``, ``target``, ``pattern`` and an optional
``value``; ``#`` starts a comment line; blank lines are ignored. Kinds:

``mention``      target = a label; the pattern mentions it. Optional value ``0``/``1``/``-1`` fixes
                 the mention's value whatever its context (e.g. "heart size is normal" -> 0).
``exclude``      target = a label; text matching the pattern is not a mention of that label.
``abnormal``     target ``*``; another abnormality: when affirmed or uncertain, "No Finding" is
                 not positive.
``negation``     target ``pre`` (trigger before the mention), ``post`` (after) or ``both``.
``uncertainty``  same targets as negation. The value column holds optional flags, comma-separated:
                 ``weak``: the cue decides a mention only when no other cue covers it, and only
                 within its own clause (no comma or terminator in between) -- CheXpert's "X or
                 Y" rule; ``alternative``: the cue names alternatives ("A versus B", "A or B");
                 ``leaning``: the cue hedges towards the finding ("probable X"). Whether flagged
                 cues make a mention uncertain is set by ``convention`` rules.
``pseudo``       target ``*``; looks like a trigger but is not one ("no change").
``terminate``    target ``*``; ends a trigger's scope ("but", "however").
``section``      target = section name; the pattern is a header; value ``yes``/``no`` says
                 whether the section is labelled.
``convention``   target = a cue flag (``alternative`` or ``leaning``); pattern ``uncertain`` (the
                 flagged cues make mentions -1, as the CheXpert labeller does) or ``positive``
                 (the flagged cues are ignored, as in the NegBio / ChestX-ray14 convention). The
                 last such line wins; unset flags are ``uncertain``.

Patterns are Python regular expressions, matched case-insensitively as whole words (the loader
adds word boundaries); a space matches any run of white space, ``" ?"`` an optional one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from radlens import vocab as _vocab
from radlens.errors import DataError
from radlens.text.dispatch import Dispatch

KINDS = ("mention", "exclude", "abnormal", "negation", "uncertainty", "pseudo", "terminate",
         "section", "convention")
DIRECTIONS = ("pre", "post", "both")
PACKAGED_COMMON = ("context.tsv", "sections.tsv")
TRIGGER_FLAGS = frozenset({"weak", "alternative", "leaning"})
CONVENTION_FLAGS = ("alternative", "leaning")
CONVENTIONS: dict[str, dict[str, str]] = {
    "chexpert": {f: "uncertain" for f in CONVENTION_FLAGS},
    "negbio": {f: "positive" for f in CONVENTION_FLAGS},
}
"""Named conventions for `load_rules(convention=...)`: how each flagged cue group is read."""


def _flags(value: str) -> frozenset[str]:
    return frozenset(f.strip().lower() for f in value.split(",") if f.strip())


@dataclass(frozen=True)
class Rule:
    """One line of a rule file. `name` is ``<file>:<line>``, used as evidence."""

    kind: str
    target: str
    pattern: str
    value: str
    name: str
    source: str = ""


@dataclass(frozen=True)
class MentionRule:
    """A compiled mention (or exclusion) rule for one label."""

    label: str
    regex: re.Pattern[str]
    value: int | None
    name: str
    pattern: str


@dataclass(frozen=True)
class TriggerRule:
    """A compiled context rule: `kind` negation/uncertainty/pseudo/terminate, `direction`
    pre/post/both (``*`` for pseudo and terminate)."""

    kind: str
    direction: str
    regex: re.Pattern[str]
    name: str
    pattern: str
    weak: bool = False
    alternative: bool = False
    leaning: bool = False


@dataclass(frozen=True)
class RuleSet:
    """All compiled rules for one vocabulary.

    `mentions`: compiled mention rules; `excludes`: per-label exclusion regexes; `abnormal`:
    No-Finding blockers; `triggers`: context rules; `dispatch`: all of them indexed by prefix
    (items are ``(category, rule)`` with category "mention", "exclude", "abnormal" or
    "trigger"); `sections`: header regex with groups ``s<i>`` indexing `section_info`
    (name, labelled).
    """

    vocabulary: str
    labels: tuple[str, ...]
    mentions: tuple[MentionRule, ...]
    excludes: dict[str, tuple[re.Pattern[str], ...]]
    abnormal: tuple[MentionRule, ...]
    triggers: tuple[TriggerRule, ...]
    dispatch: Dispatch
    sections: re.Pattern[str]
    section_info: tuple[tuple[str, bool], ...]
    conventions: tuple[tuple[str, str], ...] = ()
    """(flag, "uncertain" | "positive") for each of CONVENTION_FLAGS, as compiled."""


_SPACE = re.compile(r"(?<!\\) (\?)?")


def _word_regex(pattern: str) -> str:
    body = _SPACE.sub(lambda m: r"\s*" if m.group(1) else r"\s+", pattern.strip())
    # Word boundaries only where the pattern's first / last character is a word character.
    return rf"(?:(?<!\w)|(?!\w))(?:{body})(?:(?!\w)|(?<!\w))"


def _spaces(pattern: str) -> str:
    return pattern.strip().replace(" ", r"[ \t]+")


def parse_rules(text: str, source: str) -> list[Rule]:
    """Parse rule-file text (see module docstring); `DataError` naming `source` when malformed."""
    rules: list[Rule] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) < 3 or len(cols) > 4:
            raise DataError(f"line {lineno}: expected 3 or 4 tab-separated columns "
                            f"(kind, target, pattern[, value]), got {len(cols)}", source)
        kind, target, pattern = (c.strip() for c in cols[:3])
        value = cols[3].strip() if len(cols) == 4 else ""
        if kind not in KINDS:
            raise DataError(f"line {lineno}: unknown rule kind {kind!r}; "
                            f"expected one of {', '.join(KINDS)}", source)
        if kind in ("negation", "uncertainty") and target not in DIRECTIONS:
            raise DataError(f"line {lineno}: {kind} target must be pre, post or both, "
                            f"not {target!r}", source)
        if kind == "mention" and value not in ("", "0", "1", "-1"):
            raise DataError(f"line {lineno}: mention value must be 0, 1 or -1", source)
        if kind == "convention" and (target not in CONVENTION_FLAGS
                                     or pattern not in ("uncertain", "positive")):
            raise DataError(f"line {lineno}: convention must be one of "
                            f"{', '.join(CONVENTION_FLAGS)} followed by uncertain or "
                            f"positive", source)
        if kind in ("negation", "uncertainty") and not _flags(value) <= TRIGGER_FLAGS:
            raise DataError(f"line {lineno}: {kind} flags must be among "
                            f"{', '.join(sorted(TRIGGER_FLAGS))}, not {value!r}", source)
        try:
            if kind != "convention":
                re.compile(_word_regex(pattern))
        except re.error as exc:
            raise DataError(f"line {lineno}: bad regular expression {pattern!r}: {exc}",
                            source) from None
        rules.append(Rule(kind, target, pattern, value, f"{Path(source).name}:{lineno}", source))
    return rules


def _packaged(name: str) -> list[Rule]:
    text = resources.files("radlens.text.rules").joinpath(name).read_text("utf-8")
    return parse_rules(text, name)


def _read_extra(path: str | Path) -> list[Rule]:
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except FileNotFoundError:
        raise DataError("rule file not found", p) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read rule file: {exc}", p) from None
    return parse_rules(text, str(p))


def _label_for(target: str, vocabulary: str, rule: Rule) -> str | None:
    """Resolve a rule's label in `vocabulary`; None when it belongs to another vocabulary."""
    if ":" in target:
        voc, target = target.split(":", 1)
        if _vocab.get(voc).name != vocabulary:
            return None
    try:
        return _vocab.canonical(target, vocabulary)
    except DataError:
        try:
            _vocab.canonical(target)
        except DataError:
            raise DataError(f"rule {rule.name}: unknown label {target!r}", rule.source) from None
        return None


def compile_rules(rules: list[Rule], vocabulary: str,
                  convention: str | None = None) -> RuleSet:
    """Compile parsed rules for `vocabulary` ("chexpert14" or "nih14").

    `convention` ("chexpert" or "negbio", see CONVENTIONS) overrides the ``convention`` lines of
    the rules; cues whose flag is read as ``positive`` are left out of the compiled set.
    """
    conv = {f: "uncertain" for f in CONVENTION_FLAGS}
    voc = _vocab.get(vocabulary)
    flags = re.IGNORECASE
    mentions: list[MentionRule] = []
    excludes: dict[str, list[re.Pattern[str]]] = {}
    abnormal: list[MentionRule] = []
    trig: list[Rule] = []
    sects: list[Rule] = []
    for r in rules:
        if r.kind in ("mention", "exclude"):
            lab = _label_for(r.target, voc.name, r)
            if lab is None:
                continue
            rx = re.compile(_word_regex(r.pattern), flags)
            if r.kind == "mention":
                mentions.append(MentionRule(lab, rx, int(r.value) if r.value else None,
                                            r.name, r.pattern))
            else:
                excludes.setdefault(lab, []).append(rx)
        elif r.kind == "abnormal":
            abnormal.append(MentionRule("*", re.compile(_word_regex(r.pattern), flags), None,
                                        r.name, r.pattern))
        elif r.kind == "section":
            sects.append(r)
        elif r.kind == "convention":
            conv[r.target] = r.pattern
        else:
            trig.append(r)
    if convention is not None:
        if convention not in CONVENTIONS:
            raise DataError(f"unknown labelling convention {convention!r}; choose "
                            f"{' or '.join(CONVENTIONS)}")
        conv.update(CONVENTIONS[convention])
    ignored = {f for f, v in conv.items() if v == "positive"}
    trig = [r for r in trig if not (_flags(r.value) & ignored)]
    sect_alts = "|".join(f"(?P<s{i}>{_spaces(r.pattern)})" for i, r in enumerate(sects))
    sect_rx = (rf"(?:^|(?<=[\n.;]))[ \t]*(?:{sect_alts})[ \t]*(?::|[ \t]*\n)") if sects else "(?!)"
    triggers = tuple(TriggerRule(r.kind, r.target, re.compile(_word_regex(r.pattern), flags),
                                 r.name, r.pattern, "weak" in _flags(r.value),
                                 "alternative" in _flags(r.value),
                                 "leaning" in _flags(r.value)) for r in trig)
    dispatch = Dispatch()
    for m in mentions:
        dispatch.add(("mention", m), m.regex.pattern)
    for lab, rxs in excludes.items():
        for rx in rxs:
            dispatch.add(("exclude", (lab, rx)), rx.pattern)
    for m in abnormal:
        dispatch.add(("abnormal", m), m.regex.pattern)
    for t in triggers:
        dispatch.add(("trigger", t), t.regex.pattern)
    return RuleSet(
        vocabulary=voc.name,
        labels=voc.labels,
        mentions=tuple(mentions),
        excludes={k: tuple(v) for k, v in excludes.items()},
        abnormal=tuple(abnormal),
        triggers=triggers,
        dispatch=dispatch,
        sections=re.compile(sect_rx, flags | re.MULTILINE),
        section_info=tuple((r.target.lower(), r.value.lower() != "no") for r in sects),
        conventions=tuple((f, conv[f]) for f in CONVENTION_FLAGS),
    )


@cache
def load_rules(vocabulary: str = "chexpert14", extra: str | None = None,
               convention: str | None = None) -> RuleSet:
    """The packaged rules for `vocabulary`, plus the rules in file `extra` when given.

    `convention`: None (the rule files' own ``convention`` lines: CheXpert-14 reads "A versus
    B" and "probable X" as uncertain, NIH-14 as positive), "chexpert" or "negbio".
    Cached per arguments. `DataError` (naming the file) for a bad rule file or convention.
    """
    name = _vocab.get(vocabulary).name
    rules: list[Rule] = []
    for f in (*PACKAGED_COMMON, f"mentions_{name}.tsv"):
        rules.extend(_packaged(f))
    if extra is not None:
        rules.extend(_read_extra(extra))
    return compile_rules(rules, name, convention)
