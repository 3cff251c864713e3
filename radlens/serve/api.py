"""The REST API (FastAPI): upload a radiograph, get its `Interpretation` as JSON.

Routes (OpenAPI at ``/openapi.json``; Swagger UI at ``/docs`` and ReDoc at ``/redoc``, served
offline from the `fastapi-offline` package's bundled assets under ``/docs-assets/`` -- no CDN;
without that package, FastAPI's own CDN-based pages):

- ``POST /v1/interpret`` (multipart field ``file``: DICOM, PNG, JPEG or TIFF) -> Interpretation;
  an optional field ``prior`` (the patient's earlier film) adds the change since it
  (``comparison``, ``prior``; query ``force``, ``prior_offset_days``)
- ``POST /v1/ask`` (JSON ``{"id", "question"}``: a recent interpretation's id) -> Answer
  (`radlens.tasks.ask`: grounded in that reading, or "cannot answer: <reason>")
- ``GET /v1/interpretations/{id}``, ``.../overlay.png``, ``.../image.png`` (the recent results)
- ``GET /v1/models`` (model cards), ``GET /healthz``, and the web viewer at ``/viewer/``.

Safety (`radlens.serve.limits`, all at the door, before the body is read): with API keys
configured, ``/v1/*`` needs ``Authorization: Bearer <key>`` or ``X-API-Key: <key>`` (compared
in constant time), else 401; uploads above `ServeConfig.max_upload_bytes` get 413; a client over
its upload rate or its concurrent uploads gets 429, and a full server 503, both with
``Retry-After``; a body slower than `body_timeout_s` gets 408. Decoding refuses images above
`max_pixels` and over the decode budgets of `radlens.io.budget`, and runs in a killable child
process (`radlens.io.isolated.DecodePool`, one per concurrent slot): a decode past
`decode_timeout_s` is stopped and answered 422 ("decode took longer than N s"), one needing more
than `decode_memory_mb` 413; a decoder crash is a 422, never a dead server. Every error,
FastAPI's own 404/405/validation errors and unexpected 500s included, is
``{"error": {"type", "message"}}``; messages carry no server path. Logs name results by their
random id only: never a file name, a header value or anything from the image. Uploads live in
a per-process temporary folder that is removed at shutdown, at interpreter exit, and -- for a
process that was killed -- by the next server's start-up.
"""

from __future__ import annotations

import atexit
import dataclasses
import importlib.util
import logging
import os
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
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image as PILImage
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

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
from radlens.io.isolated import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S, DecodePool
from radlens.schema import Interpretation
from radlens.serve.limits import CatchAll, Gate, GateConfig, key_matches

log = logging.getLogger("radlens.serve")

ALLOWED_FORMATS = ("dicom", "png", "jpeg", "tiff")
WEB_DIR = Path(__file__).parent / "web"
TEMP_PREFIX = "radlens-serve-"
_OWNER = "owner.pid"
_STATUS = {InputError: 400, UnsupportedFormatError: 415, DecodeError: 422,
           ImageTooLargeError: 413, QualityError: 422, ModelError: 400}


@dataclass(frozen=True)
class ServeConfig:
    """Server settings. Sizes in bytes / pixels; `keep`: how many recent results (and their
    uploads, on disk) stay available under ``/v1/interpretations``; `api_keys`: accepted keys
    (empty: no authentication); `max_concurrent`: images interpreted at once; `max_queue`:
    uploads that may wait for a slot (beyond both, 503); `max_per_client`: uploads one client
    (API key, else address) may have in progress (beyond, 429); `rate_per_minute` and `burst`:
    each client's upload rate (token bucket; 0 = unlimited; beyond, 429); `body_timeout_s`:
    seconds an admitted upload has to arrive (beyond, 408); `decode_timeout_s`: wall-clock
    seconds one upload may take to decode, in a killable worker process (0: decode in the
    server's own process, without a deadline); `decode_memory_mb`: the memory cap of
    each decode worker in MB (0: none)."""

    max_upload_bytes: int = 50_000_000
    max_pixels: int = 40_000_000
    max_concurrent: int = 2
    max_queue: int = 8
    keep: int = 200
    api_keys: tuple[str, ...] = ()
    model: str | None = None
    explain: bool = True
    max_per_client: int = 4
    rate_per_minute: float = 600.0
    burst: int = 30
    body_timeout_s: float = 60.0
    decode_timeout_s: float = DEFAULT_TIMEOUT_S
    decode_memory_mb: int = DEFAULT_MEMORY_MB


