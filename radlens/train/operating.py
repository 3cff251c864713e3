"""Operating thresholds for a many-label classifier, fitted on adult validation films.

With a dozen labels, per-label Youden thresholds (each ~80% specific) leave almost no normal
film without a positive call. The "operating" threshold of each finding is therefore chosen
jointly: every finding label except the sensitivity anchor gets the threshold that is
specific at level q among the validation normal films (No Finding = 1), and q is the smallest
level at which at most `max_normal_call_rate` of those normal films get any finding call; the
anchor label (Pneumonia) gets the highest threshold that keeps `anchor_sensitivity` on its
anchor positives. The anchor is never raised to meet the bound: when its own false calls on
normal films exceed `max_normal_call_rate`, the other labels go to their strictest level
(above every normal film) and the rate is the anchors'. No threshold is ever below the label's
Youden threshold; labels without both classes in the fitting rows keep it.
All probabilities are calibrated (after temperature scaling), in [0, 1].

``allocation="f1"`` shares the same normal-film budget unevenly instead: starting from the
strictest level for every non-anchor label, coordinate ascent picks each label's specificity
level (from `F1_LEVELS`) to maximise the mean F1 over the labels with at least
`min_positives` positives in the fitting rows, keeping the normal-call rate within the bound.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from radlens.metrics import classification as cm

NO_FINDING = "No Finding"
F1_LEVELS = (0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 1.0)


def spec_threshold(negatives: np.ndarray, specificity: float) -> float:
    """Smallest threshold t with share(negatives < t) >= `specificity` (calls are p >= t)."""
    if len(negatives) == 0:
        return 0.5
    s = np.sort(negatives)
    k = min(len(s) - 1, int(np.ceil(specificity * len(s))) - 1)
    return float(np.nextafter(s[max(k, 0)], np.inf))


def sens_threshold(positives: np.ndarray, sensitivity: float) -> float:
    """Highest threshold t with share(positives >= t) >= `sensitivity`."""
    if len(positives) == 0:
        return 0.5
    s = np.sort(positives)
    k = int(np.floor((1 - sensitivity) * len(s) + 1e-9))
    return float(s[min(k, len(s) - 1)])


def operating_thresholds(probs: np.ndarray, labels: np.ndarray, mask: np.ndarray,
                         label_names: Sequence[str], fit_rows: np.ndarray,
                         anchors: Mapping[str, tuple[np.ndarray, float]] | None = None,
                         max_normal_call_rate: float = 0.08, allocation: str = "uniform",
                         min_positives: int = 3) -> dict[str, float]:
    """label -> operating threshold (see module docstring).

    `probs`, `labels`, `mask`: (N, L) calibrated probabilities, 0/1 targets, known-mask.
    `fit_rows`: bool (N,) rows to fit on (e.g. adult validation films). `anchors`: label ->
    (bool (N,) rows whose positives set its threshold, sensitivity to keep); default
    ``{"Pneumonia": (fit_rows, 0.95)}``. An anchor without positives in its rows is treated
    like any other label. `allocation`: "uniform" (one specificity level for every non-anchor
    label) or "f1" (per-label levels chosen for mean F1; see the module docstring).
    """
    if allocation not in ("uniform", "f1"):
        raise ValueError(f"allocation must be 'uniform' or 'f1', got {allocation!r}")
    names = list(label_names)
    rows = np.asarray(fit_rows, bool)
    if anchors is None:
        anchors = {"Pneumonia": (rows, 0.95)}
    out: dict[str, float] = {}
    for j, name in enumerate(names):
        k = rows & mask[:, j].astype(bool)
        y = labels[k, j]
        out[name] = cm.threshold_youden(y, probs[k, j]) if len(np.unique(y)) == 2 else 0.5
    if NO_FINDING not in names:
        return out
    nf = names.index(NO_FINDING)
    normal = rows & mask[:, nf].astype(bool) & (labels[:, nf] == 1)
    if normal.sum() == 0:
        return out
    findings = [j for j, n in enumerate(names) if n != NO_FINDING]
    anchored = set()
    for label, (anchor_rows, sensitivity) in anchors.items():
        if label not in names:
            continue
        a = names.index(label)
        pos = np.asarray(anchor_rows, bool) & mask[:, a].astype(bool) & (labels[:, a] == 1)
        if pos.sum() > 0:
            out[label] = sens_threshold(probs[pos, a], sensitivity)
            anchored.add(label)
    others = [j for j in findings if names[j] not in anchored]

    def call_rate(q: float) -> tuple[float, dict[str, float]]:
        thr = dict(out)
        for j in others:
            thr[names[j]] = max(out[names[j]], spec_threshold(probs[normal, j], q))
        called = np.zeros(int(normal.sum()), bool)
        for j in findings:
            called |= probs[normal, j] >= thr[names[j]]
        return float(called.mean()), thr

    if allocation == "f1":
        return _f1_allocation(probs, labels, mask, names, rows, normal, out, others,
                              findings, max_normal_call_rate, min_positives)
    lo, hi = 0.5, 1.0
    best = call_rate(hi)[1]
    for _ in range(30):
        mid = (lo + hi) / 2
        r, thr = call_rate(mid)
        if r <= max_normal_call_rate:
            hi, best = mid, thr
        else:
            lo = mid
    return best


def _f1(y: np.ndarray, c: np.ndarray) -> float:
    tp = float(np.sum(c & (y == 1)))
    denom = float(np.sum(c)) + float(np.sum(y == 1))
    return 2 * tp / denom if denom else 0.0


def _f1_allocation(probs: np.ndarray, labels: np.ndarray, mask: np.ndarray, names: list[str],
                   rows: np.ndarray, normal: np.ndarray, floor: dict[str, float],
                   others: list[int], findings: list[int], rate: float,
                   min_positives: int) -> dict[str, float]:
    """Per-label specificity levels by coordinate ascent on mean F1 under the call budget."""
    cand = {j: [max(floor[names[j]], spec_threshold(probs[normal, j], q)) for q in F1_LEVELS]
            for j in others}
    scored = [j for j in others
              if np.sum(rows & (mask[:, j] > 0) & (labels[:, j] == 1)) >= min_positives]
    thr = dict(floor)
    for j in others:
        thr[names[j]] = cand[j][-1]

    def calls_on_normals(t: dict[str, float]) -> float:
        called = np.zeros(int(normal.sum()), bool)
        for j in findings:
            called |= probs[normal, j] >= t[names[j]]
        return float(called.mean())

    def objective(t: dict[str, float]) -> float:
        vals = []
        for j in scored:
            k = rows & (mask[:, j] > 0)
            vals.append(_f1(labels[k, j], probs[k, j] >= t[names[j]]))
        return float(np.mean(vals)) if vals else 0.0

    if calls_on_normals(thr) > rate:
        return thr
    best = objective(thr)
    for _ in range(4):
        changed = False
        for j in scored:
            for t in cand[j]:
                trial = {**thr, names[j]: t}
                if t == thr[names[j]] or calls_on_normals(trial) > rate:
                    continue
                value = objective(trial)
                if value > best + 1e-9:
                    best, thr, changed = value, trial, True
        if not changed:
            break
    return thr
