"""Fuzz `load_image` with mutated files: only RadlensError may escape.

Two fuzzers: a fixed slice of the seeded benchmark fuzzer (`benchmarks/fuzz_inputs.py`: every
structural attack plus 600 mutations over DICOM in every transfer syntax, PNG, JPEG, TIFF and
NIfTI), and hypothesis-driven byte overwrites, insertions, deletions and truncations of small
DICOM and PNG files (500 per format). The full benchmark run (5,000+ inputs) is in
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage
from pydicom.data import get_testdata_file

from radlens.errors import RadlensError
from radlens.io import load_image
from tests.io.factories import write_dicom

EXAMPLES_PER_FORMAT = 500
SLICE = 600
_DIR = Path(tempfile.mkdtemp(prefix="radlens-fuzz-"))


def _seeds() -> dict[str, list[bytes]]:
    rng = np.random.default_rng(0)
    dcm = write_dicom(_DIR / "seed.dcm", rng.integers(0, 4096, (32, 32)), bits_stored=12,
                      WindowCenter=2048, WindowWidth=4096, RescaleSlope=1, RescaleIntercept=0)
    seeds = {"dicom": [dcm.read_bytes()], "png": []}
    rle = get_testdata_file("MR_small_RLE.dcm", download=False)
    if rle:
        seeds["dicom"].append(Path(str(rle)).read_bytes())
    for dtype in (np.uint8, np.uint16):
        arr = rng.integers(0, 255 if dtype is np.uint8 else 65535, (24, 24)).astype(dtype)
        path = _DIR / f"seed-{dtype.__name__}.png"
        PILImage.fromarray(arr).save(path)
        seeds["png"].append(path.read_bytes())
    return seeds


SEEDS = _seeds()

mutation = st.tuples(st.sampled_from(["set", "insert", "delete"]),
                     st.floats(0, 1, allow_nan=False), st.binary(min_size=1, max_size=4))


def _mutate(data: bytes, ops: list[tuple[str, float, bytes]], cut: float | None) -> bytes:
    buf = bytearray(data)
    for kind, where, value in ops:
        pos = int(where * max(0, len(buf) - 1))
        if kind == "set":
            buf[pos:pos + len(value)] = value
        elif kind == "insert":
            buf[pos:pos] = value
        else:
            del buf[pos:pos + len(value)]
    if cut is not None:
        buf = buf[: int(cut * len(buf))]
    return bytes(buf)


def _check(data: bytes, suffix: str) -> None:
    path = _DIR / f"case{suffix}"
    path.write_bytes(data)
    try:
        image = load_image(path)
    except RadlensError as exc:
        assert exc.source == str(path)
        return
    assert image.pixels.dtype == np.float32 and image.pixels.ndim == 2
    assert np.isfinite(image.pixels).all()
    assert image.pixels.min() >= 0.0 and image.pixels.max() <= 1.0


def _fuzz(fmt: str, suffix: str):
    @settings(max_examples=EXAMPLES_PER_FORMAT, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck), database=None)
    @given(seed=st.integers(0, 10), ops=st.lists(mutation, min_size=1, max_size=12),
           cut=st.none() | st.floats(0, 1, allow_nan=False))
    def run(seed: int, ops: list, cut: float | None) -> None:
        base = SEEDS[fmt][seed % len(SEEDS[fmt])]
        _check(_mutate(base, ops, cut), suffix)

    return run


test_fuzz_dicom = _fuzz("dicom", ".dcm")
test_fuzz_png = _fuzz("png", ".png")


def test_fuzz_slice_of_the_benchmark() -> None:
    from benchmarks.fuzz_inputs import cases, run

    report = run(cases(SLICE, seed=0), _DIR)
    assert report.inputs > SLICE + 40  # the attacks come first
    assert report.escapes == []
    assert report.over_limit == []
    assert report.outcomes["ok"] > 50 and report.outcomes["ImageTooLargeError"] >= 10
