"""A real uvicorn server on 127.0.0.1 (a free port, its own thread) around the real tiny model.

Tests talk to it over HTTP with the standard library, as the Blender add-on does. fastapi,
uvicorn and torch are imported only inside fixtures, so without them the tests skip.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import pytest

TOKEN = "test-token-0123456789"


class LiveServer:
    """One app served on a free loopback port until stop()."""

    def __init__(self, loader, token: str = TOKEN, **app_options):
        uvicorn = pytest.importorskip("uvicorn")
        from momug.server.app import create_app

        self.token = token
        self.app = create_app(loader, token, **app_options)
        self.jobs = self.app.state.jobs
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, log_level="warning", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)

    def stop(self, timeout: float = 15.0) -> bool:
        """Ask uvicorn to shut down as on Ctrl+C; True when it finished in time."""
        self.server.should_exit = True
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def call(self, method: str, path: str, body=None, token: str | None = "default",
             raw: bytes | None = None, headers: dict | None = None, timeout: float = 30.0):
        """(status, parsed JSON or text, response headers). body is JSON-encoded (NaN allowed)."""
        token = self.token if token == "default" else token
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            sent.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=sent)
            resp = conn.getresponse()
            payload = resp.read()
        finally:
            conn.close()
        try:
            parsed = json.loads(payload) if payload else None
        except ValueError:
            parsed = payload.decode("utf-8", "replace")
        return resp.status, parsed, dict(resp.getheaders())

    def submit(self, route: str, body: dict) -> str:
        status, reply, _ = self.call("POST", f"/v1/{route}", body)
        assert status == 202, (status, reply)
        return reply["id"]

    def wait(self, job_id: str, timeout: float = 30.0) -> dict:
        """Poll until the job ends; returns its last status."""
        deadline = time.monotonic() + timeout
        while True:
            status, reply, _ = self.call("GET", f"/v1/jobs/{job_id}")
            assert status == 200, (status, reply)
            if reply["status"] in ("done", "failed", "cancelled"):
                return reply
            assert time.monotonic() < deadline, f"job {job_id} still {reply['status']}"
            time.sleep(0.02)

    def result(self, job_id: str) -> dict:
        state = self.wait(job_id)
        assert state["status"] == "done", state
        status, reply, _ = self.call("GET", f"/v1/jobs/{job_id}/result")
        assert status == 200, (status, reply)
        return reply


class Hold:
    """Stops one generate call at the model's first progress report until resume is set."""

    def __init__(self):
        self.started = threading.Event()
        self.resume = threading.Event()


class WrappedPipeline:
    """The real tiny pipeline with hooks around generate (failures, counting, holds).

    hold() makes the next generate call wait inside the real model, so a test can look at (or
    cancel) a job that is really running, or fill the queue behind it.
    """

    def __init__(self, inner, before_generate=None, after_generate=None):
        self._inner = inner
        self.before_generate = before_generate
        self.after_generate = after_generate
        self._holds: list[Hold] = []
        self.stop_checks = 0
        self.generate_calls: list[list[str]] = []

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def hold(self) -> Hold:
        self._holds.append(Hold())
        return self._holds[-1]

    def generate(self, prompts, seconds, seeds, progress=None, should_stop=None, **kwargs):
        self.generate_calls.append(list(prompts))
        if self.before_generate is not None:
            self.before_generate(prompts, kwargs)
        hold = self._holds.pop(0) if self._holds else None

        def report(fraction):
            if hold is not None and not hold.started.is_set():
                hold.started.set()
                assert hold.resume.wait(20), "the test never resumed the model"
            if progress is not None:
                progress(fraction)

        def stop():
            self.stop_checks += 1
            return should_stop is not None and should_stop()

        motions = self._inner.generate(prompts, seconds, seeds, progress=report, should_stop=stop, **kwargs)
        if self.after_generate is not None:
            motions = self.after_generate(prompts, motions)
        return motions


@pytest.fixture(scope="session")
def tiny():
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    pytest.importorskip("torch")
    from momug.pipeline import MotionPipeline

    return MotionPipeline.load("tiny", device="cpu")


@pytest.fixture(scope="module")
def server(tiny):
    live = LiveServer(lambda: tiny)
    wait_ready(live)
    yield live
    live.stop()


@pytest.fixture
def start_server(tiny):
    """Factory for servers with their own options; each is stopped after the test."""
    started = []

    def start(loader=None, wait=True, **options):
        live = LiveServer(loader or (lambda: tiny), **options)
        started.append(live)
        if wait:
            wait_ready(live)
        return live

    yield start
    for live in started:
        live.stop()


@pytest.fixture
def wrap(tiny):
    return lambda **hooks: WrappedPipeline(tiny, **hooks)


def wait_ready(live: LiveServer, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        _, health, _ = live.call("GET", "/v1/health", token=None)
        if health["status"] != "loading":
            return health
        assert time.monotonic() < deadline, "model did not load"
        time.sleep(0.02)


@pytest.fixture
def fast_generate(tiny):
    """A small valid generate body for the loaded model."""
    seconds = max(tiny.min_seconds, min(2.0, tiny.max_seconds))
    return {"prompt": "a person walks forward", "seconds": seconds, "seed": 1, "steps": 2}
