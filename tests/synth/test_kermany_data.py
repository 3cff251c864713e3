"""The ``kermany:FOLDER`` generator spec on tiny synthetic Kermany-like folders (no shared
data): classes from folder + file name, patient split, cache, and bad input."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radlens.data.adapters import kermany, kermany_patient
from radlens.data.splits import assign_patients
from radlens.errors import DataError
from radlens.synth import data as gd

CLASSES = ("normal", "bacterial pneumonia", "viral pneumonia")


def make_kermany(root: Path, normals: int = 10, persons: int = 20) -> dict[int, str]:
    """A Kermany-like folder: `normals` normal patients (one film each) and `persons`
    pneumonia patients with one bacterial and one viral film each, 20x24 RGB PNGs of one
    grey level unique to the file. Returns grey level -> file name."""
    (root / "NORMAL").mkdir(parents=True)
    (root / "PNEUMONIA").mkdir()
    names = [f"NORMAL/IM-{i:04d}-0001.png" for i in range(normals)]
    for p in range(persons):
        names += [f"PNEUMONIA/person{p}_bacteria_{2 * p}.png",
                  f"PNEUMONIA/person{p}_virus_{2 * p + 1}.png"]
    levels = {}
    for k, name in enumerate(names):
        level = 4 * k + 2
        Image.new("RGB", (20, 24), (level,) * 3).save(root / name)
        levels[level] = name
    return levels


@pytest.fixture()
def folder(tmp_path: Path) -> tuple[Path, dict[int, str]]:
    root = tmp_path / "train"
    return root, make_kermany(root)


def _patients(images: np.ndarray, levels: dict[int, str]) -> list[str]:
    return [kermany_patient(Path(levels[int(im[0, 0])]).name)[0] for im in images]


def test_classes_patients_and_split(folder: tuple[Path, dict[int, str]], tmp_path: Path
                                    ) -> None:
    root, levels = folder
    d = gd.load(f"kermany:{root}", 16, tmp_path / "run" / "cache")
    assert d.conditioning == "class" and d.side == 16 and d.labels == CLASSES
    assert d.dataset == "kermany" and d.source["licence"] == "CC BY 4.0"
    assert "Kermany" in d.source["citation"] and "Cell 2018" in d.source["citation"]
    assert d.train_images.shape[1:] == (16, 16) and d.train_images.dtype == np.uint8
    assert len(d.train_images) + len(d.val_images) == len(levels)
    # every film's class is its folder + the subtype its name says
    for images, labels in ((d.train_images, d.train_labels), (d.val_images, d.val_labels)):
        assert labels is not None and labels.dtype == np.int64
        for im, y in zip(images, labels, strict=True):
            name = levels[int(im[0, 0])]
            want = 0 if name.startswith("NORMAL") else 1 if "bacteria" in name else 2
            assert y == want
    train_p, val_p = _patients(d.train_images, levels), _patients(d.val_images, levels)
    assert not set(train_p) & set(val_p)  # a patient never falls on both sides
    # the split is assign_patients at 80/20, seed 0 (the bundled classifier's)
    assign = assign_patients(kermany(root), (0.8, 0.2), 0)
    assert {f"kermany:{p}" for p in val_p} == {p for p, s in assign.items() if s == 1}
    assert d.source["images"] == len(d.train_images) and d.source["patients"] == 24
    assert sum(d.source["classes"].values()) == len(d.train_images)


def test_cache_is_used_and_results_are_deterministic(folder: tuple[Path, dict[int, str]],
                                                     tmp_path: Path) -> None:
    root, _ = folder
    cache = tmp_path / "run" / "cache"
    a = gd.load(f"kermany:{root}", 16, cache)
    files = list(cache.parent.glob("cache-kermany-16.npz"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    b = gd.load(f"kermany:{root}", 16, cache)
    c = gd.load(f"kermany:{root}", 16, None)
    assert files[0].stat().st_mtime_ns == stamp  # read, not rewritten
    for x in (b, c):
        np.testing.assert_array_equal(a.train_images, x.train_images)
        np.testing.assert_array_equal(a.val_labels, x.val_labels)
    assert gd.load(f"kermany:{root}", 8, cache).side == 8  # another side: its own cache


def test_unreadable_and_unnamed_files_are_counted_warnings(
        folder: tuple[Path, dict[int, str]], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    root, levels = folder
    bad = root / "PNEUMONIA" / "person99_bacteria_1.png"
    bad.write_bytes(b"not a png")
    odd = root / "PNEUMONIA" / "person98_fungus_1.png"
    Image.new("L", (8, 8), 1).save(odd)
    with caplog.at_level(logging.WARNING, logger="radlens"):
        d = gd.load(f"kermany:{root}", 16, tmp_path / "c" / "cache")
    text = caplog.text
    assert str(bad) in text and "1 unreadable image(s) skipped" in text
    assert str(odd) in text and "neither bacteria nor virus" in text
    assert len(d.train_images) + len(d.val_images) == len(levels)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="radlens"):
        gd.load(f"kermany:{root}", 16, tmp_path / "c" / "cache")  # from the cache
    assert str(bad) in caplog.text and "1 unreadable image(s) skipped" in caplog.text


@pytest.mark.parametrize(("setup", "message"), [
    ("empty", "NORMAL/ is missing"),
    ("no-images", "empty"),
    ("unreadable", "no readable images"),
    ("no-viral", "viral pneumonia"),
    ("missing", "not found"),
])
def test_bad_folders_are_clear_data_errors(tmp_path: Path, setup: str, message: str) -> None:
    root = tmp_path / "k"
    root.mkdir()
    if setup != "empty":
        (root / "NORMAL").mkdir()
        (root / "PNEUMONIA").mkdir()
    if setup == "unreadable":
        for name in ("NORMAL/IM-0001-0001.png", "PNEUMONIA/person1_virus_1.png"):
            (root / name).write_bytes(b"\x89PNG broken")
    if setup == "no-viral":
        for i in range(6):
            Image.new("L", (8, 8), 9).save(root / "NORMAL" / f"IM-{i:04d}-0001.png")
            Image.new("L", (8, 8), 9).save(root / "PNEUMONIA" / f"person{i}_bacteria_1.png")
    if setup == "missing":
        root = tmp_path / "nowhere"
    with pytest.raises(DataError, match=message) as err:
        gd.load(f"kermany:{root}", 16)
    assert str(root) in err.value.one_line()


def test_options_are_refused(folder: tuple[Path, dict[int, str]]) -> None:
    root, _ = folder
    with pytest.raises(DataError, match="takes no options"):
        gd.load(f"kermany:{root}?split=val", 16)


def test_cli_train_generator_on_a_bad_folder_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("diffusers")
    from radlens.cli.main import main

    (tmp_path / "k").mkdir()
    code = main(["train", "generator", "--data", f"kermany:{tmp_path / 'k'}", "--out",
                 str(tmp_path / "run"), "--max-steps", "1"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("radlens: ") and "Traceback" not in err
    assert "NORMAL/ is missing" in err
