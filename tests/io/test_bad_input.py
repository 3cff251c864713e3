"""Bad input: every case is a RadlensError naming the file, and the CLI prints one line each."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from radlens.errors import (
    DecodeError,
    ImageTooLargeError,
    InputError,
    RadlensError,
    UnsupportedFormatError,
)
from radlens.io import load_image
from tests.io.factories import write_dicom, write_png_header_only


@pytest.fixture()
def bad_files(tmp_path: Path) -> dict[str, tuple[Path, type[RadlensError]]]:
    good = write_dicom(tmp_path / "good.dcm", np.arange(64 * 64).reshape(64, 64) % 4096,
                       bits_stored=12)
    raw = good.read_bytes()
    (tmp_path / "truncated.dcm").write_bytes(raw[: len(raw) // 2])
    corrupt = bytearray(raw)
    corrupt[132:200] = b"\xff" * 68
    (tmp_path / "corrupt.dcm").write_bytes(bytes(corrupt))
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not an image")
    PILImage.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "png.png")
    (tmp_path / "png.png").rename(tmp_path / "png_named.dcm")
    (tmp_path / "folder").mkdir()
    png = (tmp_path / "png2.png")
    PILImage.fromarray(np.zeros((64, 64), np.uint8)).save(png)
    (tmp_path / "trunc.png").write_bytes(png.read_bytes()[:60])
    write_png_header_only(tmp_path / "huge.png", 30000, 30000)
    return {
        "truncated.dcm": (tmp_path / "truncated.dcm", DecodeError),
        "corrupt.dcm": (tmp_path / "corrupt.dcm", DecodeError),
        "empty.png": (tmp_path / "empty.png", InputError),
        "notes.txt": (tmp_path / "notes.txt", UnsupportedFormatError),
        "png_named.dcm": (tmp_path / "png_named.dcm", UnsupportedFormatError),
        "folder": (tmp_path / "folder", InputError),
        "missing.dcm": (tmp_path / "missing.dcm", InputError),
        "trunc.png": (tmp_path / "trunc.png", DecodeError),
        "huge.png": (tmp_path / "huge.png", ImageTooLargeError),
    }


def test_each_bad_input_raises_its_error(bad_files: dict) -> None:
    for name, (path, error) in bad_files.items():
        with pytest.raises(error) as info:
            load_image(path)
        assert info.value.source == str(path), name
        assert "\n" not in str(info.value), name


def test_huge_dicom_header_is_refused_before_decoding(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "big.dcm", np.zeros((4, 4), np.uint16))
    import pydicom

    ds = pydicom.dcmread(path)
    ds.Rows = ds.Columns = 30000
    ds.save_as(path)
    with pytest.raises(ImageTooLargeError):
        load_image(path)


def test_cli_reports_one_line_per_bad_file_and_goes_on(bad_files: dict, tmp_path: Path,
                                                       chest_like: np.ndarray) -> None:
    good = tmp_path / "chest.png"
    PILImage.fromarray((chest_like * 255).astype(np.uint8)).save(good)
    paths = [str(p) for p, _ in bad_files.values()]
    proc = subprocess.run([sys.executable, "-m", "radlens", "read", *paths[:5], str(good),
                           *paths[5:]], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    err_lines = proc.stderr.strip().splitlines()
    assert len(err_lines) == len(paths), proc.stderr
    assert "Traceback" not in proc.stderr
    for line, path in zip(err_lines, paths, strict=True):
        assert line.startswith(f"radlens: {path}: "), line
    assert f"== {good}" in proc.stdout  # the good file in the middle was still read
