"""Real files: the chest CR in four encodings, other modalities, compressed syntaxes, samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from radlens.errors import QualityError
from radlens.io import load_image
from radlens.io.qc import check
from radlens.pipeline import read

ENCODINGS = ["RG1_UNCR.dcm", "RG1_UNCI.dcm", "RG1_J2KR.dcm", "RG1_J2KI.dcm"]


def _testfile(name: str) -> str:
    path = get_testdata_file(name, download=False)
    if not path:
        pytest.skip(f"{name} not available (install pydicom-data)")
    return str(path)


@pytest.fixture(scope="module")
def chest_encodings() -> dict[str, np.ndarray]:
    return {name: load_image(_testfile(name)).pixels for name in ENCODINGS}


def test_four_encodings_agree(chest_encodings: dict[str, np.ndarray]) -> None:
    ref = chest_encodings["RG1_UNCR.dcm"]
    assert ref.shape == (1955, 1841) and ref.dtype == np.float32
    np.testing.assert_array_equal(chest_encodings["RG1_J2KR.dcm"], ref)  # lossless
    for name in ("RG1_UNCI.dcm", "RG1_J2KI.dcm"):  # lossy originals
        diff = np.abs(chest_encodings[name] - ref)
        assert diff.mean() < 0.003 and diff.max() < 0.05, name
    np.testing.assert_array_equal(chest_encodings["RG1_UNCI.dcm"], chest_encodings["RG1_J2KI.dcm"])


def test_chest_cr_is_displayed_air_dark(chest_encodings: dict[str, np.ndarray]) -> None:
    px = chest_encodings["RG1_UNCR.dcm"]
    # MONOCHROME1 source: after inversion the lung fields are darker than the spine.
    lungs = np.concatenate([px[700:1100, 350:650].ravel(), px[700:1100, 1200:1500].ravel()])
    spine = px[700:1100, 880:960]
    assert lungs.mean() < spine.mean() - 0.05
    report = check(load_image(_testfile("RG1_UNCR.dcm")))
    assert report.passed and not report.warnings


@pytest.mark.parametrize("name,modality", [("CT_small.dcm", "CT"), ("MR_small.dcm", "MR"),
                                           ("US1_UNCR.dcm", "US"), ("JPGExtended.dcm", "NM")])
def test_other_modalities_are_rejected(name: str, modality: str) -> None:
    image = load_image(_testfile(name))
    assert image.meta.modality == modality
    codes = {i.code for i in check(image).fatal}
    assert "not_radiograph" in codes
    with pytest.raises(QualityError) as err:
        read(image)
    assert "not a projection radiograph" in str(err.value)


@pytest.mark.parametrize("original,encoded", [
    ("MR_small.dcm", "MR_small_RLE.dcm"),                      # RLE lossless
    ("MR_small.dcm", "MR_small_jpeg_ls_lossless.dcm"),         # JPEG-LS lossless
    ("emri_small.dcm", "emri_small_jpeg_2k_lossless.dcm"),    # JPEG 2000 lossless
])
def test_lossless_syntaxes_match_uncompressed(original: str, encoded: str) -> None:
    np.testing.assert_array_equal(load_image(_testfile(encoded)).pixels,
                                  load_image(_testfile(original)).pixels)


@pytest.mark.parametrize("name,syntax", [
    ("JPEG-LL.dcm", "1.2.840.10008.1.2.4.70"),             # JPEG lossless, SV1
    ("JPGExtended.dcm", "1.2.840.10008.1.2.4.51"),         # JPEG extended (12-bit)
    ("SC_rgb_jpeg_dcmtk.dcm", "1.2.840.10008.1.2.4.50"),   # JPEG baseline, colour
    ("JPEG2000.dcm", "1.2.840.10008.1.2.4.91"),
    ("emri_small_jpeg_2k_lossless.dcm", "1.2.840.10008.1.2.4.90"),
    ("MR_small_jpeg_ls_lossless.dcm", "1.2.840.10008.1.2.4.80"),
    ("JPEGLSNearLossless_16.dcm", "1.2.840.10008.1.2.4.81"),
    ("MR_small_RLE.dcm", "1.2.840.10008.1.2.5"),
])
def test_compressed_transfer_syntaxes_decode(name: str, syntax: str) -> None:
    image = load_image(_testfile(name))
    assert image.meta.transfer_syntax_uid == syntax
    assert image.pixels.dtype == np.float32 and image.pixels.ndim == 2
    assert 0.0 <= image.pixels.min() and image.pixels.max() <= 1.0
    assert image.pixels.std() > 0.01


def test_multiframe_first_frame_and_qc() -> None:
    image = load_image(_testfile("emri_small.dcm"))
    assert image.meta.number_of_frames > 1
    assert "multi_frame" in {i.code for i in check(image).fatal}


def test_shared_samples(shared_data: Path) -> None:
    root = shared_data / "samples" / "torchxrayvision-tests"
    fake = load_image(root / "Fake_MONOHR1.dcm")
    twin = load_image(root / "1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm")
    assert fake.meta.photometric_interpretation == "MONOCHROME1"
    assert twin.meta.photometric_interpretation == "MONOCHROME2"
    np.testing.assert_allclose(fake.pixels, 1.0 - twin.pixels, atol=1e-6)
    assert "suspected_inverted" in {i.code for i in check(fake).warnings}
    assert check(twin).passed and not check(twin).warnings
    for name in ("00000001_000.png", "00027426_000.png", "16747_3_1.jpg",
                 "covid-19-pneumonia-58-prior.jpg"):
        image = load_image(root / name)
        assert image.pixels.ndim == 2 and check(image).passed, name


def test_truncated_real_file_is_a_decode_error() -> None:
    from radlens.errors import DecodeError

    with pytest.raises(DecodeError) as err:
        load_image(_testfile("emri_small_jpeg_2k_lossless_too_short.dcm"))
    assert "too_short" in str(err.value) and "truncated" in str(err.value)


def test_fast_linear_path_matches_pydicom_reference() -> None:
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_windowing

    path = _testfile("RG1_UNCR.dcm")
    ds = pydicom.dcmread(path)
    values = apply_modality_lut(ds.pixel_array, ds)
    lo, hi = apply_windowing(np.array([-np.inf, np.inf]), ds)
    reference = 1.0 - (apply_windowing(values, ds) - lo) / (hi - lo)  # MONOCHROME1
    np.testing.assert_allclose(load_image(path).pixels, reference, atol=2e-6)
