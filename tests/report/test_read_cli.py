"""`radlens read --out`: whole stems, clash suffixes, --deidentify on every file, --age."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image as PILImage

from radlens.cli.main import main
from radlens.report.export import StemAllocator, stem_for


def test_stem_keeps_the_whole_name() -> None:
    assert stem_for("/x/1.2.276.0.7230010.3.1.4.1.dcm") == "1.2.276.0.7230010.3.1.4.1"
    assert stem_for("a/chest.nii.gz") == "chest"
    assert stem_for("IM0001") == "IM0001"
    assert stem_for("scan.v2.PNG") == "scan.v2"
    alloc = StemAllocator()
    assert alloc.allocate("chest") == ("chest", None)
    stem, note = alloc.allocate("Chest")
    assert stem == "Chest-2" and note is not None and "'Chest-2'" in note


def _png(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray((pixels * 255).astype(np.uint8)).save(path)
    return path


def test_uid_names_and_clashes_never_overwrite(tmp_path: Path, chest_like: np.ndarray,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    a = _png(tmp_path / "1.2.276.0.1.png", chest_like)
    b = _png(tmp_path / "1.2.276.0.2.png", chest_like)
    c = _png(tmp_path / "x" / "1.2.276.0.1.png", chest_like[::-1])
    out = tmp_path / "out"
    assert main(["read", str(a), str(b), str(c), "--no-explain", "--out", str(out),
                 "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["1.2.276.0.1-2.json", "1.2.276.0.1.json", "1.2.276.0.2.json"]
    assert any("already used" in n for n in records[2]["notes"])
    saved = json.loads((out / "1.2.276.0.1-2.json").read_text())
    assert saved["id"] == records[2]["id"]


def test_deidentify_covers_json_overlay_and_exports(tmp_path: Path,
                                                    chest_like: np.ndarray) -> None:
    pytest.importorskip("highdicom")
    pytest.importorskip("fhir.resources")
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for keyword in ("RescaleSlope", "RescaleIntercept", "WindowCenter", "WindowWidth"):
        if keyword in ds:
            delattr(ds, keyword)
    ds.Modality, ds.ViewPosition = "DX", "PA"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    ds.Rows, ds.Columns = chest_like.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = (chest_like * 4095).astype(np.uint16).tobytes()
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "PID-12345"
    ds.PatientBirthDate = "19600101"
    src = tmp_path / "Doe_Jane_chest.dcm"
    ds.save_as(src)
    out = tmp_path / "out"
    main(["read", str(src), "--no-explain", "--out", str(out), "--overlay", "--export", "all",
          "--deidentify", "--indication", "Mrs Doe fell at home", "--age", "93"])
    files = sorted(out.iterdir())
    assert {p.suffix for p in files} >= {".json", ".png", ".dcm"}
    for p in files:
        assert "Doe" not in p.name and "chest" not in p.name
        blob = p.read_bytes()
        for secret in (b"Doe", b"PID-12345", b"19600101", b"fell at home", str(tmp_path).encode()):
            assert secret not in blob, (p.name, secret)
    main_json = next(p for p in files if p.name.count(".") == 1 and p.suffix == ".json")
    data = json.loads(main_json.read_text())
    assert data["image"]["source"] == "deidentified"
    assert data["image"]["patient_age_years"] == 90.0


def test_one_reading_agrees_through_every_output(tmp_path: Path) -> None:
    """The bundled models' reading of the sample film: findings line, report, structured
    entries, overlay legend and batch CSV all state each finding's one location and band."""
    pytest.importorskip("data_store", reason="needs radlens[sample] (pydicom-data)")
    import csv
    import io

    from radlens.cli.read import _describe
    from radlens.pipeline import read
    from radlens.render.legend import legend_lines, where_text
    from radlens.report import structured_report
    from radlens.samples import sample_path
    from radlens.schema_json import to_json
    from radlens.serve.export import write_csv
    from radlens.serve.store import ResultStore

    interp = read(sample_path())
    lines = _describe(interp)
    entries = {e.label: e for e in structured_report(interp)}
    assert interp.report is not None
    db = tmp_path / "r.sqlite"
    with ResultStore(db) as store:
        store.record_done("k", "sample", to_json(interp), 1.0)
    buf = io.StringIO()
    write_csv([db], buf)
    (row,) = list(csv.DictReader(io.StringIO(buf.getvalue())))
    for f in interp.findings:
        words = where_text(interp, f)
        line = next(x for x in lines if x.strip().startswith(f.label + " "))
        assert line.endswith(words) and f.certainty.value in line
        assert entries[f.label].location == words
        assert entries[f.label].certainty == f.certainty.value
        assert row[f"where:{f.label}"] == words
        if f.call.value == "positive" and f.label != "No Finding":
            assert any(x.startswith(f.label) and x.endswith(words) for x in legend_lines(interp))
            said = " ".join(s.text for s in interp.report.sentences
                            if f.label in s.finding_labels and s.section == "findings")
            assert words in said
            loc = f.location
            assert loc is not None and loc.in_lung is not None
            for rid in f.region_ids:
                region = interp.region(rid)
                assert region is not None
                assert (region.box is not None) == (region.mask is not None)


