"""The REST API through FastAPI's TestClient / httpx: results, errors, limits, keys, logs."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import time
import zipfile
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
import httpx
from fastapi.testclient import TestClient
from PIL import Image as PILImage

from radlens.schema import Interpretation
from radlens.schema_json import from_json
from radlens.serve import api
from radlens.serve.api import ServeConfig, create_app

PATIENT_NAME, PATIENT_ID = "Doe^Janet", "PID-99731"


def png_bytes(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    PILImage.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def dicom_bytes(pixels: np.ndarray) -> bytes:
    """A small CR DICOM carrying a patient name and id (which must never reach the logs)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID = PATIENT_NAME, PATIENT_ID
    ds.Modality, ds.ViewPosition = "CR", "PA"
    arr = (pixels * 4095).astype(np.uint16)
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = arr.tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@pytest.fixture()
def client() -> Iterator[TestClient]:
    with TestClient(create_app(ServeConfig(max_upload_bytes=2_000_000, keep=3))) as c:
        yield c


def post(c: TestClient, data: bytes, name: str = "x.png", **kw: object) -> httpx.Response:
    return c.post("/v1/interpret", files={"file": (name, data)}, **kw)  # type: ignore[arg-type]


def test_interpret_png_and_fetch_again(client: TestClient, chest_like: np.ndarray) -> None:
    r = post(client, png_bytes(chest_like), name="Doe_Janet_1957.png")
    assert r.status_code == 200, r.text
    interp = from_json(r.text, Interpretation)
    assert interp.image.source == "upload"  # neither the client's file name nor a server path
    assert (interp.image.width, interp.image.format) == (256, "png")
    again = client.get(f"/v1/interpretations/{interp.id}")
    assert again.status_code == 200 and from_json(again.text, Interpretation) == interp
    image = client.get(f"/v1/interpretations/{interp.id}/image.png")
    assert image.headers["content-type"] == "image/png"
    assert PILImage.open(io.BytesIO(image.content)).size == (256, 256)
    overlay = client.get(f"/v1/interpretations/{interp.id}/overlay.png")
    assert overlay.status_code == 200 and overlay.content.startswith(b"\x89PNG")
    assert client.get("/v1/interpretations/nope").status_code == 404


