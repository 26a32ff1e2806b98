"""POST /v1/generate/stream: the streaming model's frames as server-sent events, as they are made.

The streaming model does not go through the job queue: its output belongs to one open connection
rather than to a stored result, and there is nothing to batch. It is loaded on the first stream
request (by the loader given to create_app) and runs in a thread of its own beside the queue's
worker. One stream runs at a time (a lock; a second request gets 429 at once), since two would
only split the same cores or GPU. A stream ends when the motion is complete, when the model fails
(an `error` event, never a silent close), when the client disconnects or when the server shuts
down; the last two set the stop flag the model checks between chunks.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import numpy as np
from typing import Callable

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from momug.errors import Cancelled, MomugError
from momug.server import schema
from momug.server.jobs import MODEL_LOAD_LOCK, ModelUnavailable, QueueFull, _error_text
from momug.streaming import dumps, frames_event, start_event, stream_chunks

log = logging.getLogger("momug.server")

KEEPALIVE_S = 10.0   # a comment line this often while no event is ready keeps clients' read timeouts quiet


class StreamBusy(QueueFull):
    """Another stream is running (HTTP 429)."""


class StreamSlot:
    """The lazily loaded streaming pipeline and the one-stream-at-a-time lock.

    probe() -> None when the model can be loaded, else why not (shown in /v1/health as
    'missing'); it is asked again on every request, so installing a checkpoint needs no restart.
    """

    def __init__(self, loader: Callable[[], object] | None = None,
                 probe: Callable[[], str | None] | None = None, keepalive: float = KEEPALIVE_S):
        self._loader, self._probe = loader, probe
        self.keepalive = keepalive
        self._load_lock = threading.Lock()
        self._busy = threading.Lock()
        self._stops: set[threading.Event] = set()
        self._closing = False
        self.loading = False
        self.pipeline = None
        self.load_error: str | None = None

    def health(self) -> dict:
        if self._loader is None:
            return {"status": "off"}
        pipeline = self.pipeline
        if pipeline is not None:
            return {"status": "loaded", "model_id": pipeline.model_id, "checkpoint_id": pipeline.checkpoint_id,
                    "fps": float(pipeline.fps), "guidance": float(getattr(pipeline, "guidance", 1.0)),
                    "running": self._busy.locked(),
                    "limits": {"min_seconds": pipeline.min_seconds, "max_seconds": pipeline.max_seconds,
                               "max_prompt_chars": pipeline.max_prompt_chars, "max_steps": _max_steps(),
                               "max_guidance": _max_guidance()}}
        if self.loading:
            return {"status": "loading"}
        if self.load_error is not None:
            return {"status": "failed", "error": self.load_error}
        missing = self._missing()
        return {"status": "missing", "error": missing} if missing else {"status": "loadable"}

    def _missing(self) -> str | None:
        if self._probe is None:
            return None
        try:
            return self._probe()
        except Exception as exc:
            return _error_text(exc)

    def load(self):
        """The pipeline, loaded on first use; blocks, so call it from a thread. A failed load is
        remembered (the reason is in /v1/health) rather than retried on every request."""
        with self._load_lock:
            if self.pipeline is not None:
                return self.pipeline
            if self._loader is None:
                raise ModelUnavailable("this server has no streaming model")
            if self.load_error is not None:
                raise ModelUnavailable(f"the streaming model failed to load: {self.load_error}")
            missing = self._missing()
            if missing:
                raise ModelUnavailable(f"no streaming model: {missing}")
            self.loading = True
            try:
                with MODEL_LOAD_LOCK:
                    pipeline = self._loader()
            except Exception as exc:
                log.exception("the streaming model failed to load")
                self.load_error = _error_text(exc)
                raise ModelUnavailable(f"the streaming model failed to load: {self.load_error}") from None
            finally:
                self.loading = False
            self.pipeline = pipeline
            return pipeline

    def open(self, pipeline, request: schema.StreamRequest) -> "EventStream":
        """Start generating in a thread; the returned response carries its events."""
        if self._closing:
            raise ModelUnavailable("the server is shutting down")
        if not self._busy.acquire(blocking=False):
            raise StreamBusy("another stream is running; retry when it ends")
        stop = threading.Event()
        queue: asyncio.Queue = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def emit(item):
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:   # the event loop is gone: the server has stopped
                stop.set()

        self._stops.add(stop)
        thread = threading.Thread(target=self._produce, args=(pipeline, request, emit, stop),
                                  name="momug-stream", daemon=True)
        try:
            thread.start()
        except BaseException:
            self._stops.discard(stop)
            self._busy.release()
            raise
        return EventStream(_drain(queue, self.keepalive), stop)

    def close(self) -> None:
        """Stop every running stream (server shutdown)."""
        self._closing = True
        for stop in list(self._stops):
            stop.set()

    def _produce(self, pipeline, request, emit, stop: threading.Event) -> None:
        """The stream's thread: the only code that calls the streaming model."""
        sent, last = 0, None
        if request.start is not None:
            from momug.constraints import StreamJoin

            pipeline = _Continued(pipeline, StreamJoin(request.start))
        try:
            emit(sse("start", start_event(pipeline, request.prompt, request.seconds, request.seed,
                                          request.steps, request.guidance, request.split_sequences)))
            for chunk in stream_chunks(pipeline, request.prompt, request.seconds, request.seed,
                                       request.steps, should_stop=lambda: stop.is_set() or self._closing,
                                       guidance=request.guidance, split_sequences=request.split_sequences):
                emit(sse("frames", frames_event(chunk)))
                sent += len(chunk.joints)
            last = sse("done", {"frames": sent})
        except Cancelled:
            log.info("stream stopped after %d frames (client gone or server shutting down)", sent)
            last = sse("error", {"detail": "the stream was stopped"})
        except MomugError as exc:
            last = sse("error", {"detail": _error_text(exc)})
        except Exception as exc:
            log.exception("the streaming model failed")
            last = sse("error", {"detail": f"internal error: {_error_text(exc)}"})
        finally:
            # Free before the last event goes out: a client that starts its next stream the
            # moment this one ends must not get 429.
            self._stops.discard(stop)
            self._busy.release()
            if last is not None:
                emit(last)
            emit(None)


