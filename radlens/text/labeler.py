"""The report labeller: report texts in, CheXpert-convention labels with evidence out.

Pipeline per report (top to bottom): sections -> sentences -> mentions with context -> one value
per label. Aggregation follows the CheXpert labeller: a label is 1 when any mention is positive,
else -1 when any is uncertain, else 0 when any is negated, else None (not mentioned). "No
Finding" (CheXpert-14 only) is 1 when no label other than "Support Devices", and no other
abnormality (``abnormal`` rules), is positive or uncertain; otherwise it is left blank.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from radlens.schema import Evidence, LabelRecord
from radlens.text.context import classify, scan
from radlens.text.ruleset import RuleSet, load_rules
from radlens.text.sections import split_sections
from radlens.text.sentences import split_sentences

log = logging.getLogger(__name__)

MAX_CHARS = 100_000
"""Reports longer than this are labelled on their first MAX_CHARS characters (with a warning)."""

_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f\ufffd]")
NO_FINDING = "No Finding"
SUPPORT_DEVICES = "Support Devices"
NO_FINDING_RULE = "aggregate: no positive or uncertain finding"


@dataclass(frozen=True)
class Labelled:
    """One report's record plus the warnings raised while labelling it (empty when clean)."""

    record: LabelRecord
    warnings: tuple[str, ...]


def _check_text(text: object) -> tuple[str, list[str]]:
    warnings: list[str] = []
    if not isinstance(text, str):
        warnings.append(f"report is {type(text).__name__}, not text; left unlabelled")
        return "", warnings
    if not text.strip():
        warnings.append("empty report; left unlabelled")
        return "", warnings
    if len(text) > MAX_CHARS:
        warnings.append(f"report has {len(text)} characters; only the first {MAX_CHARS} "
                        "were labelled")
        text = text[:MAX_CHARS]
    sample = text[:4096]
    bad = len(_BAD_CHARS.findall(sample))
    if bad > max(8, len(sample) // 20):
        warnings.append(f"report looks like binary or mis-decoded data ({bad} control or "
                        f"replacement characters in the first {len(sample)}); labelled anyway")
    return text, warnings


def label_one(text: object, record_id: str, rules: RuleSet) -> Labelled:
    """Label one report with compiled `rules`; never raises on any `text` (see `label`)."""
    clean, warnings = _check_text(text)
    if not clean:
        empty = tuple((lab, None) for lab in rules.labels)
        return Labelled(LabelRecord(record_id, rules.vocabulary, empty), tuple(warnings))
    values: dict[str, list[int]] = {}
    evidence: list[Evidence] = []
    blocked = False
    low = clean.lower()
    for sec in split_sections(clean, rules):
        if not sec.labelled:
            continue
        found = scan(clean, low, sec.start, sec.end, rules)
        if not found.mentions and not found.abnormal:
            continue
        for s, e in split_sentences(clean, sec.start, sec.end):
            for m in classify(found, s, e):
                values.setdefault(m.label, []).append(m.value)
                evidence.append(Evidence(m.label, m.value, m.start, m.end, s, e, sec.name,
                                         m.rule))
            if not blocked and found.abnormal and rules.vocabulary == "chexpert14":
                blocked = any(m.value != 0 for m in classify(found, s, e, abnormal=True))
    final: dict[str, int | None] = {}
    for lab in rules.labels:
        vals = values.get(lab)
        if not vals:
            final[lab] = None
        elif 1 in vals:
            final[lab] = 1
        elif -1 in vals:
            final[lab] = -1
        else:
            final[lab] = 0
    if NO_FINDING in rules.labels:
        finding = blocked or any(v in (1, -1) for k, v in final.items()
                                 if k not in (NO_FINDING, SUPPORT_DEVICES))
        if finding:
            final[NO_FINDING] = None
            evidence = [ev for ev in evidence if ev.label != NO_FINDING]
        else:
            final[NO_FINDING] = 1
            evidence = [ev for ev in evidence if ev.label != NO_FINDING]
            evidence.insert(0, Evidence(NO_FINDING, 1, 0, len(clean), 0, len(clean), None,
                                        NO_FINDING_RULE))
    record = LabelRecord(record_id, rules.vocabulary,
                         tuple((lab, final[lab]) for lab in rules.labels), tuple(evidence))
    return Labelled(record, tuple(warnings))


def label_detailed(texts: Sequence[object], vocab: str = "chexpert14",
                   ids: Sequence[str] | None = None,
                   extra_rules: str | os.PathLike[str] | None = None,
                   convention: str | None = None) -> list[Labelled]:
    """Like `label`, but also returns each report's warnings (for the CLI).

    Identical texts within one call are labelled once; each still gets its own record and id.
    """
    if ids is not None and len(ids) != len(texts):
        from radlens.errors import DataError
        raise DataError(f"{len(ids)} ids for {len(texts)} texts; give one id per text")
    rules = load_rules(vocab, None if extra_rules is None else os.fspath(extra_rules),
                       convention)
    out: list[Labelled] = []
    seen: dict[str, Labelled] = {}  # identical texts in one call are labelled once
    for i, text in enumerate(texts):
        rid = str(ids[i]) if ids is not None else str(i)
        prev = seen.get(text) if isinstance(text, str) else None
        if prev is None:
            res = label_one(text, rid, rules)
            if isinstance(text, str):
                seen[text] = res
        else:
            rec = prev.record
            res = Labelled(LabelRecord(rid, rec.vocabulary, rec.labels, rec.evidence),
                           prev.warnings)
        out.append(res)
    return out


def label(texts: Sequence[str], vocab: str = "chexpert14", ids: Sequence[str] | None = None,
          extra_rules: str | os.PathLike[str] | None = None,
          convention: str | None = None) -> list[LabelRecord]:
    """Label radiology report texts with findings, negation and uncertainty, with evidence.

    Inputs: `texts`, the reports (plain text; section headers such as ``FINDINGS:`` are
    recognised, and INDICATION / HISTORY / COMPARISON / TECHNIQUE are not labelled); `vocab`,
    "chexpert14" (default) or "nih14"; `ids`, one id per text (default "0", "1", …);
    `extra_rules`, a path to a user rule file added to the packaged rules (see docs/labeller.md);
    `convention`, how "A versus B" and "probable X" are read: None (the vocabulary's own
    convention: uncertain for CheXpert-14, present for NIH-14), "chexpert" (uncertain) or
    "negbio" (present).

    Output: one `LabelRecord` per text, in order, whose labels follow the CheXpert convention
    (1 positive, 0 negative, -1 uncertain, None not mentioned). Every non-None label has at
    least one `Evidence` (character spans into the original text). Never raises on bad text:
    empty, non-string or binary input gives an all-None record and a logged warning. Raises
    `DataError` for an unknown vocabulary, a bad rule file or mismatched `ids`.
    """
    results = label_detailed(texts, vocab, ids, extra_rules, convention)
    for r in results:
        for w in r.warnings:
            log.warning("report %s: %s", r.record.id, w)
    return [r.record for r in results]
