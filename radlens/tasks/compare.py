"""Compare a reading with the patient's prior film: align the lungs, call each finding's change.

Inputs are two `radlens.schema.Interpretation`s of the same patient (the current film and an
older one) read with lung segmentation and grounding (``Reader(explain=True)``), so each has
LUNG regions (boolean masks over the image, boxes in image pixels) and, for every positive
finding, a FINDING region whose ``mask`` is the main hot component inside the lungs (a 128 x 128
grid stretched over the image; see `radlens.tasks.ground`).

Alignment
    Each film is mapped into its own *lung frame*: the box of each lung (patient's right and
    left, from the segmentation) is stretched onto a `grid` x `grid` square, so the two films
    agree wherever their lungs do, whatever the magnification, shift and inspiration (a scale
    and a shift per lung and per axis). When a lung is missing on either film the two lungs'
    common box is used ("lung-box"); without any lung, the whole image ("image").
Extent
    The share of the lung-frame lung cells covered by the finding's region mask: 0 for a
    finding without a region (not positive), None when the film has no usable region data.
Change call
    ``score = logit(p_current) - logit(p_prior) + w_extent * (extent_current - extent_prior)``
    (the extent term is dropped when either extent is unknown). The calls are each reading's
    own (positive or not). Not positive -> positive with ``score >= margin_new``: NEW.
    Positive -> not positive with ``score <= -margin_resolved``: RESOLVED. Positive on both:
    INCREASED when ``score >= margin_change``, DECREASED when ``score <= -margin_change``.
    Everything else is UNCHANGED (absent on both, or a threshold crossing within the margin).
    The parameters are data (``compare.json``), fitted by ``benchmarks/change_eval.py`` on
    development pairs; the file says how.
Checks (`check_pair`)
    A prior of another patient (different DICOM PatientID), or dated after the current film
    (DICOM study / acquisition dates), raises `InputError` naming the prior file unless
    ``force``; then it is compared with a warning. The current film given as its own prior,
    a different view, or a prior with QC warnings or out of distribution give warnings.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from radlens._repr import short_repr
from radlens.errors import InputError
from radlens.schema import (
    Box,
    Call,
    Change,
    ChangeKind,
    Image,
    ImageMeta,
    Interpretation,
    PriorStudy,
    QCReport,
    ReadingWarning,
    RegionKind,
    WarningCode,
)

log = logging.getLogger(__name__)

SIDES = ("right", "left")
_HEADER_TAGS = ("PatientID", "StudyDate", "StudyTime", "SeriesDate", "SeriesTime",
                "AcquisitionDate", "AcquisitionTime", "ContentDate", "ContentTime",
                "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")


@cache
def params() -> dict[str, Any]:
    """The change-call parameters (``radlens/tasks/compare.json``, parsed and cached)."""
    text = resources.files("radlens.tasks").joinpath("compare.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


# -- films in their lung frame ---------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Snapshot:
    """One reading reduced to what the comparison needs, in its lung frame.

    `labels`, `probability` (L,) float in [0, 1], `call` (L,) call values ("positive", ...).
    `lungs`: (2, G, G) bool, the right and left lung masks, each in its own lung box stretched
    over G x G cells (cell (i, j) centre at box.x0 + (j + 0.5) / G * width, same for y);
    `masks`: (L, 2, G, G) bool, every finding's region mask in the same frame (all False when
    it has none). `union_lungs` (G, G) and `union_masks` (L, G, G): the same in the two lungs'
    common box. `boxes`: (right, left, union) lung boxes in image pixels (None when missing).
    `grounded` (L,) bool: the finding has region mask data (False: extent unknown when it is
    positive). `zones` and `region_ids`: per finding, from its `Location` and regions.
    `method`: the best frame this film supports ("lung-boxes", "lung-box" or "image").
    """

    labels: tuple[str, ...]
    probability: np.ndarray
    call: tuple[str, ...]
    lungs: np.ndarray
    masks: np.ndarray
    union_lungs: np.ndarray
    union_masks: np.ndarray
    boxes: tuple[Box | None, Box | None, Box | None]
    grounded: np.ndarray
    zones: tuple[tuple[str, ...], ...]
    region_ids: tuple[tuple[str, ...], ...]
    method: str

    __repr__ = short_repr

    def index(self, label: str) -> int:
        """Column of `label` (ValueError when the reading has no such finding)."""
        return self.labels.index(label)


def _sample(arr: np.ndarray, box: Box, image: tuple[int, int], grid: int) -> np.ndarray:
    """`arr` (h, w) stretched over an image of (height, width) pixels, sampled (nearest) at the
    centres of a grid x grid lattice over `box` (image pixels) -> (grid, grid)."""
    h, w = arr.shape[:2]
    centres = (np.arange(grid) + 0.5) / grid
    xs = box.x0 + centres * (box.x1 - box.x0)
    ys = box.y0 + centres * (box.y1 - box.y0)
    cols = np.clip((xs * w / image[1]).astype(np.int64), 0, w - 1)
    rows = np.clip((ys * h / image[0]).astype(np.int64), 0, h - 1)
    return np.asarray(arr)[np.ix_(rows, cols)]


def _union(a: Box | None, b: Box | None) -> Box | None:
    if a is None or b is None:
        return a or b
    return Box(min(a.x0, b.x0), min(a.y0, b.y0), max(a.x1, b.x1), max(a.y1, b.y1))


def snapshot(interp: Interpretation, grid: int | None = None) -> Snapshot:
    """The `Snapshot` of one reading (see the class); `grid` defaults to ``compare.json``."""
    g = int(grid or params()["grid"])
    image = (interp.image.height, interp.image.width)
    lung_regs = {r.side: r for r in interp.regions
                 if r.kind is RegionKind.LUNG and r.side in SIDES and r.box is not None}
    side_boxes = [lung_regs[s].box if s in lung_regs else None for s in SIDES]
    union = _union(side_boxes[0], side_boxes[1])
    full = Box(0.0, 0.0, float(image[1]), float(image[0]))
    have_masks = all(lung_regs[s].mask is not None for s in lung_regs)
    if len(lung_regs) == 2 and have_masks:
        method = "lung-boxes"
    elif lung_regs and have_masks:
        method = "lung-box"
    else:
        method = "image"
    frame = union if method != "image" and union is not None else full
    lungs = np.zeros((2, g, g), dtype=bool)
    union_lungs = np.zeros((g, g), dtype=bool) if method != "image" else np.ones((g, g), bool)
    for k, side in enumerate(SIDES):
        reg = lung_regs.get(side)
        if reg is None or reg.mask is None or reg.box is None:
            continue
        lungs[k] = _sample(reg.mask, reg.box, image, g)
        union_lungs |= _sample(reg.mask, frame, image, g)
    labels = tuple(f.label for f in interp.findings)
    n = len(labels)
    masks = np.zeros((n, 2, g, g), dtype=bool)
    union_masks = np.zeros((n, g, g), dtype=bool)
    grounded = np.zeros(n, dtype=bool)
    zones: list[tuple[str, ...]] = []
    ids: list[tuple[str, ...]] = []
    for i, f in enumerate(interp.findings):
        regs = [r for r in (interp.region(rid) for rid in f.region_ids)
                if r is not None and r.kind is RegionKind.FINDING]
        grounded[i] = f.call is not Call.POSITIVE or any(
            r.mask is not None or bool(r.zones) for r in regs)
        for r in regs:
            if r.mask is None:
                continue
            for k in range(2):
                box = side_boxes[k]
                if box is not None:
                    masks[i, k] |= _sample(r.mask, box, image, g)
            union_masks[i] |= _sample(r.mask, frame, image, g)
        zones.append(tuple(f.location.zones) if f.location is not None else ())
        ids.append(tuple(r.id for r in regs))
    return Snapshot(labels, np.array([f.probability for f in interp.findings], dtype=np.float64),
                    tuple(f.call.value for f in interp.findings), lungs, masks, union_lungs,
                    union_masks, (side_boxes[0], side_boxes[1], union), grounded, tuple(zones),
                    tuple(ids), method)


def _method(a: Snapshot, b: Snapshot) -> str:
    order = ("lung-boxes", "lung-box", "image")
    return order[max(order.index(a.method), order.index(b.method))]


def extent(snap: Snapshot, i: int, method: str) -> float | None:
    """Share in [0, 1] of the lung-frame lung cells covered by finding `i`'s region under
    `method`; 0 without a region, None when the finding is positive but has no region data."""
    if not snap.grounded[i]:
        return None
    if method == "lung-boxes":
        lung, mask = snap.lungs, snap.masks[i]
    else:
        lung, mask = snap.union_lungs, snap.union_masks[i]
    total = int(lung.sum())
    return float((mask & lung).sum() / total) if total else None


def overlap(a: Snapshot, i: int, b: Snapshot, j: int, method: str) -> float | None:
    """IoU in the aligned lung frame of finding `i` of `a` and finding `j` of `b` (None unless
    both have a non-empty region)."""
    if method == "lung-boxes":
        ma, mb, la, lb = a.masks[i], b.masks[j], a.lungs, b.lungs
    else:
        ma, mb, la, lb = a.union_masks[i], b.union_masks[j], a.union_lungs, b.union_lungs
    ma, mb = ma & la, mb & lb
    if not ma.any() or not mb.any():
        return None
    return float((ma & mb).sum() / (ma | mb).sum())


def alignment(current: Snapshot, prior: Snapshot) -> tuple[float, float, float, float] | None:
    """(scale_x, scale_y, shift_x, shift_y) mapping prior image pixels onto current image
    pixels through the two lungs' common boxes (None when either film has no lungs)."""
    c, p = current.boxes[2], prior.boxes[2]
    if c is None or p is None or p.x1 <= p.x0 or p.y1 <= p.y0:
        return None
    sx, sy = (c.x1 - c.x0) / (p.x1 - p.x0), (c.y1 - c.y0) / (p.y1 - p.y0)
    return (round(sx, 5), round(sy, 5), round(c.x0 - sx * p.x0, 3), round(c.y0 - sy * p.y0, 3))


