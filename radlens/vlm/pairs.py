"""Image-text pairs for training and evaluation, from several kinds of source.

Pair specs (``--pairs``), ``KIND:PATH[?key=value&...]``:

- ``pairs:FILE.csv`` — a CSV of image paths and texts (keys ``image=COLUMN`` (default
  "image"), ``text=COLUMN`` ("text"), ``patient=COLUMN`` (default: one patient per image),
  ``root=DIR`` for relative paths (default: the CSV's folder)). A ``.csv`` path with those
  columns needs no kind.
- ``reports:DIR`` — a report archive: each image has a report with the same stem
  (``.txt``) next to it.
- ``flat:DIR?label=NAME`` — a folder of images that all have one finding (e.g. TBX11K TB).
- any dataset spec of `radlens.data.spec` (``kermany:``, ``covid:``, ``nih:``, ``csv:``,
  ``folder:``) — labels become sentences through the templates (`radlens.vlm.prompts`).

Report texts (CSV and archive) keep their FINDINGS and IMPRESSION sections, found with the
labeller's section splitter, and their findings come from the labeller (positive mentions).
Every pair has a findings key (`radlens.vlm.prompts.findings_key`) used by the label-aware loss
and by the finding-agreement metrics.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

import numpy as np

from radlens.data import spec as data_spec
from radlens.data.adapters import IMAGE_SUFFIXES
from radlens.data.samples import Dataset, Sample
from radlens.errors import DataError
from radlens.vlm import prompts

PAIR_KINDS = ("pairs", "reports", "flat")
KEEP_SECTIONS = ("findings", "impression")


@dataclass(frozen=True)
class Pair:
    """One image with `texts` (one or more phrasings of the same content), its findings key,
    namespaced patient id and source name."""

    path: str
    texts: tuple[str, ...]
    key: str
    patient_id: str
    source: str


def report_text(text: str) -> str:
    """The FINDINGS + IMPRESSION text of a report (all labelled sections when it has neither),
    whitespace collapsed. Section headers are found by `radlens.text.split_sections`."""
    from radlens.text import split_sections

    sections = split_sections(text)
    keep = [s for s in sections if s.name in KEEP_SECTIONS]
    if not keep:
        keep = [s for s in sections if s.labelled]
    return " ".join(" ".join(text[s.start:s.end] for s in keep).split())


def keys_from_reports(texts: Sequence[str]) -> list[str]:
    """Findings keys of report texts: the labeller's positive CheXpert findings."""
    from radlens.text import label

    records = label(list(texts))
    return [prompts.findings_key(n for n, v in r.labels if v == 1) for r in records]


def _csv_rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read the pairs CSV ({exc})", path) from exc
    if not rows:
        raise DataError("the pairs CSV has no rows", path)
    return rows


def pairs_csv(path: Path, opt: dict[str, str]) -> list[Pair]:
    """Pairs from a CSV of (image, text) rows (see module docstring for the keys)."""
    rows = _csv_rows(path)
    icol, tcol, pcol = opt.get("image", "image"), opt.get("text", "text"), opt.get("patient")
    missing = [c for c in (icol, tcol, pcol) if c and c not in rows[0]]
    if missing:
        raise DataError(f"unknown column(s) {', '.join(missing)}; the CSV has "
                        f"{', '.join(rows[0])}", path)
    root = Path(opt["root"]).expanduser() if opt.get("root") else path.parent
    kept = [(root / r[icol], report_text(r[tcol]), r[pcol] if pcol else "") for r in rows]
    kept = [k for k in kept if k[0].is_file() and k[1]]
    if not kept:
        raise DataError("no row has an existing image and a non-empty text", path)
    keys = keys_from_reports([k[1] for k in kept])
    return [Pair(str(img), (text,), key, f"{path.stem}:{pid or img.stem}", path.stem)
            for (img, text, pid), key in zip(kept, keys, strict=True)]


