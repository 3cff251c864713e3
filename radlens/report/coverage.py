"""Which findings a report may speak about: those a model actually assessed.

A finding is covered when it is in the `Interpretation` and, when its model's card can be found
in the registry, the card lists its label. Nothing else is ever stated, positive or negative:
the report never rules out what no model looked at. When two models assess the same label, the
first finding in the Interpretation speaks for it.
"""

from __future__ import annotations

import logging
from functools import cache

from radlens.errors import RadlensError
from radlens.schema import Finding, Interpretation

log = logging.getLogger(__name__)

NO_FINDING = "No Finding"


@cache
def card_labels(model: str) -> frozenset[str] | None:
    """Labels the registry card of `model` lists; None when no card is found for it."""
    try:
        from radlens.models.registry import find_card

        card = find_card(model)
    except (RadlensError, ImportError, OSError, ValueError):
        return None
    return frozenset(str(x) for x in card.get("labels", ()))


def covered(interp: Interpretation) -> tuple[Finding, ...]:
    """The covered findings of `interp`, one per label, in the Interpretation's order."""
    seen: set[str] = set()
    out: list[Finding] = []
    for f in interp.findings:
        if f.label in seen:
            continue
        labels = card_labels(f.model) if f.model else None
        if labels is not None and f.label not in labels:
            log.warning("finding %r is not among the labels of model %r; not reported",
                        f.label, f.model)
            continue
        seen.add(f.label)
        out.append(f)
    return tuple(out)
