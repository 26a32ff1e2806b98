"""The backend's HTTP API, with the standard library only (Blender ships no requests).

Mirrors backend/momug/server/schema.py (the wire format's one definition); change both together:
- routes under /v1; every one but /v1/health needs "Authorization: Bearer <token>";
- POST /v1/generate {prompt, seconds, seed, guidance, steps, count, clean_feet} plus the animator
  constraints (all at 20 fps, metres, Y up, SMPL-22): start (T, 22, 3) the motion to continue,
  end (T, 22, 3) the motion to end at, keys {frames, joints (K, 22, 3)}, path [[x, z], ...] one
  per frame or {waypoints, speed}, edit {joints, keep: [lower|upper|legs|left_leg|right_leg|arms|
  left_arm|right_arm|spine|head]}; seconds may be left out when a path or an edit sets it; and
  POST /v1/caption {joints (T, 22, 3) metres Y up as nested lists, fps} answer 202 with a job;
  both take model: default|real (left out: the backend's default); GET /v1/models lists them;
- GET /v1/jobs/{id} -> {id, kind, status: queued|running|done|failed|cancelled, progress, error};
- GET /v1/jobs/{id}/result -> {"motions": [{prompt, seed, fps, frames, joints, rotations (w,x,y,z
  local, SMPL-22), root_translation, made_from (the prompts of its steps)}]} or {"caption": text};
  DELETE /v1/jobs/{id} cancels;
- POST /v1/generate/stream {prompt, seconds, seed, steps?} answers text/event-stream: `event:`/
  `data:` blocks start {frames, fps, model_id, ...}, frames {start, count, joints, rotations,
  root_translation} per chunk, then done {frames} or error {detail}; ':' lines keep it alive.
  GET /v1/health has "stream": {status: off|missing|loadable|loading|loaded|failed, limits, error};
- errors are {"detail": "<sentence>"}: 401 token, 403 an opt-in model whose licence is not accepted
  on the backend's machine, 404 unknown job, 409 no result, 413 too big, 422 invalid, 429 queue
  full (or a stream already running), 503 model not available.
Every failure becomes a BackendError whose message says what to do, so operators can put it
straight into Blender's report.
"""

import http.client
import json
import math
import os
import socket
import time
import urllib.error
import urllib.request

API = "/v1"
TOKEN_HEADER = "Authorization"   # value: "Bearer <token>"
TOKEN_FILE = "token"
DEFAULT_URL = "http://127.0.0.1:8765"

# Copies of schema.py's wire limits, checked here so the user gets the reason before a round trip.
NUM_JOINTS = 22
WIRE_DECIMALS = 6
MAX_PROMPT_CHARS = 1000
MAX_CAPTION_FRAMES = 3600
MAX_SEED = 2**31 - 1
MAX_KEYS = 1000
MAX_PATH_POINTS = 4000
BODY_PARTS = ("lower", "upper", "legs", "left_leg", "right_leg", "arms", "left_arm", "right_arm", "spine", "head")
CONSTRAINT_FIELDS = ("start", "end", "keys", "path", "edit")
FINISHED = ("done", "failed", "cancelled")
STREAM_TIMEOUT = 120.0   # the first stream request waits while the backend loads the streaming model
MAX_EVENT_BYTES = 8 * 1024 * 1024   # one frames event is a few kB; anything near this is not our backend


class BackendError(Exception):
    """kind: 'down', 'auth', 'licence', 'timeout', 'request', 'busy', 'server', 'failed', 'cancelled'."""

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
    except (OSError, UnicodeDecodeError):
        return ""


