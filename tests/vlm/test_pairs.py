"""Pair sources: CSV of reports, report archives, flat folders, labelled datasets."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from radlens.data.samples import Dataset, make_sample
from radlens.errors import DataError
from radlens.vlm.pairs import as_dataset, from_dataset, load_pairs, report_text


def test_report_text_keeps_findings_and_impression() -> None:
    text = "INDICATION: rule out pneumonia.\nFINDINGS: Clear lungs.\nIMPRESSION: Normal."
    assert report_text(text) == "Clear lungs. Normal."
    assert report_text("Small left effusion.") == "Small left effusion."


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_pairs_csv_uses_sections_and_labeller(image_dir: Path) -> None:
    path = image_dir / "pairs.csv"
    _write_csv(path, [
        {"image": "bright1.png", "text": "HISTORY: fever. FINDINGS: Right lower lobe "
                                         "pneumonia. No pleural effusion."},
        {"image": "dark1.png", "text": "IMPRESSION: No acute cardiopulmonary process."},
        {"image": "missing.png", "text": "Pneumothorax."}])
    pairs = load_pairs(str(path))
    assert len(pairs) == 2
    assert pairs[0].texts == ("Right lower lobe pneumonia. No pleural effusion.",)
    assert pairs[0].key == "pneumonia"
    assert pairs[1].key == "no finding"
    assert pairs[0].patient_id == "pairs:bright1"


def test_pairs_csv_bad_columns(image_dir: Path) -> None:
    path = image_dir / "bad.csv"
    _write_csv(path, [{"image": "bright1.png", "text": "x"}])
    with pytest.raises(DataError, match="unknown column"):
        load_pairs(f"pairs:{path}?text=report")


def test_report_archive_and_flat(image_dir: Path) -> None:
    archive = load_pairs(f"reports:{image_dir}")
    assert [Path(p.path).stem for p in archive] == ["bright1"]
    assert archive[0].key == "consolidation|pneumonia"
    flat = load_pairs(f"flat:{image_dir}/sub?label=Tuberculosis", variants=3)
    assert len(flat) == 1 and len(flat[0].texts) == 3
    assert flat[0].key == "tuberculosis"
    with pytest.raises(DataError, match="label=NAME"):
        load_pairs(f"flat:{image_dir}")


def test_dataset_labels_become_sentences() -> None:
    names = ("Pneumonia", "Effusion", "No Finding")
    samples = (make_sample("a.png", {"Pneumonia": 1, "Effusion": 0, "No Finding": 0}, names,
                           "p1", "src"),
               make_sample("b.png", {"Pneumonia": 0, "Effusion": 0, "No Finding": 1}, names,
                           "p2", "src"),
               make_sample("c.png", {}, names, "p3", "src"))
    pairs = from_dataset(Dataset("d", names, samples), variants=5, seed=0)
    assert len(pairs) == 2  # no known label: not a pair
    assert pairs[0].key == "pneumonia" and pairs[1].key == "no finding"
    assert len(set(pairs[0].texts)) > 1
    assert all("pneumon" in t for t in pairs[0].texts)
    ds = as_dataset(pairs)
    assert set(ds.label_names) == {"pneumonia", "No Finding"}
    assert ds.patients() == ("src:p1", "src:p2")


def test_abnormal_without_named_finding_is_not_called_normal() -> None:
    names = ("Pneumonia", "No Finding")
    samples = (make_sample("ards.png", {"Pneumonia": None, "No Finding": 0}, names, "p1", "s"),
               make_sample("neg.png", {"Pneumonia": 0}, ("Pneumonia",), "p2", "s"))
    assert from_dataset(Dataset("d", names, samples[:1]), 3, 0) == []
    only_neg = from_dataset(Dataset("e", ("Pneumonia",), samples[1:]), 3, 0)
    assert only_neg[0].key == "negative:pneumonia"
    assert all(t.startswith(("no ", "there is no", "pneumonia is not", "negative for",
                             "pneumonic", "infectious")) or "no " in t
               for t in only_neg[0].texts)
    assert not any("clear" in t or "normal" in t for t in only_neg[0].texts)