# -- the change call ---------------------------------------------------------------------------

def logit(p: float, eps: float = 1e-4) -> float:
    """log(p / (1 - p)) with p clipped to [eps, 1 - eps]."""
    q = min(max(float(p), eps), 1 - eps)
    return math.log(q / (1 - q))


def change_score(p_prior: float, p_current: float, e_prior: float | None,
                 e_current: float | None, w_extent: float) -> float:
    """The signed change score (see the module docstring); > 0 means worse now. The extent
    term is left out when either extent is unknown (None)."""
    term = 0.0 if e_prior is None or e_current is None else w_extent * (e_current - e_prior)
    return logit(p_current) - logit(p_prior) + term


def call_change(prior_positive: bool, current_positive: bool, score: float,
                p: dict[str, Any] | None = None) -> ChangeKind:
    """The five-way change call from the two readings' calls and the change score, with the
    margins of `p` (default ``compare.json``)."""
    p = p or params()
    if not prior_positive and current_positive:
        return ChangeKind.NEW if score >= float(p["margin_new"]) else ChangeKind.UNCHANGED
    if prior_positive and not current_positive:
        return (ChangeKind.RESOLVED if score <= -float(p["margin_resolved"])
                else ChangeKind.UNCHANGED)
    if prior_positive and current_positive:
        if score >= float(p["margin_change"]):
            return ChangeKind.INCREASED
        if score <= -float(p["margin_change"]):
            return ChangeKind.DECREASED
    return ChangeKind.UNCHANGED


