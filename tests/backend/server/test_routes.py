"""Every /v1 route against a real server with the real tiny model."""

import math
import threading

import numpy as np
import pytest

pytest.importorskip("fastapi")


def test_health_needs_no_token_and_describes_the_model(server, tiny):
    status, health, _ = server.call("GET", "/v1/health", token=None)
    assert status == 200
    assert health["status"] == "ready" and health["api"] == "v1"
    assert health["model_id"] == tiny.model_id and health["checkpoint_id"] == tiny.checkpoint_id
    assert health["device"] == "cpu" and health["fps"] == tiny.fps
    assert health["limits"]["max_seconds"] == tiny.max_seconds
    assert {"momug", "python", "torch", "fastapi"} <= set(health["versions"])


def test_health_says_loading_until_the_model_is_there(start_server, tiny, fast_generate):
    release = threading.Event()

    def slow_loader():
        release.wait(10)
        return tiny

    live = start_server(loader=slow_loader, wait=False)
    _, health, _ = live.call("GET", "/v1/health", token=None)
    assert health["status"] == "loading" and health["model_id"] is None
    job = live.submit("generate", fast_generate)   # accepted now, run once loaded
    assert live.call("GET", f"/v1/jobs/{job}")[1]["status"] == "queued"
    release.set()
    assert live.wait(job)["status"] == "done"
    assert live.call("GET", "/v1/health", token=None)[1]["status"] == "ready"


def test_generate_returns_compact_arrays_for_the_request(server, tiny, fast_generate):
    body = dict(fast_generate, count=2, seed=7)
    status, job, _ = server.call("POST", "/v1/generate", body)
    assert status == 202 and job["status"] in ("queued", "running") and job["kind"] == "generate"
    result = server.result(job["id"])
    assert result["kind"] == "generate" and result["id"] == job["id"]
    assert [m["seed"] for m in result["motions"]] == [7, 8]
    for motion in result["motions"]:
        joints = np.asarray(motion["joints"])
        rotations = np.asarray(motion["rotations"])
        root = np.asarray(motion["root_translation"])
        frames = motion["frames"]
        assert joints.shape == (frames, 22, 3) and rotations.shape == (frames, 22, 4)
        assert root.shape == (frames, 3) and motion["fps"] == tiny.fps
        assert abs(frames / tiny.fps - body["seconds"]) <= 4 / tiny.fps + 1e-6
        np.testing.assert_allclose(np.linalg.norm(rotations, axis=-1), 1.0, atol=1e-4)
        assert motion["prompt"] == body["prompt"]
    finished = server.call("GET", f"/v1/jobs/{job['id']}")[1]
    assert finished["status"] == "done" and finished["progress"] == 1.0 and finished["error"] is None


def test_generate_passes_the_foot_cleanup_choice_and_never_batches_the_two_together(start_server, wrap,
                                                                                    fast_generate):
    seen = []
    model = wrap(before_generate=lambda prompts, kwargs: seen.append((list(prompts), kwargs["clean_feet"])))
    live = start_server(loader=lambda: model)
    hold = model.hold()
    blocker = live.submit("generate", dict(fast_generate, prompt="blocker"))
    assert hold.started.wait(10)
    raw = live.submit("generate", dict(fast_generate, prompt="raw", clean_feet=False))
    clean = live.submit("generate", dict(fast_generate, prompt="clean"))
    hold.resume.set()
    for job in (blocker, raw, clean):
        assert live.result(job)["motions"]
    assert seen == [(["blocker"], True), (["raw"], False), (["clean"], True)]


def test_generate_passes_the_whole_prompt_choice(start_server, wrap, fast_generate):
    seen = []
    model = wrap(before_generate=lambda prompts, kwargs: seen.append(kwargs.get("split_sequences", True)))
    live = start_server(loader=lambda: model)
    made_from = []
    for split in (False, True):
        motions = live.result(live.submit("generate", dict(fast_generate, prompt="a person walks then claps",
                                                           seconds=2.0, split_sequences=split)))["motions"]
        made_from.append(motions[0]["made_from"])
    assert seen == [False, True]
    # The result says which prompts each motion was made from.
    assert made_from == [["a person walks then claps"], ["a person walks", "a person claps"]]


def test_step_lengths_are_read_and_checked_before_any_work(start_server, wrap, fast_generate):
    seen = []
    model = wrap(before_generate=lambda prompts, kwargs: seen.append(list(prompts)))
    live = start_server(loader=lambda: model)
    status, reply, _ = live.call("POST", "/v1/generate", dict(fast_generate, seconds=2.0,
                                                               prompt="a person walks for 3 seconds then waves"))
    assert status == 422 and "leaving too little" in reply["detail"] and seen == []
    good = live.result(live.submit("generate", dict(fast_generate, seconds=2.5,
                                                    prompt="a person walks for 1.5 seconds then waves")))
    assert good["motions"][0]["made_from"] == ["a person walks", "a person waves"]
    assert good["motions"][0]["frames"] == 50


def test_caption_of_a_generated_motion(server, fast_generate):
    motion = server.result(server.submit("generate", fast_generate))["motions"][0]
    job = server.submit("caption", {"joints": motion["joints"], "fps": motion["fps"]})
    result = server.result(job)
    assert result["kind"] == "caption" and isinstance(result["caption"], str)


