"""Decode budgets and error mapping: lies, bombs and odd headers are RadlensErrors naming the
file, checked before allocation; odd metadata never fails a read; JSON stays standard."""

from __future__ import annotations

import io
import json
import math
import struct
import time
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image as PILImage

from benchmarks.fuzz_inputs import (
    _deflated_bomb,
    _element,
    _patch_siz,
    _patch_sof,
    _progressive_bomb,
    _replace_element,
    _tiff_chain,
    _tiff_many_strips,
    dicom_seeds,
    nifti_bytes,
)
from radlens.errors import DecodeError, ImageTooLargeError, RadlensError
from radlens.io import load_image
from radlens.io.budget import describe, j2k_info, jpeg_info
from radlens.schema import Interpretation, QCReport
from radlens.schema_json import from_json, to_dict, to_json


@pytest.fixture(scope="module")
def seeds() -> dict[str, bytes]:
    return dicom_seeds(np.random.default_rng(0))


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _refused(path: Path, error: type[RadlensError], words: str) -> RadlensError:
    with pytest.raises(error) as info:
        load_image(path)
    assert info.value.source == str(path)
    assert words in info.value.reason, info.value.reason
    return info.value


def test_codestream_parsers_read_real_headers(seeds: dict[str, bytes]) -> None:
    from pydicom.encaps import generate_frames

    ds = pydicom.dcmread(io.BytesIO(seeds["j2k-lossless"]))
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    info = j2k_info(frame)
    assert (info.width, info.height, info.components, info.tiles) == (40, 48, 1, 1)
    buf = io.BytesIO()
    PILImage.fromarray(np.zeros((30, 70, 3), np.uint8)).save(buf, format="JPEG",
                                                            progressive=True)
    info = jpeg_info(buf.getvalue())
    assert (info.width, info.height, info.components, info.precision) == (70, 30, 3, 8)
    assert 2 <= info.scans <= 12  # libjpeg's progressive script


def test_compressed_frame_bigger_than_header_is_refused(tmp_path: Path,
                                                        seeds: dict[str, bytes]) -> None:
    j2k = _write(tmp_path, "j2k.dcm", _patch_siz(seeds["j2k-lossless"], 30000, 30000))
    _refused(j2k, ImageTooLargeError, "tiles")  # 30000^2 in 64^2 tiles: refused by tile count
    lie = _write(tmp_path, "j2k-small.dcm", _patch_siz(seeds["j2k-lossless"], 20, 20))
    _refused(lie, DecodeError, "DICOM header says 40x48")
    jpeg = _write(tmp_path, "jpeg.dcm", _patch_sof(seeds["jpeg-baseline"], 30000, 30000))
    _refused(jpeg, DecodeError, "30000x30000")


def test_rle_segment_table_is_checked(tmp_path: Path, seeds: dict[str, bytes]) -> None:
    data = bytearray(seeds["rle"])
    at = data.find(b"\x40\x00\x00\x00") - 4  # the header: segment count, then offset 64
    assert struct.unpack("<I", data[at:at + 4])[0] == 2
    data[at:at + 4] = struct.pack("<I", 9)
    _refused(_write(tmp_path, "rle.dcm", bytes(data)), DecodeError, "RLE")


def test_deflated_bomb_is_refused_while_inflating(tmp_path: Path,
                                                  seeds: dict[str, bytes]) -> None:
    ok = load_image(_write(tmp_path, "deflated.dcm", seeds["deflated"]))
    plain = load_image(_write(tmp_path, "plain.dcm", seeds["explicit-le"]))
    np.testing.assert_array_equal(ok.pixels, plain.pixels)
    assert ok.meta.transfer_syntax_uid == "1.2.840.10008.1.2.1.99"
    bomb = _write(tmp_path, "bomb.dcm", _deflated_bomb(60_000_000))  # 60 MB from ~60 kB
    start = time.perf_counter()
    with pytest.raises(ImageTooLargeError) as info:
        load_image(bomb, max_pixels=1_000_000)  # cap: 2 B/pixel + 16 MiB = 18.8 MB
    assert "inflates to more than" in info.value.reason and info.value.source == str(bomb)
    assert time.perf_counter() - start < 5


def test_nifti_full_shape_is_checked(tmp_path: Path) -> None:
    header = nib.Nifti1Header()
    header.set_data_shape((1, 1, 20000, 15000))
    header.set_data_dtype(np.float32)
    path = _write(tmp_path, "bomb.nii", header.binaryblock + bytes(4))
    _refused(path, ImageTooLargeError, "300,000,000 voxels")
    thin = _write(tmp_path, "thin.nii", nifti_bytes(np.arange(12, dtype=np.int16).reshape(
        1, 3, 4)))  # singleton first axis: (j, k) become the image axes
    assert load_image(thin).pixels.shape == (4, 3)


