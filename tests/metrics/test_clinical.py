"""radlens_f1: arithmetic on hand-made label records, then end to end with the labeller."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from radlens.errors import DataError
from radlens.metrics.base import get_metric
from radlens.metrics.clinical import RadlensF1, f1_from_records
from radlens.schema import LabelRecord
from radlens.vocab import CHEXPERT14


def rec(rid: str, **values: int) -> LabelRecord:
    """A chexpert14 record; keyword names use _ for spaces (Pleural_Effusion=1)."""
    given = {k.replace("_", " "): v for k, v in values.items()}
    assert set(given) <= set(CHEXPERT14.labels)
    return LabelRecord(rid, "chexpert14", tuple((lab, given.get(lab)) for lab in CHEXPERT14.labels))


REFS = [rec("1", Cardiomegaly=1, Edema=-1), rec("2", Pleural_Effusion=1),
        rec("3", No_Finding=1)]
HYPS = [rec("1", Cardiomegaly=1, Edema=1), rec("2", Pleural_Effusion=0, Atelectasis=-1),
        rec("3", No_Finding=1)]


def test_top5_uncertain_as_positive_by_hand() -> None:
    res = f1_from_records(REFS, HYPS)
    # TP: Cardiomegaly, Edema; FP: Atelectasis (uncertain); FN: Pleural Effusion
    for m in ("precision", "recall", "f1"):
        assert res[f"top5.u_pos.micro_{m}"] == pytest.approx(2 / 3)
        # per label: Atelectasis 0, Cardiomegaly 1, Consolidation 0 (no data), Edema 1, PE 0
        assert res[f"top5.u_pos.macro_{m}"] == pytest.approx(2 / 5)
    table = res.details["per_label"]["top5.u_pos"]
    assert table["Pleural Effusion"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                         "support": 1, "predicted": 0}
    assert table["Atelectasis"]["predicted"] == 1


def test_top5_uncertain_as_negative_by_hand() -> None:
    res = f1_from_records(REFS, HYPS)
    # reference Edema uncertain -> absent; candidate Edema positive -> FP
    assert res["top5.u_neg.micro_precision"] == pytest.approx(1 / 2)
    assert res["top5.u_neg.micro_recall"] == pytest.approx(1 / 2)
    assert res["top5.u_neg.micro_f1"] == pytest.approx(1 / 2)
    assert res["top5.u_neg.macro_f1"] == pytest.approx(1 / 5)


def test_all14_and_per_pair_by_hand() -> None:
    res = f1_from_records(REFS, HYPS, ids=["a", "b", "c"])
    assert res.ids == ("a", "b", "c")
    assert res["all14.u_pos.micro_f1"] == pytest.approx(6 / 8)  # TP 3, FP 1, FN 1
    assert res["all14.u_pos.macro_f1"] == pytest.approx(3 / 14)
    np.testing.assert_allclose(res.per_pair["all14.u_pos.example_f1"], [1.0, 0.0, 1.0])
    np.testing.assert_allclose(res.per_pair["top5.u_neg.example_f1"], [2 / 3, 0.0, 1.0])
    assert len(res.aggregates) == 2 * 2 * 2 * 3


def test_bootstrap_and_randomisation_on_f1() -> None:
    refs = REFS * 20
    perfect = f1_from_records(refs, refs)
    noisy = f1_from_records(refs, HYPS * 20)
    a, b = perfect.aggregates["top5.u_pos.micro_f1"], noisy.aggregates["top5.u_pos.micro_f1"]
    assert a.value == 1.0
    ci = b.confidence_interval(n_boot=300)
    assert ci.low <= 2 / 3 <= ci.high and ci.high < 1
    assert a.compare(b, n_perm=500) < 0.01
    assert a.compare(a, n_perm=200) == 1.0


def test_records_must_be_chexpert14() -> None:
    bad = LabelRecord("x", "nih14", (("Atelectasis", 1),))
    with pytest.raises(DataError, match="chexpert14"):
        f1_from_records([bad], [bad])


def test_metric_uses_injected_labeller_once_per_distinct_text() -> None:
    calls: list[list[str]] = []

    def fake(texts: Sequence[str], vocab: str = "chexpert14") -> list[LabelRecord]:
        calls.append(list(texts))
        return [rec(t, Edema=1) if "edema" in t else rec(t, No_Finding=1) for t in texts]

    metric = RadlensF1(labeller=fake)
    res = metric.compute(["edema", "normal"], ["edema", "edema"])
    assert calls == [["edema", "normal"]]
    assert res["all14.u_pos.micro_precision"] == pytest.approx(1 / 2)
    metric.compute(["edema"], ["normal"])
    assert len(calls) == 1  # cached


def test_end_to_end_with_radlens_labeller() -> None:
    pytest.importorskip("radlens.text.labeler")
    refs = ["Mild cardiomegaly. Large right pleural effusion.",
            "No acute cardiopulmonary abnormality."]
    same = get_metric("radlens_f1").compute(refs, refs)
    assert same["all14.u_pos.micro_f1"] == 1.0
    assert same.details["per_label"]["top5.u_pos"]["Cardiomegaly"]["support"] == 1
    missed = get_metric("radlens_f1").compute(
        refs, ["Mild cardiomegaly. No pleural effusion.", "No acute abnormality."])
    pe = missed.details["per_label"]["top5.u_pos"]["Pleural Effusion"]
    assert (pe["support"], pe["predicted"], pe["recall"]) == (1, 0, 0.0)
    assert missed["top5.u_pos.micro_recall"] == pytest.approx(1 / 2)


def test_many_texts_are_labelled_in_chunks() -> None:
    sizes: list[int] = []

    def fake(texts: Sequence[str], vocab: str = "chexpert14") -> list[LabelRecord]:
        sizes.append(len(texts))
        return [rec(t, Edema=1) for t in texts]

    texts = [f"report {i}" for i in range(600)]
    res = RadlensF1(labeller=fake).compute(texts, texts)
    assert sizes == [256, 256, 88]
    assert res["all14.u_pos.micro_f1"] == 1.0


def test_missing_labeller_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from radlens.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "radlens.text.labeler", None)
    with pytest.raises(MissingDependencyError, match="radlens report labeller"):
        RadlensF1().compute(["a"], ["b"])
