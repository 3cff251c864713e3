"""Decode budgets checked before any pixel is decoded, and safe descriptions of decoder errors.

A small file can ask a decoder for far more memory or time than its size suggests: a DICOM whose
header says 512x512 but whose JPEG 2000 codestream says 30000x30000, a progressive JPEG with
thousands of scans, a TIFF whose chain of pages is endless. The readers in `radlens.io` call the
parsers here on the raw bytes first, so that what a decoder will allocate or loop over is known
(and refused when too big) before it runs. Each parser reads only marker or header bytes, never
entropy-coded data, and costs microseconds to milliseconds.

`describe` turns a third-party exception into a one-line message fit for users and logs: no
quoted values (which may be header values such as a patient's name or a UID), no paths.
"""

from __future__ import annotations

import itertools
import re
import struct
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

#: Most scans (SOS markers) a JPEG may hold; libjpeg's own progressive scripts use 6 (grey) to
#: 10 (colour), and each scan is a full pass over the image's coefficients.
MAX_JPEG_SCANS = 64
#: Most scan x pixel passes a JPEG may cost (e.g. 20 scans of a 100 M-pixel image).
MAX_JPEG_SCAN_PIXELS = 2_000_000_000
#: Most tiles a JPEG 2000 codestream may have (each tile is decoded separately).
MAX_J2K_TILES = 65_536
#: Most pages (IFDs) a TIFF's chain may hold; only the first is decoded, but they are counted.
MAX_TIFF_PAGES = 1024
#: Most strips or tiles the first TIFF page may be stored in (each one is a decoder call).
MAX_TIFF_CHUNKS = 131_072
#: Most chunks a PNG may hold (libpng writes 8 kB IDAT chunks: 12,000 for 100 MB of data).
MAX_PNG_CHUNKS = 65_536


