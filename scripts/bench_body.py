"""What the anny body costs in Blender: rig creation, keying a 10 s motion, and playback
(one frame change, the body deformed), beside the box body. Run with a bpy Python:

    MOMUG_PYTHON=$(which python3) ~/.cache/momug/bpy-venvs/bpy-4.5.15/bin/python scripts/bench_body.py

The first body build is timed separately: `time python -m momug.body --rebuild`.
"""

import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests", "blender_addon")]

import bpy  # noqa: E402
import numpy as np  # noqa: E402

from blender_addon import jobs, smpl_rig  # noqa: E402
from rigs_for_tests import clean_scene, make_motion  # noqa: E402


def best(f, n=3):
    times = []
    for _ in range(n):
        clean_scene()
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    py = os.environ.get("MOMUG_PYTHON", "python3")
    motion = make_motion(T=200)
    smpl_rig._anny_cache.clear()
    t0 = time.perf_counter()
    smpl_rig.body_via_anny(py)
    print(f"body file from the backend's Python (cached on disk): {1000 * (time.perf_counter() - t0):.0f} ms")
    rows = {}
    for body in ("BOXES", "ANNY"):
        rig = best(lambda: smpl_rig.create_smpl_rig(bpy.context, python_command=py, body=body))
        key = best(lambda: jobs.apply_motion(bpy.context, motion, python_command=py,
                                             target_obj=smpl_rig.create_smpl_rig(bpy.context, python_command=py, body=body)))
        clean_scene()
        res = jobs.apply_motion(bpy.context, motion, python_command=py,
                                target_obj=smpl_rig.create_smpl_rig(bpy.context, python_command=py, body=body))
        scene = bpy.context.scene
        t0 = time.perf_counter()
        for f in range(int(res.frames[0]), int(res.frames[-1]) + 1):
            scene.frame_set(f)
        frame = (time.perf_counter() - t0) / len(res.frames)
        rows[body] = (rig, key - rig, frame)
        print(f"{body:5s}: new rig {1000 * rig:.0f} ms, keying 200 frames {1000 * (key - rig):.0f} ms, "
              f"one frame change {1000 * frame:.2f} ms")
    print(f"blender {bpy.app.version_string}")


main()
