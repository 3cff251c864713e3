"""Adapters for the adult chest-film sets: NIH ChestX-ray14 (512 px), TB (Shenzhen, Montgomery,
DA/DB) and the Hannover COVID-19 films.

Every adapter returns the one sample contract (`radlens.data.samples.Sample`) over the adult
label list of ``label_rules.json`` (CheXpert names where one exists, NIH names otherwise). A
label a set never looks at is unknown (mask False), never negative; the "a normal film is
negative for every finding" rule is applied later, by `harmonise`. Metadata, where the source
has it: ``age`` (years, "" unknown), ``sex`` ("M" / "F" / ""), ``view`` ("PA" / "AP" / ...),
``population`` ("adult" / "paediatric" / ""), ``license``; plus source-specific keys.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from radlens.data.adapters import _dir, _nonempty, _read_csv
from radlens.data.samples import Dataset, Sample, make_sample
from radlens.errors import DataError

NIH_LICENCE = "NIH: public, no restriction (cite Wang et al. 2017)"
HANNOVER_LICENCE = "CC BY 3.0"
TB_LICENCES = {"shenzhen": "NLM public (Shenzhen CHNCXR)",
               "montgomery": "NLM public (Montgomery MCUCXR)", "da-db": "CC BY 4.0"}
ADULT_AGE = 18


@cache
def label_rules() -> dict[str, Any]:
    """The parsed ``radlens/data/label_rules.json`` (normal rule, implications, NIH mapping)."""
    text = resources.files("radlens.data").joinpath("label_rules.json").read_text("utf-8")
    rules: dict[str, Any] = json.loads(text)
    return rules


def adult_labels() -> tuple[str, ...]:
    """The adult label vocabulary every adapter here speaks, in order."""
    return tuple(label_rules()["adult_labels"])


def norm_sex(value: str) -> str:
    """"M", "F" or "" from the spellings the sources use (m/f, male/female, any case)."""
    v = value.strip().lower()
    return {"m": "M", "male": "M", "f": "F", "female": "F"}.get(v, "")


def norm_age(value: str) -> str:
    """Age in whole years as a string ("" when missing or not a number in 0..120)."""
    try:
        years = float(value.strip().rstrip("Yy"))
    except ValueError:
        return ""
    return str(int(years)) if 0 <= years <= 120 else ""


def population(age: str, default: str = "adult") -> str:
    """"paediatric" below 18 years, "adult" from 18, `default` when the age is unknown."""
    if not age:
        return default
    return "paediatric" if int(age) < ADULT_AGE else "adult"


def _require(rows: list[dict[str, str]], columns: set[str], path: Path) -> None:
    missing = columns - set(rows[0])
    if missing:
        raise DataError(f"lacks column(s) {', '.join(sorted(missing))}; it has "
                        f"{', '.join(rows[0])}", path)


def nih_cxr14(root: str | Path) -> Dataset:
    """The shared ``nih-cxr14`` folder: ``labels.csv`` + ``images/``.

    ``finding_labels`` ('|'-separated NIH-14 names or "No Finding") become the adult labels
    through ``nih_derived`` in ``label_rules.json``; every adult label but Tuberculosis is known
    for every film (the report-mined labels are taken as given). An unknown finding name is a
    `DataError` naming the file and line. Patient ids come from ``patient_id``; metadata keeps
    age, sex, view, follow_up and population (by age).
    """
    base = _dir(root)
    csv_path = base / "labels.csv"
    rows = _read_csv(csv_path)
    _require(rows, {"image", "finding_labels", "patient_id"}, csv_path)
    derived: dict[str, list[str]] = label_rules()["nih_derived"]
    known_nih = {n for names in derived.values() for n in names}
    names = adult_labels()
    samples: list[Sample] = []
    skipped: list[tuple[str, str]] = []
    for line, row in enumerate(rows, start=2):
        found = {t.strip() for t in row["finding_labels"].split("|") if t.strip()}
        unknown = found - known_nih
        if unknown:
            raise DataError(f"line {line}: unknown finding name(s) {', '.join(sorted(unknown))}",
                            csv_path)
        img = base / "images" / row["image"]
        if not img.is_file():
            skipped.append((str(img), "image file missing"))
            continue
        values: dict[str, float | None] = {
            label: float(any(n in found for n in derived[label])) for label in names
            if label in derived}
        age = norm_age(row.get("age", ""))
        meta = {"age": age, "sex": norm_sex(row.get("sex", "")),
                "view": row.get("view", "").strip().upper(),
                "follow_up": row.get("follow_up", "").strip(),
                "population": population(age), "license": NIH_LICENCE,
                "findings": row["finding_labels"]}
        samples.append(make_sample(str(img), values, names, row["patient_id"].strip(),
                                   "nih-cxr14", meta))
    return _nonempty(Dataset("nih-cxr14", names, tuple(samples), tuple(skipped)), csv_path)


def tb_cxr(root: str | Path) -> Dataset:
    """The shared ``tb-cxr`` folder: ``labels.csv`` (image, source, tuberculosis, patient_id)
    + ``images/``. Tuberculosis 1/0; No Finding is its complement for TB-negative films (normal
    films, negative for every finding via `harmonise`) and 0 for TB films; other labels are
    unknown on TB films. The source collection (shenzhen / montgomery / da-db) is kept as
    ``collection`` metadata and in the source name (``tb-cxr/<collection>``), so a
    leave-one-source-out run can hold one collection out.
    """
    base = _dir(root)
    csv_path = base / "labels.csv"
    rows = _read_csv(csv_path)
    _require(rows, {"image", "source", "tuberculosis", "patient_id"}, csv_path)
    names = adult_labels()
    samples: list[Sample] = []
    skipped: list[tuple[str, str]] = []
    for line, row in enumerate(rows, start=2):
        flag = row["tuberculosis"].strip()
        if flag not in ("0", "1"):
            raise DataError(f"line {line}: tuberculosis = {flag!r} is not 0 or 1", csv_path)
        img = base / "images" / row["image"]
        if not img.is_file():
            skipped.append((str(img), "image file missing"))
            continue
        tb = flag == "1"
        collection = row["source"].strip().lower()
        values = {"Tuberculosis": float(tb), "No Finding": float(not tb)}
        meta = {"age": "", "sex": "", "view": "PA", "population": "adult",
                "collection": collection, "license": TB_LICENCES.get(collection, "")}
        pid = row["patient_id"].strip().split(":")[-1]
        samples.append(make_sample(str(img), values, names, f"{collection}:{pid}",
                                   f"tb-cxr/{collection}", meta))
    return _nonempty(Dataset("tb-cxr", names, tuple(samples), tuple(skipped)), csv_path)


def covid_hannover(root: str | Path) -> Dataset:
    """The shared ``covid-hannover`` folder: ``metadata.csv`` + ``images/``.

    Every patient is COVID-19 positive: Pneumonia 1 (and Lung Opacity by implication), No
    Finding 0, other labels unknown. Age is withheld by the source (""); metadata keeps sex,
    projection as view, admission_offset (days) and population "adult".
    """
    base = _dir(root)
    csv_path = base / "metadata.csv"
    rows = _read_csv(csv_path)
    _require(rows, {"image", "patient_id", "projection"}, csv_path)
    names = adult_labels()
    samples: list[Sample] = []
    skipped: list[tuple[str, str]] = []
    for row in rows:
        img = base / "images" / row["image"]
        if not img.is_file():
            skipped.append((str(img), "image file missing"))
            continue
        meta = {"age": norm_age(row.get("age", "")), "sex": norm_sex(row.get("sex", "")),
                "view": row["projection"].strip().upper(), "population": "adult",
                "admission_offset": row.get("admission_offset", "").strip(),
                "license": HANNOVER_LICENCE}
        samples.append(make_sample(str(img), {"Pneumonia": 1.0, "No Finding": 0.0}, names,
                                   row["patient_id"].strip(), "hannover", meta))
    return _nonempty(Dataset("hannover", names, tuple(samples), tuple(skipped)), csv_path)
