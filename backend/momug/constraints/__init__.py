"""Animator constraints: known poses, a continuation, a root path, kept body parts.

One layer every front end (CLI, server, batch, add-on through the server) goes through:

- `build(...)` turns what the user gave (a preceding motion, a following motion, keyed poses, a
  path, a motion to edit with the joints to keep) into a validated `Constraints`, or raises
  ConstraintError with one readable sentence, before any model work.
- `Guide` is the training-free conditioning: at every DDIM step the model's predicted clean
  motion (x0, normalised HumanML3D features) is decoded to a root track (position, yaw) plus
  root-relative joints, pulled onto the constraints in world space and encoded back, so the
  model denoises around what is known (imputation on x0, as MDM-style inpainting does on x_t).
- `project(...)` is the exact last step on the finished joints: the root path met exactly, known
  frames met exactly with the correction faded out smoothly around each key (so the step into
  and out of a key stays no larger than the motion's own typical step), kept joints copied bit
  for bit and the regenerated limbs re-attached to them with the source's bone lengths.

Everything here is in the model's conventions: metres, Y up, SMPL-22, frames at the model's fps.
Frames are the output's frame numbers; a continuation's context sits before frame 0 (negative
frames) and an ending's after the last frame."""

from momug.constraints.geometry import (NUM_JOINTS, PARENTS, RIC, VELOCITIES, compose, decode, encode,
                                        facing_half, key_weights, reattach, smooth_weight, to_local, wrap_half,
                                        yaw_about, yaw_quat)
from momug.constraints.guide import GUIDE_REACH, Guide
from momug.constraints.projection import (MIN_REACH, MOMENTUM_FRAMES, carry_velocity, frame_steps, project,
                                          typical_step)
from momug.constraints.spec import (BODY_PARTS, CONTEXT_FRAMES, MAX_JOINT_SPEED, MAX_KEYS, MAX_PATH_GAP,
                                    MAX_PATH_POINTS, MAX_ROOT_SPEED, ConstraintError, Constraints, anchored, build,
                                    continuing, load_keys_file, load_motion_joints, load_path_file, parse_keep,
                                    path_from_waypoints, read_path)
from momug.constraints.stream_join import STREAM_FADE_FRAMES, StreamJoin

__all__ = ["BODY_PARTS", "CONTEXT_FRAMES", "GUIDE_REACH", "MAX_JOINT_SPEED", "MAX_KEYS", "MAX_PATH_GAP",
           "MAX_PATH_POINTS", "MAX_ROOT_SPEED", "MIN_REACH", "MOMENTUM_FRAMES", "NUM_JOINTS", "PARENTS", "RIC",
           "STREAM_FADE_FRAMES", "VELOCITIES", "ConstraintError", "Constraints", "Guide", "StreamJoin", "anchored",
           "build", "carry_velocity", "compose", "continuing", "decode", "encode", "facing_half", "frame_steps",
           "key_weights", "load_keys_file", "load_motion_joints", "load_path_file", "parse_keep", "path_from_waypoints",
           "project", "read_path", "reattach", "smooth_weight", "to_local", "typical_step", "wrap_half", "yaw_about", "yaw_quat"]
