"""Out-of-distribution score of the bundled classifier: false alarms on chest films it never
trained on, hits on images that are not frontal chest radiographs.

    .venv/bin/python benchmarks/ood_rates.py [--model radlens-cxr-adult-lite0] [--max-per-group 200]
        [--json] [--png ood.png]

Groups (all from ../shared/data or RADLENS_DATA, and from installed packages):
held-in kinds, never used in training: TBX11K TB films, VQA-RAD and SLAKE chest films, the
torchxrayvision sample films; laterals: COVID-collection films with view L; not chest
radiographs: every pydicom-data file radlens can load other than the chest CR, MedMNIST breast
ultrasound and retina photographs (val arrays), scikit-image photographs. For each group: the
share flagged by the OOD score (score > the card's threshold), the share the input-quality gate
rejects (a fatal QC issue), and the share caught by either. The bundled model's own validation
films set the threshold (99% quantile); their rate is in the card (``ood.validation_false_alarm``).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from radlens.errors import RadlensError
from radlens.io import image_from_array, load_image
from radlens.io.qc import check
from radlens.paths import data_root
from radlens.schema import Image
from radlens.tasks.classify import scored

IMAGE_EXT = {".png", ".jpg", ".jpeg"}


def files(folder: Path, limit: int) -> list[Path]:
    """Image files under `folder` (sorted, at most `limit`)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXT)[:limit]


def laterals(root: Path, limit: int) -> list[Path]:
    """COVID-collection films whose view is lateral."""
    meta = root / "covid-cxr" / "metadata.csv"
    if not meta.is_file():
        return []
    with meta.open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("view", "").strip().upper() == "L"]
    paths = [root / "covid-cxr" / r["folder"] / r["filename"] for r in rows]
    return [p for p in paths if p.is_file()][:limit]


def pydicom_others() -> list[Path]:
    """pydicom-data files other than the chest radiograph (RG1_*)."""
    try:
        from pydicom.data import get_testdata_file
    except ImportError:
        return []
    chest = get_testdata_file("RG1_UNCR.dcm")
    if chest is None:
        return []
    folder = Path(str(chest)).parent
    return sorted(p for p in folder.iterdir()
                  if p.suffix.lower() == ".dcm" and not p.name.startswith("RG1_"))


def arrays(root: Path, name: str, limit: int) -> Iterator[Image]:
    """MedMNIST val images as radlens Images (grey; RGB averaged)."""
    path = root / "medmnist" / f"{name}.npz"
    if not path.is_file():
        return
    x = np.load(path)["val_images"][:limit]
    for i, a in enumerate(x):
        grey = a.mean(axis=-1) if a.ndim == 3 else a
        yield image_from_array(grey.astype(np.float32) / 255.0, f"{name}:val[{i}]")


def photos() -> Iterator[Image]:
    """scikit-image's sample photographs (grey)."""
    try:
        from skimage import data
    except ImportError:
        return
    for name in ("astronaut", "camera", "coffee", "chelsea", "rocket", "coins", "moon",
                 "page", "text", "brick", "grass", "gravel", "horse", "hubble_deep_field",
                 "immunohistochemistry", "retina", "skin", "clock", "logo", "motorcycle_left"):
        try:
            a = np.asarray(getattr(data, name)(), dtype=np.float32)
        except Exception:  # a sample may need a download in some versions
            continue
        if a.ndim == 3:
            a = a[..., :3].mean(axis=-1)
        yield image_from_array(a / max(float(a.max()), 1.0), f"skimage:{name}")


def measure(items: Iterator[Image | Path], model: str | None) -> dict[str, Any]:
    """Scores and QC verdicts of one group."""
    scores, rejected, unreadable = [], [], 0
    threshold = float("nan")
    for item in items:
        try:
            img = load_image(item) if isinstance(item, Path) else item
        except RadlensError:
            unreadable += 1
            continue
        qc = check(img)
        _, loaded, s = scored(img, model)
        if s is None:
            raise SystemExit(f"model {loaded.info.name} has no OOD statistics")
        threshold = float(loaded.ood.threshold)
        scores.append(s)
        rejected.append(not qc.passed)
    sc, rej = np.asarray(scores), np.asarray(rejected, bool)
    flagged = sc > threshold
    n = len(sc)
    return {"n": n, "unreadable": unreadable,
            "ood_flagged": float(flagged.mean()) if n else float("nan"),
            "qc_rejected": float(rej.mean()) if n else float("nan"),
            "either": float((flagged | rej).mean()) if n else float("nan"),
            "median_score": float(np.median(sc)) if n else float("nan"),
            "threshold": threshold, "scores": sc.tolist()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="classifier (default: the bundled default)")
    ap.add_argument("--data", default=None,
                    help="data root (default RADLENS_DATA or ../shared/data)")
    ap.add_argument("--max-per-group", type=int, default=200)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--png", default=None, help="write a histogram of scores per group")
    args = ap.parse_args()
    root = Path(args.data) if args.data else data_root()
    k = args.max_per_group
    groups: dict[str, tuple[str, Any]] = {
        "tbx11k TB films (adult, unseen)": ("chest", files(root / "tbx11k-tb" / "images", k)),
        "VQA-RAD chest films (unseen)": ("chest", files(root / "vqa-rad" / "images", k)),
        "SLAKE chest films (unseen)": ("chest", files(root / "slake-cxr" / "imgs", k)),
        "torchxrayvision samples": ("chest", files(root / "samples" / "torchxrayvision-tests",
                                                   k)),
        "COVID-collection laterals": ("lateral", laterals(root, k)),
        "pydicom-data non-chest DICOM": ("other", pydicom_others()),
        "MedMNIST breast ultrasound": ("other", arrays(root, "breastmnist", k)),
        "MedMNIST retina photographs": ("other", arrays(root, "retinamnist", k)),
        "scikit-image photographs": ("other", photos()),
    }
    out: dict[str, Any] = {}
    for name, (kind, items) in tqdm(groups.items(), desc="groups", unit="group",
                                    file=sys.stderr):
        res = measure(iter(items), args.model)
        res["kind"] = kind
        out[name] = res
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 4.5))
        for name, res in out.items():
            if res["n"]:
                ax.hist(np.log10(np.asarray(res["scores"]) + 1e-6), bins=40, histtype="step",
                        label=f"{name} (n={res['n']})")
        thr = next(r["threshold"] for r in out.values() if r["n"])
        ax.axvline(np.log10(thr), color="k", linestyle="--", label="threshold")
        ax.set_xlabel("log10 OOD score")
        ax.set_ylabel("images")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.png, dpi=110)
    if args.json:
        print(json.dumps({n: {k2: v for k2, v in r.items() if k2 != "scores"}
                          for n, r in out.items()}, indent=2))
        return 0
    print(f"{'group':34s} {'kind':8s} {'n':>4s} {'OOD':>6s} {'QC':>6s} {'either':>6s} "
          f"{'median':>7s}")
    for name, r in out.items():
        print(f"{name:34s} {r['kind']:8s} {r['n']:4d} {r['ood_flagged']:6.3f} "
              f"{r['qc_rejected']:6.3f} {r['either']:6.3f} {r['median_score']:7.2f}"
              + (f"  ({r['unreadable']} unreadable)" if r["unreadable"] else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
