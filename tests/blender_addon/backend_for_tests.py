"""A REAL local backend (`momug serve`) for the add-on tests, run from the main Python environment
(not the bpy venv): $MOMUG_PYTHON, else the first python3 on PATH outside this venv, on a free
port with a temporary $MOMUG_CONFIG. Skips with the reason when the server is not installed there."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from blender_addon import client

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


def point_addon_at(monkeypatch, backend):
    """Make the add-on talk to this backend (from serve()) for the rest of the test."""
    from blender_addon import preferences

    monkeypatch.setenv("MOMUG_CONFIG", backend["config"])
    monkeypatch.setattr(preferences._Defaults, "backend_url", backend["url"])
    monkeypatch.setattr(preferences._Defaults, "token", "")
    return backend


def serve(config_dir, serve_args):
    """Generator for a module fixture: yields {url, token, config} while `momug serve` runs."""
    py = main_python()
    probe = subprocess.run([py, "-c", "import momug.server.app"], capture_output=True, text=True, cwd=ROOT)
    if probe.returncode != 0:
        pytest.skip(f"backend server not importable with {py}: "
                    f"{(probe.stderr.strip().splitlines() or ['?'])[-1]}")
    cfg = config_dir
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, MOMUG_CONFIG=str(cfg))
    env.pop("PYTHONPATH", None)
    env.pop("MOMUG_ACCEPT_LICENCES", None)   # a fresh config accepts no opt-in licence either
    log = open(cfg / "serve.log", "wb")
    cmd = [py, "-m", "momug.cli", "serve", "--host", "127.0.0.1", "--port", str(port)] + list(serve_args)
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
        yield {"url": url, "token": token, "config": str(cfg), "process": proc}
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
