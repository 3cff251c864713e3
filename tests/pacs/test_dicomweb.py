"""``radlens pacs pull`` against a real Orthanc: QIDO-RS, WADO-RS, STOW-RS, exactly once."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from radlens.cli.main import main
from radlens.errors import PacsError
from radlens.pacs.dicomweb import Auth, DicomWeb, pull
from radlens.pacs.retry import Backoff
from radlens.pacs.work import Processor, sr_uids, tag
from radlens.serve.store import ResultStore
from tests.pacs.conftest import dciodvfy_errors
from tests.pacs.orthanc import PASSWORD, USER, Orthanc, film_as_dicom, free_port, fresh_copy

pytestmark = pytest.mark.slow


def _srs(pacs: DicomWeb, study: str) -> list[Any]:
    """The SR instances of `study`, retrieved with WADO-RS after a QIDO-RS search."""
    found = pacs.client.search_for_instances(study, search_filters={"Modality": "SR"})
    out = []
    for item in found:
        series, sop = item["0020000E"]["Value"][0], item["00080018"]["Value"][0]
        out.append(pacs.client.retrieve_instance(study, series, sop))
    return out


@pytest.fixture(scope="module")
def studies(orthanc: Orthanc, sample_cr: Path, film_pixels: list[np.ndarray],
            tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Pushed to Orthanc: the chest CR (own study); the films, frontal, in one study with a
    lateral film; a lateral-only study; a CT study."""
    import pydicom

    folder = tmp_path_factory.mktemp("pushed")
    orthanc.delete_all()
    cr = fresh_copy(sample_cr, folder / "cr.dcm")
    frontal = [cr]
    film_study = pydicom.uid.generate_uid()
    for k, px in enumerate(film_pixels):
        frontal.append(film_as_dicom(px, folder / f"film{k}.dcm", patient="P0",
                                     study_uid=film_study))
    lateral = []
    if film_pixels:
        lateral.append(film_as_dicom(film_pixels[0], folder / "lat.dcm", patient="P0",
                                     view="LL", study_uid=film_study))
    lateral_only = film_as_dicom(np.asarray(film_pixels[0]) if film_pixels else
                                 np.full((256, 256), 128, np.uint8), folder / "lat2.dcm",
                                 patient="P9", view="LL")
    from radlens.samples import sample_path

    ct = fresh_copy(sample_path("ct"), folder / "ct.dcm")
    for p in [*frontal, *lateral, lateral_only, ct]:
        orthanc.upload(p)
    heads = {name: pydicom.dcmread(p, stop_before_pixels=True) for name, p in
             [("cr", cr), ("lateral_only", lateral_only), ("ct", ct)]}
    return {"frontal": [pydicom.dcmread(p, stop_before_pixels=True) for p in frontal],
            "lateral": [pydicom.dcmread(p, stop_before_pixels=True) for p in lateral],
            **heads}


@pytest.fixture()
def pacs(orthanc: Orthanc) -> DicomWeb:
    return DicomWeb(orthanc.dicomweb, Auth(USER, PASSWORD), Backoff(3, 0.1))


