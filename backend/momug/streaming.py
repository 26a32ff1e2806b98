"""Streamed motion as events: the one encoding shared by `momug serve` (server-sent events) and
`momug generate --mode stream --stream-to` (JSON lines), so a client reads both the same way.

Events, in order: start {frames, fps, model_id, checkpoint_id, prompt, seed, steps, guidance,
made_from} (steps and guidance as asked: null means the model's own; made_from the prompts of its
steps); frames
{start, count, joints (k, 22, 3), rotations (k, 22, 4), root_translation (k, 3)} once per chunk;
then done {frames} or error {detail}. Arrays are nested lists rounded like the rest of the wire
(6 decimals), metres, Y up, SMPL-22.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from momug.errors import MomugError

WIRE_DECIMALS = 6   # as momug.server.schema; repeated so the CLI needs no server packages


@dataclass
class Chunk:
    start: int                    # index of the chunk's first frame in the whole motion
    joints: np.ndarray            # (k, 22, 3) float32
    rotations: np.ndarray         # (k, 22, 4) float32, local w,x,y,z
    root_translation: np.ndarray  # (k, 3) float32


def stream_chunks(pipeline, prompt: str, seconds: float, seed: int = 0, steps: int | None = None,
                  should_stop=None, guidance: float | None = None, split_sequences: bool = True) -> Iterator[Chunk]:
    """pipeline.stream() with rotations added per chunk.

    IK works frame by frame and only the sign choice (quaternion continuity) looks back, so each
    chunk is solved alone and its signs are matched to the last frame sent: the concatenated
    rotations equal IK over the whole motion, at a cost that does not grow with its length.
    """
    from momug.motion.motionfile import Motion

    start, last = 0, None
    options = {} if guidance is None else {"guidance": guidance}   # None: the pipeline's own default
    if not split_sequences:
        options["split_sequences"] = False
    for joints in pipeline.stream(prompt, seconds, seed=seed, steps=steps, should_stop=should_stop, **options):
        motion = Motion(joints=joints, fps=pipeline.fps).with_rotations()
        rotations = motion.rotations.copy()
        if last is not None:
            rotations[:, np.sum(rotations[0] * last, axis=-1) < 0] *= -1
        if not (np.isfinite(rotations).all() and np.isfinite(motion.root_translation).all()):
            raise MomugError("the model produced NaN or infinite rotations; try another seed")
        last = rotations[-1]
        yield Chunk(start, motion.joints, rotations, motion.root_translation)
        start += len(motion.joints)


def wire_array(values: np.ndarray) -> list:
    return np.round(np.asarray(values, dtype=np.float64), WIRE_DECIMALS).tolist()


def start_event(pipeline, prompt: str, seconds: float, seed: int, steps: int | None,
                guidance: float | None = None, split_sequences: bool = True) -> dict:
    """made_from: the prompts the motion is streamed from, in order (one per action of a prompt that
    names actions in order, else the prompt alone)."""
    plan = pipeline.sequence_plan(prompt, seconds) if split_sequences else [(prompt.strip(), 0)]
    return {"frames": int(round(seconds * pipeline.fps)), "fps": float(pipeline.fps),
            "model_id": pipeline.model_id, "checkpoint_id": pipeline.checkpoint_id,
            "prompt": prompt.strip(), "seed": int(seed), "steps": steps, "guidance": guidance,
            "made_from": [step for step, _ in plan]}


def frames_event(chunk: Chunk) -> dict:
    return {"start": chunk.start, "count": len(chunk.joints), "joints": wire_array(chunk.joints),
            "rotations": wire_array(chunk.rotations),
            "root_translation": wire_array(chunk.root_translation)}


def dumps(data: dict) -> str:
    """Compact JSON; allow_nan=False because NaN is not JSON (chunks are checked before this)."""
    return json.dumps(data, separators=(",", ":"), allow_nan=False)


__all__ = ["Chunk", "stream_chunks", "start_event", "frames_event", "dumps", "wire_array"]
