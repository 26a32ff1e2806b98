"""The job queue behind the routes: batching, cancellation, failures, limits, expiry, shutdown."""

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np
import pytest

pytest.importorskip("fastapi")


def test_queued_requests_sharing_settings_run_as_one_batch(start_server, wrap, fast_generate):
    model = wrap()
    hold = model.hold()
    live = start_server(loader=lambda: model)
    first = live.submit("generate", dict(fast_generate, prompt="first"))
    assert hold.started.wait(10)
    same = [live.submit("generate", dict(fast_generate, prompt=f"same {i}", seed=i)) for i in range(3)]
    other = live.submit("generate", dict(fast_generate, prompt="other steps", steps=3))
    assert live.call("GET", f"/v1/jobs/{other}")[1]["queue_position"] == 3
    hold.resume.set()
    for job in [first, *same, other]:
        assert live.wait(job)["status"] == "done"
    assert model.generate_calls == [["first"], ["same 0", "same 1", "same 2"], ["other steps"]]
    for i, job in enumerate(same):
        motion = live.result(job)["motions"][0]
        assert motion["prompt"] == f"same {i}" and motion["seed"] == i


def test_cancelling_a_queued_job_skips_it(start_server, wrap, fast_generate):
    model = wrap()
    hold = model.hold()
    live = start_server(loader=lambda: model)
    running = live.submit("generate", dict(fast_generate, prompt="runs"))
    assert hold.started.wait(10)
    queued = live.submit("generate", dict(fast_generate, prompt="skipped"))
    status, reply, _ = live.call("DELETE", f"/v1/jobs/{queued}")
    assert status == 200 and reply["status"] == "cancelled" and reply["queue_position"] is None
    hold.resume.set()
    assert live.wait(running)["status"] == "done"
    assert live.wait(queued)["status"] == "cancelled"
    assert model.generate_calls == [["runs"]]


def test_cancelling_a_running_job_stops_the_model_and_the_next_job_runs(start_server, wrap, fast_generate):
    model = wrap()
    hold = model.hold()
    live = start_server(loader=lambda: model)
    doomed = live.submit("generate", dict(fast_generate, prompt="doomed", steps=50))
    assert hold.started.wait(10)
    following = live.submit("generate", dict(fast_generate, prompt="following"))
    live.call("DELETE", f"/v1/jobs/{doomed}")
    checks_before = model.stop_checks
    hold.resume.set()
    assert live.result(following)["motions"][0]["prompt"] == "following"
    assert live.wait(doomed)["status"] == "cancelled"
    assert model.stop_checks > checks_before   # the model asked, and was told to stop


def test_a_job_failing_inside_the_model_reports_why_and_the_server_goes_on(start_server, wrap, fast_generate):
    def explode(prompts, kwargs):
        if any("explode" in p for p in prompts):
            raise RuntimeError("boom in the model")

    model = wrap(before_generate=explode)
    live = start_server(loader=lambda: model)
    alone = live.submit("generate", dict(fast_generate, prompt="explode alone"))
    state = live.wait(alone)
    assert state["status"] == "failed" and state["error"] == "RuntimeError: boom in the model"
    status, reply, _ = live.call("GET", f"/v1/jobs/{alone}/result")
    assert status == 409 and "boom in the model" in reply["detail"]
    # In a batch, the bad request fails alone and its neighbour still gets its motion.
    hold = model.hold()
    blocker = live.submit("generate", dict(fast_generate, prompt="blocker"))
    assert hold.started.wait(10)
    bad = live.submit("generate", dict(fast_generate, prompt="please explode"))
    good = live.submit("generate", dict(fast_generate, prompt="good neighbour"))
    hold.resume.set()
    assert live.wait(bad)["status"] == "failed"
    assert live.result(good)["motions"][0]["prompt"] == "good neighbour"
    assert ["please explode", "good neighbour"] in model.generate_calls
    assert live.result(blocker)["motions"]
    assert live.call("GET", "/v1/health", token=None)[1]["status"] == "ready"


