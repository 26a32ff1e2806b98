#!/usr/bin/env python
"""Keying speed in real Blender (run with a bpy venv's python, or `blender -b -P`): 22 bones x
600 frames of quaternion + root location keys, through the add-on's ActionWriter (one
foreach_set per channel) against keyframe_insert in a loop. Prints one JSON line."""

import json
import os
import sys
import time

import bpy
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from blender_addon import keying, smpl_rig  # noqa: E402

FRAMES = 600


def main():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    ctx = bpy.context
    rig = smpl_rig.build_armature(ctx, name="Bench")
    rng = np.random.default_rng(0)
    quats = rng.normal(size=(FRAMES, len(rig.pose.bones), 4)).astype(np.float32)
    quats /= np.linalg.norm(quats, axis=-1, keepdims=True)
    frames = np.arange(1, FRAMES + 1, dtype=np.float32)

    start = time.perf_counter()
    writer = keying.ActionWriter(rig, "fast")
    for j, pb in enumerate(rig.pose.bones):
        path = f'pose.bones["{pb.name}"].rotation_quaternion'
        writer.write_vector(path, frames, quats[:, j], group=pb.name)
    writer.write_vector('pose.bones["pelvis"].location', frames, np.zeros((FRAMES, 3)), group="pelvis")
    writer.assign()
    fast = time.perf_counter() - start

    rig.animation_data.action = None
    start = time.perf_counter()
    for f in range(FRAMES):
        for j, pb in enumerate(rig.pose.bones):
            pb.rotation_quaternion = quats[f, j].tolist()
            pb.keyframe_insert("rotation_quaternion", frame=f + 1)
        rig.pose.bones[0].keyframe_insert("location", frame=f + 1)
    slow = time.perf_counter() - start
    print(json.dumps({"fast_ms": fast * 1000, "keyframe_insert_ms": slow * 1000, "bones": len(rig.pose.bones),
                      "frames": FRAMES, "blender_version": bpy.app.version_string}))


main()
