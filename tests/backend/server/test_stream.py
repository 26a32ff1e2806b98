"""POST /v1/generate/stream against a real uvicorn server with the real tiny streaming model:
the events, lazy loading, limits, errors mid-stream, one stream at a time, and that a client
who hangs up stops the model."""

import http.client
import json
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")

from momug.errors import MomugError  # noqa: E402

BODY = {"prompt": "a person walks forward", "seconds": 2.0, "seed": 3}


@pytest.fixture(scope="session")
def tiny_stream():
    pytest.importorskip("torch")
    from momug.stream.pipeline import StreamPipeline

    return StreamPipeline.load("tiny", device="cpu")


class WrappedStream:
    """The real tiny streaming pipeline with hooks: a hold after the first chunk, a failure after
    some chunks, and a record of how the stream ended."""

    def __init__(self, inner, fail_after=None, poison_after=None):
        self._inner = inner
        self.fail_after, self.poison_after = fail_after, poison_after
        self.hold = threading.Event()       # set: wait after the first chunk until resume
        self.held = threading.Event()
        self.resume = threading.Event()
        self.should_stop = None
        self.chunks = 0
        self.ended = threading.Event()
        self.ending = None                  # the exception that ended the stream, or None

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def stream(self, prompt, seconds, seed=0, steps=None, should_stop=None):
        self.should_stop, self.chunks = should_stop, 0
        try:
            for chunk in self._inner.stream(prompt, seconds, seed=seed, steps=steps, should_stop=should_stop):
                if self.fail_after is not None and self.chunks == self.fail_after:
                    raise RuntimeError("boom in the streaming model")
                if self.poison_after is not None and self.chunks == self.poison_after:
                    chunk = chunk.copy()
                    chunk[0, 3, 1] = np.nan
                self.chunks += 1
                yield chunk
                if self.hold.is_set() and self.chunks == 1:
                    self.held.set()
                    assert self.resume.wait(20), "the test never resumed the model"
        except BaseException as exc:
            self.ending = exc
            raise
        finally:
            self.ended.set()


def open_stream(live, body, token="default", timeout=30.0):
    """(connection, response) for a stream request; the caller reads and closes."""
    token = live.token if token == "default" else token
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=timeout)
    conn.request("POST", "/v1/generate/stream", body=json.dumps(body).encode(), headers=headers)
    return conn, conn.getresponse()


def read_events(resp, limit=None):
    """Parse server-sent events until the stream ends (or `limit` events): [(name, data), ...]."""
    events, name, data = [], None, []
    while limit is None or len(events) < limit:
        line = resp.readline()
        if not line:
            break
        line = line.decode("utf-8").rstrip("\r\n")
        if line.startswith(":"):
            continue
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and name is not None:
            events.append((name, json.loads("\n".join(data))))
            name, data = None, []
    return events


def stream_all(live, body):
    conn, resp = open_stream(live, body)
    try:
        assert resp.status == 200, resp.read()
        assert resp.getheader("Content-Type").startswith("text/event-stream")
        return read_events(resp)
    finally:
        conn.close()


def test_stream_sends_start_frames_and_done(start_server, tiny_stream):
    from momug.motion.motionfile import Motion

    live = start_server(stream_loader=lambda: tiny_stream)
    events = stream_all(live, BODY)
    names = [n for n, _ in events]
    assert names[0] == "start" and names[-1] == "done" and set(names[1:-1]) == {"frames"}
    start = events[0][1]
    assert start["frames"] == 40 and start["fps"] == tiny_stream.fps
    assert start["model_id"] == tiny_stream.model_id and start["checkpoint_id"] == tiny_stream.checkpoint_id
    assert start["prompt"] == BODY["prompt"] and start["seed"] == 3
    frames = [d for n, d in events if n == "frames"]
    assert [f["start"] for f in frames] == list(np.cumsum([0] + [f["count"] for f in frames[:-1]]))
    joints = np.concatenate([np.asarray(f["joints"]) for f in frames])
    rotations = np.concatenate([np.asarray(f["rotations"]) for f in frames])
    root = np.concatenate([np.asarray(f["root_translation"]) for f in frames])
    assert joints.shape == (40, 22, 3) and rotations.shape == (40, 22, 4) and root.shape == (40, 3)
    assert events[-1][1] == {"frames": 40}
    # The same seed straight from the model; rotations equal IK over the whole motion, signs included.
    expected = np.concatenate(list(tiny_stream.stream(BODY["prompt"], 2.0, seed=3)))
    np.testing.assert_allclose(joints, expected, atol=1e-6)
    whole = Motion(joints=expected, fps=20.0).with_rotations()
    np.testing.assert_allclose(rotations, whole.rotations, atol=2e-6)
    np.testing.assert_allclose(root, whole.root_translation, atol=1e-6)


