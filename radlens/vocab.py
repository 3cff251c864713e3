"""Finding vocabularies (CheXpert-14, NIH-14) and the mapping between them.

The label sets and the mapping table are data: ``radlens/resources/vocabularies.json``.
Label values follow the CheXpert convention: 1 positive, 0 negative, -1 uncertain, None not
mentioned / unknown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from radlens.errors import DataError

LabelValue = int | None  # 1, 0, -1 or None


@dataclass(frozen=True)
class Vocabulary:
    """A named, ordered set of finding labels."""

    name: str
    labels: tuple[str, ...]
    description: str = ""

    def __contains__(self, label: object) -> bool:
        return label in self.labels

    def index(self, label: str) -> int:
        """Position of `label` (after alias resolution) in this vocabulary."""
        return self.labels.index(canonical(label, self.name))


@cache
def _data() -> dict[str, Any]:
    text = resources.files("radlens.resources").joinpath("vocabularies.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def names() -> tuple[str, ...]:
    """Names of the available vocabularies, e.g. ("chexpert14", "nih14")."""
    return tuple(_data()["vocabularies"])


def get(name: str) -> Vocabulary:
    """The vocabulary called `name` ("chexpert14" or "nih14"); `DataError` when unknown."""
    vocabs = _data()["vocabularies"]
    key = name.lower().replace("-", "").replace("_", "")
    if key not in vocabs:
        raise DataError(f"unknown vocabulary {name!r}; choose one of {', '.join(vocabs)}")
    entry = vocabs[key]
    return Vocabulary(key, tuple(entry["labels"]), entry.get("description", ""))


CHEXPERT14 = get("chexpert14")
NIH14 = get("nih14")


def canonical(label: str, vocabulary: str | None = None) -> str:
    """The canonical spelling of `label`: case, underscores and known aliases are forgiven.

    With `vocabulary`, the result must belong to it (`DataError` otherwise).
    """
    aliases: dict[str, str] = _data()["aliases"]
    pool = [get(vocabulary)] if vocabulary else [get(n) for n in names()]

    def key(s: str) -> str:
        return " ".join(s.replace("_", " ").lower().split())

    wanted = key(aliases.get(label, label))
    for vocab in pool:
        for candidate in vocab.labels:
            if key(candidate) == wanted:
                return candidate
    for alias, target in aliases.items():
        if key(alias) == wanted:
            for vocab in pool:
                if target in vocab.labels:
                    return target
    where = f" in {vocabulary}" if vocabulary else ""
    raise DataError(f"unknown finding label {label!r}{where}")


_INVERSE = {"exact": "exact", "narrower": "broader", "broader": "narrower"}


def _pairs(src: str, dst: str) -> list[tuple[str, str, str]]:
    mappings = _data()["mappings"]
    if f"{src}->{dst}" in mappings:
        return [(a, b, r) for a, b, r in mappings[f"{src}->{dst}"]["pairs"]]
    if f"{dst}->{src}" in mappings:
        return [(b, a, _INVERSE[r]) for a, b, r in mappings[f"{dst}->{src}"]["pairs"]]
    raise DataError(f"no mapping between vocabularies {src!r} and {dst!r}")


def _combine(values: list[LabelValue]) -> LabelValue:
    if 1 in values:
        return 1
    if -1 in values:
        return -1
    if 0 in values:
        return 0
    return None


def map_labels(labels: Mapping[str, LabelValue], src: str, dst: str) -> dict[str, LabelValue]:
    """Translate one image's labels from vocabulary `src` to vocabulary `dst`.

    Input: label -> 1 / 0 / -1 / None (labels missing from the mapping are treated as None).
    Output: every `dst` label -> 1 / 0 / -1 / None. Per mapping pair: 'exact' copies the value;
    'narrower' (source is a kind of target) carries positive and uncertain but not negative;
    'broader' carries negative only. Several sources for one target combine as
    positive > uncertain > negative > unknown. CheXpert's "No Finding" becomes 0 when any source
    finding is positive and stays unknown otherwise (NIH-14 does not cover every CheXpert
    finding, so an all-negative NIH record does not prove "No Finding").
    """
    src_v, dst_v = get(src), get(dst)
    clean = {canonical(k, src_v.name): v for k, v in labels.items()}
    for k, v in clean.items():
        if v not in (1, 0, -1, None):
            raise DataError(f"label {k!r} has value {v!r}; expected 1, 0, -1 or None")
    gathered: dict[str, list[LabelValue]] = {lab: [] for lab in dst_v.labels}
    for s, d, relation in _pairs(src_v.name, dst_v.name):
        value = clean.get(s)
        if relation == "narrower" and value == 0:
            value = None
        if relation == "broader" and value in (1, -1):
            value = None
        gathered[d].append(value)
    out = {lab: _combine(vals) for lab, vals in gathered.items()}
    if "No Finding" in dst_v.labels and "No Finding" not in src_v.labels:
        out["No Finding"] = 0 if any(v == 1 for v in clean.values()) else None
    if "No Finding" in src_v.labels and clean.get("No Finding") == 1:
        out = {lab: (0 if v is None else v) for lab, v in out.items()}
    return out
