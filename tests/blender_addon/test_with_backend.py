"""End to end against a REAL local backend (`momug serve` with the tiny model), no mocks.

The server runs from the main Python environment (not the bpy venv): $MOMUG_PYTHON, else the
first python3 on PATH outside this venv, on a free port with a temporary $MOMUG_CONFIG. Its extra
arguments come from $MOMUG_TEST_SERVE_ARGS (default: the tiny model, '--checkpoint tiny'; set it
to '' for the default model). Skipped with the reason when the server is not installed there.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

import bpy
from blender_addon import client, jobs, keying, preferences
from rigs_for_tests import MIXAMO_MAP, make_mixamo

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main_python():
    if os.environ.get("MOMUG_PYTHON"):
        return os.environ["MOMUG_PYTHON"]
    venv = os.path.dirname(os.path.dirname(sys.executable))
    for d in os.environ.get("PATH", "").split(os.pathsep):
        exe = os.path.join(d, "python3")
        if os.path.isfile(exe) and not os.path.realpath(d).startswith(os.path.realpath(venv)):
            return exe
    return shutil.which("python3")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    py = main_python()
    probe = subprocess.run([py, "-c", "import momug.server.app"], capture_output=True, text=True, cwd=ROOT)
    if probe.returncode != 0:
        pytest.skip(f"backend server not importable with {py}: "
                    f"{(probe.stderr.strip().splitlines() or ['?'])[-1]}")
    cfg = tmp_path_factory.mktemp("momug_config")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, MOMUG_CONFIG=str(cfg))
    env.pop("PYTHONPATH", None)
    log = open(cfg / "serve.log", "wb")
    cmd = [py, "-m", "momug.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    cmd += os.environ.get("MOMUG_TEST_SERVE_ARGS", "--checkpoint tiny").split()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    deadline = time.monotonic() + float(os.environ.get("MOMUG_TEST_SERVE_WAIT", "240"))
    try:
        while True:
            if proc.poll() is not None:
                pytest.skip(f"momug serve exited ({proc.returncode}): "
                            + (cfg / "serve.log").read_text(errors="replace")[-800:])
            try:
                urllib.request.urlopen(url + "/v1/health", timeout=2).read()
                break
            except Exception:
                if time.monotonic() > deadline:
                    pytest.fail("momug serve did not answer /v1/health in time: "
                                + (cfg / "serve.log").read_text(errors="replace")[-800:])
                time.sleep(1.0)
        token = client.read_token(str(cfg))
        yield {"url": url, "token": token, "config": str(cfg)}
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def use_backend(backend, monkeypatch):
    monkeypatch.setenv("MOMUG_CONFIG", backend["config"])
    monkeypatch.setattr(preferences._Defaults, "backend_url", backend["url"])
    monkeypatch.setattr(preferences._Defaults, "token", "")
    return backend


def fingerprint():
    return (sorted(o.name for o in bpy.data.objects), sorted(a.name for a in bpy.data.actions))


def test_health(use_backend):
    info = client.Client(use_backend["url"], use_backend["token"]).health()
    deadline = time.monotonic() + 120
    while info["status"] == "loading" and time.monotonic() < deadline:
        time.sleep(0.5)
        info = client.Client(use_backend["url"], use_backend["token"]).health()
    assert info["status"] == "ready", info
    assert client.health_summary(info).startswith(f"ready: {info['model_id']}")
    assert info["limits"]["max_seconds"] > info["limits"]["min_seconds"] > 0


def test_backend_check_operator(addon, scene, use_backend):
    assert bpy.ops.momug.backend_check() == {"FINISHED"}
    assert scene.momug.backend_state.startswith("ready: ")


def test_request_outside_the_models_limits_reports_why(scene, use_backend):
    be = client.Client(use_backend["url"], use_backend["token"])
    limit = be.health()["limits"]["max_seconds"]
    before = fingerprint()
    with pytest.raises(jobs.JobError, match="rejected the request: .*seconds"):
        jobs.run_generate(bpy.context, be, "a person walks", seconds=limit + 5, steps=2)
    assert fingerprint() == before


def test_cancel_while_waiting_cancels_on_the_backend(use_backend):
    be = client.Client(use_backend["url"], use_backend["token"])
    job = jobs.GenerateJob(be, "a person dances", 4.0, 0, 2.5, 1000)
    job.cancel_requested = True
    job.talk()
    assert job.status == "cancelled" and job.error.kind == "cancelled"
    assert be.job(job.job_id)["status"] == "cancelled"


def test_caption_input_is_checked_before_sending(use_backend):
    be = client.Client(use_backend["url"], use_backend["token"])
    joints = np.zeros((10, 22, 3))
    joints[2, 3, 1] = np.nan
    with pytest.raises(client.BackendError, match="NaN"):
        be.submit_caption(joints)
    with pytest.raises(client.BackendError, match="at most"):
        be.submit_caption(np.zeros((client.MAX_CAPTION_FRAMES + 1, 22, 3)))


def test_generate_new_smpl_rig_operator(addon, scene, use_backend):
    st = scene.momug
    st.prompt, st.seconds, st.seed, st.steps, st.target = "a person walks forward", 2.0, 3, 4, "NEW_SMPL"
    assert bpy.ops.momug.generate() == {"FINISHED"}
    obj = bpy.data.objects["SMPL"]
    action = obj.animation_data.action
    assert action.name.startswith("MoMug: a person walks forward")
    fcs = keying.action_fcurves(action, obj)
    assert any("pelvis" in fc.data_path and fc.data_path.endswith("location") for fc in fcs)
    assert len(st.history) == 1 and st.history[0].seed == 3
    # The same seed and settings give the same motion again.
    bpy.ops.momug.history_apply(mode="SETTINGS")


def test_generate_on_mixamo_and_describe(addon, scene, use_backend):
    obj, _ = make_mixamo()
    bpy.context.view_layer.objects.active = obj
    be = client.Client(use_backend["url"], use_backend["token"])
    res = jobs.run_generate(bpy.context, be, "a person jumps", seconds=2.0, seed=1, steps=4,
                            target="ACTIVE")
    assert res.bone_map_label == "mixamo" and len(res.frames) > 10
    scene.momug.caption = ""
    assert bpy.ops.momug.describe() == {"FINISHED"}
    assert scene.momug.caption
    assert obj.animation_data.action.get("momug_caption") == scene.momug.caption


def test_wrong_token_reports_and_changes_nothing(addon, scene, use_backend, monkeypatch):
    monkeypatch.setattr(preferences._Defaults, "token", "not-the-token")
    before = fingerprint()
    with pytest.raises(RuntimeError, match="refused the token"):
        bpy.ops.momug.generate()
    assert fingerprint() == before


def test_timeout_reports_and_changes_nothing(scene, use_backend):
    be = client.Client(use_backend["url"], use_backend["token"])
    before = fingerprint()
    with pytest.raises(jobs.JobError, match="did not finish within"):
        jobs.run_generate(bpy.context, be, "a person runs", seconds=4.0, steps=50, timeout=0.01)
    assert fingerprint() == before
