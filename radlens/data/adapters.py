"""Dataset adapters: each turns one source layout into a `Dataset` of `Sample`s.

Adapters only read file names and label tables; images are decoded later. Every user-caused
problem (missing folder, bad CSV, no images) is a `DataError` naming the file.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from radlens.data.samples import Dataset, Sample, make_sample
from radlens.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".dcm", ".tif", ".tiff", ".bmp"}
NO_FINDING = "No Finding"
UNCERTAIN_POLICIES = ("ignore", "zeros", "ones")
BLANK_POLICIES = ("ignore", "zeros")
KERMANY_LICENCE = "CC BY 4.0"
_NORMAL_NAMES = {"normal", "no finding", "no_finding", "0_normal", "healthy"}


def _dir(path: str | Path) -> Path:
    p = Path(path).expanduser()
    if not p.is_dir():
        raise DataError("dataset folder not found", p)
    return p


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _read_csv(path: Path,
              encodings: Sequence[str] = ("utf-8-sig", "latin-1")) -> list[dict[str, str]]:
    if not path.is_file():
        raise DataError("labels file not found", path)
    for enc in encodings:
        try:
            with path.open(newline="", encoding=enc) as fh:
                rows = list(csv.DictReader(fh))
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - latin-1 decodes anything
        raise DataError("cannot decode the CSV", path)
    if not rows:
        raise DataError("the CSV has no rows", path)
    return rows


def _nonempty(ds: Dataset, where: Path) -> Dataset:
    if not ds.samples:
        raise DataError("the dataset is empty (no usable images)", where)
    return ds


def image_folder(root: str | Path, patient_pattern: str | None = None) -> Dataset:
    """A folder with one sub-folder per class (e.g. ``NORMAL/``, ``PNEUMONIA/``).

    Each class folder becomes a label; images are positive for their folder's label and negative
    for the others. A folder named like "normal" / "no finding" becomes the label "No Finding".
    `patient_pattern`: a regex whose first group extracts the patient id from the file name
    (default: the file stem, i.e. one patient per image).
    """
    base = _dir(root)
    classes = sorted(p for p in base.iterdir() if p.is_dir())
    if not classes:
        raise DataError("no class sub-folders found", base)
    names = [NO_FINDING if c.name.lower() in _NORMAL_NAMES else c.name for c in classes]
    rx = re.compile(patient_pattern) if patient_pattern else None
    samples: list[Sample] = []
    for folder, label in zip(classes, names, strict=True):
        for img in _images(folder):
            m = rx.search(img.name) if rx else None
            pid = m.group(1) if m else img.stem
            values = {n: float(n == label) for n in names}
            samples.append(make_sample(str(img), values, names, pid, base.name,
                                       {"class": folder.name}))
    return _nonempty(Dataset(base.name, tuple(names), tuple(samples)), base)


_KERMANY_PNEUMONIA = re.compile(r"^(person\d+)_(bacteria|virus)", re.IGNORECASE)
_KERMANY_NORMAL = re.compile(r"^((?:NORMAL\d+-)?IM-\d+)-", re.IGNORECASE)


def kermany_patient(name: str) -> tuple[str, str]:
    """(patient id, subtype) from a Kermany file name.

    ``person1000_bacteria_2931.jpeg`` -> ("person1000", "bacteria");
    ``IM-0115-0001.jpeg`` -> ("normal-IM-0115", "normal");
    ``NORMAL2-IM-1234-0001.jpeg`` -> ("normal-NORMAL2-IM-1234", "normal"). Normal and pneumonia
    files use separate numbering, so normal ids get a "normal-" prefix. Unknown patterns fall
    back to the file stem.
    """
    m = _KERMANY_PNEUMONIA.match(name)
    if m:
        return m.group(1).lower(), m.group(2).lower()
    m = _KERMANY_NORMAL.match(name)
    if m:
        return "normal-" + m.group(1), "normal"
    return Path(name).stem, "unknown"


def kermany(root: str | Path) -> Dataset:
    """The Kermany et al. paediatric layout: ``NORMAL/`` and ``PNEUMONIA/`` (one split folder).

    Labels: Pneumonia, No Finding (complements). Metadata: subtype bacteria / virus / normal,
    and the dataset's licence (CC BY 4.0, Kermany et al. 2018).
    """
    base = _dir(root)
    names = ("Pneumonia", NO_FINDING)
    samples: list[Sample] = []
    for folder, positive in (("NORMAL", False), ("PNEUMONIA", True)):
        sub = base / folder
        if not sub.is_dir():
            raise DataError(f"not a Kermany folder: {folder}/ is missing", base)
        for img in _images(sub):
            pid, subtype = kermany_patient(img.name)
            values = {"Pneumonia": float(positive), NO_FINDING: float(not positive)}
            samples.append(make_sample(str(img), values, names, pid, "kermany",
                                       {"subtype": subtype, "license": KERMANY_LICENCE,
                                        "population": "paediatric", "age": "", "sex": ""}))
    return _nonempty(Dataset("kermany", names, tuple(samples)), base)


@cache
def _covid_table() -> dict[str, Any]:
    text = resources.files("radlens.data").joinpath("covid_findings.json").read_text("utf-8")
    table: dict[str, Any] = json.loads(text)
    return table


def covid_collection(root: str | Path, frontal_only: bool = True) -> Dataset:
    """The COVID-19 image data collection (Cohen et al.): ``metadata.csv`` + ``images/``.

    `finding` values map to labels through ``covid_findings.json`` (package data); findings not
    in the table and non-X-ray rows are skipped; lateral views are skipped when `frontal_only`.
    Metadata keeps view, sex, age, finding and the per-image licence.
    """
    base = _dir(root)
    table = _covid_table()
    names = tuple(table["labels"])
    rows = _read_csv(base / "metadata.csv")
    need = {"patientid", "finding", "view", "filename"}
    if not need <= set(rows[0]):
        raise DataError(f"metadata.csv lacks column(s) {sorted(need - set(rows[0]))}", base)
    samples: list[Sample] = []
    skipped: list[tuple[str, str]] = []
    for row in rows:
        path = base / (row.get("folder") or "images") / row["filename"]
        finding = row["finding"].strip()
        if row.get("modality", "X-ray") != "X-ray":
            skipped.append((str(path), "not an X-ray"))
        elif frontal_only and row["view"].strip() not in table["frontal_views"]:
            skipped.append((str(path), f"view {row['view']!r} is not frontal"))
        elif finding not in table["findings"]:
            skipped.append((str(path), f"finding {finding!r} is not mapped"))
        elif not path.is_file():
            skipped.append((str(path), "image file missing"))
        else:
            meta = {k: row.get(k, "").strip() for k in ("view", "sex", "age", "finding",
                                                        "license")}
            meta["population"] = "paediatric" if meta["age"] and _float(meta["age"]) < 18 \
                else "adult"
            samples.append(make_sample(str(path), table["findings"][finding], names,
                                       row["patientid"].strip(), "covid", meta))
    return _nonempty(Dataset("covid", names, tuple(samples), tuple(skipped)), base)


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def labels_csv(path: str | Path, labels: Sequence[str], path_column: str = "Path",
               patient_column: str | None = None, uncertain: str = "ignore",
               blank: str = "ignore", root: str | Path | None = None) -> Dataset:
    """A CSV with an image-path column and one column per label (CheXpert / MIMIC-CXR style).

    Cell values: 1 positive, 0 negative, -1 uncertain, blank not mentioned. `uncertain`:
    "ignore" (unknown), "zeros" or "ones"; `blank`: "ignore" (unknown) or "zeros" (negative).
    Relative image paths are resolved against `root` (default: the CSV's folder).
    `patient_column`: patient ids (default: one patient per row's image stem).
    """
    p = Path(path).expanduser()
    if uncertain not in UNCERTAIN_POLICIES or blank not in BLANK_POLICIES:
        raise DataError(f"policies must be uncertain in {UNCERTAIN_POLICIES} and blank in "
                        f"{BLANK_POLICIES}", p)
    rows = _read_csv(p)
    wanted = [path_column, *labels] + ([patient_column] if patient_column else [])
    unknown = [c for c in wanted if c not in rows[0]]
    if unknown:
        raise DataError(f"unknown column(s) {', '.join(unknown)}; the CSV has "
                        f"{', '.join(rows[0])}", p)
    base = Path(root).expanduser() if root else p.parent
    samples: list[Sample] = []
    skipped: list[tuple[str, str]] = []
    for n, row in enumerate(rows, start=2):
        values: dict[str, float | None] = {}
        for label in labels:
            cell = row[label].strip()
            if not cell:
                values[label] = 0.0 if blank == "zeros" else None
                continue
            try:
                v = float(cell)
            except ValueError as exc:
                raise DataError(f"line {n}: {label} = {cell!r} is not 1, 0, -1 or blank",
                                p) from exc
            if v == -1:
                values[label] = {"zeros": 0.0, "ones": 1.0}.get(uncertain)
            elif v in (0, 1):
                values[label] = v
            else:
                raise DataError(f"line {n}: {label} = {cell!r} is not 1, 0, -1 or blank", p)
        img = base / row[path_column]
        if not img.is_file():
            skipped.append((str(img), "image file missing"))
            continue
        pid = row[patient_column] if patient_column else img.stem
        samples.append(make_sample(str(img), values, labels, pid, p.stem))
    return _nonempty(Dataset(p.stem, tuple(labels), tuple(samples), tuple(skipped)), p)


def nih(path: str | Path, images: str | Path | None = None) -> Dataset:
    """The NIH ChestX-ray14 ``Data_Entry_2017.csv`` (or the shared ``nih-64/labels.csv``).

    Columns: ``Image Index``/``path``, ``Finding Labels``/``finding_labels`` ('|'-separated;
    "No Finding"), ``Patient ID``/``patient_id``. Labels are the NIH-14 set plus No Finding, all
    known for every image (the report-mined labels are taken as given). `images`: the folder
    holding the images (default: the CSV's folder; for ``Image Index`` also ``images/``).
    """
    from radlens import vocab

    p = Path(path).expanduser()
    rows = _read_csv(p)
    cols = rows[0]
    pick = {k: next((c for c in cands if c in cols), None) for k, cands in {
        "path": ("Image Index", "path"), "labels": ("Finding Labels", "finding_labels"),
        "patient": ("Patient ID", "patient_id")}.items()}
    if None in pick.values():
        raise DataError("not an NIH Data_Entry CSV (needs image, finding labels and patient "
                        "columns)", p)
    names = (*vocab.get("nih14").labels, NO_FINDING)
    lookup = {n.lower().replace("_", " "): n for n in names}
    base = Path(images).expanduser() if images else p.parent
    samples: list[Sample] = []
    skipped: list[tuple[str, str]] = []
    for row in rows:
        img = base / row[str(pick["path"])]
        if not img.is_file() and (base / "images" / row[str(pick["path"])]).is_file():
            img = base / "images" / row[str(pick["path"])]
        if not img.is_file():
            skipped.append((str(img), "image file missing"))
            continue
        found = {lookup.get(t.strip().lower().replace("_", " ")) for t in
                 row[str(pick["labels"])].split("|")}
        values = {n: float(n in found) for n in names}
        samples.append(make_sample(str(img), values, names, row[str(pick["patient"])], "nih",
                                   {k: row.get(k, "") for k in ("age", "sex", "view")}))
    return _nonempty(Dataset("nih", names, tuple(samples), tuple(skipped)), p)
