"""Subgroup evaluation: per-label figures for each sex group and age band, and the largest gaps.

Pure numpy (no torch): everything takes arrays and returns plain, JSON-ready dicts (undefined
figures are ``None``, never NaN).

Groups, one factor at a time (never the cross product):

* ``sex``: ``M``, ``F``, ``unknown`` — from ``meta["sex"]``, case-insensitive, ``m``/``male``
  and ``f``/``female`` accepted; anything else (blank, ``O``, ...) is ``unknown``.
* ``age``: ``0-17``, ``18-39``, ``40-64``, ``65+``, ``unknown`` — from ``meta["age"]`` in years
  (``"77"``, ``"45.0"``, DICOM age strings such as ``"058Y"`` or ``"006M"``); a band holds the
  completed years, so 17.9 is ``0-17`` and 18 is ``18-39``. Blank, unparsable or implausible
  (> 120) ages are ``unknown``.

Per group and label the figures are those of `radlens.train.calibrate.summarise` (AUROC, AP,
ECE, sensitivity and specificity at the ``youden`` and ``sens95`` thresholds, each a dict
``{value, ci_low, ci_high, n, n_boot}`` with a 95% bootstrap CI that resamples patients). A
group with fewer than `min_samples` known entries for a label, or with one class only, gets
``None`` figures and a ``note`` saying why. For each label the largest gap between the groups
of a factor is given for AUROC and for sensitivity and specificity at the label's operating
threshold; the ``unknown`` group is not a population and takes no part in the gaps.

Model-card exporters call (same arguments as ``summarise`` plus the per-sample metadata)::

    subgroup_figures(probs, targets, mask, patients, meta, label_names, thresholds,
                     operating=None, factors=("sex", "age"), n_boot=1000, min_samples=10)
        -> dict[str, Any]

with `probs`, `targets`, `mask` (N, L) arrays, `patients` and `meta` length-N sequences (each
meta a ``Mapping[str, str]``, e.g. ``Sample.meta`` or ``Predictions.meta``), `thresholds`
``label -> {"threshold_youden": t, "threshold_sens95": t}`` (what
`radlens.train.calibrate.calibrate` returns) and `operating` ``label -> "youden" | "sens95"``
(default ``"youden"``; another kind K, e.g. ``"operating"``, needs ``"threshold_K"`` in
`thresholds` and adds figures ``sens_K`` / ``spec_K``). The result, the card's ``"subgroups"``
block::

    {"factors": ["sex", "age"], "min_samples": 10, "n_boot": 1000,
     "operating": {label: kind},
     "by": {factor: {
         "groups": {group: {"n_images": int, "n_patients": int,
                            "metrics": {label: {"n", "n_pos", "n_patients", "auroc", "ap",
                                                "ece", "sens_youden", "spec_youden",
                                                "sens_95", "spec_95", "note": str | None}}}},
         "n_unreadable": int,      # non-blank meta values that could not be read (-> unknown)
         "largest_gap": {label: {"auroc" | "sensitivity" | "specificity": {
             "metric": "auroc" | "sens_youden" | "spec_95" | "sens_operating" | ...,
             "gap": float | None,
             "high": {"group", "value", "ci_low", "ci_high"} | None, "low": ... | None,
             "ci_overlap": bool | None, "note": str | None}}}}}}
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from radlens.errors import DataError
from radlens.metrics import classification as cm

log = logging.getLogger(__name__)

UNKNOWN = "unknown"
SEX_GROUPS: tuple[str, ...] = ("M", "F", UNKNOWN)
AGE_BANDS: tuple[str, ...] = ("0-17", "18-39", "40-64", "65+", UNKNOWN)
GROUPS: dict[str, tuple[str, ...]] = {"sex": SEX_GROUPS, "age": AGE_BANDS}
FACTORS: tuple[str, ...] = tuple(GROUPS)
MAX_AGE = 120.0
METRIC_KEYS: tuple[str, ...] = ("auroc", "ap", "ece", "sens_youden", "spec_youden",
                                "sens_95", "spec_95")
_SUMMARISED = {"youden": "youden", "sens95": "95"}  # kinds summarise already reports
_THRESHOLD_KEYS = (("youden", "threshold_youden"), ("95", "threshold_sens95"))
_SEX = {"m": "M", "male": "M", "man": "M", "f": "F", "female": "F", "woman": "F"}
_AGE = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)\s*(y|yr|yrs|years?|m|mo|months?|w|wk|weeks?|d|days?)?$",
                  re.IGNORECASE)
_AGE_UNIT = {"y": 1.0, "m": 1.0 / 12.0, "w": 7.0 / 365.25, "d": 1.0 / 365.25}


def parse_factors(spec: str | Sequence[str]) -> tuple[str, ...]:
    """``"sex,age"`` (or a sequence of names) -> ``("sex", "age")``, in the order given.

    Case-insensitive, duplicates dropped. `DataError` (source ``--by``) for an unknown factor
    or when none is given.
    """
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    names = tuple(dict.fromkeys(p.strip().lower() for p in parts if p.strip()))
    if not names:
        raise DataError(f"no subgroup factor given (choose from {', '.join(FACTORS)})", "--by")
    bad = [n for n in names if n not in GROUPS]
    if bad:
        raise DataError(f"unknown subgroup factor(s) {', '.join(map(repr, bad))} "
                        f"(choose from {', '.join(FACTORS)})", "--by")
    return names


def parse_age(value: str | None) -> float | None:
    """Age in years from ``"77"``, ``"45.0"``, ``"058Y"``, ``"6M"`` (months), ...; else None.

    None for blank or unparsable text and for ages outside [0, 120].
    """
    match = _AGE.match((value or "").strip())
    if match is None:
        return None
    years = float(match.group(1)) * _AGE_UNIT[(match.group(2) or "y")[0].lower()]
    return years if 0.0 <= years <= MAX_AGE else None


def age_band(value: str | None) -> str:
    """The age band (``0-17``, ``18-39``, ``40-64``, ``65+``) of a meta age, or ``unknown``."""
    years = parse_age(value)
    if years is None:
        return UNKNOWN
    if years < 18:
        return "0-17"
    if years < 40:
        return "18-39"
    return "40-64" if years < 65 else "65+"


def sex_group(value: str | None) -> str:
    """``M``, ``F`` or ``unknown`` for a meta sex (``m``/``male``/``f``/``female``, any case)."""
    return _SEX.get((value or "").strip().lower(), UNKNOWN)


def _meta_value(meta: Mapping[str, str], key: str) -> str:
    if key in meta:
        return str(meta[key] or "")
    for k, v in meta.items():
        if k.strip().lower() == key:
            return str(v or "")
    return ""


def assign_groups(meta: Sequence[Mapping[str, str]], factor: str) -> tuple[list[str], int]:
    """(group of each sample for `factor` ("sex" or "age"), count of unreadable non-blank values).

    Unreadable values (e.g. sex ``"O"``, age ``"abc"`` or ``"414"``) fall into ``unknown``.
    """
    if factor not in GROUPS:
        raise DataError(f"unknown subgroup factor {factor!r} (choose from "
                        f"{', '.join(FACTORS)})", "--by")
    assign: Callable[[str | None], str] = sex_group if factor == "sex" else age_band
    groups, unreadable = [], 0
    for m in meta:
        raw = _meta_value(m, factor)
        group = assign(raw)
        unreadable += int(group == UNKNOWN and bool(raw.strip()))
        groups.append(group)
    return groups, unreadable


def json_safe(obj: Any) -> Any:
    """`obj` with NaN/inf floats replaced by None and numpy scalars made plain Python values,
    recursively through dicts, lists and tuples (tuples become lists): standard JSON."""
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(float(obj)) else None
    return obj


def _at(threshold: float, which: int) -> Callable[[np.ndarray, np.ndarray], float]:
    def metric(y: np.ndarray, p: np.ndarray) -> float:
        return cm.sensitivity_specificity(y, p, threshold)[which]

    return metric


def operating_suffix(kind: str) -> str:
    """Key suffix of the sens/spec figures at threshold `kind`: youden -> "youden",
    sens95 -> "95" (as `summarise` names them), any other kind -> the kind itself."""
    return _SUMMARISED.get(kind, kind)


def label_figures(y: np.ndarray, p: np.ndarray, patients: Sequence[str],
                  thresholds: Mapping[str, float], n_boot: int = 1000,
                  extra_kinds: Sequence[str] = ()) -> dict[str, Any]:
    """The figures `radlens.train.calibrate.summarise` gives one label, on 1-D `y`, `p`.

    `thresholds`: ``{"threshold_youden": t, "threshold_sens95": t, ...}`` (0.5 where absent).
    Returns {n, n_pos, n_patients, auroc, ap, ece, sens_youden, spec_youden, sens_95, spec_95},
    each metric {value, ci_low, ci_high, n, n_boot} (NaN where undefined); each kind K of
    `extra_kinds` (e.g. "operating") adds sens_K and spec_K at ``thresholds["threshold_K"]``.
    """
    fns: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
        "auroc": cm.auroc, "ap": cm.average_precision, "ece": cm.expected_calibration_error}
    keys = [*_THRESHOLD_KEYS, *((k, f"threshold_{k}") for k in extra_kinds
                                if k not in _SUMMARISED)]
    for key, thr_key in keys:
        thr = float(thresholds.get(thr_key, 0.5))
        fns[f"sens_{key}"] = _at(thr, 0)
        fns[f"spec_{key}"] = _at(thr, 1)
    row: dict[str, Any] = {"n": len(y), "n_pos": int(np.sum(y)),
                           "n_patients": len(set(patients))}
    for key, fn in fns.items():
        row[key] = cm.patient_bootstrap(fn, y, p, list(patients), n_boot=n_boot).as_dict()
    return row


def _empty_figures(n: int, n_pos: int, n_patients: int, note: str,
                   extra_kinds: Sequence[str] = ()) -> dict[str, Any]:
    row: dict[str, Any] = {"n": n, "n_pos": n_pos, "n_patients": n_patients}
    extra = [f"{w}_{k}" for k in extra_kinds if k not in _SUMMARISED for w in ("sens", "spec")]
    for key in (*METRIC_KEYS, *extra):
        row[key] = {"value": None, "ci_low": None, "ci_high": None, "n": n_patients,
                    "n_boot": 0}
    row["note"] = note
    return row


def _why_not(n: int, n_pos: int, min_samples: int) -> str | None:
    if n == 0:
        return "no images with this label known"
    if n < min_samples:
        return f"too few samples ({n} < {min_samples})"
    if n_pos == 0 or n_pos == n:
        return f"one class only ({n_pos} positive, {n - n_pos} negative)"
    return None


def group_figures(probs: np.ndarray, targets: np.ndarray, mask: np.ndarray,
                  patients: Sequence[str], label_names: Sequence[str],
                  thresholds: Mapping[str, Mapping[str, float]], n_boot: int = 1000,
                  min_samples: int = 10, operating: Mapping[str, str] | None = None,
                  ) -> dict[str, dict[str, Any]]:
    """label -> figures (as `label_figures`, plus ``note``) on the rows given, JSON-ready.

    `operating`: label -> threshold kind; a kind other than youden / sens95 adds its sens/spec
    figures. Labels with fewer than `min_samples` known entries or one class only get None
    figures and a note; otherwise ``note`` is None.
    """
    pts = np.asarray(patients, dtype=object)
    out: dict[str, dict[str, Any]] = {}
    for j, name in enumerate(label_names):
        known = np.asarray(mask[:, j]).astype(bool)
        y, p, pid = targets[known, j], probs[known, j], [str(x) for x in pts[known]]
        n, n_pos = int(known.sum()), int(np.sum(y))
        note = _why_not(n, n_pos, min_samples)
        extra = [k for k in [(operating or {}).get(name, "youden")] if k not in _SUMMARISED]
        if note is not None:
            out[name] = _empty_figures(n, n_pos, len(set(pid)), note, extra)
            continue
        row = json_safe(label_figures(y, p, pid, thresholds.get(name, {}), n_boot, extra))
        row["note"] = None
        out[name] = row
    return out


def largest_gap(values: Mapping[str, Mapping[str, Any] | None],
                exclude: Sequence[str] = (UNKNOWN,)) -> dict[str, Any]:
    """The largest difference between groups of one figure.

    `values`: group -> estimate dict ``{value, ci_low, ci_high}`` (None or a None/NaN value:
    the group has no figure). Groups in `exclude` take no part. Returns {gap, high, low,
    ci_overlap, note}: `high` / `low` are ``{group, value, ci_low, ci_high}`` of the groups with
    the highest and lowest value (on ties the first, respectively last, in the order given, so
    they are always two different groups); `ci_overlap` says whether
    their CIs overlap (None when a CI is missing). With fewer than two groups having a figure,
    everything is None and `note` says so.
    """
    have: list[tuple[str, float, Any, Any]] = []
    for group, est in values.items():
        if group in exclude or est is None:
            continue
        v = est.get("value")
        if v is None or not math.isfinite(float(v)):
            continue
        have.append((group, float(v), est.get("ci_low"), est.get("ci_high")))
    if len(have) < 2:
        return {"gap": None, "high": None, "low": None, "ci_overlap": None,
                "note": f"{len(have)} group(s) with a figure; need two"}
    ranked = sorted(have, key=lambda t: -t[1])  # stable: ties keep the order given
    hi, lo = ranked[0], ranked[-1]

    def side(t: tuple[str, float, Any, Any]) -> dict[str, Any]:
        return json_safe({"group": t[0], "value": t[1], "ci_low": t[2], "ci_high": t[3]})

    h, low = side(hi), side(lo)
    overlap = None
    if h["ci_low"] is not None and low["ci_high"] is not None:
        overlap = bool(h["ci_low"] <= low["ci_high"])
    return {"gap": hi[1] - lo[1], "high": h, "low": low, "ci_overlap": overlap, "note": None}


def subgroup_figures(probs: np.ndarray, targets: np.ndarray, mask: np.ndarray,
                     patients: Sequence[str], meta: Sequence[Mapping[str, str]],
                     label_names: Sequence[str],
                     thresholds: Mapping[str, Mapping[str, float]],
                     operating: Mapping[str, str] | None = None,
                     factors: str | Sequence[str] = FACTORS, n_boot: int = 1000,
                     min_samples: int = 10) -> dict[str, Any]:
    """Per-subgroup figures and largest gaps: the ``"subgroups"`` block (module docstring).

    `probs`, `targets`, `mask`: (N, L) arrays over `label_names`; `patients`, `meta`: length N.
    `thresholds`: label -> {"threshold_youden", "threshold_sens95", ...}; `operating`: label
    -> threshold kind (default "youden"), the threshold whose sensitivity and specificity
    gaps are reported: "youden" / "sens95" use those figures, any other kind K (e.g.
    "operating", "spec95") adds figures sens_K / spec_K at ``thresholds[label]["threshold_K"]``.
    `factors`: "sex", "age" or both (comma-separated or a sequence). Raises `DataError` on an
    unknown factor, an operating kind without its threshold, or when the lengths disagree.
    """
    names = parse_factors(factors)
    probs, targets, mask = np.asarray(probs), np.asarray(targets), np.asarray(mask)
    n = probs.shape[0]
    if not (targets.shape == probs.shape == mask.shape and len(patients) == n
            and len(meta) == n and probs.shape[1:] == (len(label_names),)):
        raise DataError(f"subgroup inputs disagree: probs {probs.shape}, targets "
                        f"{targets.shape}, mask {mask.shape}, {len(patients)} patient ids, "
                        f"{len(meta)} metadata records, {len(label_names)} labels")
    op: dict[str, str] = {}
    for label in label_names:
        kind = str((operating or {}).get(label, "youden"))
        if kind not in _SUMMARISED and f"threshold_{kind}" not in thresholds.get(label, {}):
            raise DataError(f"operating threshold {kind!r} of {label} has no "
                            f"threshold_{kind} among its thresholds")
        op[label] = kind
    pts = np.asarray(patients, dtype=object)
    by: dict[str, Any] = {}
    for factor in names:
        assigned, unreadable = assign_groups(meta, factor)
        if unreadable:
            log.warning("%d sample(s) with an unreadable %s value counted as unknown",
                        unreadable, factor)
        arr = np.asarray(assigned, dtype=object)
        groups: dict[str, Any] = {}
        for g in GROUPS[factor]:
            rows = arr == g
            groups[g] = {"n_images": int(rows.sum()),
                         "n_patients": len(set(pts[rows].tolist())),
                         "metrics": group_figures(probs[rows], targets[rows], mask[rows],
                                                  [str(x) for x in pts[rows]], label_names,
                                                  thresholds, n_boot, min_samples, op)}
        gaps: dict[str, Any] = {}
        for label in label_names:
            suffix = operating_suffix(op[label])
            gaps[label] = {}
            for what, key in (("auroc", "auroc"), ("sensitivity", f"sens_{suffix}"),
                              ("specificity", f"spec_{suffix}")):
                gap = largest_gap({g: groups[g]["metrics"][label][key] for g in groups})
                gaps[label][what] = {"metric": key, **gap}
        by[factor] = {"groups": groups, "n_unreadable": unreadable, "largest_gap": gaps}
    return json_safe({"factors": list(names), "min_samples": min_samples, "n_boot": n_boot,
                      "operating": op, "by": by})
