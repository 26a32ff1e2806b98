"""The job queue: one worker thread loads the models and is the only code that ever calls them.

HTTP handlers only add jobs, read their state and ask for cancellation, so a slow model never
blocks the server, and the GPU never sees two callers at once. Queued requests that can share a
forward pass (the same model; generate with the same steps and guidance; any captions) run as one
batch. The default model loads at start; another one (a request's `model`) on its first job, in
the same worker, so the jobs behind that one wait while it loads.
"""

from __future__ import annotations

import collections
import logging
import math
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from momug.errors import Cancelled, MomugError

log = logging.getLogger("momug.server")

MAX_ERROR_CHARS = 1000

# Held while any model loads: the job queue's and the streaming one (streaming.py) would otherwise
# import transformers from two threads at once, and its lazy imports fail under that race.
MODEL_LOAD_LOCK = threading.Lock()


class QueueFull(MomugError):
    """Too many jobs are waiting; the caller should retry later (HTTP 429)."""


class ModelUnavailable(MomugError):
    """The model failed to load or the server is shutting down (HTTP 503)."""


@dataclass
class GenerateWork:
    prompt: str
    seconds: float
    seeds: list[int]
    guidance: float
    steps: int
    clean_feet: bool = True
    split_sequences: bool = True  # "A then B" made one action at a time (MotionPipeline.generate)
    constraints: object = None   # momug.constraints.Constraints, already checked
    model: str | None = None     # a model name; None: the queue's default

    @property
    def batch_key(self) -> tuple:
        # The sampler's loop runs once for the whole batch, so only these must agree.
        return ("generate", self.model, self.steps, self.guidance, self.clean_feet, self.split_sequences)

    @property
    def size(self) -> int:
        return len(self.seeds)


@dataclass
class CaptionWork:
    joints: np.ndarray   # (T, 22, 3) float32
    fps: float
    model: str | None = None

    size = 1

    @property
    def batch_key(self) -> tuple:
        return ("caption", self.model)


@dataclass
class Job:
    id: str
    work: GenerateWork | CaptionWork
    status: str = "queued"
    progress: float = 0.0
    error: str | None = None
    result: object = None        # list[Motion] for generate, str for caption
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    stop_requested: bool = False
    finished_clock: float = 0.0  # monotonic, for expiry

    @property
    def kind(self) -> str:
        return "generate" if isinstance(self.work, GenerateWork) else "caption"

    @property
    def is_finished(self) -> bool:
        return self.status in ("done", "failed", "cancelled")


