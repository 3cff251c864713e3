"""Grounded draft reports and their clinical exports.

`write_report(interp, indication=None, style=None) -> Report` writes the report;
`export(interp, fmt, out_dir, deidentify=False) -> list[Path]` writes JSON / FHIR / DICOM SR;
`check(interp, report)` lists where the radlens labeller reads the report differently from the
models' calls; `structured_report(interp)` gives one entry per covered finding.
"""

from radlens.report.consistency import Mismatch, check
from radlens.report.export import export
from radlens.report.structured import Entry, structured_report
from radlens.report.style import Style, build_style, load_style
from radlens.report.writer import report_text, write_report

__all__ = ["Entry", "Mismatch", "Style", "build_style", "check", "export", "load_style",
           "report_text", "structured_report", "write_report"]
