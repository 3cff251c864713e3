"""DICOM pixel mapping on synthetic files with exact expected values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from radlens.io import load_image
from tests.io.factories import write_dicom

RAMP12 = np.array([[0, 1024, 2048], [3000, 4000, 4095]], dtype=np.uint16)


def test_rescale_then_min_max(tmp_path: Path) -> None:
    stored = np.array([[0, 100], [200, 50]], dtype=np.uint16)
    path = write_dicom(tmp_path / "r.dcm", stored, RescaleSlope=2, RescaleIntercept=-100)
    img = load_image(path)
    # modality values -100, 100, 300, 0 -> min-max over [-100, 300]
    np.testing.assert_array_equal(img.pixels, np.array([[0, 0.5], [1, 0.25]], dtype=np.float32))
    assert img.meta.intensity_window == "min-max"


def test_linear_window_exact_values(tmp_path: Path) -> None:
    c, w = 2048.0, 1000.0
    path = write_dicom(tmp_path / "w.dcm", RAMP12, bits_stored=12, WindowCenter=c, WindowWidth=w)
    img = load_image(path)
    x = RAMP12.astype(np.float64)
    expected = np.clip((x - (c - 0.5)) / (w - 1) + 0.5, 0, 1)
    expected[x <= c - 0.5 - (w - 1) / 2] = 0
    expected[x > c - 0.5 + (w - 1) / 2] = 1
    np.testing.assert_allclose(img.pixels, expected, atol=1e-6)
    assert img.meta.intensity_window == "voi-window"
    assert img.pixels[0, 0] == 0.0 and img.pixels[1, 2] == 1.0


def test_linear_exact_and_sigmoid(tmp_path: Path) -> None:
    c, w = 2000.0, 2000.0
    x = RAMP12.astype(np.float64)
    p1 = write_dicom(tmp_path / "le.dcm", RAMP12, bits_stored=12, WindowCenter=c,
                     WindowWidth=w, VOILUTFunction="LINEAR_EXACT")
    np.testing.assert_allclose(load_image(p1).pixels, np.clip((x - c) / w + 0.5, 0, 1),
                               atol=1e-6)
    p2 = write_dicom(tmp_path / "sg.dcm", RAMP12, bits_stored=12, WindowCenter=c,
                     WindowWidth=w, VOILUTFunction="SIGMOID")
    np.testing.assert_allclose(load_image(p2).pixels, 1 / (1 + np.exp(-4 * (x - c) / w)),
                               atol=1e-6)


def test_window_applies_after_rescale(tmp_path: Path) -> None:
    stored = np.array([[0, 500], [1000, 1500]], dtype=np.uint16)
    # modality values: -1024, -524, -24, 476; window centred on -24, width 1001
    path = write_dicom(tmp_path / "rw.dcm", stored, bits_stored=12, RescaleSlope=1,
                       RescaleIntercept=-1024, WindowCenter=-24, WindowWidth=1001)
    px = load_image(path).pixels
    np.testing.assert_allclose(px, [[0.0, 0.0005], [0.5005, 1.0]], atol=1e-6)


def test_voi_lut_sequence_wins_over_window(tmp_path: Path) -> None:
    item = Dataset()
    item.LUTDescriptor = [4, 0, 8]
    item.add_new(0x00283006, "US", [0, 85, 170, 255])  # LUT Data
    stored = np.array([[0, 1], [2, 3]], dtype=np.uint16)
    path = write_dicom(tmp_path / "lut.dcm", stored, bits_stored=12,
                       VOILUTSequence=Sequence([item]), WindowCenter=100, WindowWidth=10)
    img = load_image(path)
    np.testing.assert_allclose(img.pixels, [[0, 1 / 3], [2 / 3, 1]], atol=1e-6)
    assert img.meta.intensity_window == "voi-lut"


@pytest.mark.parametrize("bits,dtype", [(8, np.uint8), (12, np.uint16), (16, np.uint16)])
def test_bit_depths_min_max(tmp_path: Path, bits: int, dtype: type) -> None:
    top = 2**bits - 1
    stored = np.array([[0, top // 4], [top // 2, top]], dtype=dtype)
    img = load_image(write_dicom(tmp_path / f"b{bits}.dcm", stored, bits_stored=bits))
    np.testing.assert_allclose(img.pixels, stored / top, atol=1e-6)
    assert img.meta.bits_stored == bits


def test_signed_pixels(tmp_path: Path) -> None:
    stored = np.array([[-1000, 0], [1000, 3000]], dtype=np.int16)
    img = load_image(write_dicom(tmp_path / "s.dcm", stored, signed=True))
    np.testing.assert_allclose(img.pixels, (stored + 1000) / 4000, atol=1e-6)


def test_monochrome1_is_inverted(tmp_path: Path) -> None:
    stored = np.array([[0, 1024], [2048, 4095]], dtype=np.uint16)
    m2 = load_image(write_dicom(tmp_path / "m2.dcm", stored, bits_stored=12,
                                WindowCenter=2048, WindowWidth=4096))
    m1 = load_image(write_dicom(tmp_path / "m1.dcm", stored, bits_stored=12,
                                photometric="MONOCHROME1", WindowCenter=2048, WindowWidth=4096))
    np.testing.assert_allclose(m1.pixels, 1 - m2.pixels, atol=1e-6)
    assert m1.pixels[0, 0] == 1.0  # stored 0 on MONOCHROME1 is white


def test_metadata(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "m.dcm", np.zeros((4, 6), np.uint16), bits_stored=12,
                       ViewPosition="AP", PatientAge="006M", PatientSex="F",
                       PixelSpacing=[0.2, 0.25])
    meta = load_image(path).meta
    assert (meta.width, meta.height) == (6, 4)
    assert meta.modality == "DX" and meta.view_position == "AP"
    assert meta.patient_age_years == pytest.approx(0.5)
    assert meta.patient_sex == "F"
    assert meta.pixel_spacing_mm == (0.2, 0.25)
    assert meta.bits_stored == 12 and meta.format == "dicom"
    assert meta.source == str(path)


@pytest.mark.parametrize("window", [{}, {"WindowCenter": 2048, "WindowWidth": 3000}])
@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_unused_high_bits_are_ignored_like_pydicom(tmp_path: Path, window: dict[str, int],
                                                   photometric: str) -> None:
    """The uncompressed fast path reads stored values in place; garbage in the bits above
    BitsStored (PS3.5 8.1.1) must still be masked off, exactly as pydicom's own correction."""
    import pydicom

    clean = RAMP12.copy()
    dirty = clean | np.uint16(0xA000)  # bits 13 and 15 set: not part of the 12 stored bits
    a = write_dicom(tmp_path / "clean.dcm", clean, bits_stored=12, photometric=photometric,
                    **window)
    b = write_dicom(tmp_path / "dirty.dcm", dirty, bits_stored=12, photometric=photometric,
                    **window)
    np.testing.assert_array_equal(load_image(b).pixels, load_image(a).pixels)
    np.testing.assert_array_equal(pydicom.dcmread(b).pixel_array, clean)