class ApiError(Exception):
    """An error answered as ``{"error": {"type", "message"}}`` with HTTP `status`."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_type, self.message = status, error_type, message


class AskRequest(BaseModel):
    """Body of ``POST /v1/ask``: a recent interpretation's `id` and the `question`."""

    id: str = Field(description="id of a recent interpretation (POST /v1/interpret)",
                    min_length=1, max_length=64)
    question: str = Field(description="the question, in English", max_length=1000)


class ResultCache:
    """The most recent `keep` results: Interpretation JSON in memory, the upload on disk."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        sweep_stale_uploads()
        self.dir = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
        (self.dir / _OWNER).write_text(str(os.getpid()))
        self._items: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        atexit.register(self.close)

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
        """Delete every kept upload (and the folder)."""
        shutil.rmtree(self.dir, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but belongs to someone else
        return True
    return True


def sweep_stale_uploads(root: Path | None = None) -> int:
    """Remove upload folders left in `root` (default: the temp folder) by servers that died
    without cleaning up (SIGKILL, power loss): ``radlens-serve-*`` folders whose owner process
    is gone. Returns how many were removed."""
    removed = 0
    for folder in Path(root or tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"):
        try:
            pid = int((folder / _OWNER).read_text().strip())
        except (OSError, ValueError):
            pid = 0  # no owner recorded: an older server's folder, or a half-made one
        if pid and _alive(pid):
            continue
        if not pid and time.time() - folder.stat().st_mtime < 60:
            continue  # maybe being created right now
        shutil.rmtree(folder, ignore_errors=True)
        removed += 1
    if removed:
        log.info("removed %d stale upload folder(s)", removed)
    return removed


def _interpret(path: Path, rid: str, cfg: ServeConfig, model: str | None,
               explain: bool, decoder: DecodePool, prior: Path | None = None,
               force: bool = False, prior_offset_days: float | None = None) -> str:
    from radlens.pipeline import read
    from radlens.schema_json import to_json

    image = decoder.load(path, max_pixels=cfg.max_pixels)
    if image.meta.format not in ALLOWED_FORMATS:
        raise UnsupportedFormatError(f"{image.meta.format} uploads are not accepted "
                                     "(send DICOM, PNG, JPEG or TIFF)")
    if prior is not None:
        return _interpret_with_prior(image, prior, rid, cfg, model, explain, decoder, force,
                                     prior_offset_days)
    meta = dataclasses.replace(image.meta, source="upload")
    interp = read(dataclasses.replace(image, meta=meta), model=model or cfg.model,
                  explain=explain)
    return to_json(dataclasses.replace(interp, id=rid))


def _interpret_with_prior(image: Any, prior: Path, rid: str, cfg: ServeConfig,
                          model: str | None, explain: bool, decoder: DecodePool, force: bool,
                          prior_offset_days: float | None) -> str:
    """Read the upload against the prior upload (`radlens.Reader.read(..., prior=...)`); the
    result names them "upload" and "prior upload", never by their server paths."""
    from radlens.pipeline import read
    from radlens.schema_json import to_json

    try:
        before = decoder.load(prior, max_pixels=cfg.max_pixels)
    except RadlensError as exc:
        exc.reason = f"the prior film: {exc.reason}"
        raise
    if before.meta.format not in ALLOWED_FORMATS:
        raise UnsupportedFormatError(f"the prior film: {before.meta.format} uploads are not "
                                     "accepted (send DICOM, PNG, JPEG or TIFF)")
    interp = read(image, model=model or cfg.model, explain=explain, prior=before, force=force,
                  prior_offset_days=prior_offset_days)
    meta = dataclasses.replace(interp.image, source="upload")
    study = interp.prior and dataclasses.replace(interp.prior, source="prior upload")
    return to_json(dataclasses.replace(interp, id=rid, image=meta, prior=study))


def _grey_png(path: Path, target: Path, max_pixels: int, decoder: DecodePool,
              max_side: int = 1024) -> None:
    pixels = decoder.load(path, max_pixels=max_pixels).pixels
    im = PILImage.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8))
    im.thumbnail((max_side, max_side))
    im.save(target, format="PNG")


def _overlay_png(path: Path, text: str, target: Path, max_pixels: int,
                 decoder: DecodePool) -> None:
    from radlens.render.overlay import render_overlay
    from radlens.schema_json import from_json

    render_overlay(decoder.load(path, max_pixels=max_pixels), from_json(text, Interpretation),
                   target)


def _models() -> dict[str, Any]:
    if importlib.util.find_spec("radlens.models.registry") is None:
        return {"models": [], "default": None}
    from radlens.models.registry import default_model, list_cards

    return {"models": list_cards(), "default": default_model("classify")}


DOCS_ASSETS = "/docs-assets"


def _offline_docs_dir() -> Path | None:
    """The folder of Swagger UI / ReDoc assets bundled by the `fastapi-offline` package (part of
    the ``serve`` extra), or None when it is not installed."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "static"
    needed = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js")
    return folder if all((folder / n).is_file() for n in needed) else None


