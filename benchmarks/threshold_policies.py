"""Compare operating-threshold policies on the out-of-fold predictions of a CV run.

    .venv/bin/python benchmarks/threshold_policies.py --oof RUN/oof.npz \
        [--rates 0.05,0.08,0.12] [--allocations uniform,f1]

For every fold of ``benchmarks/classifier_cv.py`` (which stores the calibrated validation
probabilities beside the test ones), each policy is fitted on that fold's adult validation
films and applied to its test films, so the calls stay out-of-fold. Prints, per policy, the
issue-13 call figures: adult normals without any call, adult pneumonia sensitivity, NIH mean
F1 over the five CXR-LLaVA labels, and TB sensitivity/specificity at the stored threshold.
No network is retrained: this is cheap and may be run as often as wanted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from adult_targets import targets

from radlens.metrics.subgroups import json_safe
from radlens.train.export import default_anchors
from radlens.train.operating import operating_thresholds


def anchors_for(sources: list[str], adult: np.ndarray, tb_sens: float
                ) -> dict[str, tuple[np.ndarray, float]]:
    """The default anchors with Tuberculosis at `tb_sens` (0: TB is an ordinary label)."""
    out = default_anchors(sources, adult)
    if tb_sens <= 0:
        out.pop("Tuberculosis", None)
    elif "Tuberculosis" in out:
        out["Tuberculosis"] = (out["Tuberculosis"][0], tb_sens)
    return out


def oof_calls(z: dict[str, np.ndarray], rate: float, allocation: str,
              tb_sens: float = 0.85) -> np.ndarray:
    """(N, L) out-of-fold 0/1 calls with thresholds fitted per fold on its validation part."""
    names = [str(n) for n in z["names"]]
    sources = [str(s) for s in z["sources"]]
    calls = np.zeros_like(z["probs"])
    for f in sorted(set(int(v) for v in z["test_fold"]) - {-1}):
        va = np.flatnonzero(z["val_fold"] == f)
        te = np.flatnonzero(z["test_fold"] == f)
        adult = z["adult"][va]
        thr = operating_thresholds(
            z["val_probs"][va], z["labels"][va], z["mask"][va], names, adult,
            anchors=anchors_for([sources[i] for i in va], adult, tb_sens),
            max_normal_call_rate=rate, allocation=allocation)
        calls[te] = z["probs"][te] >= np.array([thr[n] for n in names])
    return calls


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--oof", required=True, help="oof.npz written by classifier_cv.py")
    ap.add_argument("--rates", default="0.05,0.08,0.12")
    ap.add_argument("--allocations", default="uniform,f1")
    ap.add_argument("--tb-sens", default="0.85",
                    help="comma-separated TB anchor sensitivities to try (0: no TB anchor)")
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    raw = np.load(args.oof, allow_pickle=False)
    if "val_probs" not in raw:
        raise SystemExit(f"{args.oof}: no validation probabilities (re-run classifier_cv.py)")
    z = {k: raw[k] for k in raw.files}
    k = z["tested"].astype(bool)
    names = [str(n) for n in z["names"]]
    rows = []
    grid = [(a, float(r), float(t)) for a in args.allocations.split(",")
            for r in args.rates.split(",") for t in args.tb_sens.split(",")]
    for allocation, rate, tb_sens in grid:
        calls = oof_calls(z, rate, allocation, tb_sens)
        res = targets(z["probs"][k], calls[k], z["labels"][k], z["mask"][k], names,
                      [str(s) for s in z["sources"][k]], [str(p) for p in z["patients"][k]],
                      n_boot=args.n_boot)
        tb = names.index("Tuberculosis")
        src = np.asarray([str(s).split("/")[0] for s in z["sources"]])
        m = k & (src == "tb-cxr") & (z["mask"][:, tb] > 0)
        y, c = z["labels"][m, tb], calls[m, tb]
        row = {"allocation": allocation, "rate": rate, "tb_anchor_sensitivity": tb_sens,
               "adult_normals_without_call": res["adult_normals_without_call"]["value"],
               "adult_pneumonia_sensitivity": res["adult_pneumonia_sensitivity"]["value"],
               "nih_f1_mean": res["nih_f1_mean"],
               "nih_f1": {n: v["value"] for n, v in res["nih_f1"].items()},
               "tb_sensitivity": float(c[y == 1].mean()),
               "tb_specificity": float(1 - c[y == 0].mean())}
        rows.append(row)
        if not args.json:
            print(f"{allocation:8s} rate {rate:.2f} TB anchor {tb_sens:.2f}: normals w/o call "
                  f"{row['adult_normals_without_call']:.3f}, pneumonia sens "
                  f"{row['adult_pneumonia_sensitivity']:.3f}, NIH F1 mean "
                  f"{row['nih_f1_mean']:.3f}, TB sens {row['tb_sensitivity']:.3f} "
                  f"spec {row['tb_specificity']:.3f}")
    if args.json:
        print(json.dumps(json_safe(rows), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