def test_signed_unused_bits_sign_extend(tmp_path: Path) -> None:
    stored = np.array([[-2048, -1], [0, 2047]], dtype=np.int16)  # 12-bit signed range
    dirty = (stored.view(np.uint16) & np.uint16(0x0FFF)).view(np.int16)  # no sign extension
    a = write_dicom(tmp_path / "s.dcm", stored, bits_stored=12, signed=True)
    b = write_dicom(tmp_path / "d.dcm", dirty, bits_stored=12, signed=True)
    np.testing.assert_array_equal(load_image(b).pixels, load_image(a).pixels)
    np.testing.assert_allclose(load_image(a).pixels, [[0, 2047 / 4095], [2048 / 4095, 1]],
                               atol=1e-6)


def test_threaded_conversion_matches_one_thread(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from radlens.io import dicom

    stored = np.random.default_rng(0).integers(0, 4096, (1500, 1500)).astype(np.uint16)
    path = write_dicom(tmp_path / "big.dcm", stored, bits_stored=12, WindowCenter=1800,
                       WindowWidth=2500, photometric="MONOCHROME1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    one = load_image(path).pixels
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.setattr(dicom, "_PARALLEL_PIXELS", 1000)
    np.testing.assert_array_equal(load_image(path).pixels, one)
    assert one.min() == 0.0 and one.max() == 1.0
