"""Change calls on hand-built readings (no model): alignment, extents, the five calls, checks."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from radlens.errors import InputError
from radlens.schema import (
    Box,
    Call,
    ChangeKind,
    Finding,
    ImageMeta,
    Interpretation,
    Location,
    ModelInfo,
    QCIssue,
    QCReport,
    Region,
    RegionKind,
    Severity,
    WarningCode,
)
from radlens.schema_json import from_json, to_json
from radlens.tasks import compare as C

H = W = 400
P = {"w_extent": 5.0, "margin_new": 0.5, "margin_resolved": 0.5, "margin_change": 1.0,
     "grid": 32}


def _lungs(scale: float = 1.0, dx: float = 0.0, dy: float = 0.0) -> tuple[Region, ...]:
    """Two rectangular lungs; `scale`, `dx`, `dy` move them (a magnified / shifted film)."""
    out = []
    for side, (x0, x1) in (("right", (60, 180)), ("left", (220, 340))):
        box = Box(x0 * scale + dx, 50 * scale + dy, x1 * scale + dx, 350 * scale + dy)
        mask = np.zeros((H, W), bool)
        mask[int(box.y0):int(box.y1), int(box.x0):int(box.x1)] = True
        out.append(Region(f"lung-{side}", RegionKind.LUNG, f"{side} lung", box=box, mask=mask,
                          side=side))
    return tuple(out)


def _blob(rows: tuple[float, float], cols: tuple[float, float], scale: float = 1.0,
          dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    """A finding mask on the 128 x 128 grid stretched over the image, covering image pixels
    rows x cols (before `scale` / shift)."""
    m = np.zeros((128, 128), bool)
    r0, r1 = (int((r * scale + dy) * 128 / H) for r in rows)
    c0, c1 = (int((c * scale + dx) * 128 / W) for c in cols)
    m[r0:r1, c0:c1] = True
    return m


def reading(findings: dict[str, tuple[float, np.ndarray | None]], *, scale: float = 1.0,
            dx: float = 0.0, dy: float = 0.0, threshold: float = 0.5,
            **meta: object) -> Interpretation:
    """A reading: label -> (probability, region mask or None); positive at `threshold`."""
    regions = list(_lungs(scale, dx, dy))
    fs = []
    for k, (label, (p, mask)) in enumerate(findings.items()):
        call = Call.POSITIVE if p >= threshold else Call.NEGATIVE
        ids: tuple[str, ...] = ()
        if call is Call.POSITIVE and mask is not None:
            rid = f"f{k}"
            regions.append(Region(rid, RegionKind.FINDING, label, heatmap=mask.astype(np.float32),
                                  mask=mask, zones=(("right lower", 0.8),), side="right"))
            ids = (rid,)
        loc = Location(("right lower",), "right", "located", 0.8) if ids else None
        fs.append(Finding(label, p, threshold, call, "test-model", region_ids=ids, location=loc))
    base: dict[str, object] = dict(source="synthetic.png", format="png", width=W, height=H)
    base.update(meta)
    return Interpretation(ImageMeta(**base), QCReport(), tuple(fs),  # type: ignore[arg-type]
                          tuple(regions), models=(ModelInfo("test-model", "1", "classify"),))


SMALL = _blob((250, 300), (80, 130))
LARGE = _blob((150, 340), (70, 175))


def _calls(cur: Interpretation, pri: Interpretation) -> dict[str, ChangeKind]:
    return {c.label: c.change for c in C.compare_snapshots(C.snapshot(cur), C.snapshot(pri), P)}


def test_the_same_reading_is_unchanged_everywhere() -> None:
    r = reading({"Pleural Effusion": (0.9, SMALL), "Pneumothorax": (0.05, None)})
    changes = C.compare_snapshots(C.snapshot(r), C.snapshot(r), P)
    assert {c.change for c in changes} == {ChangeKind.UNCHANGED}
    eff = changes[0]
    assert eff.score == 0 and eff.overlap == 1.0
    assert eff.prior_extent == eff.current_extent and eff.current_extent is not None
    assert 0 < eff.current_extent < 0.2


def test_new_resolved_increased_decreased() -> None:
    prior = reading({"Pleural Effusion": (0.05, None), "Pneumothorax": (0.9, SMALL),
                     "Consolidation": (0.7, SMALL), "Edema": (0.95, LARGE)})
    current = reading({"Pleural Effusion": (0.92, SMALL), "Pneumothorax": (0.04, None),
                       "Consolidation": (0.97, LARGE), "Edema": (0.6, SMALL)})
    calls = _calls(current, prior)
    assert calls == {"Pleural Effusion": ChangeKind.NEW, "Pneumothorax": ChangeKind.RESOLVED,
                     "Consolidation": ChangeKind.INCREASED, "Edema": ChangeKind.DECREASED}


def test_a_crossing_within_the_margin_is_unchanged() -> None:
    prior = reading({"Atelectasis": (0.48, None)})
    current = reading({"Atelectasis": (0.52, SMALL)})
    change = C.compare_snapshots(C.snapshot(current), C.snapshot(prior),
                                 {**P, "w_extent": 0.0})[0]
    assert change.change is ChangeKind.UNCHANGED
    assert change.prior_call is Call.NEGATIVE and change.current_call is Call.POSITIVE


def test_extent_counts_only_with_the_fitted_weight() -> None:
    prior = reading({"Consolidation": (0.8, SMALL)})
    current = reading({"Consolidation": (0.8, LARGE)})
    assert _calls(current, prior)["Consolidation"] is ChangeKind.INCREASED
    flat = C.compare_snapshots(C.snapshot(current), C.snapshot(prior), {**P, "w_extent": 0.0})
    assert flat[0].change is ChangeKind.UNCHANGED and flat[0].score == 0


def test_lungs_are_aligned_by_their_boxes() -> None:
    """The same finding on a magnified, shifted film: same extent, full overlap, unchanged."""
    prior = reading({"Consolidation": (0.8, SMALL)})
    current = reading({"Consolidation": (0.8, _blob((250, 300), (80, 130), 0.8, 30, 20))},
                      scale=0.8, dx=30, dy=20)
    change = C.compare_snapshots(C.snapshot(current), C.snapshot(prior), P)[0]
    assert change.change is ChangeKind.UNCHANGED
    assert change.overlap is not None and change.overlap > 0.8
    assert change.prior_extent == pytest.approx(change.current_extent, abs=0.01)
    sx, sy, tx, ty = C.alignment(C.snapshot(current), C.snapshot(prior)) or (0, 0, 0, 0)
    assert (sx, sy) == pytest.approx((0.8, 0.8), abs=0.01)
    assert (tx, ty) == pytest.approx((30, 20), abs=1.5)


def test_without_lungs_the_whole_image_is_the_frame() -> None:
    r = reading({"Consolidation": (0.8, SMALL)})
    bare = dataclasses.replace(r, regions=tuple(x for x in r.regions
                                                if x.kind is not RegionKind.LUNG))
    snap = C.snapshot(bare)
    assert snap.method == "image"
    assert C.compare_snapshots(snap, C.snapshot(r), P)[0].change is ChangeKind.UNCHANGED


def test_positive_without_region_data_has_unknown_extent() -> None:
    prior = reading({"Consolidation": (0.8, None)})
    current = reading({"Consolidation": (0.8, LARGE)})
    change = C.compare_snapshots(C.snapshot(current), C.snapshot(prior), P)[0]
    assert change.prior_extent is None and change.current_extent is not None
    assert change.score == 0 and change.change is ChangeKind.UNCHANGED


def test_compare_sets_comparison_and_prior_and_round_trips() -> None:
    prior = reading({"Pleural Effusion": (0.05, None)}, study_instance_uid="1.2.3",
                    sop_instance_uid="1.2.3.4")
    current = reading({"Pleural Effusion": (0.92, SMALL)})
    out = C.compare(current, prior, offset_days=12.0, p=P)
    assert [c.change for c in out.comparison] == [ChangeKind.NEW]
    assert out.prior is not None and out.prior.offset_days == 12.0
    assert out.prior.study_instance_uid == "1.2.3" and out.prior.interpretation_id == prior.id
    assert out.prior.method == "lung-boxes"
    back = from_json(to_json(out), Interpretation)
    assert back.comparison == out.comparison and back.prior == out.prior
    assert back.comparison[0].change is ChangeKind.NEW


def test_json_without_comparison_stays_valid() -> None:
    """Older JSON (no comparison / prior keys) still loads, with the defaults."""
    import json

    r = reading({"Pleural Effusion": (0.9, SMALL)})
    data = json.loads(to_json(r))
    del data["comparison"], data["prior"]
    back = from_json(json.dumps(data), Interpretation)
    assert back.comparison == () and back.prior is None


def test_prior_warnings_for_qc_and_out_of_distribution() -> None:
    from radlens.schema import ReadingWarning

    prior = reading({"Edema": (0.1, None)})
    assert C.prior_warnings(prior) == ()
    bad = dataclasses.replace(prior, qc=QCReport((QCIssue("low_resolution", Severity.WARNING,
                                                          "small"),)),
                              warnings=(ReadingWarning("out_of_distribution", "far"),))
    (w,) = C.prior_warnings(bad)
    assert w.code == WarningCode.PRIOR_UNRELIABLE
    assert "low_resolution" in w.message and "unlike" in w.message


# -- check_pair: identity, dates ---------------------------------------------------------

def _ident(**kw: object) -> C.FilmIdentity:
    base: dict[str, object] = dict(source="prior.dcm")
    base.update(kw)
    return C.FilmIdentity(**base)  # type: ignore[arg-type]


def test_a_prior_of_another_patient_is_refused_unless_forced() -> None:
    cur = _ident(source="current.dcm", patient_id="A")
    pri = _ident(patient_id="B")
    with pytest.raises(InputError) as err:
        C.check_pair(cur, pri)
    assert err.value.source == "prior.dcm" and "different patient" in err.value.reason
    assert "A" not in err.value.reason.split() and "--force" in err.value.reason
    warnings, _ = C.check_pair(cur, pri, force=True)
    assert [w.code for w in warnings] == [WarningCode.PRIOR_OTHER_PATIENT]


def test_a_prior_dated_after_the_current_film_is_refused_unless_forced() -> None:
    cur = _ident(source="current.dcm", when=dt.datetime(2020, 3, 1))
    pri = _ident(when=dt.datetime(2020, 3, 11))
    with pytest.raises(InputError) as err:
        C.check_pair(cur, pri)
    assert "dated after" in err.value.reason and "10 days" in err.value.reason
    warnings, offset = C.check_pair(cur, pri, force=True)
    assert offset == -10 and [w.code for w in warnings] == [WarningCode.PRIOR_NEWER]
    with pytest.raises(InputError):
        C.check_pair(_ident(source="c.png"), _ident(source="p.png"), offset_days=-3)


def test_offsets_from_dates_or_from_the_caller() -> None:
    cur = _ident(source="c.dcm", when=dt.datetime(2020, 3, 11, 8), has_time=True)
    pri = _ident(when=dt.datetime(2020, 3, 1, 20), has_time=True)
    assert C.check_pair(cur, pri)[1] == pytest.approx(9.5)
    assert C.check_pair(_ident(source="c.png"), _ident(source="p.png"),
                        offset_days=4)[1] == 4.0
    assert C.check_pair(_ident(source="c.png"), _ident(source="p.png"))[1] is None


def test_same_film_and_other_view_are_warnings() -> None:
    same = _ident(source="a.dcm", path="/x/a.dcm", view="PA")
    warnings, _ = C.check_pair(same, same)
    assert [w.code for w in warnings] == [WarningCode.PRIOR_SAME_FILM]
    warnings, _ = C.check_pair(_ident(source="c.dcm", view="PA"), _ident(view="AP"))
    assert [w.code for w in warnings] == [WarningCode.PRIOR_VIEW_DIFFERS]


def test_call_change_table() -> None:
    p = {"margin_new": 0.5, "margin_resolved": 0.5, "margin_change": 1.0}
    assert C.call_change(False, True, 0.6, p) is ChangeKind.NEW
    assert C.call_change(False, True, 0.4, p) is ChangeKind.UNCHANGED
    assert C.call_change(True, False, -0.6, p) is ChangeKind.RESOLVED
    assert C.call_change(True, True, 1.0, p) is ChangeKind.INCREASED
    assert C.call_change(True, True, -1.0, p) is ChangeKind.DECREASED
    assert C.call_change(True, True, 0.9, p) is ChangeKind.UNCHANGED
    assert C.call_change(False, False, 5.0, p) is ChangeKind.UNCHANGED


def test_shipped_parameters_say_how_they_were_fitted() -> None:
    p = C.params()
    for key in ("w_extent", "margin_new", "margin_resolved", "margin_change", "grid"):
        assert isinstance(p[key], int | float)
    assert p["margin_change"] > 0
    assert "description" in p
