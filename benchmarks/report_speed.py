"""Time to write a report and all exports (JSON, FHIR, DICOM SR) for one image.

Usage: python benchmarks/report_speed.py [--repeats N] [--bundled]
Default: the pydicom-data chest radiograph's metadata (no pixels, no model) and a synthetic
CheXpert-14 interpretation with grounded regions (14 findings: the stress case). --bundled: the
real Interpretation that `radlens read` makes of that radiograph with the bundled models (its
findings, lung masks, zones and heatmap). Either way it measures only what comes after
interpretation. Prints the median and 90th-percentile milliseconds of each step (the first,
cold call is reported separately: it loads templates, rules and the export libraries).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from radlens import vocab
from radlens.report import export, write_report
from radlens.schema import (
    Box,
    Call,
    Finding,
    ImageMeta,
    Interpretation,
    ModelInfo,
    QCReport,
    Region,
    RegionKind,
)


def _interp() -> Interpretation:
    from pydicom.data import get_testdata_file

    from radlens.io import load_image

    meta: ImageMeta = load_image(get_testdata_file("RG1_UNCR.dcm")).meta
    rng = np.random.default_rng(0)
    findings, regions = [], []
    for k, label in enumerate(vocab.CHEXPERT14.labels):
        call = (Call.POSITIVE, Call.UNCERTAIN, Call.NEGATIVE, Call.NEGATIVE)[k % 4]
        ids: tuple[str, ...] = ()
        if call is not Call.NEGATIVE and label != "No Finding":
            rid = f"region-{k}"
            regions.append(Region(rid, RegionKind.FINDING, label, box=Box(100, 200, 600, 900),
                                  heatmap=rng.random((16, 16), dtype=np.float32), side="right",
                                  zones=(("right lower", 0.6), ("right middle", 0.4))))
            ids = (rid,)
        findings.append(Finding(label, 0.5, 0.5, call, "bench-model", 0.3, ids))
    return Interpretation(meta, QCReport(), tuple(findings), tuple(regions),
                          models=(ModelInfo("bench-model", "1", "classify"),))


def _time(fn: Callable[[], object], repeats: int) -> tuple[float, float, float]:
    t0 = time.perf_counter()
    fn()
    cold = (time.perf_counter() - t0) * 1000
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1000)
    runs.sort()
    return cold, statistics.median(runs), runs[int(0.9 * (len(runs) - 1))]


def _sr_phases(interp: Interpretation, repeats: int) -> None:
    """Median ms per call of the three parts of `write_sr`: highdicom's measurement groups, its
    Comprehensive3DSR constructor, and pydicom's file writer (timed by wrapping them)."""
    import highdicom as hd
    import pydicom.dataset

    from radlens.report.export import dicom_sr
    from radlens.report.export.patient import patient_for
    from radlens.report.writer import write_report

    spent: dict[str, list[float]] = {}

    def timed(name: str, fn: Callable[..., object]) -> Callable[..., object]:
        def wrapper(*a: object, **k: object) -> object:
            t0 = time.perf_counter()
            out = fn(*a, **k)
            spent.setdefault(name, []).append((time.perf_counter() - t0) * 1000)
            return out
        return wrapper

    report, patient = write_report(interp), patient_for(interp.image)
    path = Path(tempfile.mkdtemp(prefix="radlens-sr-")) / "x.sr.dcm"
    orig = (dicom_sr._group, hd.sr.Comprehensive3DSR.__init__, pydicom.dataset.Dataset.save_as)
    dicom_sr._group = timed("measurement groups (highdicom)", orig[0])  # type: ignore[assignment]
    hd.sr.Comprehensive3DSR.__init__ = timed("Comprehensive3DSR()", orig[1])  # type: ignore
    pydicom.dataset.Dataset.save_as = timed("save_as (pydicom)", orig[2])  # type: ignore
    try:
        total = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            dicom_sr.write_sr(interp, report, patient, path)
            total.append((time.perf_counter() - t0) * 1000)
    finally:
        dicom_sr._group = orig[0]  # type: ignore[assignment]
        hd.sr.Comprehensive3DSR.__init__ = orig[1]  # type: ignore[method-assign]
        pydicom.dataset.Dataset.save_as = orig[2]  # type: ignore[method-assign]
    print(f"\nwrite_sr median {statistics.median(total[1:]):.1f} ms; its parts per SR:")
    for name, ms in spent.items():
        per_sr = sum(ms[len(ms) // repeats:]) / (repeats - 1)
        print(f"  {name:<32} {per_sr:6.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--bundled", action="store_true",
                    help="time the bundled models' real Interpretation of the sample radiograph")
    ap.add_argument("--sr-phases", action="store_true",
                    help="also split the DICOM SR time into highdicom and pydicom parts")
    args = ap.parse_args()
    if args.bundled:
        from pydicom.data import get_testdata_file

        from radlens.pipeline import read

        interp = read(get_testdata_file("RG1_UNCR.dcm"))
    else:
        interp = _interp()
    out = Path(tempfile.mkdtemp(prefix="radlens-report-bench-"))
    steps: dict[str, Callable[[], object]] = {
        "write_report": lambda: write_report(interp, indication="cough and fever"),
        "export json": lambda: export(interp, "json", out),
        "export fhir": lambda: export(interp, "fhir", out),
        "export sr": lambda: export(interp, "sr", out),
        "report + all exports": lambda: export(
            Interpretation(**{**interp.__dict__,
                              "report": write_report(interp, indication="cough and fever")}),
            "all", out),
    }
    print(f"{len(interp.findings)} findings, {len(interp.regions)} regions, "
          f"{args.repeats} repeats; milliseconds")
    print(f"{'step':<22} {'cold':>8} {'median':>8} {'p90':>8}")
    for name, fn in steps.items():
        cold, med, p90 = _time(fn, args.repeats)
        print(f"{name:<22} {cold:8.1f} {med:8.1f} {p90:8.1f}")
    if args.sr_phases:
        _sr_phases(interp, args.repeats)


if __name__ == "__main__":
    main()
