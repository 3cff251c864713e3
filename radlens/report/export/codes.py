"""The export code tables (``codes.json``): finding, body-site, laterality and presence codes."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

Code = tuple[str, str, str]  # (scheme designator, code value, meaning)


@cache
def table() -> dict[str, Any]:
    """The parsed code table (cached; do not modify)."""
    text = resources.files("radlens.report.export").joinpath("codes.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def local(label: str) -> Code:
    """The local radlens code of a finding label (always available)."""
    return (str(table()["local_designator"]), label.replace(" ", "_").lower(), label)


def finding_codes(label: str) -> list[Code]:
    """Standard codes of `label` (SNOMED CT / DICOM / RadLex; may be []), then the local one."""
    entry = table()["findings"].get(label, {})
    out: list[Code] = []
    if "code" in entry:
        out.append(tuple(entry["code"]))
    out += [tuple(x) for x in entry.get("extra", [])]
    out.append(local(label))
    return out


def site(label: str) -> Code:
    """Body-site code of `label` (the chest when the table has none)."""
    key = table()["findings"].get(label, {}).get("site", "chest")
    return tuple(table()["sites"][key])


def get(name: str) -> Code:
    """A named single code from the table ("probability", "procedure", "report_code", …)."""
    return tuple(table()[name])


def system(designator: str) -> str:
    """FHIR system URI of a DICOM coding scheme designator ("SCT" -> SNOMED CT URI)."""
    return str(table()["systems"][designator])
