"""Self-consistency: does the labeller read back from the report what the models found?

`check(interp, report)` labels the report's FINDINGS and IMPRESSION with the radlens labeller and
compares, for every covered finding whose label a labeller vocabulary knows, the labelled value
with the value its certainty band promises (the phrase library's ``certainty.bands``: stated 1,
possible and uncertain -1, absent 0). "No Finding" follows the labeller's own
convention (it is 1 or blank, never 0): it is expected to be 1 exactly when a model called it
positive and no other covered finding except support devices is positive or uncertain, and
blank otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from radlens import vocab as vocabularies
from radlens.report.coverage import NO_FINDING, covered
from radlens.report.phrasebook import band_spec, library
from radlens.report.writer import SUPPORT_DEVICES, report_text
from radlens.schema import Call, Interpretation, Report


@dataclass(frozen=True)
class Mismatch:
    """One finding the report states differently from the model: expected vs labelled value."""

    label: str
    vocabulary: str
    expected: int | None
    labelled: int | None


def expected_values(interp: Interpretation) -> dict[str, int | None]:
    """label -> the value the labeller should read from a faithful report (see module doc)."""
    found = covered(interp)
    lib = library()
    out: dict[str, int | None] = {f.label: int(band_spec(lib, f.certainty)["labeller_value"])
                                  for f in found if f.label != NO_FINDING}
    nf = next((f for f in found if f.label == NO_FINDING), None)
    if nf is not None:
        busy = any(f.call is not Call.NEGATIVE for f in found
                   if f.label not in (NO_FINDING, SUPPORT_DEVICES))
        out[NO_FINDING] = 1 if nf.call is Call.POSITIVE and not busy else None
    return out


def check(interp: Interpretation, report: Report | None = None) -> list[Mismatch]:
    """Mismatches between `report` (default: ``interp.report``) and `interp`'s calls.

    Labels in neither CheXpert-14 nor NIH-14 cannot be checked and are skipped; a label in
    both is checked with CheXpert-14. The text is read under the CheXpert convention ("A versus
    B", "probable X" uncertain) for both vocabularies. Returns [] when the report is faithful.
    """
    from radlens.text.labeler import label

    rep = report if report is not None else interp.report
    if rep is None:
        raise ValueError("no report to check: pass one or attach it to the Interpretation")
    text = report_text(rep, sections=("findings", "impression"))
    expected = expected_values(interp)
    records = {}
    out: list[Mismatch] = []
    for lab, want in expected.items():
        vocab = next((v for v in ("chexpert14", "nih14") if lab in vocabularies.get(v)), None)
        if vocab is None:
            continue
        if vocab not in records:
            # the CheXpert convention for both: radlens's own hedges must read as uncertain
            records[vocab] = label([text], vocab=vocab, convention="chexpert")[0]
        got = records[vocab].value(lab)
        if got != want:
            out.append(Mismatch(lab, vocab, want, got))
    return out