def compare_snapshots(current: Snapshot, prior: Snapshot, p: dict[str, Any] | None = None,
                      labels: Sequence[str] | None = None) -> tuple[Change, ...]:
    """One `Change` per finding both readings assessed (in the current reading's order, or
    `labels`'), with the parameters `p` (default ``compare.json``)."""
    p = p or params()
    method = _method(current, prior)
    w = float(p["w_extent"])
    out = []
    for label in labels or current.labels:
        if label not in current.labels or label not in prior.labels:
            continue
        i, j = current.index(label), prior.index(label)
        pc, pp = float(current.probability[i]), float(prior.probability[j])
        ec, ep = extent(current, i, method), extent(prior, j, method)
        score = change_score(pp, pc, ep, ec, w)
        cur_pos, pri_pos = current.call[i] == "positive", prior.call[j] == "positive"
        kind = call_change(pri_pos, cur_pos, score, p)
        zones = current.zones[i] if cur_pos or not pri_pos else prior.zones[j]
        out.append(Change(label, kind, round(pp, 6), round(pc, 6), Call(prior.call[j]),
                          Call(current.call[i]), round(score, 4),
                          None if ep is None else round(ep, 4),
                          None if ec is None else round(ec, 4),
                          None if (o := overlap(current, i, prior, j, method)) is None
                          else round(o, 4), zones, current.region_ids[i]))
    return tuple(out)


