"""The wire format of the local backend: the one place that says what goes over HTTP.

blender_addon/client.py mirrors this module with the standard library only; change both together.

Conventions
- Every route lives under /v1. Errors are JSON objects {"detail": "<one readable sentence>"};
  422 answers add "errors": [{"loc", "msg", "type"}, ...] (at most MAX_REPORTED_ERRORS).
- Arrays are compact nested JSON lists of numbers, frame-major, never one object per frame:
  joints (T, 22, 3) in metres, Y up, SMPL-22 joint order; rotations (T, 22, 4) local quaternions
  (w, x, y, z) on SMPL-22; root_translation (T, 3) metres. Numbers the server sends are rounded
  to WIRE_DECIMALS decimals (0.001 mm), which keeps a 10 s motion near 300 kB.
- NaN and infinity are rejected on input (422) and never sent.
- POST /v1/generate/stream answers text/event-stream: `event: NAME` / `data: JSON` blocks
  with the events of momug/streaming.py (start, frames, done or error), plus `: keepalive`
  comments while nothing is ready; errors before the stream starts are plain JSON as above.
- The bounds here are the wire's hard limits; the loaded model may be narrower (its limits are
  in GET /v1/health under "limits" and a request outside them is answered 422 too).
- Generate and caption requests may name a shipped model (`model`: "default" or "real",
  momug.model.registry); GET /v1/models lists them with their terms. An opt-in model whose
  licence is not accepted on the server's machine is answered 403 with the command that accepts it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from momug.model.registry import DEFAULT, NAMES

API_PREFIX = "/v1"
NUM_JOINTS = 22
WIRE_DECIMALS = 6
WIRE_FPS = 20.0               # frame numbers and per-frame arrays of constraints are at this rate

MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_PROMPT_CHARS = 1000
MAX_SECONDS = 600.0
MAX_STEPS = 1000
MAX_GUIDANCE = 50.0
MAX_COUNT = 8                 # motions from one generate request (seeds seed, seed+1, ...)
MAX_SEED = 2**31 - 1          # Blender's IntProperty range
MAX_CAPTION_FRAMES = 3600     # 3 minutes at 20 fps
MAX_FPS = 1000.0
MAX_COORD = 1.0e4             # metres; anything larger is a unit mistake, not a motion
MAX_REPORTED_ERRORS = 10

JobKind = Literal["generate", "caption"]
JobState = Literal["queued", "running", "done", "failed", "cancelled"]
FINISHED_STATES = ("done", "failed", "cancelled")



def joints_from_wire(value, min_frames: int = 2) -> np.ndarray:
    """Nested lists -> float32 (T, 22, 3), or ValueError naming the first problem.

    One numpy pass instead of per-number validation: a 3600-frame array of NaN would otherwise
    make 237,600 error objects and stall the server for seconds.
    """
    try:
        array = np.asarray(value)
    except (ValueError, TypeError, OverflowError):
        raise ValueError("joints must be a (T, 22, 3) nested list of numbers (ragged lists given)") from None
    if array.dtype.kind not in "iuf":
        raise ValueError("joints must hold numbers only")
    if array.ndim != 3 or array.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"joints must be shaped (T, {NUM_JOINTS}, 3), got {array.shape}")
    if not min_frames <= len(array) <= MAX_CAPTION_FRAMES:
        raise ValueError(f"joints must have {min_frames} to {MAX_CAPTION_FRAMES} frames, got {len(array)}")
    array = array.astype(np.float64)
    bad = ~np.isfinite(array) | (np.abs(array) > MAX_COORD)
    if bad.any():
        t, j, k = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"joints[{t}][{j}][{k}] is {array[t, j, k]}: every coordinate must be a finite "
                         f"number of metres within +-{MAX_COORD:g} ({int(bad.sum())} bad values)")
    return array.astype(np.float32)


# Documents the array for /openapi.json; joints_from_wire does the checking.
JOINTS_JSON_SCHEMA = {
    "type": "array", "minItems": 2, "maxItems": MAX_CAPTION_FRAMES,
    "description": "(T, 22, 3) metres, Y up, SMPL-22 joint order, finite numbers",
    "items": {"type": "array", "minItems": NUM_JOINTS, "maxItems": NUM_JOINTS,
              "items": {"type": "array", "minItems": 3, "maxItems": 3,
                        "items": {"type": "number", "minimum": -MAX_COORD, "maximum": MAX_COORD}}},
}
Joints = Annotated[Any, BeforeValidator(joints_from_wire), WithJsonSchema(JOINTS_JSON_SCHEMA)]
# Poses: the same array where one frame is enough (a key pose, a pose to end at).
Poses = Annotated[Any, BeforeValidator(lambda v: joints_from_wire(v, min_frames=1)),
                  WithJsonSchema({**JOINTS_JSON_SCHEMA, "minItems": 1})]


class _Request(BaseModel):
    # A misspelt field is a bug in the caller; silently ignoring it would hide the bug.
    model_config = ConfigDict(extra="forbid")


def _prompt_has_text(value: str) -> str:
    if not value.strip():
        raise ValueError("prompt is blank")
    return value


# Fields shared by the diffusion and the streaming request.
Prompt = Annotated[str, Field(strict=True, min_length=1, max_length=MAX_PROMPT_CHARS,
                              description="what the motion shows, in English"),
                   AfterValidator(_prompt_has_text)]
Seconds = Annotated[float, Field(strict=True, gt=0.0, le=MAX_SECONDS, allow_inf_nan=False,
                                 description="length of the motion")]
Seed = Annotated[int, Field(strict=True, ge=0, le=MAX_SEED)]
ModelName = Annotated[Literal[NAMES], Field(
    description="which shipped model: 'default' (procedural motion, licence-clean) or 'real' (real motion "
                "too; CC BY-NC 4.0, opt-in: its terms must be accepted on the server's machine first, "
                "`momug licence accept real`, else 403). Left out: the server's default (momug serve --model). "
                "GET /v1/models lists them")]


MAX_KEYS = 1000
MAX_PATH_POINTS = 4000
BODY_PART_NAMES = ("lower", "upper", "legs", "left_leg", "right_leg", "arms", "left_arm", "right_arm",
                   "spine", "head")  # momug.constraints.BODY_PARTS; a test keeps them equal


class KeysIn(_Request):
    """Known poses: frames[i] (a frame of the new motion, at 20 fps) holds joints[i]."""
    frames: Annotated[list[Annotated[int, Field(strict=True, ge=0, le=MAX_CAPTION_FRAMES)]],
                      Field(min_length=1, max_length=MAX_KEYS)]
    joints: Poses


class PathWaypoints(_Request):
    """A polyline on the ground walked at a constant speed."""
    waypoints: Annotated[list[Annotated[list[Annotated[float, Field(allow_inf_nan=False, ge=-MAX_COORD,
                                                                   le=MAX_COORD)]],
                                        Field(min_length=2, max_length=2)]],
                         Field(min_length=2, max_length=MAX_PATH_POINTS)]
    speed: Annotated[float, Field(gt=0.0, le=50.0, allow_inf_nan=False, description="metres per second")]


PathPoints = Annotated[list[Annotated[list[Annotated[float, Field(allow_inf_nan=False, ge=-MAX_COORD,
                                                                 le=MAX_COORD)]],
                                      Field(min_length=2, max_length=2)]],
                       Field(min_length=2, max_length=MAX_PATH_POINTS,
                             description="[x, z] root positions on the ground, metres, one per frame at 20 fps")]


class EditIn(_Request):
    """A motion to edit: the kept body parts stay bit for bit, the rest is regenerated."""
    joints: Joints
    keep: Annotated[list[Literal[BODY_PART_NAMES]], Field(min_length=1, max_length=len(BODY_PART_NAMES))]


class GenerateRequest(_Request):
    prompt: Prompt
    seconds: Seconds | None = Field(None, description="length of the motion; may be left out when a "
                                    "path or an edit sets it")
    seed: Seed = 0
    guidance: Annotated[float | None, Field(strict=True, ge=0.0, le=MAX_GUIDANCE, allow_inf_nan=False,
                                            description="classifier-free guidance scale (default: the "
                                            "model's own, GET /v1/models)")] = None
    steps: Annotated[int, Field(strict=True, ge=1, le=MAX_STEPS, description="sampler steps")] = 20
    count: Annotated[int, Field(strict=True, ge=1, le=MAX_COUNT,
                                description="how many motions; seeds are seed, seed+1, ...")] = 1
    clean_feet: Annotated[bool, Field(strict=True, description="hold planted feet still "
                                                               "(foot-contact cleanup)")] = True
    split_sequences: Annotated[bool, Field(strict=True, description="make a prompt that names actions in "
                                           "order ('walks forward then waves') one action at a time, each "
                                           "continuing the last; false: the model reads the whole prompt "
                                           "at once")] = True
    # Animator constraints (momug.constraints): every array at 20 fps, metres, Y up, SMPL-22.
    start: Joints | None = Field(None, description="the motion to continue: the new one starts on the "
                                 "frame after its last, in its world frame")
    end: Poses | None = Field(None, description="the motion to end at: the new one's last frame is its "
                               "first pose, where it stands")
    keys: KeysIn | None = Field(None, description="known poses at frames of the new motion")
    path: PathPoints | PathWaypoints | None = Field(None, description="root path; sets the length")
    edit: EditIn | None = Field(None, description="keep these body parts of a motion, regenerate the "
                                "rest; sets the length")
    model: ModelName | None = None

    @property
    def has_constraints(self) -> bool:
        return any(v is not None for v in (self.start, self.end, self.keys, self.path, self.edit))

    def seeds(self) -> list[int]:
        # Wrap instead of failing so seed=MAX_SEED with count>1 stays valid.
        return [(self.seed + i) % (MAX_SEED + 1) for i in range(self.count)]


def _streaming_model(value):
    if value is not None and value != DEFAULT:
        raise ValueError(f"there is no streaming '{value}' model; streams come from the default model "
                         "(use POST /v1/generate for other models)")
    return value


class StreamRequest(_Request):
    """POST /v1/generate/stream: one motion from the streaming model, sent as it is made."""
    prompt: Prompt
    seconds: Seconds
    seed: Seed = 0
    steps: Annotated[int | None, Field(strict=True, ge=1, le=MAX_STEPS,
                                       description="flow-matching steps per latent "
                                                   "(default: the model's own)")] = None
    guidance: Annotated[float | None, Field(strict=True, ge=0.0, le=MAX_GUIDANCE, allow_inf_nan=False,
                                            description="classifier-free guidance scale (default: the model's "
                                                        "own; 1 = none)")] = None
    start: Joints | None = Field(None, description="a motion (20 fps) to continue: the stream starts "
                                 "one frame past its end, in its world frame, facing its way")
    split_sequences: Annotated[bool, Field(strict=True, description="stream a prompt that names actions "
                                           "in order one action after the other, each continuing the "
                                           "last; false: the model reads the whole prompt at once")] = True
    model: Annotated[Literal[DEFAULT] | None, BeforeValidator(_streaming_model)] = Field(
        None, description="only 'default': the real-motion model has no streaming mode")


class CaptionRequest(_Request):
    joints: Joints             # a float32 numpy array once validated
    fps: Annotated[float, Field(strict=True, gt=0.0, le=MAX_FPS, allow_inf_nan=False)] = 20.0
    model: ModelName | None = None


class JobStatus(BaseModel):
    id: str
    kind: JobKind
    status: JobState
    progress: Annotated[float, Field(ge=0.0, le=1.0)]
    error: str | None = Field(None, description="why the job failed, for failed jobs")
    queue_position: int | None = Field(None, description="jobs ahead of this one, while queued")
    created: float = Field(description="Unix time")
    started: float | None = None
    finished: float | None = None


class MotionOut(BaseModel):
    prompt: str
    seed: int
    fps: float
    frames: int
    joints: list[list[list[float]]] = Field(description="(T, 22, 3) metres, Y up")
    rotations: list[list[list[float]]] = Field(description="(T, 22, 4) local quaternions w,x,y,z")
    root_translation: list[list[float]] = Field(description="(T, 3) metres, Y up")
    made_from: list[str] = Field(description="the prompts the motion was made from, in order: one per action "
                                         "when a prompt naming actions in order was made one action at a "
                                         "time (split_sequences), else the prompt alone")


class GenerateResult(BaseModel):
    id: str
    kind: Literal["generate"] = "generate"
    motions: list[MotionOut]


class CaptionResult(BaseModel):
    id: str
    kind: Literal["caption"] = "caption"
    caption: str


class Limits(BaseModel):
    min_seconds: float
    max_seconds: float
    max_prompt_chars: int
    max_steps: int = MAX_STEPS
    max_guidance: float = MAX_GUIDANCE
    max_count: int = MAX_COUNT
    max_caption_frames: int = MAX_CAPTION_FRAMES
    max_body_bytes: int = MAX_BODY_BYTES


class StreamLimits(BaseModel):
    min_seconds: float
    max_seconds: float
    max_prompt_chars: int
    max_steps: int
    max_guidance: float = MAX_GUIDANCE


class StreamHealth(BaseModel):
    status: Literal["off", "missing", "loadable", "loading", "loaded", "failed"] = Field(
        description="off: no streaming model configured; missing: its files are not there; "
                    "loadable: it loads on the first stream request; loaded: ready")
    model_id: str | None = None
    checkpoint_id: str | None = None
    fps: float | None = None
    guidance: float | None = Field(None, description="the streaming model's default guidance scale (1 = none)")
    limits: StreamLimits | None = None
    running: bool = False
    error: str | None = Field(None, description="why it is missing or failed to load")


class Health(BaseModel):
    status: Literal["loading", "ready", "failed"]
    api: str = "v1"
    model_id: str | None = None
    checkpoint_id: str | None = None
    device: str | None = None
    fps: float | None = None
    guidance: float | None = Field(None, description="the default model's guidance scale where a request "
                                   "gives none")
    limits: Limits | None = None
    error: str | None = Field(None, description="why the model failed to load")
    queued: int = 0
    running: int = 0
    versions: dict[str, str]
    stream: StreamHealth = Field(default_factory=lambda: StreamHealth(status="off"),
                                 description="the streaming model behind POST /v1/generate/stream")


class LicenceInfo(BaseModel):
    name: str = Field(description="e.g. CC BY-NC 4.0")
    summary: str | None = None
    attribution: str | None = None
    url: str | None = None


class ModelInfo(BaseModel):
    name: str
    description: str
    default: bool = Field(description="requests that name no model get this one")
    installed: bool
    loaded: bool = Field(description="in memory now (the others load on their first request)")
    licence: LicenceInfo | None = Field(None, description="the terms of an opt-in model (none: it has none "
                                        "of its own)")
    accepted: bool = Field(description="true when it has no terms of its own or they were accepted on the "
                                       "server's machine")
    accept_command: str | None = Field(None, description="the command that accepts its terms, while they "
                                       "are not accepted")
    guidance: float | None = Field(None, description="its default classifier-free guidance scale, used when a "
                                   "generate request gives none")
    error: str | None = Field(None, description="why it failed to load")


class ModelList(BaseModel):
    default: str
    models: list[ModelInfo]


class ErrorBody(BaseModel):
    detail: str


def wire_array(values: np.ndarray) -> list:
    """Rounded nested lists: short JSON numbers, same shape as the array."""
    return np.round(np.asarray(values, dtype=np.float64), WIRE_DECIMALS).tolist()


def motion_out(motion, seed: int) -> dict:
    """A finished Motion (rotations filled in) -> the MotionOut dict, ready for JSON."""
    return {
        "prompt": motion.prompt or "",
        "seed": int(seed),
        "fps": float(motion.fps),
        "frames": int(len(motion.joints)),
        "joints": wire_array(motion.joints),
        "rotations": wire_array(motion.rotations),
        "root_translation": wire_array(motion.root_translation),
        "made_from": list(motion.made_from or [motion.prompt or ""]),
    }
