"""PNG (8/16-bit), JPEG, TIFF and NIfTI input with exact expected values."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image as PILImage

from radlens.io import image_from_array, load_image


def test_png_8bit_grey_exact(tmp_path: Path) -> None:
    arr = np.array([[0, 51], [204, 255]], dtype=np.uint8)
    PILImage.fromarray(arr).save(tmp_path / "a.png")
    img = load_image(tmp_path / "a.png")
    np.testing.assert_array_equal(img.pixels, (arr / 255.0).astype(np.float32))
    assert img.meta.format == "png" and img.meta.bits_stored == 8


def test_png_16bit_exact(tmp_path: Path) -> None:
    arr = np.array([[0, 16384], [32768, 65535]], dtype=np.uint16)
    PILImage.fromarray(arr).save(tmp_path / "a16.png")
    img = load_image(tmp_path / "a16.png")
    np.testing.assert_allclose(img.pixels, arr / 65535.0, atol=1e-7)
    assert img.meta.bits_stored == 16


def test_rgb_png_becomes_luma(tmp_path: Path) -> None:
    arr = np.zeros((2, 2, 3), dtype=np.uint8)
    arr[0, 0] = (255, 0, 0)
    arr[0, 1] = (0, 255, 0)
    arr[1, 0] = (0, 0, 255)
    arr[1, 1] = (255, 255, 255)
    PILImage.fromarray(arr).save(tmp_path / "rgb.png")
    px = load_image(tmp_path / "rgb.png").pixels
    np.testing.assert_allclose(px, [[0.299, 0.587], [0.114, 1.0]], atol=1e-6)


def test_jpeg_and_tiff(tmp_path: Path) -> None:
    arr = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (64, 1))
    PILImage.fromarray(arr).save(tmp_path / "g.jpg", quality=95)
    PILImage.fromarray(arr).save(tmp_path / "g.tif")
    PILImage.fromarray(arr.astype(np.uint16) * 257).save(tmp_path / "g16.tif")
    jpg = load_image(tmp_path / "g.jpg")
    assert jpg.meta.format == "jpeg"
    assert np.abs(jpg.pixels - arr / 255.0).max() < 0.03
    np.testing.assert_allclose(load_image(tmp_path / "g.tif").pixels, arr / 255.0, atol=1e-7)
    np.testing.assert_allclose(load_image(tmp_path / "g16.tif").pixels, arr / 255.0, atol=1e-6)


def test_png_named_jpg_loads_by_content(tmp_path: Path) -> None:
    PILImage.fromarray(np.full((8, 8), 128, np.uint8)).save(tmp_path / "x.png")
    (tmp_path / "x.png").rename(tmp_path / "x.jpg")
    assert load_image(tmp_path / "x.jpg").meta.format == "png"


def test_nifti_orientation_and_spacing(tmp_path: Path) -> None:
    # data[i, j]: i along columns (width 4), j along rows pointing up (height 3)
    data = np.zeros((4, 3), dtype=np.float32)
    data[0, 2] = 10.0   # first column, top row
    data[3, 0] = 5.0    # last column, bottom row
    affine = np.diag([0.5, 0.25, 1.0, 1.0])
    nib.save(nib.Nifti1Image(data, affine), tmp_path / "a.nii.gz")
    img = load_image(tmp_path / "a.nii.gz")
    assert img.pixels.shape == (3, 4)
    assert img.pixels[0, 0] == 1.0 and img.pixels[2, 3] == 0.5
    assert img.meta.pixel_spacing_mm == (0.25, 0.5)
    nib.save(nib.Nifti1Image(np.zeros((4, 3, 2), np.float32), np.eye(4)), tmp_path / "v.nii")
    from radlens.errors import UnsupportedFormatError

    with pytest.raises(UnsupportedFormatError, match="2-D"):
        load_image(tmp_path / "v.nii")


def test_image_from_array_clips() -> None:
    img = image_from_array(np.array([[-1.0, 0.5], [np.nan, 2.0]]))
    np.testing.assert_array_equal(img.pixels, [[0, 0.5], [0, 1]])
