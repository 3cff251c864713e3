"""The REST API (FastAPI): upload a radiograph, get its `Interpretation` as JSON.

Routes (OpenAPI at ``/docs`` and ``/openapi.json``):

- ``POST /v1/interpret`` (multipart field ``file``: DICOM, PNG, JPEG or TIFF) -> Interpretation
- ``GET /v1/interpretations/{id}``, ``.../overlay.png``, ``.../image.png`` (the recent results)
- ``GET /v1/models`` (model cards), ``GET /healthz``, and the web viewer at ``/viewer/``.

Safety: uploads above `ServeConfig.max_upload_bytes` get 413 and excess concurrent uploads 429
(`radlens.serve.limits`); decoding refuses images above `max_pixels`; every bad input is a 4xx
``{"error": {"type", "message"}}``. With API keys configured, ``/v1/*`` needs
``Authorization: Bearer <key>`` or ``X-API-Key: <key>`` (compared in constant time), else 401.
Logs name results by their random id only: never a file name or anything from the image.
"""

from __future__ import annotations

import dataclasses
import hmac
import importlib.util
import logging
import shutil
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import anyio
import numpy as np
from fastapi import Depends, FastAPI, File, Header, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image as PILImage

from radlens._version import __version__
from radlens.errors import (
    DecodeError,
    ImageTooLargeError,
    InputError,
    ModelError,
    QualityError,
    RadlensError,
    UnsupportedFormatError,
)
from radlens.schema import Interpretation
from radlens.serve.limits import UploadGuard

log = logging.getLogger("radlens.serve")

ALLOWED_FORMATS = ("dicom", "png", "jpeg", "tiff")
WEB_DIR = Path(__file__).parent / "web"
_STATUS = {InputError: 400, UnsupportedFormatError: 415, DecodeError: 422,
           ImageTooLargeError: 413, QualityError: 422, ModelError: 400}


@dataclass(frozen=True)
class ServeConfig:
    """Server settings. Sizes in bytes / pixels; `keep`: how many recent results (and their
    uploads, on disk) stay available under ``/v1/interpretations``; `api_keys`: accepted keys
    (empty: no authentication); `max_concurrent`: images interpreted at once; `max_queue`:
    uploads that may wait for a free slot before 429 is answered."""

    max_upload_bytes: int = 50_000_000
    max_pixels: int = 40_000_000
    max_concurrent: int = 2
    max_queue: int = 8
    keep: int = 200
    api_keys: tuple[str, ...] = ()
    model: str | None = None
    explain: bool = True


class ApiError(Exception):
    """An error answered as ``{"error": {"type", "message"}}`` with HTTP `status`."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_type, self.message = status, error_type, message


class ResultCache:
    """The most recent `keep` results: Interpretation JSON in memory, the upload on disk."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.dir = Path(tempfile.mkdtemp(prefix="radlens-serve-"))
        self._items: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def upload_path(self, rid: str) -> Path:
        """Where the upload of result `rid` is kept."""
        return self.dir / f"{rid}.upload"

    def add(self, rid: str, text: str) -> None:
        """Keep result `rid` (its upload must already be at `upload_path`); evict the oldest."""
        with self._lock:
            self._items[rid] = text
            while len(self._items) > self.keep:
                old, _ = self._items.popitem(last=False)
                for p in self.dir.glob(f"{old}.*"):
                    p.unlink(missing_ok=True)

    def get(self, rid: str) -> str:
        """The JSON of result `rid`; `ApiError` 404 when unknown or evicted."""
        with self._lock:
            text = self._items.get(rid)
        if text is None:
            raise ApiError(404, "NotFound", "no such interpretation (unknown id, or evicted)")
        return text

    def close(self) -> None:
        """Delete every kept upload."""
        shutil.rmtree(self.dir, ignore_errors=True)


def _check_key(keys: tuple[str, ...], offered: str | None) -> bool:
    if offered is None:
        return False
    ok = False
    for key in keys:  # compare with every key, in constant time, so timing reveals nothing
        ok |= hmac.compare_digest(key.encode(), offered.encode())
    return ok


def _interpret(path: Path, rid: str, cfg: ServeConfig, model: str | None,
               explain: bool) -> str:
    from radlens.io import load_image
    from radlens.pipeline import read
    from radlens.schema_json import to_json

    image = load_image(path, max_pixels=cfg.max_pixels)
    if image.meta.format not in ALLOWED_FORMATS:
        raise UnsupportedFormatError(f"{image.meta.format} uploads are not accepted "
                                     "(send DICOM, PNG, JPEG or TIFF)")
    meta = dataclasses.replace(image.meta, source="upload")
    interp = read(dataclasses.replace(image, meta=meta), model=model or cfg.model,
                  explain=explain)
    return to_json(dataclasses.replace(interp, id=rid))


def _grey_png(path: Path, target: Path, max_pixels: int, max_side: int = 1024) -> None:
    from radlens.io import load_image

    pixels = load_image(path, max_pixels=max_pixels).pixels
    im = PILImage.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8))
    im.thumbnail((max_side, max_side))
    im.save(target, format="PNG")


def _overlay_png(path: Path, text: str, target: Path, max_pixels: int) -> None:
    from radlens.io import load_image
    from radlens.render.overlay import render_overlay
    from radlens.schema_json import from_json

    render_overlay(load_image(path, max_pixels=max_pixels), from_json(text, Interpretation),
                   target)


