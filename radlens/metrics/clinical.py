"""Clinical efficacy F1 (`radlens_f1`): do the candidate and the reference report state the same
findings, according to the radlens report labeller?

Both texts are labelled over the 14 CheXpert observations with ``radlens.text.labeler.label``;
each label value (1 positive, 0 negative, -1 uncertain, None not mentioned) is turned into
present / absent under two conventions:

* ``u_pos``: uncertain counts as present (1 and -1 -> present);
* ``u_neg``: uncertain counts as absent (only 1 -> present).

The reference's labels are the truth. Per label: precision TP/(TP+FP), recall TP/(TP+FN),
F1 2TP/(2TP+FP+FN), each 0 when its denominator is 0 (scikit-learn's ``zero_division=0``).
Micro averages pool TP/FP/FN over labels; macro averages the per-label values. Both are computed
over ``all14`` (the CheXpert-14 labels, including "No Finding") and ``top5`` (Atelectasis,
Cardiomegaly, Consolidation, Edema, Pleural Effusion).

This is *not* CheXbert F1: the labeller is radlens's own rule-based labeller, so numbers are
comparable between systems scored with the same radlens version, not with papers that used
CheXbert.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from radlens.errors import DataError, MissingDependencyError
from radlens.metrics.base import Aggregate, Metric, MetricResult, register
from radlens.schema import LabelRecord
from radlens.vocab import CHEXPERT14

TOP5 = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion")
LABEL_SETS: dict[str, tuple[str, ...]] = {"all14": CHEXPERT14.labels, "top5": TOP5}
CONVENTIONS: dict[str, tuple[int, ...]] = {"u_pos": (1, -1), "u_neg": (1,)}
AVERAGES = ("micro", "macro")
MEASURES = ("precision", "recall", "f1")


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den elementwise, 0 where den == 0."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.zeros(np.broadcast(num, den).shape, dtype=float)
    np.divide(num, den, out=out, where=den > 0)
    return out


def presence(records: Sequence[LabelRecord], labels: Sequence[str],
             convention: str) -> np.ndarray:
    """Boolean (n, len(labels)) matrix: label present in record i under `convention`
    ("u_pos" or "u_neg"). Records must use the chexpert14 vocabulary."""
    positive = CONVENTIONS[convention]
    out = np.zeros((len(records), len(labels)), dtype=bool)
    for i, rec in enumerate(records):
        if rec.vocabulary.lower().replace("-", "") != "chexpert14":
            raise DataError(f"label record {rec.id!r} uses vocabulary {rec.vocabulary!r}; "
                            "radlens_f1 needs chexpert14")
        values = rec.as_dict()
        for j, lab in enumerate(labels):
            if lab not in values:
                raise DataError(f"label record {rec.id!r} has no value for {lab!r}")
            out[i, j] = values[lab] in positive
    return out


def confusion_stats(ref: np.ndarray, hyp: np.ndarray) -> np.ndarray:
    """Per-pair counts, int array (n, 3 * L): for label j, columns 3j, 3j+1, 3j+2 hold TP, FP,
    FN of that pair (each 0 or 1). `ref`, `hyp`: boolean presence matrices (n, L)."""
    tp = ref & hyp
    fp = ~ref & hyp
    fn = ref & ~hyp
    return np.stack([tp, fp, fn], axis=2).reshape(ref.shape[0], -1).astype(np.int64)


def per_label_prf(sums: np.ndarray) -> np.ndarray:
    """(m, L, 3) per-label precision, recall, F1 from (m, 3L) column sums of
    `confusion_stats` (one row per set of pairs)."""
    counts = np.asarray(sums, dtype=float).reshape(sums.shape[0], -1, 3)
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    return np.stack([_div(tp, tp + fp), _div(tp, tp + fn), _div(2 * tp, 2 * tp + fp + fn)],
                    axis=2)


def micro_prf(sums: np.ndarray) -> np.ndarray:
    """(m, 3) micro precision, recall, F1 (counts pooled over labels) from (m, 3L) sums."""
    pooled = np.asarray(sums, dtype=float).reshape(sums.shape[0], -1, 3).sum(axis=1)
    tp, fp, fn = pooled[:, 0], pooled[:, 1], pooled[:, 2]
    return np.stack([_div(tp, tp + fp), _div(tp, tp + fn), _div(2 * tp, 2 * tp + fp + fn)],
                    axis=1)


def macro_prf(sums: np.ndarray) -> np.ndarray:
    """(m, 3) macro precision, recall, F1 (unweighted means of per-label values)."""
    return per_label_prf(sums).mean(axis=1)


def _sums_fn(average: str, measure: int) -> Callable[[np.ndarray], np.ndarray]:
    fn = micro_prf if average == "micro" else macro_prf

    def from_sums(sums: np.ndarray) -> np.ndarray:
        return fn(sums)[:, measure]

    return from_sums


def example_f1(ref: np.ndarray, hyp: np.ndarray) -> np.ndarray:
    """Per-pair F1 of the present-label sets, 2TP / (2TP + FP + FN); 1.0 when neither report
    has any present label (they agree)."""
    tp = (ref & hyp).sum(axis=1)
    wrong = (ref ^ hyp).sum(axis=1)
    den = 2 * tp + wrong
    return np.where(den > 0, _div(2 * tp, den), 1.0)


def f1_from_records(ref_records: Sequence[LabelRecord], hyp_records: Sequence[LabelRecord],
                    ids: Sequence[str] | None = None) -> MetricResult:
    """`radlens_f1` from already labelled references and candidates (paired by position).

    Aggregates are named ``{set}.{convention}.{average}_{measure}``, e.g.
    ``top5.u_pos.micro_f1`` (set: all14, top5; convention: u_pos, u_neg; average: micro, macro;
    measure: precision, recall, f1). Per pair: ``{set}.{convention}.example_f1``. Details hold
    the per-label precision, recall, F1, support (reference positives) and predicted positives.
    """
    pair_ids = Metric.check_inputs(ref_records, hyp_records, ids)
    aggregates: dict[str, Aggregate] = {}
    per_pair: dict[str, np.ndarray] = {}
    per_label: dict[str, Any] = {}
    for set_name, labels in LABEL_SETS.items():
        for conv in CONVENTIONS:
            ref = presence(ref_records, labels, conv)
            hyp = presence(hyp_records, labels, conv)
            stats = confusion_stats(ref, hyp)
            key = f"{set_name}.{conv}"
            for avg in AVERAGES:
                for m, measure in enumerate(MEASURES):
                    name = f"{key}.{avg}_{measure}"
                    aggregates[name] = Aggregate(name, stats, _sums_fn(avg, m))
            per_pair[f"{key}.example_f1"] = example_f1(ref, hyp)
            prf = per_label_prf(stats.sum(axis=0)[None, :])[0]
            per_label[key] = {
                lab: {"precision": float(prf[j, 0]), "recall": float(prf[j, 1]),
                      "f1": float(prf[j, 2]), "support": int(ref[:, j].sum()),
                      "predicted": int(hyp[:, j].sum())}
                for j, lab in enumerate(labels)}
    details = {"labeller": "radlens.text.labeler (rule-based; not CheXbert)",
               "vocabulary": "chexpert14", "top5": list(TOP5),
               "conventions": {"u_pos": "uncertain counts as present",
                               "u_neg": "uncertain counts as absent"},
               "zero_division": 0, "per_label": per_label}
    return MetricResult(RadlensF1.name, pair_ids, aggregates, per_pair, details)


LabelFn = Callable[..., list[LabelRecord]]


def _default_labeller() -> LabelFn:
    try:
        from radlens.text.labeler import label
    except ImportError as exc:
        raise MissingDependencyError(
            "radlens_f1 needs the radlens report labeller (radlens.text.labeler), which could "
            f"not be imported: {exc}") from exc
    return label


@register
class RadlensF1(Metric):
    """Clinical efficacy F1 over CheXpert-14 / top-5 with the radlens labeller (see module)."""

    name = "radlens_f1"
    description = ("label agreement (P/R/F1, micro and macro, CheXpert-14 and top-5, "
                   "uncertain as positive / negative) using the radlens rule-based labeller")

    def __init__(self, labeller: LabelFn | None = None) -> None:
        """`labeller(texts, vocab="chexpert14") -> list[LabelRecord]`; default: radlens's."""
        self._labeller = labeller
        self._cache: dict[str, LabelRecord] = {}

    def label(self, texts: Sequence[str]) -> list[LabelRecord]:
        """Label `texts` (each distinct text once; results cached on this instance)."""
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if not todo:
            return [self._cache[t] for t in texts]
        labeller = self._labeller or _default_labeller()
        chunk = 256
        with tqdm(total=len(todo), desc="labelling reports", unit="report", file=sys.stderr,
                  disable=None if len(todo) > chunk else True, leave=False) as bar:
            for start in range(0, len(todo), chunk):
                part = todo[start:start + chunk]
                records = labeller(part, vocab="chexpert14")
                if len(records) != len(part):
                    raise DataError(f"the labeller returned {len(records)} records for "
                                    f"{len(part)} texts")
                self._cache.update(zip(part, records, strict=True))
                bar.update(len(part))
        return [self._cache[t] for t in texts]

    def compute(self, refs: Sequence[str], hyps: Sequence[str],
                ids: Sequence[str] | None = None) -> MetricResult:
        """See `Metric.compute` and `f1_from_records`."""
        pair_ids = self.check_inputs(refs, hyps, ids)
        labelled = self.label([*refs, *hyps])
        return f1_from_records(labelled[:len(refs)], labelled[len(refs):], pair_ids)
