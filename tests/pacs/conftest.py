"""Fixtures of the PACS tests: a real Orthanc on loopback (skipped when not installed), one
shared `Reader`, development films wrapped as DICOM, and the `dciodvfy` check."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pacs.orthanc import Orthanc, dicomweb_plugin, free_port, orthanc_binary

pytest.importorskip("dicomweb_client", reason="radlens[pacs] is not installed")
pytest.importorskip("pynetdicom", reason="radlens[pacs] is not installed")

#: The AE title and port Orthanc knows the in-process listener by.
LISTENER_AE = "RADLENS"


@pytest.fixture(scope="session")
def listener_port() -> int:
    """The port of the tests' in-process listener (declared to Orthanc as 'radlens')."""
    return free_port()


@pytest.fixture(scope="session")
def orthanc(listener_port: int) -> Iterator[Orthanc]:
    """A throw-away Orthanc (DICOMweb on, storage in a temporary folder) for the session."""
    if orthanc_binary() is None:
        pytest.skip("the Orthanc binary is not installed (Debian: apt-get install orthanc "
                    "orthanc-dicomweb)")
    if dicomweb_plugin() is None:
        pytest.skip("Orthanc's DICOMweb plugin is not installed (apt-get install "
                    "orthanc-dicomweb)")
    server = Orthanc(modalities={"radlens": (LISTENER_AE, "127.0.0.1", listener_port)})
    try:
        server.start()
    except RuntimeError as exc:
        pytest.skip(f"Orthanc could not be started: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def reader() -> object:
    """One `Reader` with the bundled models for every PACS test."""
    from radlens.reader import Reader

    return Reader(workers=0)


@pytest.fixture(scope="session")
def sample_cr() -> Path:
    """The pydicom-data chest CR."""
    from radlens.errors import MissingDependencyError
    from radlens.samples import sample_path

    try:
        return sample_path("chest-cr")
    except MissingDependencyError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def film_pixels() -> list[object]:
    """Two adult development films (NIH, 512 px) as grey arrays; [] without the data."""
    from radlens.paths import data_root
    from tests.pacs.orthanc import films

    folder = data_root() / "nih-cxr14" / "images"
    return list(films(folder, 2)) if folder.is_dir() else []


def dciodvfy_errors(path: Path) -> list[str]:
    """The ``Error`` lines dciodvfy prints for `path` (skips the test without dciodvfy)."""
    exe = shutil.which("dciodvfy")
    if exe is None:
        pytest.skip("dciodvfy (Debian dicom3tools) is not installed")
    proc = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=120)
    return [line for line in (proc.stdout + proc.stderr).splitlines()
            if line.startswith("Error")]