def _models() -> dict[str, Any]:
    if importlib.util.find_spec("radlens.models.registry") is None:
        return {"models": [], "default": None}
    from radlens.models.registry import default_model, list_cards

    return {"models": list_cards(), "default": default_model("classify")}


def create_app(cfg: ServeConfig | None = None) -> FastAPI:
    """Build the FastAPI application for `cfg` (default settings when None)."""
    cfg = cfg or ServeConfig()
    cache = ResultCache(cfg.keep)
    limiter = anyio.CapacityLimiter(cfg.max_concurrent)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        cache.close()

    app = FastAPI(title="radlens", version=__version__, lifespan=lifespan,
                  description="Chest X-ray interpretation: upload an image, get findings, "
                  "regions and quality checks as an Interpretation.")
    app.state.cfg, app.state.cache = cfg, cache

    async def require_key(authorization: Annotated[str | None, Header()] = None,
                          x_api_key: Annotated[str | None, Header()] = None) -> None:
        if not cfg.api_keys:
            return
        offered = x_api_key
        if authorization and authorization.lower().startswith("bearer "):
            offered = authorization[7:].strip()
        if not _check_key(cfg.api_keys, offered):
            raise ApiError(401, "Unauthorized", "a valid API key is required "
                           "(Authorization: Bearer <key> or X-API-Key)")

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"error": {"type": exc.error_type, "message": exc.message}},
                            status_code=exc.status, headers=headers)

    @app.exception_handler(RadlensError)
    async def _radlens_error(request: Request, exc: RadlensError) -> JSONResponse:
        status = next((s for t, s in _STATUS.items() if isinstance(exc, t)), 422)
        body: dict[str, Any] = {"type": type(exc).__name__, "message": " ".join(
            exc.reason.split())}
        if isinstance(exc, QualityError):
            body["issues"] = [dataclasses.asdict(i) for i in exc.issues
                              if dataclasses.is_dataclass(i) and not isinstance(i, type)]
        return JSONResponse({"error": body}, status_code=status)

    auth = [Depends(require_key)]

    @app.post("/v1/interpret", dependencies=auth, tags=["interpret"],
              summary="Interpret one radiograph (DICOM, PNG, JPEG or TIFF upload)")
    async def interpret(file: Annotated[UploadFile, File(description="the image file")],
                        explain: Annotated[bool, Query()] = cfg.explain,
                        model: Annotated[str | None, Query()] = None) -> Response:
        rid = uuid.uuid4().hex
        start = time.perf_counter()
        target = cache.upload_path(rid)
        with target.open("wb") as fh:
            await anyio.to_thread.run_sync(shutil.copyfileobj, file.file, fh)
        try:
            text = await anyio.to_thread.run_sync(_interpret, target, rid, cfg, model, explain,
                                                  limiter=limiter)
        except BaseException as exc:
            target.unlink(missing_ok=True)
            log.info("interpret id=%s failed: %s (%.0f ms)", rid, type(exc).__name__,
                     1000 * (time.perf_counter() - start))
            raise
        cache.add(rid, text)
        log.info("interpret id=%s ok, %d bytes (%.0f ms)", rid, target.stat().st_size,
                 1000 * (time.perf_counter() - start))
        return Response(text, media_type="application/json")

    @app.get("/v1/interpretations/{rid}", dependencies=auth, tags=["interpret"])
    async def get_interpretation(rid: str) -> Response:
        return Response(cache.get(rid), media_type="application/json")

    @app.get("/v1/interpretations/{rid}/image.png", dependencies=auth, tags=["interpret"],
             response_class=FileResponse, summary="The uploaded image as 8-bit grey PNG")
    async def get_image(rid: str) -> FileResponse:
        cache.get(rid)
        target = cache.dir / f"{rid}.image.png"
        if not target.exists():
            await anyio.to_thread.run_sync(_grey_png, cache.upload_path(rid), target,
                                           cfg.max_pixels, limiter=limiter)
        return FileResponse(target, media_type="image/png")

    @app.get("/v1/interpretations/{rid}/overlay.png", dependencies=auth, tags=["interpret"],
             response_class=FileResponse, summary="The image with findings drawn over it")
    async def get_overlay(rid: str) -> FileResponse:
        text = cache.get(rid)
        if importlib.util.find_spec("radlens.render.overlay") is None:
            raise ApiError(404, "NoRenderer", "no overlay renderer is installed")
        target = cache.dir / f"{rid}.overlay.png"
        if not target.exists():
            await anyio.to_thread.run_sync(_overlay_png, cache.upload_path(rid), text, target,
                                           cfg.max_pixels, limiter=limiter)
        return FileResponse(target, media_type="image/png")

    @app.get("/v1/models", dependencies=auth, tags=["models"])
    async def models() -> dict[str, Any]:
        return _models()

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__,
                "busy": cfg.max_concurrent - int(limiter.available_tokens),
                "waiting": limiter.statistics().tasks_waiting}

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/viewer/")

    if WEB_DIR.is_dir():
        app.mount("/viewer", StaticFiles(directory=WEB_DIR, html=True), name="viewer")
    app.add_middleware(UploadGuard, path="/v1/interpret", max_bytes=cfg.max_upload_bytes,
                       capacity=cfg.max_concurrent + cfg.max_queue)
    return app