# -- the two films: identity, dates, checks ---------------------------------------------------

@dataclass(frozen=True)
class FilmIdentity:
    """What the checks know of one film: DICOM PatientID, its date-time (study, else series,
    acquisition or content date; time when recorded), UIDs, view and the resolved path."""

    source: str
    patient_id: str | None = None
    when: dt.datetime | None = None
    has_time: bool = False
    study_uid: str | None = None
    sop_uid: str | None = None
    view: str | None = None
    path: str | None = None
    series_uid: str | None = None
    sop_class_uid: str | None = None


def _parse_when(date: str, time: str) -> tuple[dt.datetime | None, bool]:
    try:
        day = dt.datetime.strptime(date.strip()[:8], "%Y%m%d")
    except ValueError:
        return None, False
    digits = "".join(ch for ch in time.split(".")[0] if ch.isdigit())
    if len(digits) >= 4:
        try:
            return day.replace(hour=int(digits[:2]), minute=int(digits[2:4]),
                               second=int(digits[4:6] or 0)), True
        except ValueError:
            pass
    return day, False


def identity(meta: ImageMeta) -> FilmIdentity:
    """The `FilmIdentity` of an image: header fields when its source is a readable DICOM file
    (pixels are not read), else what `meta` holds."""
    src = meta.source
    path = None
    if src and os.path.isfile(src):
        path = str(Path(src).resolve())
    header: dict[str, str] = {}
    if meta.format == "dicom" and path is not None:
        try:
            import pydicom

            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=list(_HEADER_TAGS))
            for tag in _HEADER_TAGS:
                try:
                    value = ds.get(tag)
                except Exception:  # a malformed element: treat as absent, never crash
                    continue
                if value not in (None, ""):
                    header[tag] = str(value).strip()
        except Exception as exc:  # an unreadable header only loses the identity checks
            log.debug("cannot re-read the header (%s)", type(exc).__name__)
    when, has_time = None, False
    for d, t in (("StudyDate", "StudyTime"), ("SeriesDate", "SeriesTime"),
                 ("AcquisitionDate", "AcquisitionTime"), ("ContentDate", "ContentTime")):
        if header.get(d):
            when, has_time = _parse_when(header[d], header.get(t, ""))
            if when is not None:
                break
    return FilmIdentity(src, header.get("PatientID") or None, when, has_time,
                        meta.study_instance_uid or header.get("StudyInstanceUID"),
                        meta.sop_instance_uid or header.get("SOPInstanceUID"),
                        (meta.view_position or "").upper() or None, path,
                        meta.series_instance_uid or header.get("SeriesInstanceUID"),
                        header.get("SOPClassUID"))


def _warn(code: WarningCode, message: str, field: str | None = None) -> ReadingWarning:
    return ReadingWarning(code.value, message, field)