class JobQueue:
    """Owns the worker thread, the queue and every job's state (one lock guards them all).

    loader: what loads the model, or {name: loader} for every model a job may name; default_model
    is the one loaded at start and used by jobs that name none. state and load_error are the
    default model's: when it fails to load, the queue takes no jobs at all.
    """

    def __init__(self, loader: Callable[[], object] | dict[str, Callable[[], object]], max_queued: int = 32,
                 max_batch: int = 8, result_ttl: float = 600.0, max_kept: int = 256,
                 default_model: str = "default"):
        self._loaders = dict(loader) if isinstance(loader, dict) else {default_model: loader}
        if default_model not in self._loaders:
            raise ValueError(f"no loader for the default model '{default_model}'")
        self.default_model = default_model
        self.max_queued = max_queued
        self.max_batch = max_batch
        self.result_ttl = result_ttl
        self.max_kept = max_kept
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queue: collections.deque[Job] = collections.deque()
        self._jobs: dict[str, Job] = {}
        self._running: list[Job] = []
        self._closing = False
        self._thread: threading.Thread | None = None
        self.state = "loading"            # -> "ready" or "failed"
        self.load_error: str | None = None
        self.pipelines: dict[str, object] = {}       # loaded models by name
        self.load_errors: dict[str, str] = {}        # models (other than the default) that failed to load

    @property
    def pipeline(self):
        """The default model's pipeline, once loaded."""
        return self.pipelines.get(self.default_model)

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="momug-model", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Cancel what is queued, ask the running batch to stop, and wait a little for the worker."""
        with self._lock:
            self._closing = True
            queued, running = len(self._queue), len(self._running)
            for job in self._queue:
                self._end(job, "cancelled", error="the server shut down")
            self._queue.clear()
            for job in self._running:
                job.stop_requested = True
            self._wake.notify_all()
        if self._thread is not None:
            # The thread is a daemon: a model that ignores should_stop cannot hold the process.
            self._thread.join(timeout)
        log.info("job queue closed: %d queued and %d running jobs cancelled", queued, running)

    # --- what the HTTP handlers call ------------------------------------------------------
    def submit(self, work: GenerateWork | CaptionWork) -> dict:
        with self._lock:
            self._prune()
            if self._closing:
                raise ModelUnavailable("the server is shutting down")
            if self.state == "failed":
                raise ModelUnavailable(f"the model failed to load: {self.load_error}")
            work.model = work.model or self.default_model
            if work.model not in self._loaders:
                raise MomugError(f"this server does not offer the model '{work.model}'; it offers: "
                                 f"{', '.join(self._loaders)}")
            if work.model in self.load_errors:
                raise ModelUnavailable(f"the '{work.model}' model failed to load: {self.load_errors[work.model]}")
            if len(self._queue) >= self.max_queued:
                raise QueueFull(f"{len(self._queue)} jobs are already waiting; retry in a moment")
            pipeline = self.pipelines.get(work.model)
        if pipeline is not None:
            # Known limits answer at once (422) instead of failing the job later.
            _validate(pipeline, work)
        job = Job(id=secrets.token_hex(8), work=work)
        with self._lock:
            if len(self._queue) >= self.max_queued:
                raise QueueFull(f"{len(self._queue)} jobs are already waiting; retry in a moment")
            self._jobs[job.id] = job
            self._queue.append(job)
            self._wake.notify()
            return self._view(job)

    def status(self, job_id: str) -> dict | None:
        with self._lock:
            self._prune()
            job = self._jobs.get(job_id)
            return None if job is None else self._view(job)

    def result(self, job_id: str) -> tuple[dict, object, GenerateWork | CaptionWork] | None:
        """(status view, result, the request's work); the result is None unless the job is done."""
        with self._lock:
            self._prune()
            job = self._jobs.get(job_id)
            if job is None:
                return None
            return self._view(job), (job.result if job.status == "done" else None), job.work

    def cancel(self, job_id: str) -> dict | None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            if job.status == "queued":
                self._queue.remove(job)
                self._end(job, "cancelled")
            elif job.status == "running":
                # Reported at once; the worker drops the output, and stops the model when the
                # whole batch is cancelled.
                job.stop_requested = True
                self._end(job, "cancelled")
            return self._view(job)

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return len(self._queue), sum(1 for j in self._running if j.status == "running")

    def loaded(self) -> tuple[set[str], dict[str, str]]:
        """(names of the loaded models, {name: why it failed to load})."""
        with self._lock:
            errors = dict(self.load_errors)
            if self.load_error is not None:
                errors[self.default_model] = self.load_error
            return set(self.pipelines), errors

    # --- bookkeeping (lock held) ----------------------------------------------------------
    def _view(self, job: Job) -> dict:
        position = None
        if job.status == "queued":
            position = next(i for i, queued in enumerate(self._queue) if queued is job)
        return {"id": job.id, "kind": job.kind, "status": job.status,
                "progress": 1.0 if job.status == "done" else job.progress,
                "error": job.error, "queue_position": position, "created": job.created,
                "started": job.started, "finished": job.finished}

    def _end(self, job: Job, status: str, error: str | None = None, result=None) -> None:
        if job.is_finished:
            return   # a job cancelled while running keeps its 'cancelled'
        job.status, job.error, job.result = status, error, result
        job.finished, job.finished_clock = time.time(), time.monotonic()

    def _prune(self) -> None:
        """Forget finished jobs after result_ttl, and the oldest ones beyond max_kept."""
        now = time.monotonic()
        done = [j for j in self._jobs.values() if j.is_finished]
        expired = {j.id for j in done if now - j.finished_clock > self.result_ttl}
        survivors = sorted((j for j in done if j.id not in expired), key=lambda j: j.finished_clock)
        expired.update(j.id for j in survivors[: max(0, len(survivors) - self.max_kept)])
        for job_id in expired:
            del self._jobs[job_id]

    # --- the worker thread ----------------------------------------------------------------
    def _work(self) -> None:
        if not self._load():
            return
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._run(batch)
            except Exception:   # never let one batch kill the only worker
                log.exception("unexpected error in the model worker")
                with self._lock:
                    for job in batch:
                        self._end(job, "failed", error="internal error in the model worker")
            finally:
                with self._lock:
                    self._running = []

    def _load(self) -> bool:
        try:
            with MODEL_LOAD_LOCK:
                pipeline = self._loaders[self.default_model]()
        except Exception as exc:
            log.exception("the model failed to load")
            with self._lock:
                self.state, self.load_error = "failed", _error_text(exc)
                for job in self._queue:
                    self._end(job, "failed", error=f"the model failed to load: {self.load_error}")
                self._queue.clear()
            return False
        with self._lock:
            self.pipelines[self.default_model], self.state = pipeline, "ready"
            return not self._closing

    def _pipeline_for(self, name: str):
        """The named model, loaded on its first job; None when it cannot be (its jobs, this batch's
        and the queued ones, are failed with the reason, and later requests get 503)."""
        with self._lock:
            if name in self.pipelines or name in self.load_errors:
                return self.pipelines.get(name)
        log.info("loading the '%s' model for its first request", name)
        started = time.perf_counter()
        try:
            with MODEL_LOAD_LOCK:
                pipeline = self._loaders[name]()
        except Exception as exc:
            log.warning("the '%s' model failed to load: %s", name, exc, exc_info=not isinstance(exc, MomugError))
            with self._lock:
                self.load_errors[name] = _error_text(exc)
                reason = f"the '{name}' model failed to load: {self.load_errors[name]}"
                for job in [j for j in self._queue if j.work.model == name]:
                    self._queue.remove(job)
                    self._end(job, "failed", error=reason)
                for job in self._running:
                    self._end(job, "failed", error=reason)
            return None
        log.info("the '%s' model is ready in %.1f s", name, time.perf_counter() - started)
        with self._lock:
            self.pipelines[name] = pipeline
        return pipeline

    def _next_batch(self) -> list[Job] | None:
        with self._lock:
            while not self._queue and not self._closing:
                self._wake.wait()
            if self._closing:
                return None
            first = self._queue.popleft()
            batch, size = [first], first.work.size
            for job in list(self._queue):
                if job.work.batch_key == first.work.batch_key and size + job.work.size <= self.max_batch:
                    self._queue.remove(job)
                    batch.append(job)
                    size += job.work.size
            now = time.time()
            for job in batch:
                job.status, job.started = "running", now
            self._running = batch
            return batch

    def _run(self, batch: list[Job]) -> None:
        pipeline = self._pipeline_for(batch[0].work.model)
        if pipeline is None:
            return
        batch = [job for job in batch if self._accepts(pipeline, job)]
        if not batch:
            return
        try:
            outputs = self._call_model(pipeline, batch)
        except Cancelled:
            with self._lock:
                for job in batch:
                    self._end(job, "cancelled")
            return
        except Exception as exc:
            if len(batch) > 1:
                # One bad request must not fail its neighbours: run each on its own.
                for job in batch:
                    if not job.is_finished:
                        self._run([job])
                return
            log.warning("job %s failed: %s", batch[0].id, exc, exc_info=not isinstance(exc, MomugError))
            with self._lock:
                self._end(batch[0], "failed", error=_error_text(exc))
            return
        for job, output in zip(batch, outputs):
            self._deliver(job, output)

    def _accepts(self, pipeline, job: Job) -> bool:
        """Checks a job queued before the model's limits were known; fails it when out of bounds."""
        if job.is_finished:
            return False
        try:
            _validate(pipeline, job.work)
        except MomugError as exc:
            with self._lock:
                self._end(job, "failed", error=str(exc))
            return False
        return True

    def _call_model(self, pipeline, batch: list[Job]) -> list:
        """One pipeline call for the whole batch; returns one output per job."""

        def progress(fraction):
            value = float(fraction)
            if math.isfinite(value):
                for job in batch:
                    job.progress = min(1.0, max(0.0, value))

        def should_stop():
            return self._closing or all(job.stop_requested for job in batch)

        if isinstance(batch[0].work, CaptionWork):
            texts = pipeline.caption([j.work.joints for j in batch], [j.work.fps for j in batch],
                                          progress=progress, should_stop=should_stop)
            _expect_count(texts, len(batch), "captions")
            return list(texts)
        works = [j.work for j in batch]
        prompts = [w.prompt for w in works for _ in w.seeds]
        seconds = [w.seconds for w in works for _ in w.seeds]
        seeds = [s for w in works for s in w.seeds]
        constraints = [w.constraints for w in works for _ in w.seeds]
        # Only passed when used, so pipelines without constraints (stand-ins) keep working.
        extra = {"constraints": constraints} if any(c is not None for c in constraints) else {}
        if not works[0].split_sequences:
            extra["split_sequences"] = False
        motions = pipeline.generate(prompts, seconds, seeds, guidance=works[0].guidance,
                                         steps=works[0].steps, progress=progress,
                                         should_stop=should_stop, clean_feet=works[0].clean_feet, **extra)
        _expect_count(motions, len(seeds), "motions")
        outputs, start = [], 0
        for w in works:
            outputs.append(list(motions[start:start + w.size]))
            start += w.size
        return outputs

    def _deliver(self, job: Job, output) -> None:
        """Check one job's output and store it; NaN never reaches a client."""
        try:
            if isinstance(job.work, CaptionWork):
                if not isinstance(output, str):
                    raise MomugError(f"the model returned a {type(output).__name__}, not a caption")
                result = output.strip()
            else:
                result = [_checked_motion(m, job.work.prompt) for m in output]
        except Exception as exc:
            with self._lock:
                self._end(job, "failed", error=_error_text(exc))
            return
        with self._lock:
            self._end(job, "done", result=result)


def _validate(pipeline, work: GenerateWork | CaptionWork) -> None:
    """The loaded model's own limits; raises MomugError with the reason."""
    if isinstance(work, GenerateWork):
        pipeline.validate_request(work.prompt, work.seconds, work.steps, work.guidance)
        if work.constraints is not None:
            pipeline.validate_constraints(work.constraints)
        elif work.split_sequences and hasattr(pipeline, "sequence_plan"):
            pipeline.sequence_plan(work.prompt, work.seconds)   # step lengths it names that cannot be met
    else:
        pipeline.validate_motion(work.joints, work.fps)


def _checked_motion(motion, prompt: str):
    """Rotations filled in (IK when the model gave joints only) and every number finite."""
    if motion.rotations is None or motion.root_translation is None:
        motion = motion.with_rotations()
    for name in ("joints", "rotations", "root_translation"):
        if not np.all(np.isfinite(getattr(motion, name))):
            raise MomugError(f"the model produced NaN or infinite {name}; try another seed or more steps")
    if not motion.prompt:
        motion.prompt = prompt
    return motion


def _expect_count(items, expected: int, what: str) -> None:
    if items is None or len(items) != expected:
        got = "nothing" if items is None else len(items)
        raise MomugError(f"the model returned {got} {what} for {expected} requests")


def _error_text(exc: Exception) -> str:
    text = str(exc) if isinstance(exc, MomugError) else f"{type(exc).__name__}: {exc}"
    return text[:MAX_ERROR_CHARS]