def test_overlay_without_renderer_is_404(client: TestClient, chest_like: np.ndarray,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    rid = post(client, png_bytes(chest_like)).json()["id"]
    real = api.importlib.util.find_spec
    monkeypatch.setattr(api.importlib.util, "find_spec",
                        lambda n: None if n == "radlens.render.overlay" else real(n))
    r = client.get(f"/v1/interpretations/{rid}/overlay.png")
    assert r.status_code == 404 and "no overlay renderer" in r.json()["error"]["message"]


def test_old_results_are_evicted(client: TestClient, chest_like: np.ndarray) -> None:
    ids = [post(client, png_bytes(np.roll(chest_like, i))).json()["id"] for i in range(4)]
    assert client.get(f"/v1/interpretations/{ids[0]}").status_code == 404
    assert client.get(f"/v1/interpretations/{ids[-1]}").status_code == 200
    assert len(list(client.app.state.cache.dir.glob("*.upload"))) == 3  # type: ignore[attr-defined]


def test_dicom_upload_keeps_identifiers_out_of_logs(client: TestClient, chest_like: np.ndarray,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    r = post(client, dicom_bytes(chest_like), name=f"{PATIENT_NAME}.dcm")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["image"]["format"] == "dicom" and body["image"]["modality"] == "CR"
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert body["id"] in logged  # the request was logged ...
    for secret in (PATIENT_NAME, PATIENT_ID, "Doe", body["image"]["study_instance_uid"]):
        assert secret not in logged  # ... without anything that identifies the patient


def _zip_bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xray.png", b"\0" * 20_000_000)
    return buf.getvalue()


def _png_bomb() -> bytes:
    """A valid PNG header declaring 60000 x 60000 pixels (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (len(data).to_bytes(4, "big") + kind + data
                + zlib.crc32(kind + data).to_bytes(4, "big"))
    ihdr = (60000).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\0" * 1_000_000)) + chunk(b"IEND", b""))


def test_bad_uploads_get_clear_4xx_and_server_stays_up(client: TestClient,
                                                       chest_like: np.ndarray) -> None:
    dcm = dicom_bytes(chest_like)
    cases = {
        "garbage": (os_random := np.random.default_rng(0).bytes(5000), 415),
        "empty": (b"", 400),
        "truncated dicom": (dcm[: len(dcm) // 2], 422),
        "zip bomb": (_zip_bomb(), 415),
        "png bomb": (_png_bomb(), 413),
        "tiny image (fatal QC)": (png_bytes(chest_like[:32, :32]), 422),
    }
    assert len(os_random) == 5000
    for what, (data, status) in cases.items():
        r = post(client, data)
        assert r.status_code == status, (what, r.text)
        error = r.json()["error"]
        assert error["type"] and error["message"], what
        assert "/tmp" not in error["message"] and "radlens-serve" not in error["message"]
    qc = post(client, png_bytes(chest_like[:32, :32])).json()["error"]
    assert qc["type"] == "QualityError" and qc["issues"][0]["code"] == "too_small"
    assert client.get("/healthz").json()["status"] == "ok"
    assert post(client, png_bytes(chest_like)).status_code == 200


def test_upload_size_limit(client: TestClient) -> None:
    big = b"\0" * 3_000_000
    r = post(client, big)
    assert r.status_code == 413 and r.json()["error"]["type"] == "UploadTooLarge"

    def stream() -> Iterator[bytes]:  # no Content-Length: counted while it arrives
        yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n"
        for _ in range(30):
            yield b"\0" * 100_000
    r = client.post("/v1/interpret", content=stream(),
                    headers={"content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413
    assert client.get("/healthz").status_code == 200


def test_api_keys(chest_like: np.ndarray) -> None:
    app = create_app(ServeConfig(api_keys=("k-one", "k-two")))
    with TestClient(app) as c:
        assert c.get("/healthz").status_code == 200
        assert c.get("/v1/models").status_code == 401
        r = c.get("/v1/models", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert post(c, png_bytes(chest_like)).status_code == 401
        assert c.get("/v1/models", headers={"Authorization": "Bearer k-two"}).status_code == 200
        models = c.get("/v1/models", headers={"X-API-Key": "k-one"}).json()
        assert isinstance(models["models"], list)


def test_openapi_lists_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/interpret", "/v1/interpretations/{rid}", "/v1/models", "/healthz"} <= set(paths)
    assert client.get("/docs").status_code == 200


def _burst(app: object, n: int, data: bytes, **headers: str) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return list(await asyncio.gather(*(
                c.post("/v1/interpret", files={"file": ("a.png", data)}, headers=headers)
                for _ in range(n))))
    return asyncio.run(go())


@pytest.fixture()
def slow_interpret(monkeypatch: pytest.MonkeyPatch) -> None:
    real = api._interpret

    def slow(*args: object) -> str:
        time.sleep(0.4)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(api, "_interpret", slow)


def test_full_server_answers_503_with_retry_after(chest_like: np.ndarray,
                                                  slow_interpret: None) -> None:
    app = create_app(ServeConfig(max_concurrent=1, max_queue=1, max_per_client=10))
    rs = _burst(app, 5, png_bytes(chest_like))
    assert sorted(r.status_code for r in rs) == [200, 200, 503, 503, 503]
    busy = [r for r in rs if r.status_code == 503]
    assert all(r.headers["retry-after"] == "1" for r in busy)
    assert busy[0].json()["error"]["type"] == "ServerBusy"


def test_one_client_cannot_take_every_slot(chest_like: np.ndarray,
                                           slow_interpret: None) -> None:
    app = create_app(ServeConfig(max_concurrent=2, max_queue=4, max_per_client=2,
                                 api_keys=("alice", "bob")))
    rs = _burst(app, 4, png_bytes(chest_like), **{"X-API-Key": "alice"})
    assert sorted(r.status_code for r in rs) == [200, 200, 429, 429]
    refused = next(r for r in rs if r.status_code == 429)
    assert refused.json()["error"]["type"] == "TooManyRequests"
    assert int(refused.headers["retry-after"]) >= 1


def test_upload_rate_limit_per_client(chest_like: np.ndarray) -> None:
    app = create_app(ServeConfig(rate_per_minute=2, burst=2))  # a token per 30 s: a slow,
    with TestClient(app) as c:  # loaded machine cannot refill the bucket within the test
        codes = [post(c, png_bytes(chest_like)).status_code for _ in range(2)]
        limited = post(c, png_bytes(chest_like))
    assert codes == [200, 200] and limited.status_code == 429
    assert limited.json()["error"]["type"] == "RateLimited"
    assert 1 <= int(limited.headers["retry-after"]) <= 30  # one token per 30 s


def test_key_is_checked_before_the_body_is_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(ServeConfig(api_keys=("k",)))
    calls: list[object] = []
    monkeypatch.setattr(api, "_interpret", lambda *a: calls.append(a) or "{}")
    with TestClient(app) as c:
        r = c.post("/v1/interpret", content=b"--not multipart at all",
                   headers={"content-type": "multipart/form-data; boundary=zz"})
        assert r.status_code == 401 and r.json()["error"]["type"] == "Unauthorized"
        bad = c.post("/v1/interpret", content=b"--not multipart at all",
                     headers={"content-type": "multipart/form-data; boundary=zz",
                              "X-API-Key": "k"})
        assert bad.status_code == 400 and "error" in bad.json()  # keyed: now it is parsed
    assert calls == []


def test_slow_body_gets_408_and_frees_its_slot(chest_like: np.ndarray) -> None:
    app = create_app(ServeConfig(body_timeout_s=0.5, max_concurrent=1, max_queue=0))

    async def go() -> tuple[httpx.Response, httpx.Response]:
        async def trickle() -> AsyncIterator[bytes]:
            yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n"
            for _ in range(20):
                await asyncio.sleep(0.1)
                yield b"\0"
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            slow = await c.post("/v1/interpret", content=trickle(),
                                headers={"content-type": "multipart/form-data; boundary=b"})
            after = await c.post("/v1/interpret", files={"file": ("a.png",
                                                                  png_bytes(chest_like))})
        return slow, after

    slow, after = asyncio.run(go())
    assert slow.status_code == 408 and slow.json()["error"]["type"] == "RequestTimeout"
    assert after.status_code == 200


def test_every_status_uses_the_error_envelope(client: TestClient,
                                              monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    cases = {
        "unknown route": (client.get("/v1/nothing-here"), 404),
        "wrong method": (client.delete("/v1/models"), 405),
        "no file field": (client.post("/v1/interpret", data={"other": "x"}), 400),
        "empty request": (client.post("/v1/interpret"), 400),
        "empty file": (post(client, b""), 400),
    }
    for what, (r, status) in cases.items():
        assert r.status_code == status, (what, r.text)
        assert set(r.json()) == {"error"} and r.json()["error"]["message"], what
    assert "multipart" in cases["no file field"][0].json()["error"]["message"]

    def broken(*args: object) -> str:
        raise ValueError(f"bad value {PATIENT_NAME} in /srv/private/{PATIENT_ID}")

    monkeypatch.setattr(api, "_interpret", broken)
    caplog.set_level(logging.DEBUG)
    r = post(client, b"\x89PNG whatever")
    assert r.status_code == 500 and r.json()["error"]["type"] == "InternalError"
    logged = "\n".join(rec.getMessage() + str(rec.exc_info or "") for rec in caplog.records)
    for secret in (PATIENT_NAME, PATIENT_ID, "/srv/private"):
        assert secret not in r.text and secret not in logged


def test_stale_upload_folders_are_swept(tmp_path: Path) -> None:
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (tmp_path / "radlens-serve-dead").mkdir()
    (tmp_path / "radlens-serve-dead" / "owner.pid").write_text(dead)
    (tmp_path / "radlens-serve-dead" / "x.upload").write_bytes(b"phi")
    (tmp_path / "radlens-serve-live").mkdir()
    (tmp_path / "radlens-serve-live" / "owner.pid").write_text(str(os.getpid()))
    (tmp_path / "unrelated").mkdir()
    assert api.sweep_stale_uploads(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["radlens-serve-live", "unrelated"]


def test_upload_folder_is_removed_at_shutdown(chest_like: np.ndarray) -> None:
    app = create_app(ServeConfig())
    with TestClient(app) as c:
        assert post(c, png_bytes(chest_like)).status_code == 200
        folder = c.app.state.cache.dir  # type: ignore[attr-defined]
        assert any(folder.glob("*.upload"))
    assert not folder.exists()


def test_cli_serve_rejects_bad_key_file(tmp_path: Path) -> None:
    from radlens.cli.main import main

    empty = tmp_path / "keys.txt"
    empty.write_text("# no keys here\n\n")
    assert main(["serve", "--api-key-file", str(empty)]) == 2


def _big_png(side: int) -> bytes:
    """A `side` x `side` grey gradient PNG: a small file that takes a while to decode."""
    row = np.linspace(0, 255, side).astype(np.uint8)
    buf = io.BytesIO()
    PILImage.fromarray(np.tile(row, (side, 1))).save(buf, format="PNG", compress_level=9)
    return buf.getvalue()


@pytest.mark.skipif(os.name != "posix", reason="killable decode workers need POSIX")
def test_decode_deadline_and_memory_cap_answer_4xx_and_the_server_goes_on(
        chest_like: np.ndarray) -> None:
    app = create_app(ServeConfig(decode_timeout_s=0.02, max_pixels=100_000_000))
    with TestClient(app) as c:
        r = post(c, _big_png(5000))
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error["type"] == "DecodeTimeoutError"
        assert "decode took longer than 0.02 s" in error["message"]
        assert "/tmp" not in error["message"] and "radlens-serve" not in error["message"]
        app.state.decoder.close()
        for w in app.state.decoder._workers:
            w.timeout_s = 30.0
        assert post(c, png_bytes(chest_like)).status_code == 200  # a fresh worker serves on
        assert c.get("/healthz").json()["status"] == "ok"
    app = create_app(ServeConfig(decode_memory_mb=300, max_pixels=100_000_000))
    with TestClient(app) as c:
        r = post(c, _big_png(10000))  # ~0.5 GB to decode and convert
        assert r.status_code == 413, r.text
        assert r.json()["error"]["type"] == "DecodeMemoryError"
        assert "needs more than 300 MB" in r.json()["error"]["message"]
        assert post(c, png_bytes(chest_like)).status_code == 200


def test_docs_and_redoc_work_offline(client: TestClient) -> None:
    """/docs and /redoc load only this server's own assets (no CDN, fonts or validator)."""
    import re

    pytest.importorskip("fastapi_offline")
    for page in ("/docs", "/redoc"):
        r = client.get(page)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        html = r.text
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.IGNORECASE), page
        assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
        assert any(a.endswith(".js") for a in assets), page
        for url in assets:
            assert url.startswith("/"), (page, url)
            got = client.get(url)
            assert got.status_code == 200 and len(got.content) > 1000, (page, url)
        assert "/openapi.json" in html
    assert '"validatorUrl": null' in client.get("/docs").text
    assert client.get("/docs/oauth2-redirect").status_code == 200
    assert "/docs" not in client.get("/openapi.json").json()["paths"]
