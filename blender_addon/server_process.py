"""Starting and stopping a local backend (`momug serve`) as a child process of Blender.

Only the process this module started is ever stopped.
"""

import os
import shlex
import subprocess
import urllib.parse

_proc = None
_log_path = None


def _host_port(url):
    parts = urllib.parse.urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 8765


def command(python_command, url, extra_args=""):
    host, port = _host_port(url)
    cmd = shlex.split(python_command or "python3") + ["-m", "momug.cli", "serve",
                                                      "--host", host, "--port", str(port)]
    return cmd + shlex.split(extra_args or "")


def start(python_command, url, extra_args="", log_dir=None):
    """Launch the backend; returns the Popen. Raises OSError when the command cannot run."""
    global _proc, _log_path
    if is_running():
        return _proc
    import tempfile
    log_dir = log_dir or tempfile.gettempdir()
    _log_path = os.path.join(log_dir, "momug-serve.log")
    log = open(_log_path, "wb")
    try:
        _proc = subprocess.Popen(command(python_command, url, extra_args), stdout=log,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    finally:
        log.close()
    return _proc


def is_running():
    return _proc is not None and _proc.poll() is None


def state():
    """A short line for the preferences and the panel."""
    if _proc is None:
        return "not started from Blender"
    code = _proc.poll()
    if code is None:
        return f"running (pid {_proc.pid})"
    return f"exited with code {code}; log: {_log_path}"


def log_tail(n=2000):
    if not _log_path or not os.path.isfile(_log_path):
        return ""
    with open(_log_path, "rb") as f:
        data = f.read()
    return data[-n:].decode("utf-8", "replace")


def stop(timeout=5.0):
    global _proc
    if _proc is None:
        return
    if _proc.poll() is None:
        _proc.terminate()
        try:
            _proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _proc.kill()
            _proc.wait(timeout)
    _proc = None
