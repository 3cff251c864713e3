"""Dataset specs as given on the command line: ``KIND:PATH[?key=value&key=value]``.

Kinds: ``folder`` (class sub-folders), ``kermany``, ``covid`` (COVID-collection folder with
metadata.csv), ``csv`` (path + label columns; keys ``labels=A,B``, ``path=COLUMN``,
``patient=COLUMN``, ``uncertain=ignore|zeros|ones``, ``blank=ignore|zeros``, ``root=DIR``),
``nih`` (Data_Entry CSV; key ``images=DIR``), and the adult folders of `radlens.data.adult`:
``nih-cxr14`` (labels.csv with finding_labels + images/), ``tb-cxr`` (labels.csv with a
tuberculosis column + images/), ``hannover`` (Hannover COVID-19 metadata.csv + images/), and
``medmnist`` (a MedMNIST ``.npz``, `radlens.data.medmnist`; key ``split=train|val|test``,
default train).
A spec without a kind is guessed from the path: a ``.npz`` file is ``medmnist``;
a CSV named like ``Data_Entry*`` or ``labels.csv`` with NIH columns is ``nih``; a folder is
``nih-cxr14`` / ``tb-cxr`` / ``hannover`` by the columns of its labels.csv / metadata.csv,
else ``covid`` when it has ``metadata.csv``; a folder with NORMAL/ and PNEUMONIA/ is
``kermany``, any other folder is ``folder``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl

from radlens.data import adapters, adult
from radlens.data.samples import Dataset, Transform
from radlens.errors import DataError

KINDS = ("folder", "kermany", "covid", "csv", "nih", "nih-cxr14", "tb-cxr", "hannover",
         "medmnist")


ADULT = {"nih-cxr14": adult.nih_cxr14, "tb-cxr": adult.tb_cxr, "hannover": adult.covid_hannover}


def parse(spec: str) -> tuple[str, Path, dict[str, str]]:
    """Split a spec into (kind, path, options); the kind is guessed when not given."""
    body, _, query = spec.partition("?")
    kind, sep, path = body.partition(":")
    if not sep or kind not in KINDS:
        kind, path = "", body
    options = dict(parse_qsl(query, keep_blank_values=True))
    p = Path(path).expanduser()
    if not kind:
        kind = guess_kind(p)
    return kind, p, options


def guess_kind(path: Path) -> str:
    """The adapter kind for a path (see module docstring); `DataError` when it does not exist."""
    if path.is_file() and path.suffix.lower() == ".npz":
        return "medmnist"
    if path.is_file() and path.suffix.lower() == ".csv":
        return "nih" if path.name.startswith("Data_Entry") or path.name == "labels.csv" else "csv"
    if not path.exists():
        raise DataError("dataset path not found", path)
    header = _header(path / "labels.csv")
    if {"image", "finding_labels"} <= header:
        return "nih-cxr14"
    if {"image", "tuberculosis"} <= header:
        return "tb-cxr"
    if (path / "metadata.csv").is_file():
        return "hannover" if "admission_offset" in _header(path / "metadata.csv") else "covid"
    if (path / "NORMAL").is_dir() and (path / "PNEUMONIA").is_dir():
        return "kermany"
    return "folder"


def _header(csv_path: Path) -> set[str]:
    """Column names of a CSV's first line (empty when the file is missing or unreadable)."""
    try:
        with csv_path.open(encoding="utf-8-sig", errors="replace") as fh:
            first = fh.readline()
    except OSError:
        return set()
    return {c.strip() for c in first.strip().split(",")}


def load(spec: str, *, size: int | None = None,
         transform: Transform | None = None) -> Dataset:
    """Load the dataset a spec describes (see module docstring).

    `size` and `transform`: what ``dataset[i]`` does to each image on access (resize whole to
    `size` x `size`, then `transform` on the (1, H, W) tensor; see `Dataset`).
    """
    ds = _load(spec)
    return ds.with_transform(transform, size) if size or transform else ds


def _load(spec: str) -> Dataset:
    kind, path, opt = parse(spec)
    allowed = {"folder": {"patient"}, "kermany": set(), "covid": {"lateral"},
               "csv": {"labels", "path", "patient", "uncertain", "blank", "root"},
               "nih": {"images"}, "nih-cxr14": set(), "tb-cxr": set(), "hannover": set(),
               "medmnist": {"split"}}[kind]
    extra = set(opt) - allowed
    if extra:
        raise DataError(f"unknown option(s) {', '.join(sorted(extra))} for a {kind} dataset "
                        f"(allowed: {', '.join(sorted(allowed)) or 'none'})", spec)
    if kind == "medmnist":
        from radlens.data import medmnist

        return medmnist.dataset(path, opt.get("split", "train"))
    if kind == "folder":
        return adapters.image_folder(path, opt.get("patient"))
    if kind == "kermany":
        return adapters.kermany(path)
    if kind == "covid":
        return adapters.covid_collection(path, frontal_only=opt.get("lateral", "0") != "1")
    if kind == "nih":
        return adapters.nih(path, opt.get("images"))
    if kind in ADULT:
        return ADULT[kind](path)
    if "labels" not in opt:
        raise DataError("a csv dataset needs labels=COL1,COL2 in its spec", spec)
    return adapters.labels_csv(path, [s for s in opt["labels"].split(",") if s],
                               opt.get("path", "Path"), opt.get("patient"),
                               opt.get("uncertain", "ignore"), opt.get("blank", "ignore"),
                               opt.get("root"))