def test_a_sequence_is_streamed_step_by_step_unless_asked_whole(start_server, tiny_stream):
    live = start_server(stream_loader=lambda: tiny_stream)
    body = dict(BODY, prompt="a person walks forward then waves")
    for split, made_from in ((True, ["a person walks forward", "a person waves"]),
                             (False, ["a person walks forward then waves"])):
        events = stream_all(live, dict(body, split_sequences=split))
        assert events[0][1]["made_from"] == made_from and events[-1] == ("done", {"frames": 40})
        joints = np.concatenate([np.asarray(d["joints"]) for n, d in events if n == "frames"])
        expected = np.concatenate(list(tiny_stream.stream(body["prompt"], 2.0, seed=3, split_sequences=split)))
        np.testing.assert_allclose(joints, expected, atol=1e-6)


def test_the_guidance_scale_reaches_the_streaming_model(start_server):
    """guidance in the request is the scale the frames were made with (start event says which was
    asked); left out, the model's own default."""
    from momug.stream.pipeline import StreamPipeline, move_off_initialisation, tiny_stream_model

    model, vae = tiny_stream_model()
    # off its initialisation, so the prompt (and so the guidance) matters
    move_off_initialisation([*model.mot.motion.parameters(), *model.flow.parameters()], seed=1)
    pipe = StreamPipeline(model, vae, "tiny", "tiny-perturbed", "cpu")
    live = start_server(stream_loader=lambda: pipe)
    body = dict(BODY, seconds=1.0)

    def joints(events):
        return np.concatenate([np.asarray(d["joints"]) for n, d in events if n == "frames"])

    guided, plain = stream_all(live, dict(body, guidance=3.0)), stream_all(live, body)
    assert guided[0][1]["guidance"] == 3.0 and plain[0][1]["guidance"] is None
    want_guided = np.concatenate(list(pipe.stream(body["prompt"], 1.0, seed=3, guidance=3.0)))
    want_plain = np.concatenate(list(pipe.stream(body["prompt"], 1.0, seed=3)))
    assert not np.allclose(want_guided, want_plain, atol=1e-4)
    np.testing.assert_allclose(joints(guided), want_guided, atol=1e-6)
    np.testing.assert_allclose(joints(plain), want_plain, atol=1e-6)
    pipe.guidance = 3.0   # a checkpoint that ships its own scale
    np.testing.assert_allclose(joints(stream_all(live, body)), want_guided, atol=1e-6)


def test_the_model_loads_on_the_first_stream_and_health_says_so(start_server, tiny_stream):
    calls = []

    def loader():
        calls.append(1)
        return tiny_stream

    live = start_server(stream_loader=loader)
    health = live.call("GET", "/v1/health", token=None)[1]
    assert health["stream"]["status"] == "loadable" and not calls
    stream_all(live, dict(BODY, seconds=1.0))
    stream_all(live, dict(BODY, seconds=1.0))
    assert len(calls) == 1
    stream = live.call("GET", "/v1/health", token=None)[1]["stream"]
    assert stream["status"] == "loaded" and stream["model_id"] == tiny_stream.model_id
    assert stream["limits"]["max_seconds"] == tiny_stream.max_seconds and stream["running"] is False
    assert stream["guidance"] == 1.0 and stream["limits"]["max_guidance"] == 20.0   # the model's own default


def test_the_streaming_model_loads_after_the_main_model(start_server, tiny, tiny_stream):
    """Both loaders import transformers, whose lazy imports fail when two threads race, so the
    stream's load waits for the queue's."""
    release, order, result = threading.Event(), [], {}

    def slow_main():
        order.append("main starts")
        release.wait(20)
        order.append("main done")
        return tiny

    def stream_loader():
        order.append("stream")
        return tiny_stream

    live = start_server(loader=slow_main, wait=False, stream_loader=stream_loader)
    deadline = time.monotonic() + 20
    while not order:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    client = threading.Thread(target=lambda: result.update(events=stream_all(live, dict(BODY, seconds=1.0))))
    client.start()
    try:
        while live.call("GET", "/v1/health", token=None)[1]["stream"]["status"] != "loading":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.2)
        assert order == ["main starts"]
    finally:
        release.set()
        client.join(30)
    assert order == ["main starts", "main done", "stream"] and result["events"][-1][0] == "done"


def test_health_without_a_streaming_model(server):
    health = server.call("GET", "/v1/health", token=None)[1]
    assert health["stream"]["status"] == "off"
    status, reply, _ = server.call("POST", "/v1/generate/stream", BODY)
    assert status == 503 and "no streaming model" in reply["detail"]