def test_result_before_done_cancel_and_unknown_jobs(start_server, wrap, fast_generate):
    model = wrap()
    hold = model.hold()
    live = start_server(loader=lambda: model)
    job = live.submit("generate", fast_generate)
    assert hold.started.wait(10)
    assert live.call("GET", f"/v1/jobs/{job}")[1]["status"] == "running"
    status, reply, _ = live.call("GET", f"/v1/jobs/{job}/result")
    assert status == 409 and "poll" in reply["detail"]
    status, reply, _ = live.call("DELETE", f"/v1/jobs/{job}")
    assert status == 200 and reply["status"] == "cancelled"
    hold.resume.set()
    assert live.wait(job)["status"] == "cancelled"
    status, reply, _ = live.call("GET", f"/v1/jobs/{job}/result")
    assert status == 409 and "cancelled" in reply["detail"]
    for method, path in (("GET", "/v1/jobs/nope"), ("GET", "/v1/jobs/nope/result"), ("DELETE", "/v1/jobs/nope")):
        status, reply, _ = live.call(method, path)
        assert status == 404 and "nope" in reply["detail"]


@pytest.mark.parametrize("change, words", [
    ({"prompt": "   "}, "blank"),
    ({"prompt": "x" * 5000}, "at most"),
    ({"seconds": -1.0}, "seconds"),
    ({"seconds": math.inf}, "finite"),
    ({"steps": 0}, "steps"),
    ({"steps": 2.5}, "steps"),
    ({"guidance": math.nan}, "finite"),
    ({"count": 99}, "count"),
    ({"seed": -1}, "seed"),
    ({"sede": 3}, "sede"),
    ({"clean_feet": "yes"}, "clean_feet"),
    ({"split_sequences": "no"}, "split_sequences"),
])
def test_bad_generate_requests_get_422_with_a_reason(server, fast_generate, change, words):
    status, reply, _ = server.call("POST", "/v1/generate", dict(fast_generate, **change))
    assert status == 422, reply
    assert words in reply["detail"] and reply["errors"]


def test_the_models_own_limits_answer_422(server, tiny, fast_generate):
    status, reply, _ = server.call("POST", "/v1/generate", dict(fast_generate, seconds=tiny.max_seconds + 5))
    assert status == 422 and reply["detail"]


def test_nan_and_bad_shapes_in_caption_joints_get_422(server):
    joints = np.zeros((10, 22, 3)).tolist()
    joints[4][3][1] = math.nan
    status, reply, _ = server.call("POST", "/v1/caption", {"joints": joints, "fps": 20.0})
    assert status == 422 and "joints[4][3][1] is nan" in reply["detail"] and "finite" in reply["detail"]
    everything_bad = np.full((3600, 22, 3), math.inf).tolist()
    status, reply, _ = server.call("POST", "/v1/caption", {"joints": everything_bad})
    assert status == 422 and "237600 bad values" in reply["detail"] and len(reply["errors"]) == 1
    for joints, words in ((np.zeros((10, 21, 3)).tolist(), "(10, 21, 3)"), ([[[0.0, 0.0]]], "shaped"),
                          ([[[0, 0, 0]] * 22, [[0, 0]] * 22], "ragged"), ([[["a", 0, 0]] * 22] * 2, "numbers"),
                          (np.zeros((1, 22, 3)).tolist(), "2 to 3600 frames")):
        status, reply, _ = server.call("POST", "/v1/caption", {"joints": joints})
        assert status == 422 and words in reply["detail"], reply


def test_many_bad_fields_are_summarised(server):
    body = {"prompt": "", "seconds": math.nan, "steps": 0, "guidance": math.inf, "count": 99}
    status, reply, _ = server.call("POST", "/v1/generate", body)
    assert status == 422 and "(and 2 more)" in reply["detail"] and len(reply["errors"]) == 5


def test_oversized_bodies_get_413(server):
    big = b'{"prompt": "' + b"x" * (9 * 1024 * 1024) + b'"}'
    status, reply, _ = server.call("POST", "/v1/generate", raw=big, headers={"Content-Type": "application/json"})
    assert status == 413 and "larger than" in reply["detail"]


def test_oversized_chunked_body_gets_413(server):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    chunks = (b"x" * 1024 * 1024 for _ in range(9))
    conn.request("POST", "/v1/caption", body=chunks, encode_chunked=True,
                 headers={"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"})
    assert conn.getresponse().status == 413
    conn.close()


def test_malformed_json_gets_422(server):
    status, reply, _ = server.call("POST", "/v1/generate", raw=b'{"prompt": ',
                                   headers={"Content-Type": "application/json"})
    assert status == 422 and reply["detail"].startswith("invalid request")


def test_openapi_lists_the_versioned_routes_and_the_token(server):
    status, spec, _ = server.call("GET", "/openapi.json", token=None)
    assert status == 200
    assert set(spec["paths"]) == {"/v1/health", "/v1/generate", "/v1/generate/stream", "/v1/caption",
                                  "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/result", "/v1/models"}
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert spec["paths"]["/v1/generate"]["post"]["security"]
    stream = spec["paths"]["/v1/generate/stream"]["post"]
    assert stream["security"] and "text/event-stream" in stream["responses"]["200"]["content"]
    assert "security" not in spec["paths"]["/v1/health"]["get"]
