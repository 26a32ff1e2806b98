"""The backend's HTTP API, with the standard library only (Blender ships no requests).

Mirrors backend/momug/server/schema.py. Every failure becomes a BackendError whose message
says what to do, so operators can put it straight into Blender's report.
"""

import json
import os
import socket
import time
import urllib.error
import urllib.request

API = "/v1"
TOKEN_HEADER = "Authorization"   # value: "Bearer <token>"
TOKEN_FILE = "token"
DEFAULT_URL = "http://127.0.0.1:8765"


class BackendError(Exception):
    """kind: 'down', 'auth', 'timeout', 'request', 'server', 'failed', 'cancelled'."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def config_dir():
    """Where the backend keeps its token: $MOMUG_CONFIG, $XDG_CONFIG_HOME/momug, ~/.config/momug."""
    if os.environ.get("MOMUG_CONFIG"):
        return os.environ["MOMUG_CONFIG"]
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "momug")


def read_token(directory=None):
    """The local backend's token, or '' when it has not written one yet."""
    path = os.path.join(directory or config_dir(), TOKEN_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return ""


class Client:
    def __init__(self, url=DEFAULT_URL, token="", timeout=10.0):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _request(self, method, path, body=None, timeout=None):
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self.token:
            headers[TOKEN_HEADER] = f"Bearer {self.token}"
        req = urllib.request.Request(self.url + API + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = _detail(exc)
            if exc.code in (401, 403):
                raise BackendError("auth", "The backend refused the token (wrong or missing); "
                                   "press 'Read token' in the add-on preferences") from None
            if exc.code == 404:
                raise BackendError("request", f"Not found on the backend: {path} ({detail})") from None
            if exc.code in (400, 409, 413, 422):
                raise BackendError("request", f"The backend rejected the request: {detail}") from None
            raise BackendError("server", f"Backend error {exc.code}: {detail}") from None
        except (socket.timeout, TimeoutError):
            raise BackendError("timeout", f"The backend at {self.url} did not answer within "
                               f"{timeout or self.timeout:.0f} s") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (socket.timeout, TimeoutError)):
                raise BackendError("timeout", f"The backend at {self.url} did not answer in time") from None
            raise BackendError("down", f"No backend at {self.url} ({exc.reason}); start it with "
                               "'momug serve' or the Start backend button") from None
        except (ConnectionError, OSError) as exc:
            raise BackendError("down", f"No backend at {self.url} ({exc})") from None
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise BackendError("server", f"The backend sent something that is not JSON: {raw[:80]!r}") from None

    # --- routes -------------------------------------------------------------------------
    def health(self):
        return self._request("GET", "/health")

    def submit_generate(self, prompt, seconds, seed=0, guidance=2.5, steps=50, **extra):
        body = {"prompt": prompt, "seconds": float(seconds), "seed": int(seed),
                "guidance": float(guidance), "steps": int(steps)}
        body.update(extra)
        return _job_id(self._request("POST", "/generate", body))

    def submit_caption(self, joints, fps=20.0, **extra):
        body = {"joints": _to_list(joints), "fps": float(fps)}
        body.update(extra)
        return _job_id(self._request("POST", "/caption", body))

    def job(self, job_id):
        return self._request("GET", f"/jobs/{job_id}")

    def result(self, job_id):
        return self._request("GET", f"/jobs/{job_id}/result", timeout=max(self.timeout, 30.0))

    def cancel(self, job_id):
        try:
            return self._request("DELETE", f"/jobs/{job_id}")
        except BackendError:
            return {}

    def wait(self, job_id, timeout=600.0, poll=0.25, on_progress=None, should_cancel=None):
        """Poll a job until it ends; returns its result. Cancels the job on timeout/cancel."""
        t_end = time.monotonic() + timeout
        while True:
            if should_cancel is not None and should_cancel():
                self.cancel(job_id)
                raise BackendError("cancelled", "Cancelled")
            state = self.job(job_id)
            status = str(state.get("status", "")).lower()
            if on_progress is not None:
                on_progress(float(state.get("progress") or 0.0), status)
            if status in ("done", "succeeded", "finished", "complete", "completed"):
                return self.result(job_id)
            if status in ("failed", "error"):
                raise BackendError("failed", "The backend job failed: "
                                   + str(state.get("error") or state.get("message") or "no reason given"))
            if status in ("cancelled", "canceled"):
                raise BackendError("cancelled", "The job was cancelled on the backend")
            if time.monotonic() > t_end:
                self.cancel(job_id)
                raise BackendError("timeout", f"The backend job did not finish within {timeout:.0f} s")
            time.sleep(poll)


def _to_list(a):
    return a.tolist() if hasattr(a, "tolist") else a


def _job_id(reply):
    jid = reply.get("job_id") or reply.get("id")
    if not jid:
        raise BackendError("server", f"The backend did not return a job id: {reply}")
    return str(jid)


def _detail(exc):
    try:
        body = json.loads(exc.read() or b"{}")
        detail = body.get("detail") or body.get("error") or body
        return detail if isinstance(detail, str) else json.dumps(detail)[:300]
    except Exception:
        return exc.reason or str(exc.code)
