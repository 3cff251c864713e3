"""Shared by the labeller benchmarks: the IU development reports, their dev/test split, the
NegBio gold standard, and the medspacy ConText peer labeller.

Split: a report is in "dev" when the first byte of sha256(id) is even, else "test". Rules were
developed by looking at "dev" reports only; "test" is the held-out half of the development data.
"""

from __future__ import annotations

import csv
import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from radlens.paths import data_root
from radlens.schema import LabelRecord
from radlens.text.readers import read_iu_xml
from radlens.text.ruleset import load_rules
from radlens.vocab import NIH14

NIH_LABELS = NIH14.labels


def split_of(report_id: str) -> str:
    """"dev" or "test", fixed by a hash of the report id."""
    return "dev" if hashlib.sha256(report_id.encode()).digest()[0] % 2 == 0 else "test"


@dataclass(frozen=True)
class IUSet:
    ids: list[str]
    texts: list[str]
    gold: list[dict[str, int]]  # NIH label -> 0/1


def load_iu(split: str = "all", root: Path | None = None) -> IUSet:
    """IU reports with NegBio gold (FINDINGS + IMPRESSION text), in id order, for `split`
    ("dev", "test" or "all")."""
    base = (root or data_root()) / "iu-xray"
    with open(base / "negbio-gold.csv", newline="") as f:
        gold = {r["filename"]: r for r in csv.DictReader(f)}
    ids, texts, golds = [], [], []
    for p in sorted((base / "reports").glob("*.xml"), key=lambda p: int(p.stem)):
        row = read_iu_xml(p)
        if row.id not in gold or (split != "all" and split_of(row.id) != split):
            continue
        ids.append(row.id)
        texts.append(row.text)
        golds.append({lab: int(gold[row.id][lab]) for lab in NIH_LABELS})
    return IUSet(ids, texts, golds)


class MedspacyPeer:
    """A labeller made of medspacy's sentence splitter (PyRuSH), target matcher and ConText
    (default rules), with the same mention phrases as radlens (its mention patterns that carry
    no fixed value). A mention counts as positive unless ConText marks it negated, uncertain or
    hypothetical; labels are aggregated like radlens (1 > -1 > 0 > blank)."""

    def __init__(self, vocab: str = "nih14") -> None:
        import medspacy
        from medspacy.ner import TargetRule

        try:  # PyRuSH logs every token at DEBUG through loguru: silence it, for a fair timing
            import sys

            from loguru import logger
            logger.remove()
            logger.add(sys.stderr, level="WARNING")
        except ImportError:
            pass

        self.rules = load_rules(vocab)
        self.labels = self.rules.labels
        self.nlp = medspacy.load(enable=["medspacy_pyrush", "medspacy_target_matcher",
                                         "medspacy_context"])
        matcher = self.nlp.get_pipe("medspacy_target_matcher")
        targets = []
        for m in self.rules.mentions:
            if m.value is None:
                pattern = re.sub(r"(?<!\\) (\?)?", lambda g: r"\s*" if g.group(1) else r"\s+",
                                 m.pattern)
                targets.append(TargetRule(m.pattern, m.label,
                                          pattern=rf"(?i)\b(?:{pattern})\b"))
        matcher.add(targets)

    def label(self, texts: list[str]) -> list[dict[str, int | None]]:
        out = []
        for doc in self.nlp.pipe(texts):
            vals: dict[str, list[int]] = {}
            for ent in doc.ents:
                if ent._.is_negated:
                    v = 0
                elif ent._.is_uncertain or ent._.is_hypothetical:
                    v = -1
                else:
                    v = 1
                vals.setdefault(ent.label_, []).append(v)
            rec: dict[str, int | None] = {}
            for lab in self.labels:
                vs = vals.get(lab, [])
                rec[lab] = (1 if 1 in vs else -1 if -1 in vs else 0) if vs else None
            out.append(rec)
        return out


_CUE = re.compile(r" \+ uncertainty\.\w+ (\S+) '")


def deciding_cues(rec: LabelRecord, label: str) -> list[str]:
    """Rule names (``context.tsv:68``) of the uncertainty cues that made `label`'s mentions -1."""
    out = []
    for ev in rec.evidence:
        if ev.label == label and ev.value == -1:
            m = _CUE.search(ev.rule)
            out.append(m.group(1) if m else "mention rule (fixed -1)")
    return out


def predicted(recs: list[LabelRecord]) -> np.ndarray:
    """0/1 predictions (reports x NIH labels): only 1 counts as present (the data README's
    convention: negated and uncertain are both 0)."""
    out = np.zeros((len(recs), len(NIH_LABELS)), dtype=int)
    for i, rec in enumerate(recs):
        for j, (_lab, v) in enumerate(rec.labels):
            out[i, j] = int(v == 1)
    return out


def timed(fn, *args):  # type: ignore[no-untyped-def]
    """(result, seconds) of calling fn(*args), by time.perf_counter."""
    t0 = time.perf_counter()
    res = fn(*args)
    return res, time.perf_counter() - t0
