"""Property-based bad input against the real server: any body, any path, never a 5xx, never a crash."""

import json
import urllib.parse

import numpy as np
import pytest

pytest.importorskip("fastapi")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FUZZ = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

ACCEPTED = {202, 413, 422, 429}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)

generate_fields = {
    "prompt": st.text(max_size=40) | st.text(min_size=490, max_size=1100) | json_values,
    "seconds": st.floats() | st.integers(-5, 700) | json_values,
    "seed": st.integers(-2**40, 2**40) | json_values,
    "guidance": st.floats() | json_values,
    "steps": st.integers(-5, 2000) | json_values,
    "count": st.integers(-2, 20) | json_values,
    "unexpected": json_values,
}


@st.composite
def generate_bodies(draw):
    keys = draw(st.sets(st.sampled_from(sorted(generate_fields))))
    return {key: draw(generate_fields[key]) for key in keys}


@st.composite
def caption_bodies(draw):
    """Mostly array-shaped joints (right or wrong shape), some poisoned with one bad value."""
    shape = draw(st.tuples(st.integers(0, 40), st.sampled_from([21, 22, 23]), st.sampled_from([2, 3, 4])))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    joints = (rng.normal(size=shape) * draw(st.sampled_from([0.5, 1e3, 1e6]))).tolist()
    if joints and draw(st.booleans()):
        poison = draw(st.sampled_from([float("nan"), float("inf"), "1.0", None, True, [1.0], {}]))
        t, j, k = (draw(st.integers(0, n - 1)) for n in shape)
        joints[t][j][k] = poison
    body = {"joints": draw(st.just(joints) | json_values)}
    if draw(st.booleans()):
        body["fps"] = draw(st.floats() | json_values)
    return body


def post(server, route, body):
    raw = json.dumps(body, allow_nan=True).encode("utf-8")
    status, reply, _ = server.call("POST", f"/v1/{route}", raw=raw, headers={"Content-Type": "application/json"})
    assert status in ACCEPTED, (status, reply, body)
    if status == 202:   # a valid request: do not let the fuzz run fill the queue
        server.call("DELETE", f"/v1/jobs/{reply['id']}")
    elif status != 429:
        assert isinstance(reply["detail"], str) and reply["detail"]


@FUZZ
@given(body=generate_bodies())
def test_generate_bodies(server, body):
    post(server, "generate", body)


@FUZZ
@given(body=caption_bodies())
def test_caption_bodies(server, body):
    post(server, "caption", body)


@FUZZ
@given(raw=st.binary(max_size=300), content_type=st.sampled_from(["application/json", "text/plain", ""]),
       route=st.sampled_from(["generate", "caption"]))
def test_raw_bytes(server, raw, content_type, route):
    headers = {"Content-Type": content_type} if content_type else {}
    status, _, _ = server.call("POST", f"/v1/{route}", raw=raw, headers=headers)
    assert status in ACCEPTED | {400}


@FUZZ
@given(segment=st.text(min_size=1, max_size=80), method=st.sampled_from(["GET", "DELETE", "POST", "PUT"]),
       suffix=st.sampled_from(["", "/result", "/../health", "/result/x"]))
def test_job_paths(server, segment, method, suffix):
    path = "/v1/jobs/" + urllib.parse.quote(segment, safe="") + suffix
    status, _, _ = server.call(method, path)
    assert status < 500 and status in (200, 307, 401, 404, 405, 409, 422)


def test_the_server_still_works_after_the_fuzzing(server, fast_generate):
    _, health, _ = server.call("GET", "/v1/health", token=None)
    assert health["status"] == "ready"
    assert server.result(server.submit("generate", fast_generate))["motions"]
