"""Accuracy of the radlens report labeller on the IU development reports vs the NegBio gold.

Prints per-label precision, recall and F1 with 95% bootstrap CIs (1,000 resamples of reports),
micro- and macro-F1, for radlens and (when medspacy is installed) the medspacy ConText peer with
the same mention phrases, plus the agreement with the CheXpert labeller's four sample reports.

Gold convention (data README): 1 = finding present; negated, uncertain and absent are all 0, so
a -1 from radlens counts as absent. radlens labels NIH-14 under its NegBio convention by default:
a finding named as one of alternatives ("atelectasis versus scarring") or as probable is
present (the rule files' ``convention`` lines). --convention chexpert scores the CheXpert reading
(both uncertain) instead, and --convention both prints the two in one run.

The peer is scored once (1 = present). --cues prints, per uncertainty cue, how many labels it
made -1 and how many of those the gold marks present. Text: FINDINGS + IMPRESSION.

Usage: python benchmarks/labeler_iu.py [--split test|dev|all] [--no-peer] [--errors LABEL]
       [--convention negbio|chexpert|both] [--cues]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from labeler_common import NIH_LABELS, MedspacyPeer, deciding_cues, load_iu, predicted, timed

from radlens.metrics.stats import bootstrap_ci
from radlens.paths import data_root
from radlens.text.labeler import label
from radlens.text.ruleset import load_rules


def _f1(tp: float, fp: float, fn: float) -> float:
    d = 2 * tp + fp + fn
    return 2 * tp / d if d else float("nan")


def scores(pred: np.ndarray, gold: np.ndarray, scored: list[int], n_boot: int) -> dict:
    """pred, gold: (n_reports, n_labels) 0/1. Returns per-label and aggregate estimates."""
    tp = pred * gold
    fp = pred * (1 - gold)
    fn = (1 - pred) * gold
    out: dict = {"per_label": []}
    for j in range(gold.shape[1]):
        def prec(ix, j=j):  # type: ignore[no-untyped-def]
            d = pred[ix, j].sum()
            return tp[ix, j].sum() / d if d else float("nan")

        def rec(ix, j=j):  # type: ignore[no-untyped-def]
            d = gold[ix, j].sum()
            return tp[ix, j].sum() / d if d else float("nan")

        def f1(ix, j=j):  # type: ignore[no-untyped-def]
            return _f1(tp[ix, j].sum(), fp[ix, j].sum(), fn[ix, j].sum())

        n = len(gold)
        out["per_label"].append((int(gold[:, j].sum()), int(pred[:, j].sum()),
                                 bootstrap_ci(prec, n, n_boot), bootstrap_ci(rec, n, n_boot),
                                 bootstrap_ci(f1, n, n_boot)))
    cols = np.array(scored)

    def micro(ix):  # type: ignore[no-untyped-def]
        return _f1(tp[np.ix_(ix, cols)].sum(), fp[np.ix_(ix, cols)].sum(),
                   fn[np.ix_(ix, cols)].sum())

    def macro(ix):  # type: ignore[no-untyped-def]
        vals = [_f1(tp[ix, j].sum(), fp[ix, j].sum(), fn[ix, j].sum()) for j in scored]
        return float(np.nanmean(vals))

    out["micro"] = bootstrap_ci(micro, len(gold), n_boot)
    out["macro"] = bootstrap_ci(macro, len(gold), n_boot)
    return out


def _ci(e) -> str:  # type: ignore[no-untyped-def]
    if np.isnan(e.value):
        return "   n/a             "
    return f"{e.value:.3f} [{e.low:.3f}, {e.high:.3f}]"


def report(name: str, res: dict, scored: list[int]) -> None:
    print(f"\n## {name}")
    print(f"{'label':20s} {'gold+':>5s} {'pred+':>5s}  {'precision':22s} {'recall':22s} "
          f"{'F1':22s}")
    for lab, (g, p, pr, rc, f1) in zip(NIH_LABELS, res["per_label"], strict=True):
        print(f"{lab:20s} {g:5d} {p:5d}  {_ci(pr):22s} {_ci(rc):22s} {_ci(f1):22s}")
    names = ", ".join(NIH_LABELS[j] for j in range(len(NIH_LABELS)) if j not in scored)
    print(f"micro-F1 {_ci(res['micro'])}   macro-F1 {_ci(res['macro'])}   "
          f"(over the {len(scored)} labels with gold positives; not scored: {names or 'none'})")


def chexpert_samples() -> None:
    folder = data_root() / "samples" / "chexpert-labeler"
    path = folder / "labeled_reports.csv"
    if not path.is_file():
        print("\nCheXpert sample reports: not found, skipped")
        return
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    recs = label([r["Reports"] for r in rows])
    agree = total = 0
    for r, rec in zip(rows, recs, strict=True):
        for lab, v in rec.labels:
            want = None if r[lab] == "" else int(float(r[lab]))
            agree += want == v
            total += 1
    print(f"\nCheXpert labeller sample reports: {agree}/{total} label values identical "
          f"({len(rows)} reports x 14)")


def _cue_table(recs: list, gold: np.ndarray) -> None:
    rules = {t.name: t for t in load_rules("nih14", convention="chexpert").triggers}
    counts: dict[str, list[int]] = {}
    for i, rec in enumerate(recs):
        for j, (lab, v) in enumerate(rec.labels):
            if v == -1:
                for name in sorted(set(deciding_cues(rec, lab))):
                    c = counts.setdefault(name, [0, 0])
                    c[0] += 1
                    c[1] += int(gold[i, j])
    print("\n## -1 labels by deciding uncertainty cue (a label may count under several)")
    print(f"{'cue':46s} {'-1':>4s} {'gold present':>12s}")
    for name, (n, p) in sorted(counts.items(), key=lambda x: -x[1][0]):
        t = rules.get(name)
        flag = " [alternative]" if t and t.alternative else " [leaning]" if t and t.leaning else ""
        desc = f"{name} '{t.pattern}'{flag}" if t else name
        print(f"{desc[:46]:46s} {n:4d} {p:12d}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="test", choices=["dev", "test", "all"])
    ap.add_argument("--no-peer", action="store_true", help="skip the medspacy peer")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--errors", metavar="LABEL", help="print false positives/negatives")
    ap.add_argument("--convention", default="negbio", choices=["negbio", "chexpert", "both"],
                    help="labelling convention for 'A versus B' / 'probable X' (negbio: "
                         "present, the NIH-14 default; chexpert: uncertain; both: print both)")
    ap.add_argument("--cues", action="store_true",
                    help="print -1 labels per deciding cue, and how many the gold has present")
    args = ap.parse_args()
    iu = load_iu(args.split)
    gold = np.array([[g[lab] for lab in NIH_LABELS] for g in iu.gold])
    scored = [j for j in range(len(NIH_LABELS)) if gold[:, j].sum() > 0]
    print(f"# IU reports, split {args.split!r}: {len(iu.ids)} reports "
          f"(NegBio gold; FINDINGS + IMPRESSION)")
    modes = ["negbio", "chexpert"] if args.convention == "both" else [args.convention]
    micro: dict[str, float] = {}
    pred = np.zeros_like(gold)
    recs: list = []
    for mode in modes:
        recs, secs = timed(label, iu.texts, "nih14", iu.ids, None, mode)
        pred = predicted(recs)
        res = scores(pred, gold, scored, args.n_boot)
        micro[mode] = res["micro"].value
        report(f"radlens, convention={mode} ({secs:.2f} s)", res, scored)
    if args.cues:
        _cue_table(label(iu.texts, "nih14", iu.ids, None, "chexpert"), gold)
    if args.errors:
        j = NIH_LABELS.index(args.errors)
        for i, r in enumerate(recs):
            if pred[i, j] != gold[i, j]:
                kind = "FP" if pred[i, j] else "FN"
                ev = [e.rule for e in r.evidence if e.label == args.errors]
                print(f"--- {kind} {iu.ids[i]}: {iu.texts[i]!r}\n    {ev}")
    if not args.no_peer:
        try:
            peer = MedspacyPeer("nih14")
        except ImportError as exc:
            print(f"\nmedspacy peer: not installed ({exc}); skipped")
        else:
            precs, psecs = timed(peer.label, iu.texts)
            ppred = np.array([[1 if r[lab] == 1 else 0 for lab in NIH_LABELS] for r in precs])
            pres = scores(ppred, gold, scored, args.n_boot)
            report(f"medspacy ConText peer ({psecs:.2f} s)", pres, scored)
            for mode, value in micro.items():
                print(f"\nmicro-F1 radlens (convention={mode}) - peer: "
                      f"{value - pres['micro'].value:+.3f}")
    chexpert_samples()
    return 0


if __name__ == "__main__":
    sys.exit(main())
