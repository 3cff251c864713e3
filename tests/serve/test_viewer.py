"""The web viewer end to end in headless Chromium (Playwright); skipped without either.

The server runs in-process (uvicorn, loopback) with a stand-in interpreter that returns one
positive finding with a heatmap and a box and a report sentence pointing at it, so the test
does not depend on which models are installed. Set RADLENS_SCREENSHOT to keep the screenshot.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = os.environ.get("RADLENS_CHROMIUM", "/usr/bin/chromium")
if not Path(CHROMIUM).is_file():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

import uvicorn  # noqa: E402

from radlens.schema import (  # noqa: E402
    Box,
    Call,
    Finding,
    Interpretation,
    Region,
    RegionKind,
    Report,
    Sentence,
)
from radlens.schema_json import from_json, to_json  # noqa: E402
from radlens.serve import api  # noqa: E402
from tests.serve.conftest import write_png  # noqa: E402

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
SENTENCE = "Small left pleural effusion."
_REAL_INTERPRET = api._interpret


def _fake_interpret(path: Path, rid: str, cfg: api.ServeConfig, model: str | None,
                    explain: bool, decoder: api.DecodePool, prior: Path | None = None,
                    force: bool = False, prior_offset_days: float | None = None) -> str:
    base = from_json(_REAL_INTERPRET(path, rid, cfg, model, explain, decoder, prior, force,
                                     prior_offset_days), Interpretation)
    heat = np.zeros((8, 8), dtype=np.float16)
    heat[4:7, 5:7] = 1.0
    region = Region(id="r1", kind=RegionKind.FINDING, label="Effusion", heatmap=heat,
                    box=Box(160, 128, 224, 224), side="left")
    finding = Finding(label="Effusion", probability=0.87, threshold=0.5, call=Call.POSITIVE,
                      model="stand-in", region_ids=("r1",))
    report = Report(sentences=(Sentence(SENTENCE, "findings", ("Effusion",), ("r1",)),),
                    generator="stand-in")
    return to_json(dataclasses.replace(base, findings=(finding,), regions=(region,),
                                       report=report))


@pytest.fixture()
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(api, "_interpret", _fake_interpret)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(api.create_app(), host="127.0.0.1", port=port,
                                        log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def test_viewer_end_to_end(server: str, tmp_path: Path, chest_like: np.ndarray) -> None:
    image = write_png(tmp_path / "chest.png", chest_like)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 800}, accept_downloads=True)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server + "/")
        page.set_input_files("#file", str(image))
        try:
            page.wait_for_function(
                "document.getElementById('status').textContent.startsWith('done')",
                timeout=20000)
        except Exception as exc:
            raise AssertionError(f"status {page.inner_text('#status')!r}, errors {errors}") from exc
        row = page.locator("#findings tbody tr").first
        assert row.inner_text().split() == ["Effusion", "0.87", "positive", "0.50"]
        assert SENTENCE in page.input_value("#report")

        def pixel(x: int, y: int) -> list[int]:
            return list(page.evaluate(f"Array.from(document.getElementById('canvas')"
                                      f".getContext('2d').getImageData({x},{y},1,1).data)"))

        hot = pixel(190, 200)  # inside the heatmap's hot cells
        assert hot[0] > hot[2] + 40, hot  # red-tinted
        page.uncheck("#show-heat")
        grey = pixel(190, 200)
        assert abs(grey[0] - grey[2]) < 3, grey  # heatmap off: plain grey
        page.check("#show-heat")
        page.locator("#sentences span").first.hover()
        assert "active" in (page.get_attribute("#sentences span", "class") or "")
        before = pixel(20, 128)
        page.fill("#level", "60")
        page.dispatch_event("#level", "input")
        assert pixel(20, 128)[0] > before[0]  # lower level: brighter display
        page.fill("#report", "FINDINGS: edited by the reader.")
        with page.expect_download() as dl:
            page.click("#export")
        saved = tmp_path / "report.txt"
        dl.value.save_as(saved)
        assert saved.read_text() == "FINDINGS: edited by the reader."
        page.fill("#level", "128")
        page.dispatch_event("#level", "input")
        shot = tmp_path / "viewer.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert not errors, errors
    assert shot.stat().st_size > 10_000
    keep = os.environ.get("RADLENS_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