class Client:
    def __init__(self, url=DEFAULT_URL, token="", timeout=10.0):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _open(self, method, path, body=None, timeout=None, accept="application/json"):
        """The open HTTP response (the caller reads and closes it), or a BackendError."""
        data = None
        headers = {"Accept": accept}
        if body is not None:
            # allow_nan=False: NaN is not JSON; callers check their arrays before this point.
            data = json.dumps(body, allow_nan=False, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self.token:
            headers[TOKEN_HEADER] = f"Bearer {self.token}"
        req = urllib.request.Request(self.url + API + path, data=data, method=method, headers=headers)
        try:
            return urllib.request.urlopen(req, timeout=timeout or self.timeout)
        except urllib.error.HTTPError as exc:
            raise _http_error(exc, path) from None
        except Exception as exc:
            raise self._network_error(exc, timeout or self.timeout) from None

    def _network_error(self, exc, timeout):
        if isinstance(exc, (socket.timeout, TimeoutError)) or (
                isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, (socket.timeout, TimeoutError))):
            return BackendError("timeout", f"The backend at {self.url} did not answer within {timeout:.0f} s")
        if isinstance(exc, urllib.error.URLError):
            return BackendError("down", f"No backend at {self.url} ({exc.reason}); start it with "
                                "'momug serve' or the Start backend button")
        if isinstance(exc, (ConnectionError, OSError, http.client.HTTPException)):
            return BackendError("down", f"No backend at {self.url} ({exc})")
        return BackendError("server", f"Talking to the backend failed: {type(exc).__name__}: {exc}")

    def _request(self, method, path, body=None, timeout=None):
        resp = self._open(method, path, body, timeout)
        try:
            with resp:
                raw = resp.read()
        except Exception as exc:
            raise self._network_error(exc, timeout or self.timeout) from None
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise BackendError("server", f"The backend sent something that is not JSON: {raw[:80]!r}") from None

    # --- routes -------------------------------------------------------------------------
    def health(self):
        """{status: loading|ready|failed, model_id, checkpoint_id, device, limits, versions, ...}."""
        return self._request("GET", "/health")

    def models(self):
        """{default, models: [{name, description, licence, accepted, accept_command, loaded, ...}]}."""
        return self._request("GET", "/models")

    def submit_generate(self, prompt, seconds, seed=0, guidance=None, steps=20, count=1, clean_feet=True,
                        constraints=None, model=None):
        """constraints: {start, end, keys, path, edit} as constraints_to_wire takes them; seconds
        may be None when a path or an edit sets the length; guidance None: the model's own scale;
        model: a model name (None: the backend's default)."""
        prompt = _checked_prompt(prompt)
        numbers = {"seconds": seconds, "guidance": guidance}
        numbers = {k: float(v) for k, v in numbers.items() if v is not None}
        if not all(math.isfinite(x) for x in numbers.values()):
            raise BackendError("request", "Seconds and guidance must be finite numbers")
        body = {"prompt": prompt, "seed": int(seed) % (MAX_SEED + 1), "steps": int(steps), "count": int(count),
                **numbers}
        if constraints:
            body.update(constraints_to_wire(**constraints))
        if not clean_feet:
            # Sent only when off (the backend's default is on), so backends older than the
            # setting still take every default request.
            body["clean_feet"] = False
        if model is not None:
            body["model"] = str(model)
        return _job_id(self._request("POST", "/generate", body))

    def stream_generate(self, prompt, seconds, seed=0, steps=None, timeout=None, should_cancel=None):
        """POST /v1/generate/stream: yields (event, data) as the backend sends them, ending after
        'done'. An 'error' event, a stream that stops early and should_cancel() -> True (asked
        whenever a line arrives) raise BackendError; closing the generator closes the
        connection, which stops the backend's model. timeout (default STREAM_TIMEOUT): the longest
        wait for the answer (the model may load first) and between two lines (the backend sends
        a keep-alive line every 10 s)."""
        body = {"prompt": _checked_prompt(prompt), "seconds": float(seconds), "seed": int(seed) % (MAX_SEED + 1)}
        if not math.isfinite(body["seconds"]):
            raise BackendError("request", "Seconds must be a finite number")
        if steps is not None:
            body["steps"] = int(steps)
        timeout = timeout or max(self.timeout, STREAM_TIMEOUT)
        resp = self._open("POST", "/generate/stream", body, timeout, accept="text/event-stream")
        try:
            kind = resp.headers.get("Content-Type", "")
            if not kind.startswith("text/event-stream"):
                raise BackendError("server", f"The backend answered {kind or 'nothing'} instead of an event "
                                   "stream; is it an older momug serve?")
            for event, data in self._events(resp, timeout):
                if should_cancel is not None and should_cancel():
                    raise BackendError("cancelled", "Cancelled")
                if event is None:
                    continue
                if event == "error":
                    detail = data.get("detail") if isinstance(data, dict) else None
                    raise BackendError("failed", "The backend stopped the stream: " + str(detail or "no reason given"))
                yield event, data
                if event == "done":
                    return
            raise BackendError("server", "The backend closed the stream before the motion was complete")
        finally:
            resp.close()

    def _events(self, resp, timeout):
        """Server-sent events from an open response: (name, parsed data), and (None, None) for
        each keep-alive comment so the caller can check for cancellation."""
        name, data = None, []
        while True:
            try:
                line = resp.readline(MAX_EVENT_BYTES)
            except Exception as exc:
                if self._network_error(exc, timeout).kind == "timeout":
                    raise BackendError("timeout", f"The backend sent nothing for {timeout:.0f} s") from None
                raise BackendError("down", f"The backend at {self.url} broke off the stream "
                                   f"({type(exc).__name__}: {exc})") from None
            if not line:
                return
            if not line.endswith(b"\n"):
                raise BackendError("server", "The backend sent a stream line that is too long or cut off")
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if text.startswith(":"):
                yield None, None
            elif text.startswith("event:"):
                name = text[6:].strip()
            elif text.startswith("data:"):
                data.append(text[5:].lstrip())
            elif not text and name is not None:
                try:
                    parsed = json.loads("\n".join(data))
                except ValueError:
                    raise BackendError("server", f"The backend sent a '{name}' event that is not JSON") from None
                yield name, parsed
                name, data = None, []

    def submit_caption(self, joints, fps=20.0, model=None):
        body = {"joints": joints_to_wire(joints), "fps": float(fps)}
        if model is not None:
            body["model"] = str(model)
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
            status = str(state.get("status", ""))
            if on_progress is not None:
                on_progress(float(state.get("progress") or 0.0), status)
            if status == "done":
                return self.result(job_id)
            if status == "failed":
                raise BackendError("failed", "The backend job failed: " + str(state.get("error") or "no reason given"))
            if status == "cancelled":
                raise BackendError("cancelled", "The job was cancelled on the backend")
            if time.monotonic() > t_end:
                self.cancel(job_id)
                raise BackendError("timeout", f"The backend job did not finish within {timeout:g} s")
            time.sleep(min(poll, max(0.0, t_end - time.monotonic()) + 0.01))


