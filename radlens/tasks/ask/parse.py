"""Question text -> `radlens.schema.Question` (intent and slots), by rules kept as data.

Steps, top to bottom:

1. checks: an empty question, or one not in English (non-Latin script, or under a third of its
   words known English / finding words) gets intent INVALID with its `problem`;
2. normalise: lower case, VQA templating undone ("is/are" -> "is", "near/in" -> "in",
   "-yes/no" dropped), white space collapsed;
3. findings: the report labeller (`radlens.text`, CheXpert-14 and NIH-14 mention rules with
   their negation handling) labels the question as if it were a report sentence; its labels
   are mapped to the classifier's (``findings.tsv``), extra question wording is added, and a
   negated mention ("free of consolidation", "is the heart size normal?") sets `negated`.
   Things no radlens model assesses (fractures, tubes, the trachea, ...) go to `unsupported`;
4. intent: the first ``intents.tsv`` pattern that matches; else presence when a finding or an
   unsupported thing is named; else UNKNOWN. A question about another modality ("... on this
   CT") or an organ outside the chest ("the liver") is INVALID unless it asks about the
   modality or body region itself ("is this a CT?" -> modality, answered "no");
5. slots: side, zone, subject, and the options of a choice question ("PA or AP").

Parsing costs well under a millisecond per question (regular expressions only).
"""

from __future__ import annotations

import re
from functools import cache

from radlens.schema import AskIntent, Question
from radlens.tasks.ask.lexicon import Lexicon, Rule, lexicon
from radlens.text.labeler import NO_FINDING, NO_FINDING_RULE, label_one
from radlens.text.ruleset import RuleSet, load_rules

VOCABULARIES = ("chexpert14", "nih14")
AUXILIARIES = frozenset({"is", "are", "was", "were", "does", "do", "did", "can", "could", "has",
                         "have", "had", "will", "would", "should", "any", "anything", "am",
                         "doe", "must", "may", "might"})
EMPTY = "the question is empty"
KNOWLEDGE = ("the question asks for medical knowledge (causes, treatment, function), not "
             "about what this reading measured")
NOT_ENGLISH = "the question does not look like English; radlens answers questions in English"
_TEMPLATES = ((re.compile(r"\bis/are\b"), "is"), (re.compile(r"\bnear/in\b"), "in"),
              (re.compile(r"-\s*(yes/no|open)\b"), " "), (re.compile(r"[“”\"]"), ""),
              (re.compile(r"[‘’`]"), "'"), (re.compile(r"\s+"), " "))
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_WORD = re.compile(r"[a-z]+")
_PLANE_CHOICE = re.compile(r"\b(pa|ap|lateral|coronal|sagittal|axial|transverse|frontal)"
                           r"( plane| section| film| view| image)?\b")
_OR = re.compile(r"\b(or|vs|versus)\b|,")


def normalise(text: str) -> str:
    """`text` in lower case with VQA templating undone and white space collapsed (the form
    every pattern is matched against). The trailing question mark and full stop go too."""
    out = text.lower()
    for rx, repl in _TEMPLATES:
        out = rx.sub(repl, out)
    return out.strip().rstrip("?.! ").strip()


def _english(text: str, lex: Lexicon, names_finding: bool) -> bool:
    """False for text mostly in another script, or whose words are mostly unknown: under a
    third known English words, or under a fifth when it names a finding."""
    letters = _LETTER.findall(text)
    if not letters:
        return False
    if sum(1 for ch in letters if not ("a" <= ch.lower() <= "z")) > 0.3 * len(letters):
        return False
    words = _WORD.findall(text.lower())
    if len(words) < 2:
        return bool(words) and (words[0] in lex.english or names_finding)
    known = sum(1 for w in words if w in lex.english)
    return known >= len(words) / (5 if names_finding else 3)


@cache
def _labeller_rules() -> tuple[RuleSet, ...]:
    return tuple(load_rules(v) for v in VOCABULARIES)


def _negation_before(text: str, start: int, rules: RuleSet) -> bool:
    head = re.split(r"[,;:]", text[:start])[-1]  # the mention's own clause
    return any(t.kind == "negation" and t.direction in ("pre", "both") and t.regex.search(head)
               for t in rules.triggers)


def findings_in(text: str) -> tuple[dict[str, tuple[bool, int, str]], list[str]]:
    """The classifier labels `text` names -> (negated, first offset, rule name), and the
    things it names that no model assesses (``findings.tsv`` ``unsupported``), in order.

    `text` is a normalised question. The labeller's labels are mapped by ``findings.tsv``
    ``label`` lines (CheXpert-14 labels keep their names; NIH-14 labels without a line are
    dropped, CheXpert-14 covers them)."""
    lex = lexicon()
    found: dict[str, tuple[bool, int, str]] = {}

    def add(label: str, negated: bool, start: int, rule: str) -> None:
        prev = found.get(label)
        if prev is None or start < prev[1]:
            found[label] = (negated if prev is None else prev[0] and negated, start, rule)
        elif prev[0] and not negated:
            found[label] = (False, prev[1], prev[2])

    for rules in _labeller_rules():
        record = label_one(text, "question", rules).record
        for ev in record.evidence:
            if ev.label == NO_FINDING and ev.rule == NO_FINDING_RULE:
                continue
            key = f"{rules.vocabulary}:{ev.label}"
            target = lex.labels.get(key)
            if target is None and rules.vocabulary != "chexpert14":
                continue
            add(target or ev.label, ev.value == 0, ev.start, f"{rules.vocabulary} {ev.rule}")
    chexpert = _labeller_rules()[0]
    for rule in lex.mentions:
        m = rule.regex.search(text)
        if m is not None:
            add(rule.target, _negation_before(text, m.start(), chexpert), m.start(), rule.name)
    unsupported = []
    for rule in lex.unsupported:
        if rule.regex.search(text) and rule.target not in unsupported:
            unsupported.append(rule.target)
    return found, unsupported