def test_nan_in_the_models_output_never_reaches_the_client(start_server, wrap, fast_generate):
    def spoil(prompts, motions):
        for prompt, motion in zip(prompts, motions):
            if "spoil" in prompt:
                motion.joints[3, 5, 1] = np.nan
                if motion.rotations is not None:
                    motion.rotations[3, 5, 0] = np.nan
        return motions

    live = start_server(loader=lambda: wrap(after_generate=spoil))
    state = live.wait(live.submit("generate", dict(fast_generate, prompt="spoil it")))
    assert state["status"] == "failed" and "NaN" in state["error"]
    assert live.result(live.submit("generate", fast_generate))["motions"]


def test_a_full_queue_answers_429(start_server, wrap, fast_generate):
    model = wrap()
    hold = model.hold()
    live = start_server(loader=lambda: model, max_queued=2)
    running = live.submit("generate", fast_generate)
    assert hold.started.wait(10)
    waiting = [live.submit("generate", fast_generate) for _ in range(2)]
    status, reply, headers = live.call("POST", "/v1/generate", fast_generate)
    assert status == 429 and "waiting" in reply["detail"] and headers["retry-after"] == "1"
    hold.resume.set()
    for job in [running, *waiting]:
        assert live.wait(job)["status"] == "done"
    assert live.call("POST", "/v1/generate", fast_generate)[0] == 202


def test_finished_jobs_expire(start_server, fast_generate):
    live = start_server(result_ttl=0.3)
    job = live.submit("generate", fast_generate)
    assert live.wait(job)["status"] == "done"
    time.sleep(0.5)
    assert live.call("GET", f"/v1/jobs/{job}")[0] == 404


def test_a_model_that_fails_to_load_is_reported(start_server, fast_generate):
    def broken():
        raise RuntimeError("no weights in /nowhere")

    live = start_server(loader=broken)
    _, health, _ = live.call("GET", "/v1/health", token=None)
    assert health["status"] == "failed" and "no weights in /nowhere" in health["error"]
    status, reply, _ = live.call("POST", "/v1/generate", fast_generate)
    assert status == 503 and "failed to load" in reply["detail"]


def test_shutdown_while_a_job_runs_cancels_it_and_ends(start_server, wrap, fast_generate):
    model = wrap()
    hold = model.hold()
    live = start_server(loader=lambda: model)
    running = live.submit("generate", dict(fast_generate, steps=50))
    assert hold.started.wait(10)
    queued = live.submit("generate", fast_generate)
    stopper = threading.Thread(target=live.stop)
    stopper.start()
    time.sleep(0.3)
    hold.resume.set()      # the model carries on, sees should_stop and gives up
    stopper.join(15)
    assert not stopper.is_alive() and not live.thread.is_alive()
    assert live.jobs.status(running)["status"] == "cancelled"
    assert live.jobs.status(queued)["status"] == "cancelled"


def test_momug_serve_process_prints_the_token_path_and_stops_on_sigterm(tmp_path, tiny):
    if os.name != "posix":
        pytest.skip("SIGTERM is POSIX")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, MOMUG_CONFIG=str(tmp_path / "cfg"))
    proc = subprocess.Popen([sys.executable, "-m", "momug.cli", "serve", "--checkpoint", "tiny",
                             "--device", "cpu", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(2)]
        assert any(str(tmp_path / "cfg" / "token") in line for line in lines), lines
        token = (tmp_path / "cfg" / "token").read_text().strip()
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 60
        while b'"ready"' not in urllib.request.urlopen(url + "/health", timeout=5).read():
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        body = (b'{"prompt": "a person runs in a circle", "seconds": %f, "steps": 1000}'
                % tiny.max_seconds)
        request = urllib.request.Request(url + "/generate", data=body, method="POST", headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        reply = urllib.request.urlopen(request, timeout=10).read().decode()
        assert re.search(r'"status":"(queued|running)"', reply)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal so the exit status tells why.
        assert proc.wait(20) in (0, -signal.SIGTERM)
        assert "job queue closed: 0 queued and 1 running jobs cancelled" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