def health_summary(info):
    """One line for the panel: what the backend is doing and with which model."""
    status = info.get("status", "unknown")
    if status == "ready":
        line = f"ready: {info.get('model_id')} ({info.get('checkpoint_id')}) on {info.get('device')}"
        stream = info.get("stream") if isinstance(info.get("stream"), dict) else {}
        if stream.get("status") in ("loadable", "loading", "loaded"):
            line += "; streaming available"
        elif stream.get("status") in ("missing", "failed"):
            line += "; no streaming model"
        return line
    if status == "failed":
        return f"the model failed to load: {info.get('error')}"
    return "loading the model..." if status == "loading" else str(status)


def joints_to_wire(joints):
    """(T, 22, 3) array-like -> rounded nested lists, checked against the wire's limits first."""
    rows = joints.tolist() if hasattr(joints, "tolist") else joints
    if len(rows) > MAX_CAPTION_FRAMES:
        raise BackendError("request", f"The animation has {len(rows)} frames at the sampling rate; the "
                           f"backend describes at most {MAX_CAPTION_FRAMES}. Shorten the frame range")
    out = []
    for frame in rows:
        if len(frame) != NUM_JOINTS or any(len(p) != 3 for p in frame):
            raise BackendError("request", f"joints must be shaped (T, {NUM_JOINTS}, 3)")
        out.append([[round(float(c), WIRE_DECIMALS) for c in p] for p in frame])
        if not all(math.isfinite(c) for p in out[-1] for c in p):
            raise BackendError("request", f"The sampled animation has NaN or infinite positions (frame {len(out) - 1})")
    return out


