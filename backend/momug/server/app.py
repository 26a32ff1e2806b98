"""The HTTP routes of the local backend, built around one JobQueue.

Handlers validate, enqueue and report; they never call the model themselves (see jobs.py).
The streaming route is the one exception: its model runs in a thread of its own (streaming.py).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import platform
from typing import Callable

from fastapi import APIRouter, FastAPI, HTTPException, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from momug import __version__
from momug.errors import MomugError
from momug.server import schema
from momug.server.guards import BodyLimit, RequireToken
from momug.server.jobs import CaptionWork, GenerateWork, JobQueue, ModelUnavailable, QueueFull
from momug.server.models import LicenceNotAccepted, ModelNotInstalled, ModelTable
from momug.server.streaming import StreamSlot, stream_routes

log = logging.getLogger("momug.server")

# Only documents the scheme in /openapi.json; the check itself is guards.RequireToken.
_bearer_doc = HTTPBearer(auto_error=False, description="the token printed by 'momug token'")

_ERRORS = {code: {"model": schema.ErrorBody, "description": text} for code, text in (
    (401, "missing or wrong token"), (403, "the model is opt-in and its licence is not accepted on this "
                                                 "machine (the detail says how to accept it)"),
    (404, "no such job (or it expired)"),
    (413, "request body too large"), (422, "invalid request"), (429, "queue full"),
    (503, "model unavailable"))}


def create_app(pipeline_loader: Callable[[], object] | ModelTable, token: str, *, max_queued: int = 32,
               max_batch: int = 8, result_ttl: float = 600.0,
               max_body_bytes: int = schema.MAX_BODY_BYTES,
               stream_loader: Callable[[], object] | None = None,
               stream_probe: Callable[[], str | None] | None = None) -> FastAPI:
    """An app whose worker thread calls pipeline_loader() once at startup and then owns the model.

    pipeline_loader may instead be a ModelTable (models.py): requests then choose a model by name,
    the table's default is loaded at startup and every other one on its first request.
    stream_loader (optional) makes the streaming model, on the first POST /v1/generate/stream;
    stream_probe() says why it cannot be loaded (None when it can), for /v1/health.
    """
    if not token:
        raise ValueError("the server needs a non-empty token")
    models = pipeline_loader if isinstance(pipeline_loader, ModelTable) else ModelTable.single(pipeline_loader)
    jobs = JobQueue(models.loaders(), max_queued=max_queued, max_batch=max_batch, result_ttl=result_ttl,
                    default_model=models.default)
    streams = StreamSlot(stream_loader, stream_probe)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        jobs.start()
        yield
        streams.close()
        await run_in_threadpool(jobs.close)

    app = FastAPI(title="MoMug backend", version=__version__, lifespan=lifespan, redoc_url=None,
                  description="Text-to-motion and motion-to-text on this machine; see momug/server/schema.py")
    app.state.jobs = jobs
    app.state.models = models
    app.state.streams = streams
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(RequireToken, token=token)      # added last = runs first
    _add_error_handlers(app)
    app.include_router(_public_routes(jobs, streams, _versions()))
    app.include_router(_job_routes(jobs, models))
    app.include_router(_model_routes(jobs, models))
    app.include_router(stream_routes(streams, dependencies=[Security(_bearer_doc)], responses=_ERRORS))
    return app


def _public_routes(jobs: JobQueue, streams: StreamSlot, versions: dict[str, str]) -> APIRouter:
    router = APIRouter(prefix=schema.API_PREFIX)

    @router.get("/health", response_model=schema.Health)
    def health():
        queued, running = jobs.counts()
        info = {"status": jobs.state, "error": jobs.load_error, "queued": queued,
                "running": running, "versions": versions, "stream": streams.health()}
        pipeline = jobs.pipeline
        if pipeline is not None:
            info.update(model_id=pipeline.model_id, checkpoint_id=pipeline.checkpoint_id,
                        device=str(pipeline.device), fps=float(pipeline.fps),
                        guidance=float(pipeline.guidance),
                        limits=schema.Limits(min_seconds=pipeline.min_seconds,
                                             max_seconds=pipeline.max_seconds,
                                             max_prompt_chars=pipeline.max_prompt_chars))
        return info

    return router


def _model_routes(jobs: JobQueue, models: ModelTable) -> APIRouter:
    router = APIRouter(prefix=schema.API_PREFIX, dependencies=[Security(_bearer_doc)], responses=_ERRORS)

    @router.get("/models", response_model=schema.ModelList)
    def list_models():
        loaded, errors = jobs.loaded()
        return {"default": models.default, "models": models.listing(loaded, errors)}

    return router


def chosen_model(models: ModelTable, name: str | None) -> str:
    """The request's model, or the HTTP error that says why it cannot be used (nothing is loaded)."""
    try:
        return models.check(name)
    except LicenceNotAccepted as exc:
        raise HTTPException(403, str(exc)) from None
    except ModelNotInstalled as exc:
        raise HTTPException(503, str(exc)) from None
    except MomugError as exc:
        raise HTTPException(422, str(exc)) from None


