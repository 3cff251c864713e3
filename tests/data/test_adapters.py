"""Dataset adapters produce the one sample contract; bad input gives clear DataErrors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radlens.data import adapters, spec
from radlens.data.samples import decode_all, harmonise
from radlens.errors import DataError


def _png(path: Path, value: int = 128) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((20, 24), value, np.uint8)).save(path)
    return path


@pytest.mark.parametrize(("name", "pid", "subtype"), [
    ("person1000_bacteria_2931.jpeg", "person1000", "bacteria"),
    ("person1_virus_6.jpeg", "person1", "virus"),
    ("person1649_virus_2850_1.jpeg", "person1649", "virus"),
    ("IM-0115-0001.jpeg", "normal-IM-0115", "normal"),
    ("IM-0117-0001-0002.jpeg", "normal-IM-0117", "normal"),
    ("NORMAL2-IM-1234-0001.jpeg", "normal-NORMAL2-IM-1234", "normal"),
])
def test_kermany_patient_ids(name: str, pid: str, subtype: str) -> None:
    assert adapters.kermany_patient(name) == (pid, subtype)


def test_kermany_layout(tmp_path: Path) -> None:
    _png(tmp_path / "NORMAL" / "IM-0001-0001.jpeg")
    _png(tmp_path / "NORMAL" / "IM-0001-0002.jpeg")
    _png(tmp_path / "PNEUMONIA" / "person3_virus_9.jpeg")
    ds = spec.load(str(tmp_path))  # kind guessed from NORMAL/ + PNEUMONIA/
    assert ds.label_names == ("Pneumonia", "No Finding")
    assert len(ds) == 3 and len(ds.patients()) == 2
    pneu = [s for s in ds.samples if s.labels[0] == 1]
    assert len(pneu) == 1 and pneu[0].patient_id == "kermany:person3"
    assert all(s.mask.all() for s in ds.samples)
    assert all(s.labels.sum() == 1 for s in ds.samples)  # complements


def test_image_folder_classes(tmp_path: Path) -> None:
    _png(tmp_path / "normal" / "a.png")
    _png(tmp_path / "Effusion" / "b.png")
    ds = spec.load(f"folder:{tmp_path}")
    assert set(ds.label_names) == {"Effusion", "No Finding"}
    b = next(s for s in ds.samples if s.path.endswith("b.png"))
    assert b.labels[ds.label_names.index("Effusion")] == 1


def test_labels_csv_uncertain_and_blank_policies(tmp_path: Path) -> None:
    for n in "abc":
        _png(tmp_path / f"{n}.png")
    (tmp_path / "labels.csv").write_text("Path,Edema,Pneumonia,pid\na.png,1,-1,p1\n"
                                         "b.png,,0,p1\nc.png,0,1,p2\n")
    ignore = adapters.labels_csv(tmp_path / "labels.csv", ["Edema", "Pneumonia"],
                                 patient_column="pid")
    a, b, _ = ignore.samples
    assert a.mask.tolist() == [True, False] and b.mask.tolist() == [False, True]
    assert a.patient_id == b.patient_id
    ones = spec.load(f"csv:{tmp_path / 'labels.csv'}?labels=Edema,Pneumonia&uncertain=ones"
                     "&blank=zeros")
    a, b, _ = ones.samples
    assert a.labels.tolist() == [1, 1] and b.mask.all() and b.labels[0] == 0


def test_labels_csv_unknown_column_names_the_file(tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    (tmp_path / "l.csv").write_text("Path,Edema\na.png,1\n")
    with pytest.raises(DataError, match="unknown column") as err:
        adapters.labels_csv(tmp_path / "l.csv", ["Edema", "Nodule"])
    assert err.value.source == str(tmp_path / "l.csv")


def test_covid_metadata(tmp_path: Path) -> None:
    for n in ("1.jpg", "2.jpg", "3.jpg", "4.jpg"):
        _png(tmp_path / "images" / n)
    (tmp_path / "metadata.csv").write_text(
        "patientid,finding,view,modality,folder,filename,license\n"
        "7,COVID-19,PA,X-ray,images,1.jpg,CC BY 4.0\n7,COVID-19,L,X-ray,images,2.jpg,\n"
        "8,No Finding,AP,X-ray,images,3.jpg,\n9,Unicorn,PA,X-ray,images,4.jpg,\n")
    ds = spec.load(str(tmp_path))
    assert [s.labels.tolist() for s in ds.samples] == [[1, 0], [0, 1]]
    assert ds.samples[0].meta["license"] == "CC BY 4.0"
    assert len(ds.skipped) == 2  # lateral view, unmapped finding


def test_nih_csv(tmp_path: Path) -> None:
    _png(tmp_path / "x" / "1.png")
    _png(tmp_path / "x" / "2.png")
    (tmp_path / "labels.csv").write_text(
        "path,finding_labels,patient_id\nx/1.png,Effusion|Pleural_Thickening,5\n"
        "x/2.png,No Finding,6\nx/3.png,Mass,7\n")
    ds = spec.load(str(tmp_path / "labels.csv"))
    assert len(ds) == 2 and len(ds.skipped) == 1
    row = dict(zip(ds.label_names, ds.samples[0].labels, strict=True))
    assert row["Effusion"] == 1 and row["Pleural_Thickening"] == 1 and row["No Finding"] == 0


@pytest.mark.parametrize("bad", ["kermany:/no/such/folder", "/no/such/path",
                                 "covid:/no/such/folder"])
def test_missing_dataset_is_a_clear_error(bad: str) -> None:
    with pytest.raises(DataError, match="not found"):
        spec.load(bad)


def test_empty_dataset_and_unknown_option(tmp_path: Path) -> None:
    (tmp_path / "NORMAL").mkdir()
    (tmp_path / "PNEUMONIA").mkdir()
    with pytest.raises(DataError, match="empty"):
        spec.load(str(tmp_path))
    with pytest.raises(DataError, match="unknown option"):
        spec.load(f"kermany:{tmp_path}?colour=blue")


def test_unreadable_images_are_skipped_and_counted(tmp_path: Path) -> None:
    _png(tmp_path / "NORMAL" / "IM-0001-0001.png")
    (tmp_path / "PNEUMONIA").mkdir()
    (tmp_path / "PNEUMONIA" / "person1_virus_1.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    ds = spec.load(str(tmp_path))
    images, kept, skipped = decode_all(ds.samples, 16, progress=False)
    assert images.shape == (1, 16, 16) and len(kept) == 1
    assert len(skipped) == 1 and skipped[0][0].endswith("person1_virus_1.png")


def test_harmonise_masks_missing_labels(tmp_path: Path) -> None:
    _png(tmp_path / "k" / "NORMAL" / "IM-0001-0001.png")
    _png(tmp_path / "k" / "PNEUMONIA" / "person1_virus_1.png")
    _png(tmp_path / "f" / "Edema" / "e.png")
    merged = harmonise([spec.load(str(tmp_path / "k")), spec.load(f"folder:{tmp_path / 'f'}")],
                       ["Pneumonia", "Edema"])
    edema = next(s for s in merged.samples if s.path.endswith("e.png"))
    assert edema.mask.tolist() == [False, True]
    with pytest.raises(DataError, match="no dataset provides"):
        harmonise([spec.load(str(tmp_path / "k"))], ["Cardiomegaly"])


def test_shared_kermany_and_covid(shared_data: Path) -> None:
    k = spec.load(str(shared_data / "pneumonia-kermany" / "train"))
    assert len(k) == 5216 and len({s.source for s in k.samples}) == 1
    assert len(k.patients()) < len(k)  # several images per patient
    c = spec.load(str(shared_data / "covid-cxr"))
    assert 200 < len(c) < 277 and all(s.meta["view"] != "L" for s in c.samples)