def _first(rules: tuple[Rule, ...], text: str) -> Rule | None:
    return next((r for r in rules if r.regex.search(text)), None)


def _all_in_order(rules: tuple[Rule, ...], text: str) -> list[str]:
    hits: list[tuple[int, str]] = []
    for r in rules:
        for m in r.regex.finditer(text):
            hits.append((m.start(), r.target))
    out: list[str] = []
    for _, value in sorted(hits):
        if value not in out:
            out.append(value)
    return out


def _side(text: str, lex: Lexicon) -> str | None:
    sides = _all_in_order(lex.slots["side"], text)
    if "bilateral" in sides or ("right" in sides and "left" in sides and " and " in text):
        return "bilateral"
    return sides[0] if sides else None


def _choices(intent: str, text: str, lex: Lexicon,
             found: dict[str, tuple[bool, int, str]]) -> tuple[str, ...]:
    if intent == AskIntent.MODALITY:  # the modalities named, asked about ("is this a CT?")
        return tuple(_all_in_order(lex.slots["modality"], text))
    if intent == AskIntent.ORGAN:  # the body regions named ("is this a study of the chest?")
        return tuple(_all_in_order(lex.slots["body"], text))
    if not _OR.search(text):
        return ()
    if intent == AskIntent.PLANE:
        return tuple(dict.fromkeys(m.group(0) for m in _PLANE_CHOICE.finditer(text)))
    if intent == AskIntent.ABNORMAL_ORGAN:
        return ("heart", "lung")
    if intent == AskIntent.LOCATION:
        if re.search(r"\bunilateral or bilateral\b", text):
            return ("unilateral", "bilateral")
        if re.search(r"\bone or both sides\b", text):
            return ("one side", "both sides")
        return tuple(s for s in _all_in_order(lex.slots["side"], text) if s != "bilateral")
    if intent == AskIntent.PRESENCE and len(found) > 1 and re.search(r"\b(or|vs|versus)\b",
                                                                     text):
        ordered = sorted(found.items(), key=lambda kv: kv[1][1])
        return tuple(label for label, _ in ordered)
    return ()


def parse(text: str) -> Question:
    """Parse one question (see the module docstring); never raises. An unusable question
    comes back with intent INVALID (empty, not English, another modality or an organ outside
    the chest) and its `problem`; one no rule recognises with intent UNKNOWN."""
    if not isinstance(text, str) or not text.strip():
        return Question(text=text if isinstance(text, str) else "", intent=AskIntent.INVALID,
                        problem=EMPTY)
    lex = lexicon()
    norm = normalise(text)
    found, unsupported = findings_in(norm)
    if not _english(text, lex, bool(found or unsupported)):
        return Question(text=text, intent=AskIntent.INVALID, problem=NOT_ENGLISH)
    words = _WORD.findall(norm)
    closed = bool(words) and words[0] in AUXILIARIES
    rule = _first(lex.intents, norm)
    if rule is not None and rule.target == "knowledge":
        return Question(text=text, intent=AskIntent.UNKNOWN, closed=closed, problem=KNOWLEDGE,
                        rules=(rule.name,))
    intent = rule.target if rule is not None else (
        AskIntent.PRESENCE if found or unsupported else AskIntent.UNKNOWN)
    rules = [rule.name] if rule is not None else []
    rules += [r for _, _, r in found.values()]
    modalities = _all_in_order(lex.slots["modality"], norm)
    organ = _first(lex.slots["organ"], norm)
    body = [b for b in _all_in_order(lex.slots["body"], norm) if b != "chest"]
    problem = None
    if intent not in (AskIntent.MODALITY, AskIntent.PLANE, AskIntent.ORGAN):
        other = [m for m in modalities if m != "x-ray"]
        if other:
            problem = (f"the question is about {_article(other[0])}; this image is a chest "
                       "radiograph (x-ray), the only modality radlens reads")
        elif organ is not None:
            problem = (f"the question is about the {organ.target}, which a chest radiograph "
                       "reading does not assess")
        elif body and not found:
            problem = (f"the question is about the {body[0]}; radlens reads chest "
                       "radiographs only")
    if problem is not None:
        return Question(text=text, intent=AskIntent.INVALID, closed=closed, problem=problem,
                        rules=tuple([*rules, organ.name] if organ else rules))
    subject_rule = _first(lex.slots["subject"], norm)
    subject = subject_rule.target if subject_rule is not None else None
    zone_rule = _first(lex.slots["zone"], norm)
    labels = tuple(label for label, _ in sorted(found.items(), key=lambda kv: kv[1][1]))
    negated = bool(found) and all(neg for neg, _, _ in found.values())
    qualified = tuple(dict.fromkeys(r.target for r in lex.qualifiers if r.regex.search(norm)))
    return Question(
        text=text, intent=str(intent), closed=closed, labels=labels, negated=negated,
        side=_side(norm, lex), zone=zone_rule.target if zone_rule is not None else None,
        subject=subject, choices=_choices(str(intent), norm, lex, found),
        unsupported=tuple(unsupported), rules=tuple(rules), qualified=qualified)


def _article(modality: str) -> str:
    name = {"ct": "CT", "mri": "MRI", "pet": "PET"}.get(modality, modality)
    return f"an {name}" if name[0].lower() in "aeiou" or name in ("MRI",) else f"a {name}"