def test_a_missing_or_broken_streaming_model_is_a_clear_503(start_server, tiny_stream):
    live = start_server(stream_loader=lambda: tiny_stream,
                        stream_probe=lambda: "the default streaming model is not installed")
    stream = live.call("GET", "/v1/health", token=None)[1]["stream"]
    assert stream == dict(stream, status="missing", error="the default streaming model is not installed")
    status, reply, _ = live.call("POST", "/v1/generate/stream", BODY)
    assert status == 503 and "not installed" in reply["detail"]

    def broken():
        raise MomugError("checkpoint folder /nowhere does not exist")

    live = start_server(stream_loader=broken)
    status, reply, _ = live.call("POST", "/v1/generate/stream", BODY)
    assert status == 503 and "failed to load: checkpoint folder /nowhere" in reply["detail"]
    stream = live.call("GET", "/v1/health", token=None)[1]["stream"]
    assert stream["status"] == "failed" and "/nowhere" in stream["error"]


@pytest.mark.parametrize("change, words", [
    ({"prompt": "   "}, "blank"),
    ({"prompt": "x" * 5000}, "at most"),
    ({"seconds": 0.0}, "seconds"),
    ({"seconds": 30.0}, "between 1 and 10"),     # the streaming model's own limit
    ({"steps": 0}, "steps"),
    ({"steps": 500}, "flow steps"),             # within the wire's bound, beyond the model's
    ({"seed": -1}, "seed"),
    ({"guidance": -1.0}, "guidance"),
    ({"guidance": 30.0}, "guidance must be between 0 and 20"),   # within the wire's bound, beyond the model's
    ({"guidance": "2"}, "guidance"),
    ({"prompt": "a person walks for 3 seconds then waves"}, "leaving too little"),   # its steps' lengths
    ({"split_sequences": "no"}, "split_sequences"),
])
def test_bad_stream_requests_get_422_before_anything_runs(start_server, tiny_stream, change, words):
    live = start_server(stream_loader=lambda: tiny_stream)
    status, reply, _ = live.call("POST", "/v1/generate/stream", dict(BODY, **change))
    assert status == 422 and words in reply["detail"], reply


def test_stream_needs_the_token_and_bounds_the_body(start_server, tiny_stream):
    live = start_server(stream_loader=lambda: tiny_stream)
    status, reply, headers = live.call("POST", "/v1/generate/stream", BODY, token=None)
    assert status == 401 and headers.get("www-authenticate") == "Bearer"
    assert live.call("POST", "/v1/generate/stream", BODY, token="wrong")[0] == 401
    big = b'{"prompt": "' + b"x" * (9 * 1024 * 1024) + b'"}'
    status, reply, _ = live.call("POST", "/v1/generate/stream", raw=big,
                                 headers={"Content-Type": "application/json"})
    assert status == 413
    assert live.app.state.streams.pipeline is None   # nothing was loaded for them


@pytest.mark.parametrize("hook, words", [({"fail_after": 2}, "RuntimeError: boom in the streaming model"),
                                         ({"poison_after": 1}, "NaN")])
def test_a_failure_mid_stream_ends_with_an_error_event(start_server, tiny_stream, hook, words):
    model = WrappedStream(tiny_stream, **hook)
    live = start_server(stream_loader=lambda: model)
    events = stream_all(live, BODY)   # returns: the server closed the stream
    names = [n for n, _ in events]
    assert names[0] == "start" and names[-1] == "error" and "done" not in names
    assert names.count("frames") == next(iter(hook.values()))
    assert words in events[-1][1]["detail"]
    assert [n for n, _ in stream_all(live, BODY)][-1] == "error"   # the lock was released