def _job_routes(jobs: JobQueue, models: ModelTable) -> APIRouter:
    router = APIRouter(prefix=schema.API_PREFIX, dependencies=[Security(_bearer_doc)], responses=_ERRORS)

    def enqueue(work):
        try:
            return JSONResponse(jobs.submit(work), status_code=202)
        except QueueFull as exc:
            raise HTTPException(429, str(exc), headers={"Retry-After": "1"}) from None
        except ModelUnavailable as exc:
            raise HTTPException(503, str(exc)) from None
        except MomugError as exc:   # the loaded model's own limits
            raise HTTPException(422, str(exc)) from None

    @router.post("/generate", status_code=202, response_model=schema.JobStatus)
    def generate(request: schema.GenerateRequest):
        model = chosen_model(models, request.model)
        try:
            constraints = generate_constraints(request)
        except MomugError as exc:   # constraints that cannot be met: before any work
            raise HTTPException(422, str(exc)) from None
        seconds = request.seconds if constraints is None else constraints.frames / schema.WIRE_FPS
        return enqueue(GenerateWork(prompt=request.prompt, seconds=seconds, seeds=request.seeds(),
                                    guidance=request.guidance, steps=request.steps,
                                    clean_feet=request.clean_feet, split_sequences=request.split_sequences,
                                    constraints=constraints, model=model))

    @router.post("/caption", status_code=202, response_model=schema.JobStatus)
    def caption(request: schema.CaptionRequest):
        return enqueue(CaptionWork(joints=request.joints, fps=request.fps,
                                   model=chosen_model(models, request.model)))

    @router.get("/jobs/{job_id}", response_model=schema.JobStatus)
    def job_status(job_id: str):
        return _found(jobs.status(job_id), job_id)

    @router.get("/jobs/{job_id}/result", response_model=schema.GenerateResult | schema.CaptionResult,
                responses={409: {"model": schema.ErrorBody, "description": "the job has no result (yet)"}})
    def job_result(job_id: str):
        view, result, work = _found(jobs.result(job_id), job_id)
        if view["status"] != "done":
            raise HTTPException(409, _no_result_reason(view))
        # Encoding happens here, in a threadpool thread, not on the event loop.
        if view["kind"] == "caption":
            return JSONResponse({"id": job_id, "kind": "caption", "caption": result})
        motions = [schema.motion_out(m, seed) for m, seed in zip(result, work.seeds)]
        return JSONResponse({"id": job_id, "kind": "generate", "motions": motions})

    @router.delete("/jobs/{job_id}", response_model=schema.JobStatus)
    def cancel(job_id: str):
        return _found(jobs.cancel(job_id), job_id)

    return router


def generate_constraints(request: schema.GenerateRequest):
    """The request's constraint fields checked into momug.constraints.Constraints (None without
    any); the model's own length limit is checked when the job is queued."""
    if not request.has_constraints:
        if request.seconds is None:
            raise MomugError("seconds is required unless a path or an edit sets the length")
        return None
    from momug import constraints as C

    fps = schema.WIRE_FPS
    path = request.path
    if isinstance(path, schema.PathWaypoints):
        path = C.path_from_waypoints(path.waypoints, path.speed, fps)
    return C.build(
        None if request.seconds is None else int(round(request.seconds * fps)), fps, max_frames=10**6,
        start=request.start, end=request.end,
        keys=None if request.keys is None else (request.keys.frames, request.keys.joints),
        path=path, edit=None if request.edit is None else request.edit.joints,
        keep=None if request.edit is None else request.edit.keep, default_frames=int(4 * fps))


def _found(value, job_id: str):
    if value is None:
        raise HTTPException(404, f"no job '{job_id[:64]}' (unknown, or its result expired)")
    return value


def _no_result_reason(view: dict) -> str:
    if view["status"] == "failed":
        return f"the job failed: {view['error']}"
    if view["status"] == "cancelled":
        return "the job was cancelled"
    return f"the job is {view['status']}; poll GET /v1/jobs/{view['id']} until it is done"


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc: RequestValidationError):
        # A bad 3600-frame array can hold 200k errors; a few, with their places, are enough.
        errors = [{"loc": [str(p) for p in e.get("loc", ())],
                   "msg": str(e.get("msg", "")).removeprefix("Value error, "),
                   "type": str(e.get("type", ""))} for e in exc.errors()[: schema.MAX_REPORTED_ERRORS]]
        summary = "; ".join(f"{_place(e['loc'])}: {e['msg']}" for e in errors[:3])
        more = len(exc.errors()) - 3
        if more > 0:
            summary += f" (and {more} more)"
        return JSONResponse({"detail": f"invalid request: {summary}", "errors": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc: StarletteHTTPException):
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def crashed(request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}"}, status_code=500)


def _place(loc: list[str]) -> str:
    parts = loc[1:] if loc and loc[0] == "body" else loc
    return ".".join(parts) or "body"


def _versions() -> dict[str, str]:
    versions = {"momug": __version__, "python": platform.python_version()}
    for package in ("torch", "transformers", "fastapi", "numpy"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions
