"""``radlens read PATH... [--sample] [--json] [--out DIR] [--overlay] [--export FMT]``.

Each file is loaded, checked and interpreted independently: a failed file prints one line
``radlens: <file>: <what is wrong>`` on stderr and the others go on; the exit status is 1 when
any file failed, 0 otherwise. Output names keep the whole file name less its image suffix
(`radlens.report.export.stem_for`); two inputs with the same name get ``-2``, ``-3``, ... and a
note. With ``--deidentify`` every file written (JSON, overlay, exports) is named by the
Interpretation id and holds no source path, indication or age above 89.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Any

from radlens.errors import RadlensError
from radlens.schema import Interpretation, ReadFailure

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    """Add the ``read`` subcommand to `sub` (an argparse subparsers object)."""
    p = sub.add_parser("read", help="interpret chest X-ray images (DICOM, PNG, JPEG, TIFF, NIfTI)",
                       description="Load, check and interpret each image.")
    p.add_argument("paths", nargs="*", metavar="PATH", help="image files")
    p.add_argument("--sample", action="store_true",
                   help="also read the bundled sample chest radiograph (needs radlens[sample])")
    p.add_argument("--json", action="store_true",
                   help="print a JSON array: one Interpretation or error object per input")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="write <name>.json (and with --overlay <name>.overlay.png) per image")
    p.add_argument("--overlay", action="store_true",
                   help="write an overlay PNG per image into --out (default: current folder)")
    p.add_argument("--model", help="finding model to use (default: the bundled one)")
    p.add_argument("--no-explain", action="store_true", help="skip heatmaps (faster)")
    p.add_argument("--export", choices=("json", "fhir", "sr", "all"),
                   help="write the report as JSON, FHIR R4 (Bundle), DICOM SR, or all three, "
                        "into --out (default: current folder)")
    p.add_argument("--indication", help="clinical question, e.g. 'fever, ?pneumonia'")
    p.add_argument("--style-corpus", metavar="REPORTS",
                   help="report folder/CSV/JSONL whose most common phrasing the report adopts")
    p.add_argument("--deidentify", action="store_true",
                   help="leave patient fields out of every file written and of --json output "
                        "(name, IDs, birth date, path, indication); files named by result id")
    p.add_argument("--age", type=float, metavar="YEARS",
                   help="patient age in years (overrides the DICOM header)")
    p.add_argument("--prior", metavar="PRIOR",
                   help="the patient's earlier film: compare the one PATH with it (change of "
                        "every finding, a COMPARISON section in the report)")
    p.add_argument("--prior-offset", type=float, metavar="DAYS",
                   help="days from the prior to the current film, for files without DICOM "
                        "dates")
    p.add_argument("--force", action="store_true",
                   help="compare with a prior of a different PatientID or dated after the "
                        "current film (with a warning) instead of refusing")
    p.set_defaults(func=run)


def _describe(interp: Interpretation) -> list[str]:
    m = interp.image
    parts = [f"{m.width}x{m.height}", m.format.upper()]
    parts += [v for v in (m.modality, m.view_position, m.photometric_interpretation) if v]
    if m.bits_stored:
        parts.append(f"{m.bits_stored}-bit")
    if m.pixel_spacing_mm:
        parts.append(f"spacing {m.pixel_spacing_mm[0]:.3f}x{m.pixel_spacing_mm[1]:.3f} mm")
    if m.number_of_frames > 1:
        parts.append(f"{m.number_of_frames} frames")
    lines = [f"== {m.source}", "image     " + ", ".join(parts)]
    qc = interp.qc
    shown = [i for i in qc.issues if i.severity.value != "info"]
    lines.append(f"quality   {'passed' if qc.passed else 'FAILED'}"
                 + (f" ({len(shown)} warning{'s' * (len(shown) != 1)})" if shown else ""))
    lines += [f"  {i.severity.value}: {i.code}: {i.message}" for i in shown]
    lines += [f"  warning: {w.code}: {w.message}" for w in interp.warnings]
    if interp.findings:
        from radlens.render.legend import where_text

        model = ", ".join(f"{mi.name} {mi.version}" for mi in interp.models)
        lines.append(f"findings  ({model})")
        width = max(len(f.label) for f in interp.findings)
        for f in sorted(interp.findings, key=lambda f: -f.probability):
            where = where_text(interp, f)
            lines.append(f"  {f.label:<{width}}  p={f.probability:.2f}  {f.call.value:<9s} "
                         f"{f.certainty.value:<9s} (threshold {f.threshold:.2f})"
                         + (f"  {where}" if where else ""))
    if interp.report is not None:
        for section in ("clinical", "technique", "comparison", "caution", "findings",
                        "impression"):
            text = interp.report.section_text(section)
            if text:
                lines.append(f"{section.upper():<9s} {text}")
    if interp.prior is not None:
        lines += _describe_comparison(interp)
    lines += [f"note      {n}" for n in interp.notes]
    return lines


def _describe_comparison(interp: Interpretation) -> list[str]:
    from radlens.report.comparison import when_text

    assert interp.prior is not None
    lines = [f"prior     {interp.prior.source} ({when_text(interp.prior)}; aligned by "
             f"{interp.prior.method})"]
    if interp.comparison:
        width = max(len(c.label) for c in interp.comparison)
        for c in interp.comparison:
            extent = ("" if c.prior_extent is None or c.current_extent is None else
                      f"  extent {c.prior_extent:.2f} -> {c.current_extent:.2f}")
            lines.append(f"  {c.label:<{width}}  {c.change.value:<9s} p {c.prior_probability:.2f}"
                         f" -> {c.current_probability:.2f}  score {c.score:+.2f}{extent}")
    return lines


def _note(interp: Interpretation, note: str) -> Interpretation:
    return dataclasses.replace(interp, notes=(*interp.notes, note))


def _write_overlay(path: str, interp: Interpretation, target: Path) -> str | None:
    from importlib.util import find_spec

    if find_spec("radlens.render.overlay") is None:
        return "no overlay renderer is installed"
    from radlens.io import load_image
    from radlens.render.overlay import render_overlay

    render_overlay(load_image(path), interp, target)
    return None


def _read_pair(reader: Any, path: str, prior: str,
               args: argparse.Namespace) -> Interpretation | ReadFailure:
    """`reader.read(path, prior=prior)`, an error becoming a `ReadFailure` naming its file."""
    from radlens.reader import failure

    try:
        result: Interpretation = reader.read(path, prior=prior, force=bool(args.force),
                                             prior_offset_days=args.prior_offset)
    except RadlensError as exc:
        return failure(path, exc)
    return result


def run(args: argparse.Namespace) -> int:
    """Interpret every path; returns 0 when all succeeded, 1 when any failed."""
    from radlens.reader import Reader
    from radlens.report.export import StemAllocator, deidentified, stem_for
    from radlens.samples import sample_path
    from radlens.schema_json import to_dict

    paths = [str(p) for p in args.paths]
    if args.sample:
        paths.append(str(sample_path()))
    if not paths:
        raise RadlensError("no input: give image paths or --sample")
    prior = getattr(args, "prior", None)
    if prior is None and (getattr(args, "force", False)
                          or getattr(args, "prior_offset", None) is not None):
        raise RadlensError("--force and --prior-offset go with --prior PRIOR")
    if prior is not None and len(paths) != 1:
        raise RadlensError(f"--prior compares one current film with it; got {len(paths)} "
                           "inputs")
    failed = 0
    records: list[dict[str, Any]] = []
    out_dir: Path | None = args.out
    stems = StemAllocator()
    deid = bool(args.deidentify)
    reader = Reader(args.model, explain=not args.no_explain, indication=args.indication,
                    style=args.style_corpus, age=args.age)
    results = (reader.iter_read(paths) if prior is None
               else iter([_read_pair(reader, paths[0], str(prior), args)]))
    for path, result in zip(paths, results, strict=True):
        if isinstance(result, ReadFailure):
            failed += 1
            print(f"radlens: {result.message}", file=sys.stderr)
            records.append({"source": path, "error": {"type": result.error_type,
                                                      "message": result.reason}})
            continue
        interp = result
        try:
            stem, clash = stems.allocate(interp.id if deid else stem_for(path))
            if clash:
                interp = _note(interp, clash)
            clean = deidentified(interp) if deid else interp
            if out_dir is not None:
                out_dir.mkdir(parents=True, exist_ok=True)
                (out_dir / f"{stem}.json").write_text(
                    json.dumps(to_dict(clean), indent=1), encoding="utf-8")
            if args.export:
                from radlens.report import export

                written = export(interp, args.export, out_dir or Path.cwd(),
                                 deidentify=deid, stem=stem)
                interp = _note(interp, "exported " + ", ".join(str(w) for w in written))
            if args.overlay:
                target = (out_dir or Path.cwd()) / f"{stem}.overlay.png"
                problem = _write_overlay(path, clean, target)
                interp = _note(interp, problem or f"overlay written to {target}")
        except RadlensError as exc:
            failed += 1
            print(f"radlens: {exc.one_line()}", file=sys.stderr)
            records.append({"source": path, "error": {"type": type(exc).__name__,
                                                      "message": exc.reason}})
            continue
        except OSError as exc:
            failed += 1
            print(f"radlens: {path}: cannot write output ({exc.strerror or exc})",
                  file=sys.stderr)
            continue
        except Exception as exc:  # a bug: report it on one line and go on with the next file
            failed += 1
            log.exception("internal error on %s", path)
            print(f"radlens: {path}: internal error ({type(exc).__name__}: {exc}); please "
                  "report it", file=sys.stderr)
            records.append({"source": path, "error": {"type": "InternalError",
                                                      "message": str(exc)}})
            continue
        if args.json:
            records.append(to_dict(deidentified(interp) if deid else interp))
        else:
            print("\n".join(_describe(interp)))
    if args.json:
        print(json.dumps(records, indent=1))
    return 1 if failed else 0
