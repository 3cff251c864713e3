"""Change since a prior film: NIH follow-up pairs, Hannover serial films, and the cost of --prior.

NIH ChestX-ray14 (``nih-cxr14``): patients with more than one film, consecutive films by
``follow_up``; the labels per film (report-mined, adult label space of
`radlens.data.adult.nih_cxr14`) say whether a finding appears (absent -> present) or
disappears (present -> absent). For every finding: AUROC of the change score for "appears"
(among pairs where the prior lacks it) and of minus the score for "disappears" (among pairs
where the prior has it), with 95% bootstrap CIs over patients; and the accuracy of the
five-way call where the labels say (0->1 new, 1->0 resolved, 0->0 unchanged, 1->1 persisting:
increased, decreased or unchanged all count as right). The extent weight and the new/resolved
margins are fitted by patient-level cross-validation (never on the pairs they score); the
increased/decreased margin is the 95th percentile of |score| between a film and a mildly
shifted, scaled and re-windowed copy of it (test-retest), on films of the fitting folds.

Caveat printed with the figures: the bundled classifier was trained on 80% of these patients
(and on the Hannover films); the figures are also given on its 20% validation patients.

Hannover (``covid-hannover``): per patient, films ordered by ``admission_offset`` (days);
how the Pneumonia probability and extent move with the day offset (within-patient Spearman,
means per offset band with CIs over patients, the calls between consecutive films).

Timing: ``Reader.read(current, prior=prior)`` against reading the two films alone.

    .venv/bin/python benchmarks/change_eval.py [--data DIR] [--folds 5] [--json]
        [--fit radlens/tasks/compare.json]

Readings are cached (snapshots, `radlens.tasks.compare.Snapshot`) under
/work/runs/compare-cache, keyed by model, grid and file; reruns read only new films.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import itertools
import json
import pickle
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from radlens.metrics.classification import auroc, patient_bootstrap
from radlens.paths import data_root
from radlens.tasks import compare as C

CACHE_VERSION = "1"
W_GRID = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0)
M_GRID = tuple(round(float(x), 2) for x in np.arange(0.0, 3.01, 0.25))
MIN_EVENTS = 3
OFFSET_BANDS = ((-1e9, 0.0), (0.0, 7.0), (7.0, 14.0), (14.0, 28.0), (28.0, 1e9))


# -- readings, cached -----------------------------------------------------------------------

class SnapshotCache:
    """Snapshots of films by key, in one pickle file per model and grid under `folder`."""

    def __init__(self, folder: Path, reader: Any) -> None:
        info = reader.classifier.info if reader.classifier is not None else None
        tag = hashlib.sha256(f"{CACHE_VERSION}|{info}|{C.params()['grid']}".encode()
                             ).hexdigest()[:12]
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"snapshots-{tag}.pkl"
        self.reader = reader
        self.items: dict[str, Any] = {}
        if self.path.is_file():
            with self.path.open("rb") as fh:
                self.items = pickle.load(fh)

    def get(self, keys: Sequence[str], inputs: Callable[[str], Any], desc: str,
            batch: int = 8) -> dict[str, Any]:
        """Snapshot of every key (reading the missing ones through the Reader in batches);
        a film that cannot be read maps to None."""
        from tqdm import tqdm

        todo = [k for k in keys if k not in self.items]
        bar = tqdm(total=len(todo), desc=desc, unit="film", file=sys.stderr, disable=None)
        for i in range(0, len(todo), batch):
            chunk = todo[i:i + batch]
            for k, res in zip(chunk, self.reader.read([inputs(k) for k in chunk]), strict=True):
                self.items[k] = C.snapshot(res) if hasattr(res, "findings") else None
            bar.update(len(chunk))
            self.save()
        bar.close()
        return {k: self.items[k] for k in keys}

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            pickle.dump(self.items, fh)
        tmp.replace(self.path)


# -- NIH pairs ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pair:
    """Two consecutive films of one patient and their labels (label -> 0/1)."""

    patient: str
    prior: str
    current: str
    y_prior: dict[str, int]
    y_current: dict[str, int]


def nih_pairs(root: Path) -> tuple[list[Pair], list[str], dict[str, int]]:
    """(consecutive pairs, labels, patient -> split index of the bundled model's 80/20 split)."""
    from radlens.data.adult import nih_cxr14
    from radlens.data.splits import assign_patients

    ds = nih_cxr14(root)
    names = list(ds.label_names)
    by_patient: dict[str, list[Any]] = defaultdict(list)
    for s in ds.samples:
        by_patient[s.patient_id].append(s)
    labels = [n for n in names if n not in ("No Finding", "Tuberculosis")
              and all(s.mask[names.index(n)] for s in ds.samples)]
    pairs = []
    for pid, films in sorted(by_patient.items()):
        films.sort(key=lambda s: int(s.meta.get("follow_up") or 0))
        for a, b in itertools.pairwise(films):
            pairs.append(Pair(pid, a.path, b.path,
                              {n: int(a.labels[names.index(n)]) for n in labels},
                              {n: int(b.labels[names.index(n)]) for n in labels}))
    split = assign_patients(ds, (0.8, 0.2), 0)
    return pairs, labels, split


@dataclass
class Scored:
    """Per pair and label: the change score parts (logit difference, extent difference)."""

    dlogit: np.ndarray  # (P, L)
    dext: np.ndarray    # (P, L), 0 where an extent is unknown
    prior_pos: np.ndarray  # (P, L) bool, the prior reading's call
    cur_pos: np.ndarray
    y_prior: np.ndarray  # (P, L) int
    y_cur: np.ndarray
    patients: np.ndarray  # (P,) str


def score_parts(pairs: list[Pair], labels: list[str], snaps: dict[str, Any]) -> Scored:
    """The score parts of every pair whose two films were read (others are left out)."""
    keep = [p for p in pairs if snaps.get(p.prior) is not None
            and snaps.get(p.current) is not None]
    n, m = len(keep), len(labels)
    dl, de = np.zeros((n, m)), np.zeros((n, m))
    pp, cp = np.zeros((n, m), bool), np.zeros((n, m), bool)
    yp, yc = np.zeros((n, m), int), np.zeros((n, m), int)
    for i, pair in enumerate(keep):
        a, b = snaps[pair.prior], snaps[pair.current]
        method = C._method(b, a)
        for j, lab in enumerate(labels):
            ia, ib = a.index(lab), b.index(lab)
            dl[i, j] = C.logit(b.probability[ib]) - C.logit(a.probability[ia])
            ea, eb = C.extent(a, ia, method), C.extent(b, ib, method)
            de[i, j] = 0.0 if ea is None or eb is None else eb - ea
            pp[i, j], cp[i, j] = a.call[ia] == "positive", b.call[ib] == "positive"
            yp[i, j], yc[i, j] = pair.y_prior[lab], pair.y_current[lab]
    return Scored(dl, de, pp, cp, yp, yc, np.array([p.patient for p in keep], dtype=object))


def _auroc(y: np.ndarray, s: np.ndarray) -> float:
    return auroc(y, s) if 0 < y.sum() < len(y) else float("nan")


def mean_auroc(sc: Scored, rows: np.ndarray, w: float) -> float:
    """Mean over labels (with >= MIN_EVENTS events) of the appear and disappear AUROCs."""
    s = sc.dlogit[rows] + w * sc.dext[rows]
    vals = []
    for j in range(s.shape[1]):
        yp, yc = sc.y_prior[rows, j], sc.y_cur[rows, j]
        for base, target, sign in ((0, 1, 1.0), (1, 0, -1.0)):
            sel = yp == base
            y = (yc[sel] == target).astype(int)
            if y.sum() >= MIN_EVENTS and (len(y) - y.sum()) >= MIN_EVENTS:
                vals.append(_auroc(y, sign * s[sel, j]))
    return float(np.nanmean(vals)) if vals else float("nan")


TRUTH = ("new", "resolved", "unchanged", "persisting")


def truth(yp: np.ndarray, yc: np.ndarray) -> np.ndarray:
    """The label-side change of each (pair, label): new, resolved, unchanged or persisting."""
    out = np.full(yp.shape, "unchanged", dtype=object)
    out[(yp == 0) & (yc == 1)] = "new"
    out[(yp == 1) & (yc == 0)] = "resolved"
    out[(yp == 1) & (yc == 1)] = "persisting"
    return out


def calls(sc: Scored, rows: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    """The five-way calls (ChangeKind values) of `rows` under parameters `p`."""
    s = sc.dlogit[rows] + float(p["w_extent"]) * sc.dext[rows]
    out = np.empty(s.shape, dtype=object)
    for i in range(s.shape[0]):
        for j in range(s.shape[1]):
            out[i, j] = C.call_change(bool(sc.prior_pos[rows][i, j]),
                                      bool(sc.cur_pos[rows][i, j]), float(s[i, j]), p).value
    return out


def correct(t: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Whether each call agrees with the label-side change (persisting: any of increased,
    decreased, unchanged)."""
    persisting = np.isin(c, ("increased", "decreased", "unchanged"))
    return np.where(t == "persisting", persisting, t == c)


def balanced(t: np.ndarray, ok: np.ndarray) -> float:
    """Mean over the label-side classes present of the share called right."""
    vals = [float(ok[t == k].mean()) for k in TRUTH if (t == k).any()]
    return float(np.mean(vals)) if vals else float("nan")


def fit(sc: Scored, rows: np.ndarray, margin_change: float) -> dict[str, Any]:
    """w_extent by mean AUROC, then margin_new / margin_resolved by balanced accuracy."""
    ws = [(mean_auroc(sc, rows, w), -w) for w in W_GRID]
    best_w = -max(ws)[1]
    t = truth(sc.y_prior[rows], sc.y_cur[rows])
    best: tuple[float, float, float] | None = None
    for m in M_GRID:
        p = {"w_extent": best_w, "margin_new": m, "margin_resolved": m,
             "margin_change": margin_change}
        b = balanced(t, correct(t, calls(sc, rows, p)))
        if best is None or b > best[0] + 1e-12:
            best = (b, m, m)
    assert best is not None
    return {"w_extent": best_w, "margin_new": best[1], "margin_resolved": best[2],
            "margin_change": margin_change, "train_mean_auroc": max(ws)[0],
            "train_balanced_accuracy": best[0]}


def folds_of(patients: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold index of every row, by patient (seeded permutation of the patient ids)."""
    ids = sorted(set(patients))
    rng = np.random.default_rng(seed)
    order = [ids[i] for i in rng.permutation(len(ids))]
    fold = {pid: n % k for n, pid in enumerate(order)}
    return np.array([fold[p] for p in patients])


# -- test-retest: a film against a perturbed copy of itself ---------------------------------

def perturbed(path: str, seed: int) -> Any:
    """The film at `path` scaled by 0.96-1.04, shifted by up to 2% of its size and re-windowed
    (gamma 0.9-1.1): a stand-in for a repeat film with no change."""
    from scipy import ndimage

    from radlens.io import load_image
    from radlens.schema import Image

    img = load_image(path)
    rng = np.random.default_rng(seed)
    h, w = img.pixels.shape
    s = rng.uniform(0.96, 1.04)
    shift = rng.uniform(-0.02, 0.02, 2) * (h, w)
    centre = np.array([h / 2, w / 2])
    offset = centre - (centre + shift) / s
    pix = ndimage.affine_transform(img.pixels, np.array([1 / s, 1 / s]), offset=offset, order=1,
                                   mode="nearest")
    pix = np.clip(pix, 0, 1) ** rng.uniform(0.9, 1.1)
    return Image(pix.astype(np.float32), replace(img.meta, source=f"{path}#retest{seed}"))


def retest_margin(pairs_rows: Sequence[tuple[Any, Any]], labels: list[str], w: float,
                  q: float = 0.95) -> tuple[float, int]:
    """The `q` quantile of |score| between films and their perturbed copies, over the labels
    positive on both readings (all labels when fewer than 20 such), and how many went in."""
    pos, every = [], []
    for a, b in pairs_rows:
        method = C._method(b, a)
        for lab in labels:
            ia, ib = a.index(lab), b.index(lab)
            ea, eb = C.extent(a, ia, method), C.extent(b, ib, method)
            s = abs(C.change_score(a.probability[ia], b.probability[ib], ea, eb, w))
            every.append(s)
            if a.call[ia] == "positive" and b.call[ib] == "positive":
                pos.append(s)
    use = pos if len(pos) >= 20 else every
    return (round(float(np.quantile(use, q)), 3) if use else 1.0), len(use)


# -- Hannover -------------------------------------------------------------------------------

def _spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rho (NaN when either side is constant)."""
    from scipy.stats import spearmanr

    if len(set(a)) < 2 or len(set(b)) < 2:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def hannover(root: Path, cache: SnapshotCache, p: dict[str, Any], n_boot: int) -> dict[str, Any]:
    """Pneumonia probability and extent against the film's day since admission, per patient
    (``metadata.csv`` offsets are days from the film to each event, so the film's day is
    minus ``admission_offset``)."""
    base = root / "covid-hannover"
    rows = list(csv.DictReader((base / "metadata.csv").open(encoding="utf-8")))
    # offsets are days from the film to the event: the film's day since admission is minus
    # admission_offset (two films of a patient differ by the difference of their offsets)
    films = [(r["patient_id"], -float(r["admission_offset"]), str(base / "images" / r["image"]))
             for r in rows if r.get("admission_offset", "").strip() != ""
             and (base / "images" / r["image"]).is_file()]
    snaps = cache.get([f[2] for f in films], lambda k: k, "hannover")
    per: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for pid, off, path in films:
        s = snaps[path]
        if s is None or "Pneumonia" not in s.labels:
            continue
        i = s.index("Pneumonia")
        e = C.extent(s, i, s.method)
        per[pid].append((off, float(s.probability[i]), float(e or 0.0)))
    rho_p, rho_e = [], []
    pair_rows: list[dict[str, Any]] = []
    call_counts: dict[str, int] = defaultdict(int)
    by_path = {(pid, off): path for pid, off, path in films}
    for pid, seq in per.items():
        seq.sort()
        if len(seq) >= 3 and len({x[0] for x in seq}) >= 3:
            rho_p.append(_spearman([x[0] for x in seq], [x[1] for x in seq]))
            rho_e.append(_spearman([x[0] for x in seq], [x[2] for x in seq]))
        for a, b in itertools.pairwise(seq):
            sa, sb = snaps[by_path[(pid, a[0])]], snaps[by_path[(pid, b[0])]]
            ch = C.compare_snapshots(sb, sa, p, ["Pneumonia"])[0]
            call_counts[ch.change.value] += 1
            pair_rows.append({"patient": pid, "days": b[0] - a[0], "dp": b[1] - a[1],
                              "de": b[2] - a[2], "change": ch.change.value})
    bands = []
    for lo, hi in OFFSET_BANDS:
        pts = [(pid, x[1], x[2]) for pid, seq in per.items() for x in seq if lo <= x[0] < hi]
        if not pts:
            continue
        pats = np.array([x[0] for x in pts], dtype=object)
        prob, ext = np.array([x[1] for x in pts]), np.array([x[2] for x in pts])
        est_p = patient_bootstrap(lambda y, v: float(np.mean(v)), prob, prob, pats,
                                  n_boot=n_boot)
        est_e = patient_bootstrap(lambda y, v: float(np.mean(v)), ext, ext, pats, n_boot=n_boot)
        bands.append({"days": [lo if lo > -1e8 else None, hi if hi < 1e8 else None],
                      "n_films": len(pts), "n_patients": len(set(pats)),
                      "probability": est_p.as_dict(), "extent": est_e.as_dict()})

    def mean_ci(v: list[float]) -> dict[str, Any]:
        a = np.array([x for x in v if np.isfinite(x)])
        if a.size == 0:
            return {"value": float("nan"), "n": 0}
        rng = np.random.default_rng(0)
        boots = [float(np.mean(a[rng.integers(0, a.size, a.size)])) for _ in range(n_boot)]
        return {"value": float(a.mean()), "ci_low": float(np.quantile(boots, 0.025)),
                "ci_high": float(np.quantile(boots, 0.975)), "n": int(a.size)}

    later = [r for r in pair_rows if r["days"] > 0]
    return {"n_films": sum(len(v) for v in per.values()), "n_patients": len(per),
            "n_pairs": len(pair_rows),
            "spearman_offset_probability": mean_ci(rho_p),
            "spearman_offset_extent": mean_ci(rho_e),
            "bands": bands, "calls": dict(call_counts),
            "mean_dp_per_pair": float(np.mean([r["dp"] for r in later])) if later else None,
            "mean_de_per_pair": float(np.mean([r["de"] for r in later])) if later else None}


# -- timing ---------------------------------------------------------------------------------

def timing(reader: Any, pairs: list[Pair], n: int) -> dict[str, Any]:
    """Wall-clock ms of reading current alone, prior alone, both with ``prior=`` and of the
    comparison step itself (compare + report rewrite), median and max over `n` pairs."""
    from radlens.report import write_report

    chosen = pairs[:n]
    reader.read(chosen[0].current)  # warm-up
    rows = []
    for pr in chosen:
        t0 = time.perf_counter()
        cur = reader.read(pr.current)
        t1 = time.perf_counter()
        pri = reader.read(pr.prior)
        t2 = time.perf_counter()
        reader.read(pr.current, prior=pr.prior, force=True)
        t3 = time.perf_counter()
        out = C.compare(cur, pri)
        write_report(out)
        t4 = time.perf_counter()
        rows.append(((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3, (t4 - t3) * 1e3))
    a = np.array(rows)
    extra = a[:, 2] - a[:, 0] - a[:, 1]
    return {"n_pairs": len(rows), "current_ms": float(np.median(a[:, 0])),
            "prior_ms": float(np.median(a[:, 1])), "with_prior_ms": float(np.median(a[:, 2])),
            "overhead_ms_median": float(np.median(extra)), "overhead_ms_max": float(extra.max()),
            "compare_step_ms_median": float(np.median(a[:, 3])),
            "compare_step_ms_max": float(a[:, 3].max())}


# -- the run --------------------------------------------------------------------------------

def evaluate(sc: Scored, labels: list[str], oof_score: np.ndarray, oof_call: np.ndarray,
             rows: np.ndarray, n_boot: int) -> dict[str, Any]:
    """Per label appear / disappear AUROC and the five-way accuracy on `rows`."""
    pats = sc.patients[rows]
    out: dict[str, Any] = {"labels": {}}
    for j, lab in enumerate(labels):
        entry: dict[str, Any] = {}
        for name, base, target, sign in (("appears", 0, 1, 1.0), ("disappears", 1, 0, -1.0)):
            sel = sc.y_prior[rows, j] == base
            y = (sc.y_cur[rows, j][sel] == target).astype(int)
            s = sign * oof_score[rows, j][sel]
            if y.sum() == 0 or y.sum() == len(y):
                entry[name] = {"value": None, "n": len(y), "events": int(y.sum())}
                continue
            est = patient_bootstrap(_auroc, y, s, pats[sel], n_boot=n_boot)
            entry[name] = {**est.as_dict(), "n": len(y), "events": int(y.sum())}
        out["labels"][lab] = entry
    t = truth(sc.y_prior[rows], sc.y_cur[rows])
    ok = correct(t, oof_call[rows])
    flat_pat = np.repeat(pats, len(labels))
    tt, okf = t.ravel(), ok.ravel().astype(float)
    acc = patient_bootstrap(lambda y, v: float(np.mean(v)), okf, okf, flat_pat, n_boot=n_boot)
    bal = patient_bootstrap(lambda y, v: balanced(y, v.astype(bool)), tt, okf, flat_pat,
                            n_boot=n_boot)
    out["five_way"] = {"accuracy": acc.as_dict(), "balanced_accuracy": bal.as_dict(),
                       "per_truth": {k: {"n": int((tt == k).sum()),
                                         "right": float(okf[tt == k].mean())
                                         if (tt == k).any() else None} for k in TRUTH},
                       "confusion": {k: {c: int(((tt == k) & (oof_call[rows].ravel() == c)).sum())
                                         for c in ("new", "resolved", "increased", "decreased",
                                                   "unchanged")} for k in TRUTH}}
    for name, base, target, sign in (("appears", 0, 1, 1.0), ("disappears", 1, 0, -1.0)):
        sel = sc.y_prior[rows] == base
        y = (sc.y_cur[rows][sel] == target).astype(int)
        s = sign * oof_score[rows][sel]
        pp = np.repeat(pats[:, None], len(labels), axis=1)[sel]
        out[f"pooled_{name}"] = {**patient_bootstrap(_auroc, y, s, pp, n_boot=n_boot).as_dict(),
                                 "events": int(y.sum()), "n": len(y)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", help="data root (default: RADLENS_DATA or ../shared/data)")
    ap.add_argument("--cache", type=Path, default=Path("/work/runs/compare-cache"))
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--retest", type=int, default=48, help="films for the test-retest margin")
    ap.add_argument("--timing", type=int, default=8, help="pairs to time (0: skip)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-hannover", action="store_true")
    ap.add_argument("--fit", type=Path, help="write the parameters fitted on all pairs here "
                                             "(e.g. radlens/tasks/compare.json)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from radlens.models.classifier import set_threads
    from radlens.reader import Reader

    set_threads(args.threads)
    root = data_root(args.data)
    if not (root / "nih-cxr14" / "labels.csv").is_file():
        sys.exit(f"no nih-cxr14 under {root} (set RADLENS_DATA or --data)")
    start = time.perf_counter()
    reader = Reader(batch_size=args.batch_size, report=False)
    cache = SnapshotCache(args.cache, reader)
    pairs, labels, split = nih_pairs(root / "nih-cxr14")
    films = sorted({p.prior for p in pairs} | {p.current for p in pairs})
    snaps = cache.get(films, lambda k: k, "nih films", args.batch_size)
    sc = score_parts(pairs, labels, snaps)
    n = len(sc.patients)
    fold = folds_of(sc.patients, args.folds, args.seed)
    # test-retest films: a seeded sample of the pair films (each fold uses its training films)
    rng = np.random.default_rng(args.seed)
    film_patient = {f: p.patient for p in pairs for f in (p.prior, p.current)}
    chosen = [films[i] for i in rng.permutation(len(films))[:args.retest]]
    rt = cache.get([f"{f}#retest{args.seed}" for f in chosen],
                   lambda k: perturbed(k.split("#retest")[0], args.seed), "test-retest",
                   args.batch_size)
    rt_pairs = {f: (snaps[f], rt[f"{f}#retest{args.seed}"]) for f in chosen
                if snaps.get(f) is not None and rt.get(f"{f}#retest{args.seed}") is not None}
    oof_score, oof_call = np.zeros(sc.dlogit.shape), np.empty(sc.dlogit.shape, dtype=object)
    per_fold = []
    fold_of_patient = {pt: fo for pt, fo in zip(sc.patients, fold, strict=True)}
    for k in range(args.folds):
        train, test = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        w_probe = fit(sc, train, 1.0)["w_extent"]
        mine = [v for f, v in rt_pairs.items()
                if fold_of_patient.get(film_patient[f], -1) != k]
        margin, n_rt = retest_margin(mine, labels, w_probe)
        p = fit(sc, train, margin)
        oof_score[test] = sc.dlogit[test] + p["w_extent"] * sc.dext[test]
        oof_call[test] = calls(sc, test, p)
        per_fold.append({**p, "fold": k, "n_train": len(train), "n_test": len(test),
                         "retest_n": n_rt})
    everyone = np.arange(n)
    val_rows = np.array([i for i in range(n) if split.get(sc.patients[i]) == 1])
    result: dict[str, Any] = {
        "model": _model(reader), "cache": str(cache.path),
        "data": str(root / "nih-cxr14"), "n_pairs": n, "n_patients": len(set(sc.patients)),
        "folds": args.folds, "seed": args.seed, "n_boot": args.n_boot, "labels": labels,
        "per_fold": per_fold,
        "cv": evaluate(sc, labels, oof_score, oof_call, everyone, args.n_boot),
        "cv_model_validation_patients": (evaluate(sc, labels, oof_score, oof_call, val_rows,
                                                  args.n_boot) if len(val_rows) else None),
        "n_pairs_model_validation": len(val_rows),
        "probability_only": {
            name: patient_bootstrap(_auroc, *_pooled(sc, everyone, name), n_boot=args.n_boot
                                    ).as_dict() for name in ("appears", "disappears")},
    }
    w_all = fit(sc, everyone, 1.0)["w_extent"]
    margin_all, n_rt_all = retest_margin(list(rt_pairs.values()), labels, w_all)
    final = fit(sc, everyone, margin_all)
    result["fitted_on_all"] = {**final, "retest_n": n_rt_all, "retest_films": len(rt_pairs)}
    if not args.no_hannover and (root / "covid-hannover" / "metadata.csv").is_file():
        result["hannover"] = hannover(root, cache, {**C.params(), **final}, args.n_boot)
    if args.timing:
        timed = Reader(batch_size=args.batch_size)
        result["timing"] = {**timing(timed, pairs, args.timing), "model": _model(timed)}
    result["seconds"] = round(time.perf_counter() - start, 1)
    if args.fit:
        write_fit(args.fit, final, result, n_rt_all, len(rt_pairs))
    if args.json:
        print(json.dumps(result, indent=1, default=float))
    else:
        print(format_result(result))
    return 0


def _model(reader: Any) -> str:
    """"name version sha256[:12]" of the reader's classifier."""
    info = reader.classifier.info if reader.classifier is not None else None
    return "none" if info is None else f"{info.name} {info.version} {info.sha256[:12]}"


def _pooled(sc: Scored, rows: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray,
                                                                np.ndarray]:
    """Pooled (y, score, patients) of the probability-only score (logit difference)."""
    base, target, sign = (0, 1, 1.0) if name == "appears" else (1, 0, -1.0)
    sel = sc.y_prior[rows] == base
    y = (sc.y_cur[rows][sel] == target).astype(int)
    pats = np.repeat(sc.patients[rows][:, None], sc.dlogit.shape[1], axis=1)[sel]
    return y, sign * sc.dlogit[rows][sel], pats


def write_fit(path: Path, final: dict[str, Any], result: dict[str, Any], n_rt: int,
              n_films: int) -> None:
    """Write the parameters fitted on all NIH pairs, with how, as ``compare.json``."""
    cv = result["cv"]
    data = {
        "description": "Change-call parameters of radlens.tasks.compare (see its docstring), "
                       "fitted by benchmarks/change_eval.py --fit on the NIH ChestX-ray14 "
                       "follow-up pairs of the development data.",
        "version": "1", "grid": int(C.params()["grid"]),
        "w_extent": final["w_extent"], "margin_new": final["margin_new"],
        "margin_resolved": final["margin_resolved"], "margin_change": final["margin_change"],
        "fitted": {
            "date": dt.date.today().isoformat(),
            "command": "benchmarks/change_eval.py --fit radlens/tasks/compare.json",
            "data": f"nih-cxr14: {result['n_pairs']} consecutive pairs of "
                    f"{result['n_patients']} patients",
            "model": result.get("model", "?"),
            "w_extent": f"grid {list(W_GRID)}, the one with the highest mean AUROC of the "
                        f"appear / disappear scores over labels with >= {MIN_EVENTS} events",
            "margin_new_resolved": f"one margin for both, grid {list(M_GRID)}, the one with "
                                   "the highest balanced accuracy of the five-way call where "
                                   "the labels say (new, resolved, unchanged, persisting)",
            "margin_change": f"95th percentile of |score| between {n_films} films and a "
                             "mildly scaled (0.96-1.04), shifted (<= 2%) and re-windowed "
                             f"(gamma 0.9-1.1) copy of each, over {n_rt} label readings "
                             "positive on both (test-retest: no real change)",
            "cross_validated": {
                "folds": result["folds"],
                "pooled_appears_auroc": cv["pooled_appears"]["value"],
                "pooled_disappears_auroc": cv["pooled_disappears"]["value"],
                "five_way_accuracy": cv["five_way"]["accuracy"]["value"],
                "five_way_balanced_accuracy": cv["five_way"]["balanced_accuracy"]["value"]},
        },
    }
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _ci(e: dict[str, Any] | None) -> str:
    if not e or e.get("value") is None:
        return "n/a"
    if e.get("ci_low") is None or not np.isfinite(e.get("ci_low", float("nan"))):
        return f"{e['value']:.3f}"
    return f"{e['value']:.3f} [{e['ci_low']:.3f}, {e['ci_high']:.3f}]"


def format_result(r: dict[str, Any]) -> str:
    """The figures as plain text."""
    lines = [f"model {r.get('model', '?')}",
             f"NIH follow-up pairs: {r['n_pairs']} pairs, {r['n_patients']} patients, "
             f"{r['folds']}-fold patient CV (seed {r['seed']}); CIs: {r['n_boot']}x "
             "bootstrap by patient",
             "CAVEAT: the bundled classifier was trained on ~80% of these patients",
             f"{'label':<20} {'appears AUROC (events/n)':<36} {'disappears AUROC (events/n)':<36}"]
    for lab, e in r["cv"]["labels"].items():
        cells = [f"{_ci(e[k])} ({e[k]['events']}/{e[k]['n']})" for k in ("appears", "disappears")]
        lines.append(f"{lab:<20} {cells[0]:<36} {cells[1]:<36}")
    for key, title in (("cv", "all pairs"), ("cv_model_validation_patients",
                                              "model's validation patients only")):
        block = r.get(key)
        if not block:
            continue
        fw = block["five_way"]
        lines.append(f"[{title}] pooled appears {_ci(block['pooled_appears'])} "
                     f"({block['pooled_appears']['events']}/{block['pooled_appears']['n']}), "
                     f"pooled disappears {_ci(block['pooled_disappears'])} "
                     f"({block['pooled_disappears']['events']}/"
                     f"{block['pooled_disappears']['n']})")
        lines.append(f"[{title}] five-way accuracy {_ci(fw['accuracy'])}, balanced "
                     f"{_ci(fw['balanced_accuracy'])}; right per label-side change: "
                     + ", ".join(f"{k} {v['right']:.2f} (n={v['n']})"
                                 for k, v in fw["per_truth"].items() if v["right"] is not None))
    po = r["probability_only"]
    lines.append(f"probability-only score (w_extent=0): pooled appears {_ci(po['appears'])}, "
                 f"disappears {_ci(po['disappears'])}")
    f = r["fitted_on_all"]
    lines.append(f"fitted on all pairs: w_extent {f['w_extent']}, margin_new/resolved "
                 f"{f['margin_new']}, margin_change {f['margin_change']} (test-retest n="
                 f"{f['retest_n']} over {f['retest_films']} films); per fold: "
                 + "; ".join(f"w {p['w_extent']} m {p['margin_new']} mc {p['margin_change']}"
                             for p in r["per_fold"]))
    h = r.get("hannover")
    if h:
        lines.append(f"Hannover: {h['n_films']} films, {h['n_patients']} patients, "
                     f"{h['n_pairs']} consecutive pairs; within-patient Spearman(day since "
                     "admission, "
                     f"Pneumonia probability) {_ci(h['spearman_offset_probability'])} "
                     f"(n={h['spearman_offset_probability']['n']} patients), (day, "
                     f"extent) {_ci(h['spearman_offset_extent'])}")
        for b in h["bands"]:
            lo, hi = b["days"]
            lines.append(f"  day since admission [{lo if lo is not None else '-inf'}, "
                         f"{hi if hi is not None else 'inf'}): {b['n_films']} films "
                         f"({b['n_patients']} patients) probability {_ci(b['probability'])} "
                         f"extent {_ci(b['extent'])}")
        lines.append(f"  Pneumonia calls between consecutive films: {h['calls']}")
    t = r.get("timing")
    if t:
        lines.append(f"timing ({t['n_pairs']} pairs, {t.get('model', '?')}, median ms): "
                     "current alone "
                     f"{t['current_ms']:.0f}, prior alone {t['prior_ms']:.0f}, with --prior "
                     f"{t['with_prior_ms']:.0f}; overhead beyond the two readings "
                     f"{t['overhead_ms_median']:+.0f} (max {t['overhead_ms_max']:+.0f}); "
                     f"compare + report step {t['compare_step_ms_median']:.1f} "
                     f"(max {t['compare_step_ms_max']:.1f}) (target <= 50)")
    lines.append(f"{r['seconds']} s")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