def test_probable_lateral_film_is_read_without_sides_or_zones(tmp_path: Path) -> None:
    """A film QC calls probable_lateral (no mediastinum between two lung fields): no lung
    split, every location withheld, a lateral_view warning and its sentence in the report."""
    from radlens.pipeline import read
    from radlens.schema import RegionKind

    rng = np.random.default_rng(0)
    y = np.mgrid[0:256, 0:256][0] / 255.0
    flat = np.clip(0.5 + 0.3 * (y - 0.5) + 0.05 * rng.standard_normal((256, 256)), 0, 1)
    interp = read(_png(tmp_path / "lat.png", flat), age=40)
    assert "probable_lateral" in [i.code for i in interp.qc.issues]
    # a synthetic gradient is also far from any training film: the OOD guardrail says so too
    assert [w.code for w in interp.warnings if w.code != "out_of_distribution"] == \
        ["lateral_view"]
    assert not [r for r in interp.regions if r.kind in (RegionKind.LUNG, RegionKind.ZONE)]
    assert all(r.side is None and r.zones == () for r in interp.regions)
    for f in interp.findings:
        assert f.location is None or f.location.status == "withheld"
    assert interp.report is not None
    assert "lateral film" in interp.report.section_text("caution")
    text = interp.report.section_text("findings") + interp.report.section_text("impression")
    for word in ("right", "left", "zone", "bilateral"):
        assert word not in text.lower()


def test_card_population_and_spec95_drive_the_reading(tmp_path: Path,
                                                      chest_like: np.ndarray) -> None:
    """A synthetic card (the bundled weights, plus a population block and spec95
    thresholds): a child gets age_below_population, a positive below spec95 reads possible."""
    from radlens.models.registry import default_model, find_card
    from radlens.pipeline import read

    name = default_model("classify")
    if name is None:
        pytest.skip("no bundled classifier")
    card = {k: v for k, v in find_card(name).items() if not k.startswith("_")}
    card["population"] = {"age_min": 18, "age_max": 120, "views": ["PA", "AP"],
                          "sources": ["synthetic"], "description": "adults"}
    for entry in card["thresholds"].values():
        entry["spec95"] = 0.9999
    (tmp_path / card["weights"]["file"]).symlink_to(
        Path(find_card(name)["_path"]).parent / card["weights"]["file"])
    if isinstance(card.get("ood"), dict):  # the OOD statistics travel with the weights
        (tmp_path / card["ood"]["file"]).symlink_to(
            Path(find_card(name)["_path"]).parent / card["ood"]["file"])
    path = tmp_path / "card.json"
    path.write_text(json.dumps(card), encoding="utf-8")
    img = _png(tmp_path / "child.png", chest_like)
    interp = read(img, model=str(path), age=7, explain=False)
    codes = [w.code for w in interp.warnings]
    assert "age_below_population" in codes
    assert interp.image.patient_age_years == 7
    assert interp.report is not None
    assert "younger than the population" in interp.report.section_text("caution")
    for f in interp.findings:
        assert f.stated_from == pytest.approx(0.9999) or f.threshold >= 0.9999
        if f.call.value == "positive" and f.probability < 0.9999:
            assert f.certainty.value == "possible"
    adult = read(img, model=str(path), age=40, explain=False)
    assert "age_below_population" not in [w.code for w in adult.warnings]
