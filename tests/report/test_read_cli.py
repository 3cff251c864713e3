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
