"""The DIMSE node against a real Orthanc: Orthanc sends (C-STORE via its REST API) and is the
forward destination of the SRs; C-ECHO; the allow-list; a CT; malformed data; re-sending."""

from __future__ import annotations

import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

from radlens.pacs.dimse import CANNOT_UNDERSTAND, Destination, Listener
from radlens.pacs.retry import Backoff
from radlens.pacs.work import Processor, sr_uids
from radlens.serve.store import ResultStore
from tests.pacs.conftest import LISTENER_AE, dciodvfy_errors
from tests.pacs.orthanc import Orthanc, film_as_dicom, fresh_copy

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def node(orthanc: Orthanc, listener_port: int, reader: Any,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Listener]:
    """The listener, in this process, forwarding to Orthanc; only ORTHANC and RLTEST allowed."""
    store = tmp_path_factory.mktemp("node") / "node.sqlite"
    forward = Destination("ORTHANC", "127.0.0.1", orthanc.dicom_port, LISTENER_AE,
                          Backoff(3, 0.1))

    def factory(st: ResultStore, deliver: Any, already_sent: Any = None) -> Processor:
        return Processor(st, deliver, already_sent=already_sent, reader=reader)

    listener = Listener(listener_port, LISTENER_AE, store, host="127.0.0.1",
                        allow=["ORTHANC", "RLTEST"], forward=forward,
                        processor_factory=factory)
    listener.start()
    yield listener
    listener.stop()


def _srs_of(orthanc: Orthanc, sop: str) -> list[dict[str, Any]]:
    """SR instances in Orthanc that reference image `sop`."""
    out = []
    for iid in orthanc.post("/tools/find", {"Level": "Instance", "Query": {"Modality": "SR"}}):
        tags = orthanc.get(f"/instances/{iid}/tags?simplify")
        ref = tags["CurrentRequestedProcedureEvidenceSequence"][0]["ReferencedSeriesSequence"][0]
        if ref["ReferencedSOPSequence"][0]["ReferencedSOPInstanceUID"] == sop:
            out.append({"id": iid, **tags})
    return out


def _scu(ae_title: str, port: int) -> Any:
    from pynetdicom import AE

    ae = AE(ae_title=ae_title)
    ae.add_requested_context("1.2.840.10008.1.1")
    ae.add_requested_context("1.2.840.10008.5.1.4.1.1.1",
                             [pydicom.uid.ExplicitVRLittleEndian])
    return ae.associate("127.0.0.1", port, ae_title=LISTENER_AE)


def test_echo_from_orthanc(orthanc: Orthanc, node: Listener) -> None:
    assert orthanc.post("/modalities/radlens/echo", {}) == {}


def test_orthanc_sends_and_receives_the_sr_once(orthanc: Orthanc, node: Listener,
                                                sample_cr: Path, film_pixels: list[np.ndarray],
                                                tmp_path: Path) -> None:
    images = [fresh_copy(sample_cr, tmp_path / "cr.dcm")]
    if film_pixels:
        images.append(film_as_dicom(film_pixels[0], tmp_path / "film.dcm", patient="D1"))
    ids = [orthanc.upload(p) for p in images]
    heads = [pydicom.dcmread(p, stop_before_pixels=True) for p in images]
    answer = orthanc.send("radlens", ids)
    assert answer["InstancesCount"] == len(ids) and answer["FailedInstancesCount"] == 0
    for src in heads:
        srs = _srs_of(orthanc, src.SOPInstanceUID)
        assert len(srs) == 1
        sr = srs[0]
        assert sr["SOPInstanceUID"] == sr_uids(src.StudyInstanceUID, src.SOPInstanceUID)[1]
        assert sr["StudyInstanceUID"] == src.StudyInstanceUID
        ev = sr["CurrentRequestedProcedureEvidenceSequence"][0]
        assert ev["ReferencedSeriesSequence"][0]["SeriesInstanceUID"] == src.SeriesInstanceUID
        path = tmp_path / "sr.dcm"
        path.write_bytes(orthanc.request("GET", f"/instances/{sr['id']}/file"))
        assert dciodvfy_errors(path) == []
    # the same study sent again (and again): answered, nothing read, no second SR
    for _ in range(2):
        assert orthanc.send("radlens", ids)["FailedInstancesCount"] == 0
    assert [o.status for o in list(node.recent)[-2 * len(ids):]] == ["skipped"] * 2 * len(ids)
    for src in heads:
        assert len(_srs_of(orthanc, src.SOPInstanceUID)) == 1
    assert not any(node.store_path.parent.glob("*.dcm"))  # nothing received is kept