def test_a_client_that_hangs_up_stops_the_model(start_server, tiny_stream):
    from momug.errors import Cancelled

    model = WrappedStream(tiny_stream)
    model.hold.set()
    live = start_server(stream_loader=lambda: model)
    live.app.state.streams.keepalive = 0.05
    conn, resp = open_stream(live, dict(BODY, seconds=10.0))
    assert [n for n, _ in read_events(resp, limit=2)] == ["start", "frames"]
    assert model.held.wait(10)
    assert resp.readline().startswith(b": keepalive")   # a quiet stream is not a silent one
    assert live.call("GET", "/v1/health", token=None)[1]["stream"]["running"] is True
    resp.close()
    conn.close()
    deadline = time.monotonic() + 10
    while not model.should_stop():
        assert time.monotonic() < deadline, "the server did not notice the client leaving"
        time.sleep(0.02)
    model.resume.set()
    assert model.ended.wait(10)
    assert isinstance(model.ending, Cancelled) and model.chunks == 1   # 49 of 50 chunks never made
    deadline = time.monotonic() + 10
    while live.call("GET", "/v1/health", token=None)[1]["stream"]["running"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert [n for n, _ in stream_all(live, dict(BODY, seconds=1.0))][-1] == "done"


def test_one_stream_at_a_time(start_server, tiny_stream):
    model = WrappedStream(tiny_stream)
    model.hold.set()
    live = start_server(stream_loader=lambda: model)
    conn, resp = open_stream(live, BODY)
    try:
        assert model.held.wait(10)
        status, reply, headers = live.call("POST", "/v1/generate/stream", BODY)
        assert status == 429 and "another stream" in reply["detail"] and headers.get("retry-after") == "1"
        # The diffusion queue is not blocked by a stream.
        assert live.call("GET", "/v1/health", token=None)[1]["status"] == "ready"
        model.resume.set()
        assert [n for n, _ in read_events(resp)][-1] == "done"
    finally:
        model.resume.set()
        conn.close()
    model.hold.clear()
    assert [n for n, _ in stream_all(live, BODY)][-1] == "done"


def test_shutdown_during_a_stream_ends_it(start_server, tiny_stream):
    model = WrappedStream(tiny_stream)
    model.hold.set()
    live = start_server(stream_loader=lambda: model)
    conn, resp = open_stream(live, dict(BODY, seconds=10.0))
    try:
        assert model.held.wait(10)
        assert live.stop(timeout=15)
        assert model.should_stop()
        read_events(resp)   # returns: the connection was closed, not left hanging
    finally:
        model.resume.set()
        conn.close()
    assert model.ended.wait(10) and model.chunks == 1


def test_momug_serve_option_and_probe(tmp_path, monkeypatch):
    from momug import cli
    from momug.commands import serve
    from momug.stream import checkpoint as sckpt

    args = cli.build_parser().parse_args(["serve", "--stream-checkpoint", "tiny"])
    assert args.stream_checkpoint == "tiny"
    assert cli.build_parser().parse_args(["serve"]).stream_checkpoint is None
    assert serve._stream_probe("tiny")() is None
    assert serve._stream_probe(str(tmp_path))() is None
    assert "does not exist" in serve._stream_probe(str(tmp_path / "nope"))()
    assert serve.default_stream_folder() == sckpt.default_stream_checkpoint()
    monkeypatch.setattr(serve, "default_stream_folder", lambda: tmp_path / "not_shipped")
    assert "--stream-checkpoint DIR" in serve._stream_probe(None)()


# ------------------------------------------------------------------ continuing a given motion

CONTINUE_BODY = {"prompt": "a person walks forward", "seconds": 2.0, "seed": 3, "steps": 2}


def test_stream_continues_where_the_given_motion_ends(start_server, tiny_stream):
    from momug.constraints import PARENTS, STREAM_FADE_FRAMES

    live = start_server(stream_loader=lambda: tiny_stream)
    plain = stream_all(live, CONTINUE_BODY)
    t = np.arange(20)[:, None, None] / 20.0
    before = np.tile(np.asarray(plain[1][1]["joints"])[:1], (20, 1, 1)) + t * np.array([0.0, 0.0, 1.0])
    before = np.round(before + np.array([3.0, 0.0, -1.0]), 6)
    events = stream_all(live, dict(CONTINUE_BODY, start=before.tolist()))
    assert [n for n, _ in events][-1] == "done"
    joints = np.concatenate([np.asarray(d["joints"]) for n, d in events if n == "frames"])
    assert joints.shape == (40, 22, 3)
    # The first frame is one step past the given end (1 m/s forward at 20 fps), pose and all.
    assert np.abs(joints[0] - (2 * before[-1] - before[-2])).max() < 1e-5
    # After the fade, the stream's own motion, turned and moved rigidly (bone lengths kept).
    raw = np.concatenate([np.asarray(d["joints"]) for n, d in plain if n == "frames"])
    k = STREAM_FADE_FRAMES
    bones = lambda j: np.linalg.norm(j[:, 1:] - j[:, list(PARENTS[1:])], axis=-1)  # noqa: E731
    np.testing.assert_allclose(bones(joints[k:]), bones(raw[k:]), atol=1e-4)


def test_a_bad_start_is_refused_before_the_stream(start_server, tiny_stream):
    live = start_server(stream_loader=lambda: tiny_stream)
    status, reply, _ = live.call("POST", "/v1/generate/stream",
                                 dict(CONTINUE_BODY, start=[[[0.0, 0.0, 0.0]] * 22]))
    assert status == 422 and "start" in reply["detail"]