class _Continued:
    """A streaming pipeline whose frames carry on from a given motion (momug.constraints.StreamJoin)."""

    def __init__(self, pipeline, join):
        self._pipeline, self._join = pipeline, join

    def __getattr__(self, name):
        return getattr(self._pipeline, name)

    def stream(self, *args, **kwargs):
        for joints in self._pipeline.stream(*args, **kwargs):
            yield self._join(joints).astype(np.float32)


def sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {dumps(data)}\n\n".encode("utf-8")


async def _drain(queue: asyncio.Queue, keepalive: float):
    while True:
        try:
            item = await asyncio.wait_for(queue.get(), keepalive)
        except asyncio.TimeoutError:
            yield b": keepalive\n\n"
            continue
        if item is None:
            return
        yield item


class EventStream(StreamingResponse):
    """text/event-stream whose end, however it comes (done, disconnect, cancellation), stops the model."""

    media_type = "text/event-stream"

    def __init__(self, content, stop: threading.Event):
        super().__init__(content, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._stop = stop

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._stop.set()


def _max_steps() -> int:
    from momug.stream.pipeline import MAX_FLOW_STEPS

    return MAX_FLOW_STEPS


def _max_guidance() -> float:
    from momug.pipeline import MAX_GUIDANCE   # the pipelines' bound (the wire's is wider)

    return MAX_GUIDANCE


_STREAM_DOC = (
    "Server-sent events, each `event: NAME` then `data: JSON`: start {frames, fps, model_id, "
    "checkpoint_id, prompt, seed, steps, guidance}; frames {start, count, joints (k, 22, 3), rotations "
    "(k, 22, 4), root_translation (k, 3)} per chunk; then done {frames} or error {detail}. "
    "Lines starting with ':' are keep-alive comments. Closing the connection stops the model.")


def stream_routes(slot: StreamSlot, **router_options) -> APIRouter:
    router = APIRouter(prefix=schema.API_PREFIX, **router_options)

    @router.post("/generate/stream", status_code=200, response_class=EventStream, description=_STREAM_DOC,
                 responses={200: {"content": {"text/event-stream": {}}, "description": "the event stream"}})
    async def generate_stream(request: schema.StreamRequest):
        try:
            pipeline = await run_in_threadpool(slot.load)
        except ModelUnavailable as exc:
            raise HTTPException(503, str(exc)) from None
        try:
            pipeline.validate_request(request.prompt, request.seconds, request.steps, request.guidance)
            if request.split_sequences:
                pipeline.sequence_plan(request.prompt, request.seconds)   # step lengths it names, checked
            if request.start is not None:
                from momug.constraints import StreamJoin

                StreamJoin(request.start)   # checked before the stream starts
        except MomugError as exc:   # the streaming model's own limits, a bad start
            raise HTTPException(422, str(exc)) from None
        try:
            return slot.open(pipeline, request)
        except StreamBusy as exc:
            raise HTTPException(429, str(exc), headers={"Retry-After": "1"}) from None
        except ModelUnavailable as exc:
            raise HTTPException(503, str(exc)) from None

    return router
