"""Self-consistency: the radlens labeller reads back every covered call from the report."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from radlens.report.consistency import check, expected_values
from radlens.report.writer import write_report
from radlens.schema import Call, Interpretation
from tests.report.factories import INDICATIONS, interp, interpretations

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(interpretations("chexpert14"), st.sampled_from(INDICATIONS))
def test_labeller_reads_back_every_chexpert_call(i: Interpretation, indication: str | None) -> None:
    report = write_report(i, indication=indication)
    assert check(i, report) == []


@SETTINGS
@given(interpretations("nih14"), st.sampled_from(INDICATIONS))
def test_labeller_reads_back_every_nih_call(i: Interpretation, indication: str | None) -> None:
    report = write_report(i, indication=indication)
    assert check(i, report) == []


def test_check_detects_a_wrong_report() -> None:
    i = interp({"Pneumothorax": Call.POSITIVE, "Pleural Effusion": Call.NEGATIVE})
    wrong = write_report(interp({"Pneumothorax": Call.NEGATIVE,
                                 "Pleural Effusion": Call.POSITIVE}))
    bad = {(m.label, m.expected, m.labelled) for m in check(i, wrong)}
    assert bad == {("Pneumothorax", 1, 0), ("Pleural Effusion", 0, 1)}


def test_no_finding_follows_the_labeller_convention() -> None:
    normal = interp({"No Finding": Call.POSITIVE, "Pneumonia": Call.NEGATIVE})
    assert expected_values(normal) == {"No Finding": 1, "Pneumonia": 0}
    busy = interp({"No Finding": Call.POSITIVE, "Pneumonia": Call.POSITIVE})
    assert expected_values(busy)["No Finding"] is None
    for i in (normal, busy):
        assert check(i, write_report(i)) == []