def constraints_to_wire(start=None, end=None, keys=None, path=None, edit=None, keep=None):
    """The animator constraints as the wire takes them, checked for shape and NaN first.
    keys: (frames, joints); path: (N, 2) [x, z] per frame or {"waypoints", "speed"};
    edit: joints of the motion to edit, keep: body part names."""
    body = {}
    if start is not None:
        body["start"] = joints_to_wire(start)
    if end is not None:
        body["end"] = joints_to_wire(end)
    if keys is not None:
        frames, poses = keys
        frames = [int(f) for f in frames]
        if not frames or len(frames) > MAX_KEYS:
            raise BackendError("request", f"Give 1 to {MAX_KEYS} keyed poses, got {len(frames)}")
        if min(frames) < 0:
            raise BackendError("request", "Keyed frames must not come before the clip")
        body["keys"] = {"frames": frames, "joints": joints_to_wire(poses)}
        if len(body["keys"]["joints"]) != len(frames):
            raise BackendError("request", f"{len(frames)} key frames but {len(body['keys']['joints'])} poses")
    if path is not None:
        if isinstance(path, dict):
            points = [[float(x), float(z)] for x, z in path["waypoints"]]
            wire_path = {"waypoints": points, "speed": float(path["speed"])}
            numbers = [c for p in points for c in p] + [wire_path["speed"]]
        else:
            points = [[round(float(x), WIRE_DECIMALS), round(float(z), WIRE_DECIMALS)] for x, z in path]
            wire_path = points
            numbers = [c for p in points for c in p]
        if not 2 <= len(points) <= MAX_PATH_POINTS:
            raise BackendError("request", f"A path needs 2 to {MAX_PATH_POINTS} points, got {len(points)}")
        if not all(math.isfinite(c) for c in numbers):
            raise BackendError("request", "The path has NaN or infinite values")
        body["path"] = wire_path
    if edit is not None:
        parts = [keep] if isinstance(keep, str) else list(keep or ())
        unknown = [p for p in parts if p not in BODY_PARTS]
        if not parts or unknown:
            raise BackendError("request", f"Choose body parts to keep from {', '.join(BODY_PARTS)}"
                               + (f" (not {', '.join(map(str, unknown))})" if unknown else ""))
        body["edit"] = {"joints": joints_to_wire(edit), "keep": parts}
    return body


def _checked_prompt(prompt):
    prompt = str(prompt)
    if not prompt.strip():
        raise BackendError("request", "Type a prompt first")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise BackendError("request", f"The prompt is {len(prompt)} characters; at most {MAX_PROMPT_CHARS}")
    return prompt


def stream_unavailable(info):
    """Why the backend (its /v1/health answer) cannot stream, or '' when it can."""
    stream = info.get("stream") if isinstance(info, dict) else None
    if not isinstance(stream, dict):
        return "The backend has no streaming route; update momug on the backend"
    status = stream.get("status")
    if status == "off":
        return "The backend runs without a streaming model; start it with --stream-checkpoint DIR"
    if status in ("missing", "failed"):
        return f"The backend cannot stream: {stream.get('error') or status}"
    return ""


def _http_error(exc, path):
    detail = _detail(exc)
    code = exc.code
    if code == 401:
        return BackendError("auth", "The backend refused the token (wrong or missing); "
                            "press 'Read token' in the add-on preferences")
    if code == 403:
        # The detail names the licence and the command that accepts it (backend: model/registry.py).
        return BackendError("licence", f"The backend will not use this model yet: {detail} "
                            "(run that on the backend's machine, then try again; no restart needed)")
    if code == 404:
        return BackendError("request", f"Not found on the backend: {path} ({detail})")
    if code == 409:
        return BackendError("failed", detail)
    if code == 413:
        return BackendError("request", f"The request is too large for the backend: {detail}")
    if code in (400, 422):
        return BackendError("request", f"The backend rejected the request: {detail}")
    if code == 429:
        return BackendError("busy", f"The backend is busy: {detail}")
    if code == 503:
        return BackendError("server", f"The backend cannot run the model: {detail}")
    return BackendError("server", f"Backend error {code}: {detail}")


def _job_id(reply):
    jid = reply.get("id") if isinstance(reply, dict) else None
    if not jid:
        raise BackendError("server", f"The backend did not return a job id: {str(reply)[:200]}")
    return str(jid)


def _detail(exc):
    try:
        body = json.loads(exc.read() or b"{}")
        detail = body.get("detail")
        return detail if isinstance(detail, str) else json.dumps(detail)[:300]
    except Exception:
        return exc.reason or str(exc.code)
