"""Seeded mutation fuzzer for `radlens.io.load_image`: only `RadlensError` may escape.

Seeds, written in memory by this script (nothing is downloaded; a few DICOM seeds come from the
test files bundled with pydicom): DICOM in every transfer syntax radlens decodes (implicit and
explicit VR little endian, explicit big endian, deflated, RLE, JPEG baseline, extended,
lossless, JPEG-LS lossless and near-lossless, JPEG 2000 lossless and lossy), PNG (8/16-bit
grey, RGB, palette), JPEG (baseline, progressive, colour), TIFF (raw, LZW, multi-page) and
NIfTI (``.nii``, ``.nii.gz``). Cases: first a fixed list of structural attacks (header lies,
decompression and CPU bombs, unknown VRs, non-finite header numbers), then byte mutations of
the seeds (overwrites, bit flips, insertions, deletions, duplicated runs, truncations), each
case drawn from ``numpy.random.default_rng([seed, index])`` so that any case can be rerun alone.

Each case is written to a file and read with the default limits. An *escape* is an exception
other than `RadlensError`, a `RadlensError` not naming the file, pixels that are not float32
(H, W) in [0, 1], or metadata that does not serialise to standard JSON. Prints the number of
inputs, escapes (with their case ids), the slowest case, cases over 10 s, and the process's peak
RSS together with the case that raised it. With ``--isolated`` every case is decoded the way the
server and batch runs decode, in a killable worker process (`radlens.io.isolated`: 10 s
deadline, default memory cap); the peak RSS then counts the worker too.

    .venv/bin/python benchmarks/fuzz_inputs.py [--n 5000] [--seed 0] [--case ID] [--isolated]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import resource
import struct
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Case:
    """One fuzz input: `cid` names it (``attack:<name>`` or ``<index>:<seed name>``)."""

    cid: str
    suffix: str
    data: bytes


# -- seeds -----------------------------------------------------------------------------------------
def _ramp(shape: tuple[int, int], top: int, rng: np.random.Generator) -> np.ndarray:
    y, x = np.mgrid[0:shape[0], 0:shape[1]]
    base = (x + y) * (top / (shape[0] + shape[1]))
    return np.clip(base + rng.normal(0, top * 0.02, shape), 0, top).astype(np.uint16)


def _dataset(pixels: np.ndarray, bits: int = 12) -> object:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.2"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.3"
    ds.Modality, ds.ViewPosition, ds.PatientAge, ds.PatientSex = "DX", "PA", "045Y", "F"
    ds.PixelSpacing = [0.2, 0.2]
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = 8 if pixels.dtype == np.uint8 else 16
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits - 1, 0
    ds.WindowCenter, ds.WindowWidth = 2 ** (bits - 1), 2**bits
    ds.RescaleSlope, ds.RescaleIntercept = 1, 0
    ds.PixelData = pixels.tobytes()
    return ds


def _save(ds: object, **kw: object) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True, **kw)  # type: ignore[attr-defined]
    return buf.getvalue()


def dicom_seeds(rng: np.random.Generator) -> dict[str, bytes]:
    """Small DICOM files, one per transfer syntax (those the installed encoders can write,
    plus pydicom's bundled test files for JPEG lossless, extended and JPEG-LS)."""

    from PIL import Image as PILImage
    from pydicom.data import get_testdata_file
    from pydicom.encaps import encapsulate
    from pydicom.uid import (
        JPEG2000,
        DeflatedExplicitVRLittleEndian,
        ExplicitVRBigEndian,
        ImplicitVRLittleEndian,
        JPEG2000Lossless,
        JPEGBaseline8Bit,
        RLELossless,
    )

    pixels = _ramp((48, 40), 4095, rng)
    out: dict[str, bytes] = {"explicit-le": _save(_dataset(pixels))}
    for name, syntax in (("implicit-le", ImplicitVRLittleEndian),
                         ("explicit-be", ExplicitVRBigEndian),
                         ("deflated", DeflatedExplicitVRLittleEndian)):
        ds = _dataset(pixels)
        ds.file_meta.TransferSyntaxUID = syntax  # type: ignore[attr-defined]
        if syntax == ExplicitVRBigEndian:
            ds.PixelData = pixels.astype(">u2").tobytes()  # type: ignore[attr-defined]
        out[name] = _save(ds)
    for name, syntax, kw in (("rle", RLELossless, {}),
                             ("j2k-lossless", JPEG2000Lossless, {}),
                             ("j2k-lossy", JPEG2000, {"j2k_cr": [20]})):
        ds = _dataset(pixels)
        try:
            ds.compress(syntax, **kw)  # type: ignore[attr-defined]
            out[name] = _save(ds)
        except Exception as exc:  # an encoder missing: the seed is skipped, and said so
            print(f"seed {name} skipped ({type(exc).__name__})", file=sys.stderr)
    grey8 = (pixels >> 4).astype(np.uint8)
    jpeg = io.BytesIO()
    PILImage.fromarray(grey8).save(jpeg, format="JPEG", quality=90)
    ds = _dataset(grey8, bits=8)
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit  # type: ignore[attr-defined]
    ds.PixelData = encapsulate([jpeg.getvalue()])  # type: ignore[attr-defined]
    ds["PixelData"].VR = "OB"  # type: ignore[index]
    out["jpeg-baseline"] = _save(ds)
    for name in ("JPEG-LL.dcm", "JPGExtended.dcm", "SC_rgb_jpeg_dcmtk.dcm",
                 "MR_small_jpeg_ls_lossless.dcm", "JPEGLSNearLossless_16.dcm",
                 "MR_small_RLE.dcm", "emri_small_jpeg_2k_lossless.dcm"):
        path = get_testdata_file(name, download=False)
        if path:
            out[f"pydicom:{name}"] = Path(str(path)).read_bytes()
    return out


def raster_seeds(rng: np.random.Generator) -> dict[str, tuple[str, bytes]]:
    """Small PNG, JPEG and TIFF files: name -> (suffix, bytes)."""
    from PIL import Image as PILImage

    grey = (_ramp((40, 48), 255, rng)).astype(np.uint8)
    grey16 = _ramp((40, 48), 65535, rng)
    rgb = np.stack([grey, np.roll(grey, 5, 0), np.roll(grey, 9, 1)], axis=-1)
    out: dict[str, tuple[str, bytes]] = {}

    def save(name: str, suffix: str, im: PILImage.Image, **kw: object) -> None:
        buf = io.BytesIO()
        im.save(buf, **kw)
        out[name] = (suffix, buf.getvalue())

    save("png-grey8", ".png", PILImage.fromarray(grey), format="PNG")
    save("png-grey16", ".png", PILImage.fromarray(grey16), format="PNG")
    save("png-rgb", ".png", PILImage.fromarray(rgb), format="PNG")
    save("png-palette", ".png", PILImage.fromarray(rgb).convert("P"), format="PNG")
    save("jpeg-grey", ".jpg", PILImage.fromarray(grey), format="JPEG", quality=85)
    save("jpeg-progressive", ".jpg", PILImage.fromarray(rgb), format="JPEG", quality=85,
         progressive=True)
    save("jpeg-rgb", ".jpg", PILImage.fromarray(rgb), format="JPEG", quality=85)
    save("tiff-raw", ".tif", PILImage.fromarray(grey16), format="TIFF")
    save("tiff-lzw", ".tif", PILImage.fromarray(grey), format="TIFF", compression="tiff_lzw")
    pages = [PILImage.fromarray(np.roll(grey, i)) for i in range(3)]
    buf = io.BytesIO()
    pages[0].save(buf, format="TIFF", save_all=True, append_images=pages[1:])
    out["tiff-pages"] = (".tif", buf.getvalue())
    return out


def nifti_bytes(data: np.ndarray, zooms: tuple[float, ...] = (0.5, 0.5),
                cal: tuple[float, float] | None = None) -> bytes:
    """A NIfTI-1 single file (header + data) for `data`."""
    import nibabel as nib

    img = nib.Nifti1Image(data, np.eye(4))
    img.header.set_zooms(zooms[: data.ndim] + (1.0,) * max(0, data.ndim - len(zooms)))
    if cal is not None:
        img.header["cal_min"], img.header["cal_max"] = cal
    return img.to_bytes()


def nifti_seeds(rng: np.random.Generator) -> dict[str, tuple[str, bytes]]:
    """A 2-D NIfTI image, plain and gzipped."""
    raw = nifti_bytes(_ramp((40, 32), 1000, rng).astype(np.int16))
    return {"nifti": (".nii", raw), "nifti-gz": (".nii.gz", gzip.compress(raw, mtime=0))}


# -- structural attacks ----------------------------------------------------------------------------
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def _patch_siz(data: bytes, width: int, height: int) -> bytes:
    at = data.find(b"\xff\x4f\xff\x51")
    buf = bytearray(data)
    xo, yo = struct.unpack(">II", buf[at + 16: at + 24])
    buf[at + 8: at + 16] = struct.pack(">II", width + xo, height + yo)
    return bytes(buf)


def _patch_sof(data: bytes, width: int, height: int) -> bytes:
    buf = bytearray(data)
    for marker in (b"\xff\xc0", b"\xff\xc1", b"\xff\xc2", b"\xff\xc3", b"\xff\xf7"):
        at = buf.find(marker)
        if at >= 0:
            buf[at + 5: at + 9] = struct.pack(">HH", height, width)
            return bytes(buf)
    raise ValueError("no SOF marker")


def _deflated_bomb(inflated: int) -> bytes:
    """A Deflated Explicit VR LE DICOM whose 512x512 image's body inflates to `inflated` bytes."""
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    ds = _dataset(np.zeros((512, 512), np.uint16))
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian  # type: ignore[attr-defined]
    del ds.PixelData  # type: ignore[attr-defined]
    whole = _save(ds)
    meta_end = 132 + 12 + struct.unpack("<I", whole[140:144])[0]
    body = zlib.decompress(whole[meta_end:], -zlib.MAX_WBITS)
    comp = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts = [comp.compress(body + b"\xe0\x7f\x10\x00OW\x00\x00"
                           + struct.pack("<I", inflated))]
    chunk = bytes(1 << 22)
    for _ in range(inflated // len(chunk)):
        parts.append(comp.compress(chunk))
    parts.append(comp.flush())
    return whole[:meta_end] + b"".join(parts)


def _element(tag: tuple[int, int], vr: bytes, value: bytes) -> bytes:
    return struct.pack("<HH", *tag) + vr + struct.pack("<H", len(value)) + value


def _insert_after_meta(data: bytes, raw: bytes) -> bytes:
    meta_end = 132 + 12 + struct.unpack("<I", data[140:144])[0]
    return data[:meta_end] + raw + data[meta_end:]


def _replace_element(data: bytes, tag: tuple[int, int], raw: bytes) -> bytes:
    """Replace the explicit-VR element `tag` (short form) with `raw` bytes."""
    key = struct.pack("<HH", *tag)
    at = data.find(key, 132)
    length = struct.unpack("<H", data[at + 6: at + 8])[0]
    return data[:at] + raw + data[at + 8 + length:]


def _tiff_chain(pages: int, loop: bool = False) -> bytes:
    """A little-endian TIFF: a valid 8x8 first page followed by a chain of `pages` tiny IFDs."""
    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.fromarray(np.zeros((8, 8), np.uint8)).save(buf, format="TIFF")
    data = bytearray(buf.getvalue())
    first = struct.unpack("<I", data[4:8])[0]
    count = struct.unpack("<H", data[first: first + 2])[0]
    next_at = first + 2 + 12 * count
    start = len(data)
    data[next_at: next_at + 4] = struct.pack("<I", first if loop else start)
    if not loop:
        for i in range(pages):
            nxt = 0 if i == pages - 1 else start + 6 * (i + 1)
            data += struct.pack("<HI", 0, nxt)
    return bytes(data)


def _tiff_many_strips(strips: int) -> bytes:
    """A 1 x `strips` pixel TIFF stored one row per strip."""
    entries = [(256, 4, 1, 1), (257, 4, 1, strips), (258, 3, 1, 8), (259, 3, 1, 1),
               (262, 3, 1, 1), (273, 4, strips, 0), (277, 3, 1, 1), (278, 4, 1, 1),
               (279, 4, strips, 0)]
    ifd_at = 8
    data_at = ifd_at + 2 + 12 * len(entries) + 4
    offsets_at, counts_at = data_at, data_at + 4 * strips
    pixels_at = counts_at + 4 * strips
    out = bytearray(b"II*\x00" + struct.pack("<I", ifd_at) + struct.pack("<H", len(entries)))
    for tag, typ, n, value in entries:
        if tag == 273:
            value = offsets_at
        elif tag == 279:
            value = counts_at
        out += struct.pack("<HHII", tag, typ, n, value)
    out += struct.pack("<I", 0)
    out += struct.pack(f"<{strips}I", *range(pixels_at, pixels_at + strips))
    out += struct.pack(f"<{strips}I", *([1] * strips))
    out += bytes(strips)
    return bytes(out)


def _progressive_bomb(seed_jpeg: bytes, scans: int) -> bytes:
    """A progressive JPEG whose last scan is repeated `scans` times."""
    last = seed_jpeg.rfind(b"\xff\xda")
    eoi = seed_jpeg.rfind(b"\xff\xd9")
    return seed_jpeg[:last] + seed_jpeg[last:eoi] * scans + seed_jpeg[eoi:]


def attacks(dicom: dict[str, bytes], raster: dict[str, tuple[str, bytes]]) -> list[Case]:
    """The structural attacks (header lies and bombs), in a fixed order."""
    out: list[Case] = []

    def add(name: str, suffix: str, data: bytes) -> None:
        out.append(Case(f"attack:{name}", suffix, data))

    base = dicom["explicit-le"]
    if "j2k-lossless" in dicom:
        add("dicom-j2k-siz-30000", ".dcm", _patch_siz(dicom["j2k-lossless"], 30000, 30000))
        add("dicom-j2k-siz-smaller", ".dcm", _patch_siz(dicom["j2k-lossless"], 20, 20))
    add("dicom-jpeg-sof-30000", ".dcm", _patch_sof(dicom["jpeg-baseline"], 30000, 30000))
    add("dicom-jpeg-sof-height0", ".dcm", _patch_sof(dicom["jpeg-baseline"], 40, 0))
    add("dicom-deflate-bomb", ".dcm", _deflated_bomb(400_000_000))
    add("dicom-rows-30000", ".dcm", _replace_element(base, (0x0028, 0x0010),
                                                     _element((0x0028, 0x0010), b"US",
                                                              struct.pack("<H", 30000))))
    for vr, value in ((b"ZZ", b"DX"), (b"US", struct.pack("<H", 7)), (b"FD", bytes(8)),
                      (b"UN", b"\xff\xfe"), (b"SQ", b"")):
        for tag, name in (((0x0008, 0x0060), "modality"), ((0x0010, 0x1010), "age"),
                          ((0x0028, 0x0030), "spacing"), ((0x0020, 0x000D), "study-uid"),
                          ((0x0028, 0x0004), "photometric"), ((0x0028, 0x1050), "window")):
            data = _replace_element(base, tag, _element(tag, vr, value)) \
                if base.find(struct.pack("<HH", *tag), 132) > 0 \
                else _insert_after_meta(base, _element(tag, vr, value))
            add(f"dicom-{name}-vr-{vr.decode()}", ".dcm", data)
    add("dicom-spacing-inf", ".dcm", _replace_element(
        base, (0x0028, 0x0030), _element((0x0028, 0x0030), b"DS", b"inf\\1e999 ")))
    add("dicom-spacing-nan", ".dcm", _replace_element(
        base, (0x0028, 0x0030), _element((0x0028, 0x0030), b"DS", b"nan\\nan ")))
    add("dicom-window-inf", ".dcm", _replace_element(
        base, (0x0028, 0x1050), _element((0x0028, 0x1050), b"DS", b"1e999 ")))
    add("dicom-frames-huge", ".dcm", _insert_after_meta(
        base, _element((0x0028, 0x0008), b"IS", b"99999999")))
    png_sig = b"\x89PNG\r\n\x1a\n"
    add("png-ihdr-30000", ".png", png_sig + _png_chunk(b"IHDR", struct.pack(
        ">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)) + _png_chunk(
        b"IDAT", zlib.compress(bytes(64))) + _png_chunk(b"IEND", b""))
    grey_png = raster["png-grey8"][1]
    many = b"".join(_png_chunk(b"zzZz", b"") for _ in range(100_000))
    add("png-100k-chunks", ".png", grey_png[:33] + many + grey_png[33:])
    add("jpeg-progressive-3000-scans", ".jpg",
        _progressive_bomb(raster["jpeg-progressive"][1], 3000))
    add("jpeg-sof-60000", ".jpg", _patch_sof(raster["jpeg-grey"][1], 60000, 60000))
    add("tiff-chain-100k", ".tif", _tiff_chain(100_000))
    add("tiff-chain-loop", ".tif", _tiff_chain(0, loop=True))
    add("tiff-200k-strips", ".tif", _tiff_many_strips(200_000))
    import nibabel as nib

    header = nib.Nifti1Header()
    header.set_data_shape((1, 1, 20000, 15000))
    header.set_data_dtype(np.float32)
    add("nifti-shape-1x1x20000x15000", ".nii", header.binaryblock + bytes(4))
    add("nifti-pixdim-inf", ".nii", nifti_bytes(np.ones((8, 8), np.int16),
                                                zooms=(float("inf"), 1.0)))
    add("nifti-cal-nan", ".nii", nifti_bytes(np.arange(64, dtype=np.int16).reshape(8, 8),
                                             cal=(float("nan"), float("inf"))))
    add("nifti-all-nan", ".nii", nifti_bytes(np.full((8, 8), np.nan, np.float32)))
    return out


# -- mutations -------------------------------------------------------------------------------------
def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """1-12 random edits of `data` (overwrite, bit flip, insert, delete, duplicate a run), then
    a truncation one time in four."""
    buf = bytearray(data)
    for _ in range(int(rng.integers(1, 13))):
        kind = int(rng.integers(0, 5))
        pos = int(rng.integers(0, max(1, len(buf))))
        if kind == 0:
            value = rng.integers(0, 256, int(rng.integers(1, 5)), dtype=np.uint8).tobytes()
            buf[pos:pos + len(value)] = value
        elif kind == 1 and buf:
            buf[min(pos, len(buf) - 1)] ^= 1 << int(rng.integers(0, 8))
        elif kind == 2:
            buf[pos:pos] = rng.integers(0, 256, int(rng.integers(1, 9)),
                                        dtype=np.uint8).tobytes()
        elif kind == 3:
            del buf[pos:pos + int(rng.integers(1, 17))]
        else:
            run = bytes(buf[pos:pos + int(rng.integers(1, 65))])
            buf[pos:pos] = run * int(rng.integers(1, 9))
    if rng.random() < 0.25:
        buf = buf[: int(rng.integers(0, len(buf) + 1))]
    return bytes(buf)


def all_seeds(seed: int = 0) -> list[tuple[str, str, bytes]]:
    """Every seed as (name, suffix, bytes), in a fixed order."""
    rng = np.random.default_rng(seed)
    out = [(name, ".dcm", data) for name, data in dicom_seeds(rng).items()]
    out += [(name, suffix, data) for name, (suffix, data) in raster_seeds(rng).items()]
    out += [(name, suffix, data) for name, (suffix, data) in nifti_seeds(rng).items()]
    return out


def cases(n: int, seed: int = 0, with_attacks: bool = True) -> Iterator[Case]:
    """The structural attacks (when `with_attacks`), then `n` mutated seeds: case `i` mutates
    seed ``i % len(seeds)`` with ``default_rng([seed, i])``."""
    rng = np.random.default_rng(seed)
    dicom = dicom_seeds(rng)
    seeds = all_seeds(seed)
    if with_attacks:
        yield from attacks(dicom, {name: (suffix, data) for name, suffix, data in seeds})
    for i in range(n):
        name, suffix, data = seeds[i % len(seeds)]
        yield Case(f"{i}:{name}", suffix, mutate(data, np.random.default_rng([seed, i])))


# -- checking ------------------------------------------------------------------------------------
def check(path: Path, loader: Callable[[Path], Any] | None = None) -> tuple[str, str | None]:
    """Read `path` with `loader` (default `radlens.load_image`; e.g. a decode worker's `load`);
    returns (outcome, escape): outcome is ``ok`` or the RadlensError's type name; escape
    describes what went wrong when the case is an escape, else None."""
    from radlens.errors import RadlensError
    from radlens.io import load_image
    from radlens.schema_json import to_json

    try:
        image = (loader or load_image)(path)
    except RadlensError as exc:
        if exc.source != str(path):
            return type(exc).__name__, f"{type(exc).__name__} does not name the file"
        if "\n" in str(exc):
            return type(exc).__name__, "message spans several lines"
        return type(exc).__name__, None
    except BaseException as exc:  # an escape: record it
        if isinstance(exc, KeyboardInterrupt):
            raise
        return "escape", f"{type(exc).__name__}: {str(exc)[:200]}"
    px = image.pixels
    if px.dtype != np.float32 or px.ndim != 2:
        return "ok", f"pixels are {px.dtype} {px.shape}"
    if not np.isfinite(px).all() or px.min() < 0 or px.max() > 1:
        return "ok", "pixels are not finite values in [0, 1]"
    def refuse(constant: str) -> None:
        raise ValueError(f"non-standard JSON constant {constant}")

    try:
        json.loads(to_json(image.meta), parse_constant=refuse)
    except Exception as exc:
        return "ok", f"metadata does not serialise: {type(exc).__name__}: {exc}"
    return "ok", None


def _vmhwm_mb(pid: int | None) -> float:
    """Peak RSS (VmHWM) of process `pid` in MB; 0 when unknown or gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Report:
    """What a run found: `inputs` read, `escapes` (case id, what), `outcomes` per type, the
    `slowest` case and its seconds, cases `over_limit` seconds, and the peak RSS (MB) with the
    case that raised it."""

    inputs: int
    escapes: list[tuple[str, str]]
    outcomes: Counter[str]
    slowest: tuple[str, float]
    over_limit: list[tuple[str, float]]
    peak_rss_mb: float
    peak_case: str
    seconds: float


def run(selected: Iterator[Case], workdir: Path, limit_s: float = 10.0,
        loader: Callable[[Path], Any] | None = None,
        child_rss: Callable[[], float] | None = None) -> Report:
    """Read every case of `selected` from files in `workdir` with `loader` (see `check`); see
    `Report`. `child_rss`: the decode worker's current peak RSS in MB, counted in the peak."""
    escapes: list[tuple[str, str]] = []
    outcomes: Counter[str] = Counter()
    over: list[tuple[str, float]] = []
    slowest = ("", 0.0)
    peak, peak_case = peak_rss_mb(), "(start-up)"
    start = time.perf_counter()
    n = 0
    for case in selected:
        path = workdir / f"case{case.suffix}"
        path.write_bytes(case.data)
        t0 = time.perf_counter()
        outcome, escape = check(path, loader)
        secs = time.perf_counter() - t0
        n += 1
        outcomes[outcome] += 1
        if escape is not None:
            escapes.append((case.cid, escape))
        if secs > slowest[1]:
            slowest = (case.cid, secs)
        if secs > limit_s:
            over.append((case.cid, secs))
        rss = max(peak_rss_mb(), child_rss() if child_rss is not None else 0.0)
        if rss > peak:
            peak, peak_case = rss, case.cid
    return Report(n, escapes, outcomes, slowest, over, peak, peak_case,
                  time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=5000, help="mutated inputs (default 5000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--case", help="rerun one case id (e.g. 123:png-rgb or attack:NAME)")
    ap.add_argument("--isolated", action="store_true",
                    help="decode in a killable decode worker (radlens.io.isolated, 10 s "
                         "deadline, default memory cap), as the server and batch runs do")
    args = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="radlens-fuzz-"))
    selected = cases(args.n, args.seed)
    if args.case:
        selected = (c for c in cases(int(args.case.split(":")[0]) + 1
                                     if not args.case.startswith("attack:") else 0, args.seed)
                    if c.cid == args.case)
    worker = None
    if args.isolated:
        from radlens.io.isolated import DecodeWorker

        worker = DecodeWorker(timeout_s=10.0)
    try:
        report = run(selected, workdir, loader=worker.load if worker else None,
                     child_rss=(lambda: _vmhwm_mb(worker.pid)) if worker else None)
    finally:
        if worker is not None:
            worker.close()
    print(f"inputs: {report.inputs} ({report.seconds:.1f} s)"
          + (", each decoded in a killable worker process" if worker else ""))
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(report.outcomes.items())))
    print(f"escapes: {len(report.escapes)}")
    for cid, what in report.escapes[:40]:
        print(f"  {cid}: {what}")
    print(f"slowest: {report.slowest[0]} {report.slowest[1]:.2f} s; over 10 s: "
          f"{len(report.over_limit)}")
    print(f"peak RSS: {report.peak_rss_mb:.0f} MB (raised last by {report.peak_case})")


if __name__ == "__main__":
    main()
