"""Bundled sample images, for trying radlens without data of one's own.

Samples come from the ``pydicom-data`` package (installed with ``radlens[sample]``), so nothing is
downloaded at run time and no image is copied into radlens.
"""

from __future__ import annotations

from pathlib import Path

from radlens.errors import MissingDependencyError, RadlensError

#: sample name -> (file name in pydicom-data, description)
SAMPLES: dict[str, tuple[str, str]] = {
    "chest-cr": ("RG1_UNCR.dcm", "adult PA chest CR, 1841x1955, 15-bit MONOCHROME1, uncompressed"),
    "chest-cr-j2k": ("RG1_J2KR.dcm", "the same radiograph, JPEG 2000 lossless"),
    "ct": ("CT_small.dcm", "a small CT slice (not a radiograph: QC rejects it)"),
}


def sample_path(name: str = "chest-cr") -> Path:
    """Path of the bundled sample `name` (see `SAMPLES`); raises a `RadlensError` if unavailable."""
    if name not in SAMPLES:
        raise RadlensError(f"unknown sample {name!r}; choose one of {', '.join(SAMPLES)}")
    try:
        from pydicom.data import get_testdata_file
    except ImportError as exc:  # pragma: no cover - pydicom is a core dependency
        raise MissingDependencyError("pydicom is not installed") from exc
    try:
        path = get_testdata_file(SAMPLES[name][0], download=False)
    except Exception:
        path = None
    if not path:
        raise MissingDependencyError(
            f"sample {name!r} needs the pydicom-data package: pip install 'radlens[sample]'")
    return Path(str(path))