def test_pull_push_stores_one_valid_sr_per_frontal_image(
        orthanc: Orthanc, studies: dict[str, Any], pacs: DicomWeb, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "pull.sqlite"
    monkeypatch.setenv("RADLENS_PACS_PASSWORD", PASSWORD)
    status = main(["pacs", "pull", orthanc.dicomweb, "--push", "--json", "--store", str(store),
                   "--user", USER, "--modality", "CR,DX"])
    out = json.loads(capsys.readouterr().out)
    frontal, lateral = studies["frontal"], studies["lateral"]
    assert out["done"] == len(frontal), out
    assert status == 0  # the lateral films are refused (reason recorded), not failures
    assert out["refused"] == len(lateral) + 1
    by_study = {s["study"]: s for s in out["studies"]}
    assert by_study[tag(studies["ct"].StudyInstanceUID)]["reason"] == \
        "no CR/DX series in this study"
    assert by_study[tag(studies["lateral_only"].StudyInstanceUID)]["reason"] == \
        "no frontal radiograph in this study"
    text = json.dumps(out)
    for ds in [*frontal, *lateral]:  # the summary names studies and images by hashes only
        assert ds.SOPInstanceUID not in text and ds.StudyInstanceUID not in text

    # every frontal image has exactly one SR in its study, pointing at it, valid
    for src in frontal:
        srs = [sr for sr in _srs(pacs, src.StudyInstanceUID)
               if sr.CurrentRequestedProcedureEvidenceSequence[0]
               .ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
               .ReferencedSOPInstanceUID == src.SOPInstanceUID]
        assert len(srs) == 1
        sr = srs[0]
        assert sr.SOPInstanceUID == sr_uids(src.StudyInstanceUID, src.SOPInstanceUID)[1]
        ev = sr.CurrentRequestedProcedureEvidenceSequence[0]
        assert ev.StudyInstanceUID == src.StudyInstanceUID == sr.StudyInstanceUID
        ref = ev.ReferencedSeriesSequence[0]
        assert ref.SeriesInstanceUID == src.SeriesInstanceUID
        assert ref.ReferencedSOPSequence[0].ReferencedSOPClassUID == src.SOPClassUID
        assert sr.SeriesInstanceUID != src.SeriesInstanceUID and sr.Modality == "SR"
        assert sr.PatientID == src.PatientID
        path = tmp_path / "sr.dcm"
        sr.save_as(path, enforce_file_format=True)
        assert dciodvfy_errors(path) == []
    assert len(_srs(pacs, studies["ct"].StudyInstanceUID)) == 0
    assert len(_srs(pacs, studies["lateral_only"].StudyInstanceUID)) == 0

    # the reasons are recorded per instance
    with ResultStore(store, readonly=True) as st:
        assert st.counts()["done"] == len(frontal)
        for src in [*lateral, studies["lateral_only"]]:
            item = st.get(src.SOPInstanceUID)
            assert item is not None and item.status == "failed"
            assert item.error_type == "NotFrontal" and "ViewPosition LL" in (item.error or "")

    # again with the same store: nothing read, nothing sent
    assert main(["pacs", "pull", orthanc.dicomweb, "--push", "--json", "--store", str(store),
                 "--user", USER]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["done"] == 0 and again["skipped"] == len(frontal), again

    # with a new store (another node, a lost store): the PACS is asked, nothing duplicated
    fresh = tmp_path / "fresh.sqlite"
    assert main(["pacs", "pull", orthanc.dicomweb, "--push", "--json", "--store", str(fresh),
                 "--user", USER, "--study", frontal[0].StudyInstanceUID]) == 0
    third = json.loads(capsys.readouterr().out)
    assert third["done"] == 0 and third["skipped"] >= 1
    assert {i["reason"] for s in third["studies"] for i in s["instances"]} == \
        {"its SR is already in the PACS"}
    for src in frontal:
        assert len(_srs(pacs, src.StudyInstanceUID)) == sum(
            f.StudyInstanceUID == src.StudyInstanceUID for f in frontal)


def test_a_crash_after_stow_before_recording_yields_no_second_sr(
        orthanc: Orthanc, studies: dict[str, Any], pacs: DicomWeb, reader: Any,
        tmp_path: Path) -> None:
    """The SR reached the PACS but the node died before recording it (simulated by an empty
    store and by not asking the PACS first): sending it again keeps one SR."""
    src = studies["cr"]
    before = len(_srs(pacs, src.StudyInstanceUID))
    assert before == 1  # from the test above (module order)
    with ResultStore(tmp_path / "lost.sqlite") as st, \
            Processor(st, pacs.store, reader=reader) as proc:
        ds = pacs.retrieve(next(r for r in pacs.instances(src.StudyInstanceUID)
                                if r.sop == src.SOPInstanceUID))
        out = proc.process(ds)
    assert out.status == "done"
    assert len(_srs(pacs, src.StudyInstanceUID)) == 1


def test_dry_run_sends_nothing(orthanc: Orthanc, studies: dict[str, Any], pacs: DicomWeb,
                               reader: Any) -> None:
    src = studies["cr"]
    n = len(orthanc.get("/instances"))
    with Processor(None, reader=reader) as proc:
        results = pull(pacs, None, study=src.StudyInstanceUID, processor=proc)
    # the SR is in the PACS already (first test), so it is skipped by query; without it read
    assert [o.status for r in results for o in r.outcomes] in (["skipped"], ["done"])
    assert len(orthanc.get("/instances")) == n


def test_wrong_password_is_a_clear_error(orthanc: Orthanc) -> None:
    pacs = DicomWeb(orthanc.dicomweb, Auth(USER, "wrong"), Backoff(3, 0.01))
    with pytest.raises(PacsError, match="HTTP 401 \\(the PACS refused the credentials\\)"):
        pacs.studies()


def test_down_pacs_is_retried_then_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}/dicom-web"  # nothing listens there
    status = main(["pacs", "pull", url, "--retries", "3", "--retry-delay", "0.01"])
    err = capsys.readouterr().err
    assert status == 2
    assert "no connection (down or unreachable), after 3 attempts" in err
    assert "QIDO-RS study search at " + url in err


class _Flaky(http.server.BaseHTTPRequestHandler):
    """Answers 503 to the first requests (a fault injector, not a PACS: it never answers a
    DICOMweb request successfully)."""

    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(503)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def flaky() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/dicom-web"
    server.shutdown()


def test_5xx_is_retried_with_backoff(flaky: str) -> None:
    _Flaky.hits = 0
    pacs = DicomWeb(flaky, backoff=Backoff(4, 0.01, 2.0))
    with pytest.raises(PacsError, match=r"HTTP 503, after 4 attempts over 0\.1 s"):
        pacs.studies()  # waits 0.01 + 0.02 + 0.04 s between the four attempts
    assert _Flaky.hits == 4


def test_bearer_token_and_ca_file_reach_the_session(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    session = Auth(token="t0k3n", ca_file=ca).session()
    assert session.headers["Authorization"] == "Bearer t0k3n"
    assert session.verify == str(ca)
    with pytest.raises(Exception, match="either a user and password or a bearer token"):
        Auth(user="u", token="t")


def test_overlay_goes_into_the_study_as_one_derived_secondary_capture(
        orthanc: Orthanc, sample_cr: Path, pacs: DicomWeb, reader: Any,
        tmp_path: Path) -> None:
    import pydicom

    path = fresh_copy(sample_cr, tmp_path / "cr.dcm")
    orthanc.upload(path)
    src = pydicom.dcmread(path, stop_before_pixels=True)
    study = src.StudyInstanceUID

    def overlays() -> list[Any]:
        found = pacs.client.search_for_instances(study, search_filters={"Modality": "OT"})
        return [pacs.client.retrieve_instance(study, i["0020000E"]["Value"][0],
                                              i["00080018"]["Value"][0]) for i in found]

    for attempt in range(2):  # the second pull finds the instance done: nothing sent again
        with ResultStore(tmp_path / "overlay.sqlite") as st, \
                Processor(st, pacs.store, reader=reader, overlay=True) as proc:
            results = pull(pacs, st, study=study, push=True, processor=proc)
        assert [o.status for r in results for o in r.outcomes] == \
            (["done"] if attempt == 0 else ["skipped"])
        found = overlays()
        assert len(found) == 1 and len(_srs(pacs, study)) == 1
    sc = found[0]
    assert list(sc.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    assert sc.StudyInstanceUID == study and sc.SeriesInstanceUID != src.SeriesInstanceUID
    assert sc.PatientID == src.PatientID and sc.BurnedInAnnotation == "YES"
    ref = sc.SourceImageSequence[0]
    assert (ref.ReferencedSOPInstanceUID, ref.ReferencedSOPClassUID) == \
        (src.SOPInstanceUID, src.SOPClassUID)
    assert sc.PhotometricInterpretation == "RGB" and max(sc.Rows, sc.Columns) <= 1024
    assert sc.pixel_array.shape == (sc.Rows, sc.Columns, 3)
    sc.save_as(tmp_path / "sc.dcm", enforce_file_format=True)
    assert dciodvfy_errors(tmp_path / "sc.dcm") == []