def report_archive(folder: Path) -> list[Pair]:
    """Pairs from a folder where ``NAME.txt`` is the report of the image ``NAME.<ext>``."""
    if not folder.is_dir():
        raise DataError("report archive folder not found", folder)
    found = []
    for img in sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        txt = img.with_suffix(".txt")
        if txt.is_file():
            text = report_text(txt.read_text("utf-8", errors="replace"))
            if text:
                found.append((img, text))
    if not found:
        raise DataError("no image has a same-named .txt report", folder)
    keys = keys_from_reports([t for _, t in found])
    return [Pair(str(img), (text,), key, f"{folder.name}:{img.stem}", folder.name)
            for (img, text), key in zip(found, keys, strict=True)]


def flat_folder(folder: Path, label: str, variants: int, seed: int) -> list[Pair]:
    """Pairs from a folder of images that all have the finding `label`."""
    if not folder.is_dir():
        raise DataError("image folder not found", folder)
    imgs = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not imgs:
        raise DataError("no images in the folder", folder)
    rng = np.random.default_rng(seed)
    key = prompts.findings_key([label])
    return [Pair(str(p), tuple(prompts.label_text([label], [], rng) for _ in range(variants)),
                 key, f"{folder.name}:{p.stem}", folder.name) for p in imgs]


def from_dataset(ds: Dataset, variants: int, seed: int) -> list[Pair]:
    """Pairs from a labelled dataset: `variants` templated texts per image (seeded)."""
    rng = np.random.default_rng(seed)
    out = []
    for s in ds.samples:
        known = [n for n, m in zip(ds.label_names, s.mask, strict=True) if m]
        pos = [n for n, v, m in zip(ds.label_names, s.labels, s.mask, strict=True) if m and v]
        normal = [n for n in known if prompts.canonical(n) == prompts.NO_FINDING]
        neg = [n for n in known if n not in pos and n not in normal]
        if not pos and normal and not s.labels[list(ds.label_names).index(normal[0])]:
            continue  # abnormal, but none of the labelled findings: nothing true to say
        if not pos and not normal and not neg:
            continue
        key = prompts.findings_key(pos)
        if not pos and not normal:  # only negatives known: not a "normal" image
            key = "negative:" + "|".join(sorted(prompts.canonical(n) for n in neg))
        texts = tuple(prompts.label_text(pos, neg, rng, normal=bool(normal))
                      for _ in range(variants))
        out.append(Pair(s.path, texts, key, s.patient_id, s.source))
    return out


def load_pairs(spec: str, variants: int = 4, seed: int = 0) -> list[Pair]:
    """The pairs a spec describes (see the module docstring)."""
    body, _, query = spec.partition("?")
    kind, sep, rest = body.partition(":")
    opt = dict(parse_qsl(query, keep_blank_values=True))
    if sep and kind in PAIR_KINDS:
        path = Path(rest).expanduser()
    else:
        kind, path = "", Path(body).expanduser()
        if path.suffix.lower() == ".csv" and path.is_file():
            header = _csv_rows(path)[0]
            if "image" in header and "text" in header:
                kind = "pairs"
    if kind == "pairs":
        return pairs_csv(path, opt)
    if kind == "reports":
        return report_archive(path)
    if kind == "flat":
        if not opt.get("label"):
            raise DataError("a flat folder needs label=NAME in its spec", spec)
        return flat_folder(path, opt["label"], variants, seed)
    return from_dataset(data_spec.load(spec), variants, seed)


def as_dataset(pairs: Sequence[Pair], name: str = "pairs") -> Dataset:
    """The pairs as a `Dataset` (labels = findings keys one-hot) for patient-level splits."""
    keys = sorted({p.key for p in pairs})
    index = {k: i for i, k in enumerate(keys)}
    names = tuple("No Finding" if k == prompts.NO_FINDING else k for k in keys)
    samples = []
    for p in pairs:
        labels = np.zeros(len(keys), np.float32)
        labels[index[p.key]] = 1
        samples.append(Sample(p.path, labels, np.ones(len(keys), bool), p.patient_id, p.source))
    return Dataset(name, names, tuple(samples))