def test_a_ct_is_refused_with_its_reason_recorded(orthanc: Orthanc, node: Listener,
                                                  tmp_path: Path) -> None:
    from radlens.samples import sample_path

    ct = fresh_copy(sample_path("ct"), tmp_path / "ct.dcm")
    sop = pydicom.dcmread(ct, stop_before_pixels=True).SOPInstanceUID
    iid = orthanc.upload(ct)
    with pytest.raises(urllib.error.HTTPError) as err:
        orthanc.send("radlens", [iid])
    assert "0x0122" in err.value.read().decode()  # Refused: SOP class not supported
    out = node.recent[-1]
    assert out.status == "refused" and out.error_type == "NotRadiograph"
    assert not _srs_of(orthanc, sop)
    with ResultStore(node.store_path, readonly=True) as st:
        item = st.get(sop)
    assert item is not None and item.status == "failed"
    assert item.error == "refused: CT Image Storage is not a CR/DX radiograph"
    assert orthanc.post("/modalities/radlens/echo", {}) == {}  # still running


def test_an_ae_not_on_the_allow_list_is_rejected(node: Listener) -> None:
    before = node.stats.rejected_associations
    assoc = _scu("INTRUDER", node.port)
    assert assoc.is_rejected
    assert node.stats.rejected_associations == before + 1
    ok = _scu("RLTEST", node.port)
    assert ok.is_established
    assert ok.send_c_echo().Status == 0x0000
    ok.release()


def test_malformed_pixel_data_is_recorded_and_the_node_goes_on(node: Listener,
                                                               sample_cr: Path) -> None:
    ds = pydicom.dcmread(sample_cr)
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.PixelData = ds.PixelData[:1000]  # far fewer bytes than Rows x Columns announce
    assoc = _scu("RLTEST", node.port)
    assert assoc.is_established
    status = assoc.send_c_store(ds)
    assert status.Status == CANNOT_UNDERSTAND
    assert str(status.ErrorComment).startswith("radlens:")
    assert assoc.send_c_echo().Status == 0x0000  # the same association still works
    assoc.release()
    with ResultStore(node.store_path, readonly=True) as st:
        item = st.get(ds.SOPInstanceUID)
    assert item is not None and item.status == "failed"
    assert item.error_type in ("DecodeError", "InputError", "UnsupportedFormatError")


def test_kill_9_and_restart_yield_one_sr_per_film(orthanc: Orthanc, tmp_path: Path) -> None:
    """The test-sized `benchmarks/pacs_roundtrip.py --n`: a listener process (the CLI) is
    killed with SIGKILL midway through a pushed batch, restarted, the batch pushed again."""
    from benchmarks.pacs_roundtrip import kill_and_resume  # its own Orthanc (skips without)

    r = kill_and_resume(4, False, tmp_path, kill_at=0.25, timeout_s=600)
    assert r["srs_at_kill"] >= 1
    assert r["srs"] == r["distinct_srs"] == r["distinct_images_referenced"] == 4  # one SR each
    # every film is recorded done, except one whose SR was delivered in the instant before the
    # kill: the restarted node finds that SR by query and does not send a second one
    assert r["store_done"] + r["delivered_before_kill_unrecorded"] == 4
    assert r["delivered_before_kill_unrecorded"] <= 1
    assert r["killed_node_temp_folders_left"] == 0  # the image in flight was not kept


def test_a_killed_nodes_temporary_folder_is_removed(tmp_path: Path) -> None:
    import os
    import subprocess

    from radlens.pacs.work import sweep_stale

    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = tmp_path / f"radlens-pacs-{gone.pid}-x"
    dead.mkdir()
    (dead / "received.dcm").write_bytes(b"DICM")
    alive = tmp_path / f"radlens-pacs-{os.getppid()}-y"
    alive.mkdir()
    assert sweep_stale(tmp_path) == 1
    assert not dead.exists() and alive.exists()


def test_the_forward_association_is_kept_open_and_reopened(orthanc: Orthanc,
                                                           tmp_path: Path) -> None:
    """Stores and C-FINDs share one association; a dropped one is replaced, not fatal."""
    dest = Destination("ORTHANC", "127.0.0.1", orthanc.dicom_port, LISTENER_AE,
                       Backoff(3, 0.1))
    rng = np.random.default_rng(0)
    heads = []
    for k in range(3):
        path = film_as_dicom(rng.integers(0, 255, (32, 32), dtype=np.uint8),
                             tmp_path / f"f{k}.dcm", patient=f"LINK{k}")
        ds = pydicom.dcmread(path)
        dest.store(ds)
        heads.append(ds)
    assert all(dest.has_instance(d.StudyInstanceUID, d.SeriesInstanceUID, d.SOPInstanceUID)
               for d in heads)
    assert not dest.has_instance(heads[0].StudyInstanceUID, heads[0].SeriesInstanceUID,
                                 "1.2.3.4.5.6.7.8.9")
    assert dest.link.opened == 1
    dest.link.assoc.abort()  # the peer (or the network) dropped it
    late = pydicom.dcmread(film_as_dicom(rng.integers(0, 255, (32, 32), dtype=np.uint8),
                                         tmp_path / "late.dcm", patient="LINK9"))
    dest.store(late)
    assert dest.link.opened == 2
    assert dest.has_instance(late.StudyInstanceUID, late.SeriesInstanceUID,
                             late.SOPInstanceUID)
    dest.close()
    assert dest.link.assoc is None