def _add_offline_docs(app: FastAPI, assets: Path) -> None:
    """Serve ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) from local `assets`: the pages
    reference nothing outside this server (no CDN, no fonts, no online validator)."""
    from fastapi.openapi.docs import (
        get_redoc_html,
        get_swagger_ui_html,
        get_swagger_ui_oauth2_redirect_html,
    )
    from fastapi.responses import HTMLResponse

    app.mount(DOCS_ASSETS, StaticFiles(directory=assets), name="docs-assets")
    redirect = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=redirect,
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None})  # no call to swagger.io

    @app.get(redirect, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png", with_google_fonts=False)


def create_app(cfg: ServeConfig | None = None) -> FastAPI:
    """Build the FastAPI application for `cfg` (default settings when None)."""
    cfg = cfg or ServeConfig()
    cache = ResultCache(cfg.keep)
    limiter = anyio.CapacityLimiter(cfg.max_concurrent)
    decoder = DecodePool(cfg.max_concurrent, cfg.decode_timeout_s, cfg.decode_memory_mb)
    atexit.register(decoder.close)
    gate_state: dict[str, Gate] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        decoder.start(1)  # the first upload need not wait for a decoder to start
        yield
        decoder.close()
        cache.close()

    assets = _offline_docs_dir()
    if assets is None:
        log.info("fastapi-offline is not installed: /docs and /redoc load their assets from "
                 "a CDN (pip install 'radlens[serve]' to serve them offline)")
    app = FastAPI(title="radlens", version=__version__, lifespan=lifespan,
                  docs_url=None if assets is not None else "/docs",
                  redoc_url=None if assets is not None else "/redoc",
                  description="Chest X-ray interpretation: upload an image, get findings, "
                  "regions and quality checks as an Interpretation.")
    app.state.cfg, app.state.cache, app.state.decoder = cfg, cache, decoder
    if assets is not None:
        _add_offline_docs(app, assets)

    async def require_key(authorization: Annotated[str | None, Header()] = None,
                          x_api_key: Annotated[str | None, Header()] = None) -> None:
        # The Gate has already refused requests without a valid key, before their body was
        # read; this check documents the header in OpenAPI and guards mounts without the Gate.
        if not cfg.api_keys:
            return
        offered = x_api_key
        if authorization and authorization.lower().startswith("bearer "):
            offered = authorization[7:].strip()
        if not key_matches(cfg.api_keys, offered):
            raise ApiError(401, "Unauthorized", "a valid API key is required "
                           "(Authorization: Bearer <key> or X-API-Key)")

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"error": {"type": exc.error_type, "message": exc.message}},
                            status_code=exc.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        names = {404: "NotFound", 405: "MethodNotAllowed"}
        message = {404: "no such route", 405: "method not allowed on this route"}.get(
            exc.status_code, "request refused")
        return JSONResponse({"error": {"type": names.get(exc.status_code, "HTTPError"),
                                       "message": message}},
                            status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors()[:5]:  # location and reason only: never the input's value
            where = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "request"
            problems.append(f"{where}: {err.get('msg', 'invalid')}")
        message = "; ".join(problems) or "invalid request"
        if any(e.get("type") == "missing" for e in exc.errors()):
            message += " (send the image as multipart/form-data field 'file')"
        return JSONResponse({"error": {"type": "BadRequest", "message": message}},
                            status_code=400)

    @app.exception_handler(RadlensError)
    async def _radlens_error(request: Request, exc: RadlensError) -> JSONResponse:
        status = next((s for t, s in _STATUS.items() if isinstance(exc, t)), 422)
        text = " ".join(exc.reason.split()).replace(str(cache.dir), "<upload>")
        body: dict[str, Any] = {"type": type(exc).__name__, "message": text}
        if isinstance(exc, QualityError):
            body["issues"] = [dataclasses.asdict(i) for i in exc.issues
                              if dataclasses.is_dataclass(i) and not isinstance(i, type)]
        return JSONResponse({"error": body}, status_code=status)

    auth = [Depends(require_key)]

    @app.post("/v1/interpret", dependencies=auth, tags=["interpret"],
              summary="Interpret one radiograph (DICOM, PNG, JPEG or TIFF upload)")
    async def interpret(file: Annotated[UploadFile, File(description="the image file")],
                        explain: Annotated[bool, Query()] = cfg.explain,
                        model: Annotated[str | None, Query()] = None,
                        prior: Annotated[UploadFile | None, File(
                            description="optional: the patient's earlier film, to compare "
                                        "with (result gains 'comparison' and 'prior')")] = None,
                        force: Annotated[bool, Query(
                            description="compare with a prior of another PatientID or a "
                                        "later date (with a warning) instead of refusing")
                        ] = False,
                        prior_offset_days: Annotated[float | None, Query(
                            description="days from the prior to this film, when the files "
                                        "carry no dates")] = None) -> Response:
        rid = uuid.uuid4().hex
        start = time.perf_counter()
        target = cache.upload_path(rid)
        with target.open("wb") as fh:
            await anyio.to_thread.run_sync(shutil.copyfileobj, file.file, fh)
        before = None
        if prior is not None:
            before = target.with_name(target.name + ".prior")
            with before.open("wb") as fh:
                await anyio.to_thread.run_sync(shutil.copyfileobj, prior.file, fh)
        try:
            text = await anyio.to_thread.run_sync(_interpret, target, rid, cfg, model, explain,
                                                  decoder, before, force, prior_offset_days,
                                                  limiter=limiter)
        except BaseException as exc:
            target.unlink(missing_ok=True)
            if before is not None:
                before.unlink(missing_ok=True)
            log.info("interpret id=%s failed: %s (%.0f ms)", rid, type(exc).__name__,
                     1000 * (time.perf_counter() - start))
            if isinstance(exc, RadlensError | ApiError) or not isinstance(exc, Exception):
                raise
            raise ApiError(500, "InternalError", f"internal error while reading the image "
                           f"(id {rid}); it was not interpreted") from None
        cache.add(rid, text)
        if before is not None:  # only the current film's upload is kept (image.png, overlay)
            before.unlink(missing_ok=True)
        log.info("interpret id=%s ok, %d bytes (%.0f ms)", rid, target.stat().st_size,
                 1000 * (time.perf_counter() - start))
        return Response(text, media_type="application/json")

    @app.post("/v1/ask", dependencies=auth, tags=["ask"],
              summary="Answer a question about a recent interpretation, with evidence")
    async def ask(body: AskRequest) -> Response:
        from radlens.schema_json import from_json, to_json
        from radlens.tasks.ask import answer

        interp = from_json(cache.get(body.id), Interpretation)
        reply = answer(interp, body.question)
        log.info("ask id=%s intent=%s answered=%s", body.id, reply.intent, reply.answered)
        return Response(to_json(reply), media_type="application/json")

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
                                           cfg.max_pixels, decoder, limiter=limiter)
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
                                           cfg.max_pixels, decoder, limiter=limiter)
        return FileResponse(target, media_type="image/png")

    @app.get("/v1/models", dependencies=auth, tags=["models"])
    async def models() -> dict[str, Any]:
        return _models()

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__,
                "busy": cfg.max_concurrent - int(limiter.available_tokens),
                "waiting": limiter.statistics().tasks_waiting,
                "admitted": gate_state["gate"].admitted if gate_state else 0,
                "refused": dict(gate_state["gate"].refused) if gate_state else {}}

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/viewer/")

    if WEB_DIR.is_dir():
        app.mount("/viewer", StaticFiles(directory=WEB_DIR, html=True), name="viewer")
    gate_cfg = GateConfig(api_keys=cfg.api_keys, max_bytes=cfg.max_upload_bytes,
                          capacity=cfg.max_concurrent + cfg.max_queue,
                          per_client=cfg.max_per_client, rate_per_minute=cfg.rate_per_minute,
                          burst=cfg.burst, body_timeout_s=cfg.body_timeout_s,
                          drain_bytes=cfg.max_upload_bytes)

    def make_gate(inner: Any) -> Gate:
        gate_state["gate"] = Gate(inner, gate_cfg)
        return gate_state["gate"]

    app.add_middleware(make_gate)
    app.add_middleware(CatchAll)  # outermost of ours: a 500 is an envelope, logged by type only
    return app
