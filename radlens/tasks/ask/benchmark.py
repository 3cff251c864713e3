"""Scoring `ask` on the VQA-RAD and SLAKE chest questions (used by ``benchmarks/vqa_eval.py``).

`load_questions` reads a set's ``questions.json`` (chest questions only) into `VqaItem`s;
`score` turns answers into accuracy (closed and open), coverage (share answered rather than
"cannot answer") and selective accuracy (accuracy on the answered ones), overall and per
question type, with 95% bootstrap CIs resampled by image (questions on one image are not
independent), next to the majority-answer baseline. Open answers are scored by exact match
after `normalise_answer`, as the benchmarks score them.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from radlens.errors import DataError
from radlens.metrics.stats import bootstrap_ci

SETS = ("vqa-rad", "slake-cxr")


@dataclass(frozen=True)
class VqaItem:
    """One benchmark question: `image` (path), `question`, reference `answer`, `closed`
    (answer_type CLOSED), `qtype` (VQA-RAD question_type / SLAKE content_type), `qid`."""

    image: Path
    question: str
    answer: str
    closed: bool
    qtype: str
    qid: str


def load_questions(root: Path, name: str) -> list[VqaItem]:
    """The chest questions of set `name` ("vqa-rad" or "slake-cxr") under `root` (the data
    folder). VQA-RAD keeps ``image_organ == "CHEST"``; SLAKE keeps English X-ray questions.
    Raises `DataError` when the set's ``questions.json`` is missing or malformed."""
    folder = root / name
    path = folder / "questions.json"
    if not path.is_file():
        raise DataError(f"no questions.json under {folder}")
    try:
        rows = json.loads(path.read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    out: list[VqaItem] = []
    for row in rows:
        if name == "vqa-rad":
            if str(row.get("image_organ", "")).upper() != "CHEST":
                continue
            image = folder / "images" / row["image_name"]
            qtype = str(row.get("question_type", "")).split(",")[0].strip() or "OTHER"
        else:
            if row.get("q_lang", "en") != "en" or row.get("modality", "X-Ray") != "X-Ray":
                continue
            image = folder / "imgs" / row["img_name"]
            qtype = str(row.get("content_type", "")) or "Other"
        out.append(VqaItem(image, str(row["question"]), str(row["answer"]),
                           str(row.get("answer_type", "")).upper() == "CLOSED", qtype,
                           str(row.get("qid", len(out)))))
    return out


_PUNCT = re.compile(r"[^\w\s%>.-]|(?<!\d)\.|\.(?!\d)")


def normalise_answer(text: str) -> str:
    """Lower case, punctuation (but hyphens, decimal points and %) dropped, articles and
    surrounding space removed, white space collapsed: ``" The X-Ray."`` -> ``"x-ray"``."""
    out = _PUNCT.sub(" ", text.lower().replace("\t", " "))
    words = [w for w in out.split() if w not in ("a", "an", "the")]
    return " ".join(words)


def correct(predicted: str, answered: bool, reference: str) -> bool:
    """Whether an answer counts as right: answered and equal after `normalise_answer`."""
    return answered and normalise_answer(predicted) == normalise_answer(reference)


def _estimate(values: np.ndarray, mask: np.ndarray, groups: np.ndarray, n_boot: int,
              seed: int) -> dict[str, Any]:
    """Mean of `values` over items where `mask`, with an image-cluster bootstrap CI."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return {"value": None, "ci_low": None, "ci_high": None, "n": 0}
    by_group: dict[int, list[int]] = defaultdict(list)
    for i in idx:
        by_group[int(groups[i])].append(int(i))
    clusters = list(by_group.values())

    def stat(sel: np.ndarray) -> float:
        members = [i for c in sel for i in clusters[int(c)]]
        return float(np.mean(values[members])) if members else float("nan")

    est = bootstrap_ci(stat, len(clusters), n_boot=n_boot, seed=seed)
    return {"value": round(est.value, 4), "ci_low": round(est.low, 4),
            "ci_high": round(est.high, 4), "n": int(idx.size)}


def score(items: Sequence[VqaItem], answers: Sequence[str], answered: Sequence[bool],
          n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Accuracy, coverage and selective accuracy of `answers` on `items` (same order).

    Returned per answer type ("closed", "open") and per (answer type, question type):
    ``accuracy`` (unanswered counts as wrong), ``coverage``, ``selective_accuracy`` (on the
    answered), ``majority_accuracy`` (always giving the most common reference answer of that
    group, fitted on these same questions, so optimistic), each an estimate with ``ci_low`` /
    ``ci_high`` and ``n`` questions."""
    if not (len(items) == len(answers) == len(answered)):
        raise DataError("items, answers and answered must have the same length")
    ok = np.array([correct(a, d, it.answer) for it, a, d in zip(items, answers, answered,
                                                               strict=True)], dtype=float)
    done = np.array(answered, dtype=bool)
    images = {p: i for i, p in enumerate(dict.fromkeys(it.image for it in items))}
    groups = np.array([images[it.image] for it in items], dtype=int)
    kinds = np.array(["closed" if it.closed else "open" for it in items])
    qtypes = np.array([it.qtype for it in items])

    def block(mask: np.ndarray) -> dict[str, Any]:
        refs = [normalise_answer(items[int(i)].answer) for i in np.flatnonzero(mask)]
        common = Counter(refs).most_common(1)[0][0] if refs else ""
        major = np.array([normalise_answer(it.answer) == common for it in items], dtype=float)
        return {
            "accuracy": _estimate(ok, mask, groups, n_boot, seed),
            "coverage": _estimate(done.astype(float), mask, groups, n_boot, seed),
            "selective_accuracy": _estimate(ok, mask & done, groups, n_boot, seed),
            "majority_accuracy": _estimate(major, mask, groups, n_boot, seed),
            "majority_answer": common,
        }

    out: dict[str, Any] = {}
    for kind in ("closed", "open"):
        mask = kinds == kind
        entry = block(mask)
        entry["by_type"] = {t: block(mask & (qtypes == t))
                            for t in sorted(set(qtypes[mask].tolist()))}
        out[kind] = entry
    return out