class BudgetError(ValueError):
    """A header or codestream is malformed (`too_large` False) or asks for more than a budget
    allows (`too_large` True). Readers turn it into a `RadlensError` naming the file."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


@dataclass(frozen=True)
class CodestreamInfo:
    """What a compressed frame says about itself: `width` x `height` pixels, `components`
    (samples per pixel), `precision` (bits per sample; 0 when unknown), `scans` (JPEG SOS
    markers; 0 for other codings), `tiles` (JPEG 2000; 1 otherwise)."""

    width: int
    height: int
    components: int
    precision: int = 0
    scans: int = 0
    tiles: int = 1


def clip_unit(values: np.ndarray) -> np.ndarray:
    """Clip a float32 array to [0, 1] in place, NaN and -inf to 0 and +inf to 1, with no
    temporary arrays (``fmax``/``fmin`` ignore NaN), so the memory budget holds; returns it."""
    np.fmax(values, np.float32(0.0), out=values)
    np.fmin(values, np.float32(1.0), out=values)
    return values


_QUOTED = re.compile(r"('[^']*'|\"[^\"]*\"|b'[^']*')")
_UIDLIKE = re.compile(r"\d+(?:\.\d+){3,}")
_PATHLIKE = re.compile(r"(?:/[^\s:,;()'\"]+){2,}")


def describe(exc: BaseException, limit: int = 160) -> str:
    """A one-line, value-free description of `exc`: ``TypeName: message`` where quoted parts,
    UID-like numbers and absolute paths are replaced by ``…`` and the text is cut at `limit`
    characters. Safe to show to users and to write to logs."""
    text = " ".join(str(exc).split())
    text = _QUOTED.sub("…", text)
    text = _UIDLIKE.sub("…", text)
    text = _PATHLIKE.sub("…", text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


# -- JPEG and JPEG-LS ------------------------------------------------------------------------------
# A marker is 0xFF followed by a byte of 0x80 or more that is neither a restart marker (0xD0-0xD7,
# which may occur inside entropy-coded data) nor 0xFF (fill). Inside entropy-coded data JPEG
# stuffs 0x00 after 0xFF and JPEG-LS a byte below 0x80, so neither is mistaken for a marker.
_MARKER = re.compile(rb"\xff[\x80-\xcf\xd8-\xfe]")
_SOF = {*range(0xC0, 0xD0)} - {0xC4, 0xC8, 0xCC} | {0xF7}  # SOF0-15 and JPEG-LS SOF55
_STANDALONE = {0x01, *range(0xD0, 0xD9)}


def jpeg_info(data: bytes | bytearray | memoryview) -> CodestreamInfo:
    """Frame size, components, precision and number of scans of a JPEG or JPEG-LS stream.

    `data`: the whole stream (a JPEG file or one DICOM frame), starting with SOI. Walks the
    marker segments only (entropy-coded data is skipped by a regex search). `BudgetError` when
    there is no SOI or no frame header, or a segment runs past the end."""
    buf = memoryview(data).cast("B") if not isinstance(data, bytes) else data
    if bytes(buf[:2]) != b"\xff\xd8":
        raise BudgetError("the JPEG stream does not start with an SOI marker")
    size = len(buf)
    pos = 2
    frame: tuple[int, int, int, int] | None = None
    scans = 0
    while pos < size:
        match = _MARKER.search(buf, pos)
        if match is None:
            break
        marker = buf[match.start() + 1]
        pos = match.end()
        if marker in _STANDALONE:
            continue
        if marker == 0xD9:  # EOI
            break
        if pos + 2 > size:
            raise BudgetError("a JPEG marker segment is truncated")
        length = (buf[pos] << 8) | buf[pos + 1]
        if length < 2 or pos + length > size:
            raise BudgetError("a JPEG marker segment runs past the end of the data")
        if marker in _SOF and frame is None:
            if length < 8:
                raise BudgetError("the JPEG frame header is truncated")
            precision = buf[pos + 2]
            height = (buf[pos + 3] << 8) | buf[pos + 4]
            width = (buf[pos + 5] << 8) | buf[pos + 6]
            frame = (width, height, buf[pos + 7], precision)
        elif marker == 0xDA:
            scans += 1
        pos += length
    if frame is None:
        raise BudgetError("the JPEG stream has no frame header (SOF)")
    width, height, components, precision = frame
    return CodestreamInfo(width, height, components, precision, scans)


def check_jpeg_scans(info: CodestreamInfo) -> None:
    """`BudgetError` (too large) when a JPEG has more scans than `MAX_JPEG_SCANS`, or more
    scan x pixel passes than `MAX_JPEG_SCAN_PIXELS` (a CPU bomb)."""
    if info.scans > MAX_JPEG_SCANS:
        raise BudgetError(f"the JPEG has {info.scans:,} scans, more than the limit of "
                          f"{MAX_JPEG_SCANS} (CPU-bomb guard)", too_large=True)
    if info.scans * info.width * info.height > MAX_JPEG_SCAN_PIXELS:
        raise BudgetError(f"the JPEG's {info.scans} scans of {info.width}x{info.height} pixels "
                          f"exceed the decode budget of {MAX_JPEG_SCAN_PIXELS:,} scan-pixels "
                          "(CPU-bomb guard)", too_large=True)


# -- JPEG 2000 ------------------------------------------------------------------------------------
def j2k_info(data: bytes | bytearray | memoryview, search: int = 65_536) -> CodestreamInfo:
    """Image size, components, precision and tile count from a JPEG 2000 SIZ marker segment.

    `data`: a J2K codestream or a JP2 file (the codestream's SOC+SIZ is searched for in the
    first `search` bytes). Width and height are the image area (Xsiz - XOsiz, Ysiz - YOsiz).
    `BudgetError` when there is no SIZ or its values are inconsistent."""
    head = bytes(memoryview(data)[:search])
    start = head.find(b"\xff\x4f\xff\x51")
    if start < 0:
        raise BudgetError("the JPEG 2000 data has no SIZ marker")
    siz = bytes(memoryview(data)[start + 4: start + 4 + 39])
    if len(siz) < 39:
        raise BudgetError("the JPEG 2000 SIZ marker is truncated")
    (_lsiz, _rsiz, xsiz, ysiz, xo, yo, xt, yt, xto, yto, csiz) = struct.unpack(">HHIIIIIIIIH",
                                                                                siz[:38])
    precision = (siz[38] & 0x7F) + 1
    if not (xsiz > xo and ysiz > yo and xt > 0 and yt > 0 and xto <= xo and yto <= yo
            and csiz > 0):
        raise BudgetError("the JPEG 2000 SIZ marker holds inconsistent sizes")
    tiles = -(-(xsiz - xto) // xt) * -(-(ysiz - yto) // yt)
    return CodestreamInfo(xsiz - xo, ysiz - yo, csiz, precision, 0, tiles)


# -- RLE Lossless (DICOM PS3.5 Annex G) -----------------------------------------------------------
def rle_segments(frame: bytes | bytearray | memoryview) -> int:
    """Number of segments an RLE Lossless frame declares (its 64-byte header), after checking
    that the segment offsets are increasing and inside the frame; `BudgetError` otherwise."""
    head = bytes(memoryview(frame)[:64])
    if len(head) < 64:
        raise BudgetError("the RLE frame is shorter than its 64-byte header")
    values = struct.unpack("<16I", head)
    count, offsets = values[0], values[1:]
    if not 1 <= count <= 15:
        raise BudgetError(f"the RLE header declares {count} segments (1 to 15 allowed)")
    used = offsets[:count]
    if used[0] != 64 or any(b <= a for a, b in itertools.pairwise(used)) \
            or used[-1] >= len(frame):
        raise BudgetError("the RLE segment offsets are out of order or outside the frame")
    return count


# -- TIFF -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TiffLayout:
    """A TIFF's page count (the length of its IFD chain) and the number of strips or tiles its
    first page is stored in."""

    pages: int
    first_page_chunks: int


def tiff_layout(fh: BinaryIO, max_pages: int = MAX_TIFF_PAGES) -> TiffLayout:
    """Walk a TIFF's IFD chain from the open binary file `fh` (classic or BigTIFF).

    Reads each IFD's entry count and next-IFD offset only (plus the first IFD's strip/tile
    offset counts). `BudgetError` when the chain loops, points outside the file, or is longer
    than `max_pages` (too large)."""
    fh.seek(0, 2)
    size = fh.tell()
    fh.seek(0)
    head = fh.read(16)
    order = {b"II": "<", b"MM": ">"}.get(head[:2])
    if order is None or len(head) < 8:
        raise BudgetError("not a TIFF header")
    magic = struct.unpack(order + "H", head[2:4])[0]
    big = magic == 43
    if big:
        if len(head) < 16:
            raise BudgetError("the BigTIFF header is truncated")
        offset = struct.unpack(order + "Q", head[8:16])[0]
        count_fmt, entry_size, next_fmt = "Q", 20, "Q"
    elif magic == 42:
        offset = struct.unpack(order + "I", head[4:8])[0]
        count_fmt, entry_size, next_fmt = "H", 12, "I"
    else:
        raise BudgetError("not a TIFF header")
    count_size, next_size = struct.calcsize(count_fmt), struct.calcsize(next_fmt)
    seen: set[int] = set()
    chunks = 0
    while offset:
        if offset in seen:
            raise BudgetError("the TIFF's chain of pages loops back on itself")
        if offset + count_size > size:
            raise BudgetError("a TIFF page offset points outside the file")
        if len(seen) >= max_pages:
            raise BudgetError(f"the TIFF has more than {max_pages:,} pages (CPU-bomb guard)",
                              too_large=True)
        seen.add(offset)
        fh.seek(offset)
        entries = struct.unpack(order + count_fmt, fh.read(count_size))[0]
        end = offset + count_size + entries * entry_size
        if end + next_size > size:
            raise BudgetError("a TIFF page directory runs past the end of the file")
        if len(seen) == 1:
            chunks = _tiff_chunk_count(fh, order, big, entries)
        fh.seek(end)
        offset = struct.unpack(order + next_fmt, fh.read(next_size))[0]
    if not seen:
        raise BudgetError("the TIFF has no page")
    return TiffLayout(len(seen), chunks)


def _tiff_chunk_count(fh: BinaryIO, order: str, big: bool, entries: int) -> int:
    """The value count of StripOffsets (273) or TileOffsets (324) among the current IFD's
    `entries` (the file is positioned at the first entry)."""
    entry_size, fmt = (20, "HHQ") if big else (12, "HHI")
    data = fh.read(entries * entry_size)
    chunks = 0
    for i in range(0, len(data) - entry_size + 1, entry_size):
        tag, _type, count = struct.unpack(order + fmt, data[i: i + struct.calcsize(fmt)])
        if tag in (273, 324):
            chunks = max(chunks, int(count))
    return chunks


# -- PNG ------------------------------------------------------------------------------------------
def png_chunks(fh: BinaryIO, max_chunks: int = MAX_PNG_CHUNKS) -> int:
    """Count a PNG's chunks up to IEND (or the end of the file) from the open binary file `fh`,
    reading chunk headers only. `BudgetError` (too large) beyond `max_chunks`: each chunk costs
    the decoder a Python-level step, so a file of many empty chunks is a CPU bomb."""
    fh.seek(0, 2)
    size = fh.tell()
    pos, count = 8, 0
    while pos + 8 <= size:
        fh.seek(pos)
        length, kind = struct.unpack(">I4s", fh.read(8))
        count += 1
        if count > max_chunks:
            raise BudgetError(f"the PNG has more than {max_chunks:,} chunks (CPU-bomb guard)",
                              too_large=True)
        if kind == b"IEND":
            break
        pos += 12 + length
    return count