def test_cpu_bombs_are_refused_quickly(tmp_path: Path) -> None:
    buf = io.BytesIO()
    PILImage.fromarray(np.zeros((32, 32, 3), np.uint8)).save(buf, format="JPEG",
                                                            progressive=True)
    cases = {
        "scans.jpg": (_progressive_bomb(buf.getvalue(), 2000), ImageTooLargeError, "scans"),
        "chain.tif": (_tiff_chain(5000), ImageTooLargeError, "pages"),
        "loop.tif": (_tiff_chain(0, loop=True), DecodeError, "loops"),
        "strips.tif": (_tiff_many_strips(150_000), ImageTooLargeError, "strips"),
    }
    png = io.BytesIO()
    PILImage.fromarray(np.zeros((8, 8), np.uint8)).save(png, format="PNG")
    empty = struct.pack(">I", 0) + b"zzZz" + struct.pack(">I", zlib.crc32(b"zzZz"))
    cases["chunks.png"] = (png.getvalue()[:33] + empty * 70_000 + png.getvalue()[33:],
                           ImageTooLargeError, "chunks")
    for name, (data, error, words) in cases.items():
        start = time.perf_counter()
        _refused(_write(tmp_path, name, data), error, words)
        assert time.perf_counter() - start < 2, name


def test_two_page_tiff_counts_pages_and_loads(tmp_path: Path) -> None:
    pages = [PILImage.fromarray(np.full((8, 8), 40 * i, np.uint8)) for i in range(2)]
    path = tmp_path / "two.tif"
    pages[0].save(path, save_all=True, append_images=pages[1:])
    assert load_image(path).meta.number_of_frames == 2
    data = bytearray(path.read_bytes())  # point the second page's link outside the file
    first = struct.unpack("<I", data[4:8])[0]
    link = first + 2 + 12 * struct.unpack("<H", data[first:first + 2])[0]
    data[link:link + 4] = struct.pack("<I", len(data) + 10_000)
    _refused(_write(tmp_path, "broken.tif", bytes(data)), DecodeError, "outside the file")


@pytest.mark.parametrize("vr,value", [(b"ZZ", b"DX"), (b"US", struct.pack("<H", 7)),
                                      (b"FD", bytes(8))])
def test_text_and_spacing_with_odd_vr_are_ignored(tmp_path: Path, seeds: dict[str, bytes],
                                                  vr: bytes, value: bytes) -> None:
    data = seeds["explicit-le"]
    for tag in ((0x0008, 0x0060), (0x0028, 0x0030), (0x0010, 0x1010)):  # modality, spacing, age
        data = _replace_element(data, tag, _element(tag, vr, value))
    image = load_image(_write(tmp_path, "odd.dcm", data))
    assert image.meta.pixel_spacing_mm is None and image.meta.patient_age_years is None
    assert image.meta.modality in (None, "DX")  # 'DX' when the unknown VR still reads as text
    assert image.meta.view_position == "PA"


def test_non_finite_header_numbers_never_reach_json(tmp_path: Path,
                                                    seeds: dict[str, bytes]) -> None:
    spacing = _replace_element(seeds["explicit-le"], (0x0028, 0x0030),
                               _element((0x0028, 0x0030), b"DS", b"inf\\1e999 "))
    assert load_image(_write(tmp_path, "s.dcm", spacing)).meta.pixel_spacing_mm is None
    nifti = load_image(_write(tmp_path, "n.nii", nifti_bytes(np.ones((8, 8), np.int16),
                                                            zooms=(math.inf, 1.0))))
    assert nifti.meta.pixel_spacing_mm is None
    json.loads(to_json(nifti.meta))


def test_json_writer_turns_non_finite_numbers_into_null_with_a_note(tmp_path: Path) -> None:
    meta = load_image(_write(tmp_path, "n.nii", nifti_bytes(np.ones((8, 8), np.int16)))).meta
    import dataclasses

    bad = dataclasses.replace(meta, pixel_spacing_mm=(math.inf, 0.5))
    interp = Interpretation(image=bad, qc=QCReport())
    text = to_json(interp)

    def refuse(constant: str) -> None:
        raise AssertionError(f"non-standard JSON constant {constant}")

    data = json.loads(text, parse_constant=refuse)
    assert data["image"]["pixel_spacing_mm"] == [None, 0.5]
    assert any("image.pixel_spacing_mm[0]" in n for n in data["notes"])
    again = from_json(text, Interpretation)
    assert math.isnan(again.image.pixel_spacing_mm[0])  # type: ignore[index]
    assert to_dict(math.nan) is None


def test_unexpected_decoder_exceptions_become_decode_errors(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from radlens.io import raster

    def broken(path: Path, max_pixels: int) -> None:
        raise KeyError("Doe^Janet 1.2.840.113619.2.55.3.604688119 /srv/uploads/x.png")

    monkeypatch.setattr(raster, "load_raster", broken)
    path = tmp_path / "a.png"
    PILImage.fromarray(np.zeros((8, 8), np.uint8)).save(path)
    error = _refused(path, DecodeError, "KeyError")
    for secret in ("Doe", "1.2.840.113619", "/srv/uploads"):
        assert secret not in error.reason


def test_describe_hides_values_and_paths() -> None:
    text = describe(ValueError("Invalid value 'Doe^Janet' for 1.2.3.4.5 in /tmp/radlens/x.dcm"))
    assert text.startswith("ValueError: Invalid value")
    for secret in ("Doe", "1.2.3.4.5", "/tmp/radlens"):
        assert secret not in text
    assert len(describe(RuntimeError("x" * 1000))) <= 160 + len("RuntimeError: ")