def check_pair(current: FilmIdentity, prior: FilmIdentity, *, force: bool = False,
               offset_days: float | None = None
               ) -> tuple[tuple[ReadingWarning, ...], float | None]:
    """Check that `prior` may be compared with `current`; returns (warnings, offset in days
    from the prior to the current film, or None when unknown).

    Raises `InputError` naming the prior file when both are DICOM with different PatientIDs,
    or when the prior is dated after the current film (DICOM dates, or a negative
    `offset_days`), unless `force` (then a warning says so). `offset_days`: the caller's
    offset (days the prior was taken before the current), used when the headers have no dates.
    """
    warnings: list[ReadingWarning] = []
    same = ((current.path is not None and current.path == prior.path)
            or (current.sop_uid is not None and current.sop_uid == prior.sop_uid))
    if same:
        warnings.append(_warn(WarningCode.PRIOR_SAME_FILM,
                              "The prior film is the current film itself; every finding "
                              "compares as unchanged."))
    if (current.patient_id and prior.patient_id and current.patient_id != prior.patient_id):
        if not force:
            raise InputError("the prior film is of a different patient (its DICOM PatientID "
                             "differs from the current film's); compare only films of one "
                             "patient, or pass --force (force=True) to compare anyway",
                             prior.source)
        warnings.append(_warn(WarningCode.PRIOR_OTHER_PATIENT,
                              "The prior film's PatientID differs from the current film's "
                              "(compared on request); changes may not be real.", "PatientID"))
    offset = None
    if current.when is not None and prior.when is not None:
        delta = current.when - prior.when
        offset = round(delta.total_seconds() / 86400.0, 3)
        if not (current.has_time and prior.has_time):
            offset = float(delta.days)
    elif offset_days is not None:
        offset = float(offset_days)
    if offset is not None and offset < 0 and not same:
        if not force:
            raise InputError(f"the prior film is dated after the current film "
                             f"({-offset:g} days later, by the DICOM dates or the offset "
                             "given); swap the two files, or pass --force (force=True)",
                             prior.source)
        warnings.append(_warn(WarningCode.PRIOR_NEWER,
                              "The prior film is dated after the current film (compared on "
                              "request); read the changes backwards.", "StudyDate"))
    if current.view and prior.view and current.view != prior.view:
        warnings.append(_warn(WarningCode.PRIOR_VIEW_DIFFERS,
                              f"The prior film is an {prior.view} view and the current one an "
                              f"{current.view} view; apparent changes in heart size and "
                              "effusions may come from the projection.", "ViewPosition"))
    return tuple(warnings), offset


def prior_warnings(prior: Interpretation) -> tuple[ReadingWarning, ...]:
    """Warnings about the prior reading itself (QC warnings, out-of-distribution input)."""
    issues = [i.code for i in QCReport(prior.qc.issues).warnings]
    ood = any(w.code == WarningCode.OUT_OF_DISTRIBUTION for w in prior.warnings)
    why = []
    if issues:
        why.append("quality warnings (" + ", ".join(issues) + ")")
    if ood:
        why.append("it looks unlike the films the model was validated on")
    if not why:
        return ()
    return (_warn(WarningCode.PRIOR_UNRELIABLE, "The prior film has " + " and ".join(why)
                  + "; the comparison may not hold."),)


def _iso(when: dt.datetime | None) -> str | None:
    return None if when is None else when.date().isoformat()


def compare(current: Interpretation, prior: Interpretation, *,
            prior_identity: FilmIdentity | None = None, offset_days: float | None = None,
            p: dict[str, Any] | None = None,
            warnings: Sequence[ReadingWarning] = ()) -> Interpretation:
    """`current` with its `comparison` (one `Change` per finding both readings assessed) and
    `prior` (`PriorStudy`) set, and `warnings` (from `check_pair`) plus `prior_warnings` added.

    The report is not rewritten here (`radlens.Reader` does that). `prior_identity`: from
    `identity` of the prior image (default: computed from ``prior.image``); `offset_days`:
    days from the prior to the current film when known. `p`: parameters (default
    ``compare.json``).
    """
    cur, pri = snapshot(current), snapshot(prior)
    changes = compare_snapshots(cur, pri, p)
    ident = prior_identity or identity(prior.image)
    study = PriorStudy(source=prior.image.source, interpretation_id=prior.id,
                       study_instance_uid=prior.image.study_instance_uid or ident.study_uid,
                       sop_instance_uid=prior.image.sop_instance_uid or ident.sop_uid,
                       study_date=_iso(ident.when), offset_days=offset_days,
                       alignment=alignment(cur, pri), method=_method(cur, pri),
                       findings=tuple((f.label, round(float(f.probability), 6))
                                      for f in prior.findings),
                       series_instance_uid=prior.image.series_instance_uid or ident.series_uid,
                       sop_class_uid=ident.sop_class_uid)
    extra = tuple(warnings) + prior_warnings(prior)
    return dataclasses.replace(current, comparison=changes, prior=study,
                               warnings=current.warnings + extra)


def read_pair_images(current: Image, prior: Image, *, force: bool = False,
                     offset_days: float | None = None
                     ) -> tuple[FilmIdentity, tuple[ReadingWarning, ...], float | None]:
    """`check_pair` on two loaded images: (prior identity, warnings, offset in days)."""
    prior_id = identity(prior.meta)
    warnings, offset = check_pair(identity(current.meta), prior_id, force=force,
                                  offset_days=offset_days)
    return prior_id, warnings, offset
