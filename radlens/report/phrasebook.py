"""The phrase library: report wording kept as data (``radlens/report/templates/*.json``).

`library()` loads ``default.json`` (finding phrases, merges, negative groups, impression and
location wording) and `clinical()` loads ``clinical.json`` (indication keywords and demographic
wording). A user phrase file with the same layout may be given to `library(path)`; its entries
replace the packaged ones label by label.
"""

from __future__ import annotations

import copy
import json
import os
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from radlens.errors import DataError
from radlens.schema import Call

CALLS = ("positive", "uncertain", "negative")
_REQUIRED = ("labels", "merges", "negative_groups", "fallback", "impression", "location",
             "sections", "technique")


def _packaged(name: str) -> tuple[dict[str, Any], str]:
    path = resources.files("radlens.report.templates").joinpath(name)
    return json.loads(path.read_text("utf-8")), str(path)


def _validate(lib: dict[str, Any], source: str) -> None:
    missing = [k for k in _REQUIRED if k not in lib]
    if missing:
        raise DataError(f"phrase library lacks {', '.join(missing)}", source)
    for label, entry in lib["labels"].items():
        for key in ("name", "weight", "findings", "impression"):
            if key not in entry:
                raise DataError(f"phrase entry {label!r} lacks {key!r}", source)
        for call in ("positive", "uncertain"):
            if call not in entry["findings"] or call not in entry["impression"]:
                raise DataError(f"phrase entry {label!r} has no {call} sentence", source)


@cache
def _load(path: str | None) -> dict[str, Any]:
    lib, source = _packaged("default.json")
    if path is not None:
        try:
            user = json.loads(Path(path).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read the phrase file ({exc})", path) from exc
        if not isinstance(user, dict):
            raise DataError("phrase file must hold a JSON object", path)
        lib = copy.deepcopy(lib)
        lib["labels"].update(user.get("labels", {}))
        for key in _REQUIRED:
            if key != "labels" and key in user:
                lib[key] = user[key]
        source = path
    _validate(lib, source)
    return lib


def library(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The phrase library (parsed JSON, cached): packaged, or overridden by the file `path`.

    Do not modify the returned dict. Raises `DataError` naming the file when it is invalid.
    """
    return _load(None if path is None else os.fspath(path))


@cache
def clinical() -> dict[str, Any]:
    """The clinical-context rules (``templates/clinical.json``, parsed and cached)."""
    return _packaged("clinical.json")[0]


def phrase(lib: dict[str, Any], label: str, section: str, call: Call | str,
           variants: tuple[str, ...] = ()) -> str | None:
    """The template sentence for `label` in `section` ("findings"/"impression") and `call`
    (a `Call` or a phrase key such as "possible", see the library's ``certainty`` block).

    `variants` ("paediatric", "ap_view") are applied in order when the label defines them.
    Labels without an entry use the library's generic fallback. Returns None when the library
    has no sentence for this combination (e.g. a negative that belongs in a grouped list).
    """
    key = call.value if isinstance(call, Call) else call
    entry = lib["labels"].get(label)
    if entry is None:
        found = lib["fallback"][section].get(key)
        return None if found is None else str(found)
    text: str | None = entry[section].get(key)
    for v in variants:
        override = entry.get("variants", {}).get(v, {}).get(section, {}).get(key)
        if override:
            text = override
    return text


_DEFAULT_BANDS: dict[str, dict[str, Any]] = {
    "stated": {"phrases": ["positive"], "labeller_value": 1, "weight_factor": 1.0},
    "possible": {"phrases": ["possible", "uncertain"], "labeller_value": -1,
                 "weight_factor": 0.8},
    "uncertain": {"phrases": ["uncertain"], "labeller_value": -1, "weight_factor": 0.6},
    "absent": {"phrases": ["negative"], "labeller_value": 0, "weight_factor": 0.0},
}


def band_spec(lib: dict[str, Any], band: str) -> dict[str, Any]:
    """How a certainty band (a `radlens.schema.Certainty` value) is worded: ``phrases`` (phrase
    keys tried in order), ``labeller_value`` (what the labeller must read back: 1, -1, 0) and
    ``weight_factor`` (its share of the clinical weight in the impression order). From the
    library's ``certainty.bands`` block; phrase files without one get the packaged defaults."""
    bands = lib.get("certainty", {}).get("bands", {})
    spec = bands.get(str(band)) or _DEFAULT_BANDS[str(band)]
    return dict(spec)


def entry(lib: dict[str, Any], label: str) -> dict[str, Any]:
    """The library entry of `label`, or a generic one built from the fallback."""
    found = lib["labels"].get(label)
    if found is not None:
        return dict(found)
    name = label.replace("_", " ").lower()
    return {"name": name, "weight": lib["fallback"].get("weight", 50), "group": "lungs"}
