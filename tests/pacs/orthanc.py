"""A throw-away Orthanc for the PACS tests and benchmark: started on loopback, free ports,
DICOMweb on, storage in a temporary folder, a config written here; and films as DICOM.

`Orthanc.start()` returns once its REST API answers; `stop()` ends it (SIGTERM, then SIGKILL)
and removes its folder. `films_as_dicom` wraps development films (PNG/JPEG) as DX For
Presentation instances of made-up patients, so they can be pushed like a modality would.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

DICOMWEB_PLUGIN_DIRS = ("/usr/share/orthanc/plugins", "/usr/lib/orthanc")
USER, PASSWORD = "radlens", "test-secret"


def orthanc_binary() -> str | None:
    """The ``Orthanc`` executable, or None."""
    return shutil.which("Orthanc") or next(
        (p for p in ("/usr/sbin/Orthanc", "/usr/bin/Orthanc") if Path(p).is_file()), None)


def dicomweb_plugin() -> str | None:
    """The DICOMweb plugin's shared library, or None."""
    for d in DICOMWEB_PLUGIN_DIRS:
        for p in sorted(Path(d).glob("libOrthancDicomWeb.so*")) if Path(d).is_dir() else []:
            return str(p)
    return None


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Orthanc:
    """One Orthanc process; `modalities` maps a name to (AE, host, port) at start."""

    aet: str = "ORTHANC"
    modalities: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    http_port: int = 0
    dicom_port: int = 0
    folder: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The REST root."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb(self) -> str:
        """The DICOMweb root."""
        return self.url + "/dicom-web"

    def start(self, timeout_s: float = 60.0) -> Orthanc:
        """Write the config and start Orthanc; returns once its API answers."""
        binary, plugin = orthanc_binary(), dicomweb_plugin()
        if binary is None or plugin is None:
            raise RuntimeError("Orthanc or its DICOMweb plugin is not installed")
        self.folder = Path(tempfile.mkdtemp(prefix="radlens-orthanc-"))
        self.http_port, self.dicom_port = free_port(), free_port()
        config = {
            "Name": "radlens-test", "StorageDirectory": str(self.folder / "db"),
            "IndexDirectory": str(self.folder / "db"), "HttpPort": self.http_port,
            "DicomPort": self.dicom_port, "DicomAet": self.aet, "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True, "RegisteredUsers": {USER: PASSWORD},
            "Plugins": [plugin], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "DicomModalities": {k: list(v) for k, v in self.modalities.items()},
            "DicomAlwaysAllowStore": True, "DicomAlwaysAllowFind": True,
            "DicomScuTimeout": 300, "DicomAssociationCloseDelay": 0,
            "OverwriteInstances": False, "StableAge": 1, "HttpTimeout": 600,
            "ConcurrentJobs": 2, "LogExportedResources": False,
        }
        config = {k: v for k, v in config.items() if v is not None}
        cfg = self.folder / "orthanc.json"
        cfg.write_text(json.dumps(config, indent=1), encoding="utf-8")
        log = (self.folder / "orthanc.log").open("wb")
        self.proc = subprocess.Popen([binary, str(cfg)], cwd=self.folder, stdout=log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("Orthanc exited at start-up: " + self.log_tail())
            try:
                self.get("/system")
                return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("Orthanc did not answer in time")

    def log_tail(self, n: int = 2000) -> str:
        """The end of Orthanc's log."""
        p = (self.folder or Path("/nonexistent")) / "orthanc.log"
        return p.read_text(errors="replace")[-n:] if p.is_file() else ""

    def stop(self) -> None:
        """Stop Orthanc and remove its folder."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)

    # -- REST ----------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str = "application/json", timeout: float = 600) -> Any:
        """One REST call; the JSON answer (or the bytes when not JSON)."""
        import base64
        import urllib.request

        req = urllib.request.Request(self.url + path, data=body, method=method)
        req.add_header("Authorization", "Basic " + base64.b64encode(
            f"{USER}:{PASSWORD}".encode()).decode())
        if body is not None:
            req.add_header("Content-Type", content_type)
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            data = resp.read()
        try:
            return json.loads(data)
        except ValueError:
            return data

    def get(self, path: str) -> Any:
        """GET `path`."""
        return self.request("GET", path)

    def post(self, path: str, payload: Any) -> Any:
        """POST JSON `payload` (or raw bytes) to `path`."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        ctype = "application/dicom" if isinstance(payload, bytes) else "application/json"
        return self.request("POST", path, body, ctype)

    def upload(self, path: str | Path) -> str:
        """Store a DICOM file (as a modality would); its Orthanc instance id."""
        answer = self.post("/instances", Path(path).read_bytes())
        return str(answer["ID"])

    def put_modality(self, name: str, aet: str, host: str, port: int) -> None:
        """Declare (or replace) a DICOM modality."""
        body = json.dumps({"AET": aet, "Host": host, "Port": port}).encode()
        self.request("PUT", f"/modalities/{name}", body)

    def send(self, modality: str, ids: Sequence[str], asynchronous: bool = False) -> Any:
        """C-STORE instances (Orthanc ids) to `modality`; the job when asynchronous."""
        return self.post(f"/modalities/{modality}/store",
                         {"Resources": list(ids), "Synchronous": not asynchronous})

    def instances_of(self, modality: str | None = None) -> list[dict[str, Any]]:
        """Every instance Orthanc holds with its main tags (optionally one modality)."""
        out = []
        for iid in self.get("/instances"):
            tags = self.get(f"/instances/{iid}/simplified-tags")
            if modality is None or tags.get("Modality") == modality:
                out.append({"id": iid, **tags})
        return out

    def delete_all(self) -> None:
        """Remove every patient (a clean PACS)."""
        for pid in self.get("/patients"):
            self.request("DELETE", f"/patients/{pid}")


def _uid() -> str:
    from pydicom.uid import generate_uid

    return str(generate_uid())


def film_as_dicom(pixels: np.ndarray, out: Path, *, patient: str, view: str = "PA",
                  study_uid: str | None = None, modality: str = "DX") -> Path:
    """Write grey `pixels` (uint8, air dark) as a DX For Presentation instance of a made-up
    patient at `out`; returns `out`."""
    from pydicom.dataset import Dataset as Ds
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    sop_class = ("1.2.840.10008.5.1.4.1.1.1.1" if modality == "DX"
                 else "1.2.840.10008.5.1.4.1.1.1")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = _uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Ds()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid or _uid()
    ds.SeriesInstanceUID = _uid()
    ds.PatientName, ds.PatientID = f"TEST^{patient}", patient
    ds.PatientBirthDate, ds.PatientSex = "19700101", "O"
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20260101", "120000", "1", ""
    ds.ReferringPhysicianName = ""
    ds.Modality, ds.ViewPosition, ds.BodyPartExamined = modality, view, "CHEST"
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = int(pixels.shape[0]), int(pixels.shape[1])
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.PixelData = np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()
    ds.save_as(out, enforce_file_format=True)
    return out


def films(folder: Path, n: int) -> Iterator[np.ndarray]:
    """Up to `n` grey films (uint8) from a folder of PNG/JPEG images, in name order."""
    from PIL import Image

    for p in sorted(folder.iterdir())[:n]:
        if p.suffix.lower() in (".png", ".jpg", ".jpeg"):
            yield np.asarray(Image.open(p).convert("L"))


def fresh_copy(src: Path, out: Path, **changes: str) -> Path:
    """A copy of DICOM file `src` at `out` with new Study/Series/SOP Instance UIDs (or the
    given ones: StudyInstanceUID=..., ...)."""
    import pydicom

    ds = pydicom.dcmread(src)
    for kw in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        setattr(ds, kw, changes.get(kw) or _uid())
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(out, enforce_file_format=True)
    return out
