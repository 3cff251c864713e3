"""Label -> text: templated report sentences for training and prompt sets for zero-shot.

All phrasings live in ``radlens/vlm/templates/findings.json`` (data, not code); this module only
chooses among them. Label names are canonicalised (lower case, '_' as space, aliases applied),
so "Pleural_Thickening", "pleural thickening" and "Pleural Thickening" are one finding.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from radlens.errors import DataError

NO_FINDING = "no finding"


@cache
def _packaged() -> dict[str, Any]:
    text = resources.files("radlens.vlm.templates").joinpath("findings.json").read_text("utf-8")
    table: dict[str, Any] = json.loads(text)
    return table


def load_templates(path: str | Path | None = None) -> dict[str, Any]:
    """The template table: the packaged one, or a user JSON file of the same shape.

    `DataError` naming the file when it cannot be read or lacks ``generic`` / ``findings``.
    """
    if path is None:
        return _packaged()
    p = Path(path)
    try:
        table = json.loads(p.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read the template file ({exc})", p) from exc
    if not isinstance(table, dict) or not {"generic", "findings"} <= set(table):
        raise DataError("a template file needs 'generic' and 'findings' entries", p)
    return table


def canonical(label: str, table: dict[str, Any] | None = None) -> str:
    """The canonical finding name of a label ("Pleural_Thickening" -> "pleural thickening")."""
    t = table or _packaged()
    name = " ".join(label.replace("_", " ").lower().split())
    return str(t.get("aliases", {}).get(name, name))


def _entry(finding: str, table: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = table["findings"].get(finding, {})
    return entry


def phrasings(label: str, positive: bool, table: dict[str, Any] | None = None) -> list[str]:
    """Every sentence the templates give for `label` being present (or absent)."""
    t = table or _packaged()
    finding = canonical(label, t)
    entry = _entry(finding, t)
    key = "positive" if positive else "negative"
    if key in entry:
        return list(entry[key])
    names = entry.get("names", [finding])
    return [tpl.format(finding=n) for tpl in t["generic"][key] for n in names]


def label_text(positives: Sequence[str], negatives: Sequence[str], rng: np.random.Generator,
               max_negatives: int = 2, table: dict[str, Any] | None = None,
               normal: bool = True) -> str:
    """A short report-like text for an image's labels, phrasing chosen by `rng`.

    `positives`: labels present (when none, or only "No Finding", the text starts with a
    normal sentence if `normal`, else it states only negatives); `negatives`: labels known
    absent, of which up to `max_negatives` (chosen at random; at least one when there is no
    other sentence) are stated as negative sentences ("no pleural effusion.").
    """
    t = table or _packaged()
    pos = [p for p in positives if canonical(p, t) != NO_FINDING]
    sentences = [str(rng.choice(phrasings(p, True, t))) for p in pos]
    if not sentences and normal:
        sentences = [str(rng.choice(phrasings(NO_FINDING, True, t)))]
    neg = [n for n in negatives if canonical(n, t) != NO_FINDING]
    if neg and max_negatives > 0:
        k = int(rng.integers(0 if sentences else 1, min(max_negatives, len(neg)) + 1))
        for n in rng.choice(len(neg), size=k, replace=False):
            sentences.append(str(rng.choice(phrasings(neg[int(n)], False, t))))
    return " ".join(sentences)


def findings_key(positives: Iterable[str], table: dict[str, Any] | None = None) -> str:
    """The finding set of a pair as one string ("effusion|pneumonia"; "no finding" if none).

    Two pairs with the same key are not treated as negatives of each other in training.
    """
    t = table or _packaged()
    names = sorted({canonical(p, t) for p in positives} - {NO_FINDING})
    return "|".join(names) if names else NO_FINDING


def zeroshot_prompts(label: str,
                     table: dict[str, Any] | None = None) -> tuple[list[str], list[str]]:
    """(positive prompts, negative prompts) for zero-shot classification of `label`.

    CheXzero style: "{finding}" vs "no {finding}", over every phrasing of the finding. A
    finding whose templates entry has its own whole-sentence ``positive`` and ``negative``
    lists uses those instead: "No Finding" is itself a negation, so "no finding" vs "no no
    finding" would ask the opposite question; its prompts are "normal chest radiograph." and
    the like vs "abnormal chest radiograph.".
    """
    t = table or _packaged()
    finding = canonical(label, t)
    entry = _entry(finding, t)
    if entry.get("positive") and entry.get("negative"):
        return list(entry["positive"]), list(entry["negative"])
    names = entry.get("names", [finding]) if finding != NO_FINDING else [finding]
    zs = t.get("zeroshot", t["generic"])
    return ([p.format(finding=n) for p in zs["positive"] for n in names],
            [p.format(finding=n) for p in zs["negative"] for n in names])
