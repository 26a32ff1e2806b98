"""The animator tools (momug.animate: Fill Between Keys, Continue, Follow Path, Regenerate) against a
REAL local backend (`momug serve`, the tiny model by default), on an SMPL rig and on a Mixamo-like
armature: keys met at the user's frames and scene fps, the user's action untouched, undo, Esc
and errors that leave the scene as it was. The tiny model's motion is noise; what the tools
promise (known poses, the path, kept joints) holds by construction, and is what is checked."""

import time

import numpy as np
import pytest

import bpy
from blender_addon import animator, jobs, keying, operators, smpl_rig
from rigs_for_tests import keys_of, make_mixamo, make_motion

SCENE_FPS = 24  # not the model's 20: keys must land at the user's frame numbers


def fingerprint():
    return (sorted(o.name for o in bpy.data.objects), sorted(a.name for a in bpy.data.actions),
            {o.name: (o.animation_data.action.name if o.animation_data and o.animation_data.action else None)
             for o in bpy.data.objects})


def make_rig(kind):
    if kind == "smpl":
        return smpl_rig.create_smpl_rig(bpy.context, body="BOXES")
    obj, _ = make_mixamo()
    return obj


def user_action(obj, keep_frames=None):
    """The user's own animation: a made-up travelling motion keyed on the rig from frame 1
    (every frame, or only keep_frames), named 'mine'."""
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = SCENE_FPS, 1.0
    scene.frame_start, scene.frame_end = 1, 120
    scene.frame_set(1)
    bpy.context.view_layer.objects.active = obj
    obj.select_set(True)
    jobs.apply_motion(bpy.context, make_motion(T=61, seed=3), target="ACTIVE", target_obj=obj, prompt="mine")
    action = obj.animation_data.action
    action.name = "mine"
    if keep_frames is not None:
        for fc in keying.action_fcurves(action, obj):
            for p in [p for p in fc.keyframe_points if int(round(p.co[0])) not in keep_frames][::-1]:
                fc.keyframe_points.remove(p)
            fc.update()
    return action


def joints_at(obj, frames):
    """World positions (T, 22, 3) of the rig's mapped joints at scene frames."""
    _, bone_map = animator.resolve(obj, "AUTO")
    return animator.sample_world(bpy.context, obj, bone_map, frames)


def settings(**kw):
    st = bpy.context.scene.momug
    st.prompt, st.steps, st.seed, st.bone_map = "a person walks forward", 2, 1, "AUTO"
    for k, v in kw.items():
        setattr(st, k, v)
    return st


@pytest.mark.parametrize("kind", ["smpl", "mixamo"])
def test_fill_between_keys_meets_the_keys_at_the_users_frames(addon, scene, use_backend, kind):
    obj = make_rig(kind)
    keyed = (1, 25, 49)   # 0, 1 and 2 s at 24 fps
    mine = user_action(obj, keep_frames=keyed)
    want = joints_at(obj, keyed)
    before = keys_of(mine, obj)
    settings()
    assert bpy.ops.momug.animate(tool="FILL") == {"FINISHED"}
    new = obj.animation_data.action
    assert new != mine and new.name.startswith("MoMug: a person walks")
    assert _same_keys(keys_of(mine, obj), before)
    got = joints_at(obj, keyed)
    assert np.abs(got - want).max() < 0.01, np.abs(got - want).max()   # within 1 cm per joint
    start, end = keying.action_frame_range(new)
    assert (start, end) == (1.0, 49.0)


def _same_keys(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("kind", ["smpl", "mixamo"])
def test_continue_starts_where_the_action_ends(addon, scene, use_backend, kind):
    obj = make_rig(kind)
    mine = user_action(obj)
    before = keys_of(mine, obj)
    _, end = keying.action_frame_range(mine)
    last = joints_at(obj, [end - 1.2, end])
    settings(seconds=1.0)
    assert bpy.ops.momug.animate(tool="CONTINUE") == {"FINISHED"}
    assert _same_keys(keys_of(mine, obj), before)
    new = obj.animation_data.action
    start, new_end = keying.action_frame_range(new)
    assert start == end + 1 and new_end >= end + 20
    first = joints_at(obj, [start])[0]
    # The first new frame carries on from where the action ends, in its world (the tiny model's
    # frames are noise a metre a frame apart; the projection's fade keeps the join near; the
    # real model's join is measured by scripts/bench_constraints.py).
    assert np.linalg.norm(first[0] - last[1][0]) < 0.3


@pytest.mark.parametrize("kind", ["smpl", "mixamo"])
def test_follow_path_walks_the_selected_curve(addon, scene, use_backend, kind):
    obj = make_rig(kind)
    scene.render.fps, scene.render.fps_base = SCENE_FPS, 1.0
    scene.frame_set(10)
    data = bpy.data.curves.new("path", type="CURVE")
    spline = data.splines.new("POLY")
    spline.points.add(2)
    pts = [(0.0, 0.0, 0.0), (0.0, -1.5, 0.0), (1.0, -2.5, 0.0)]
    for p, co in zip(spline.points, pts):
        p.co = (*co, 1.0)
    curve = bpy.data.objects.new("path", data)
    scene.collection.objects.link(curve)
    curve.select_set(True)
    obj.select_set(True)
    bpy.context.view_layer.objects.active = obj
    settings(seconds=2.0)
    assert bpy.ops.momug.animate(tool="PATH") == {"FINISHED"}
    new = obj.animation_data.action
    start, end = keying.action_frame_range(new)
    assert start == 10
    frames = np.arange(start, end + 1)
    root = joints_at(obj, frames)[:, 0, :2]
    # Distance from each root position to the polyline: the tools promise the path exactly.
    seg = np.array(pts)[:, :2]

    def dist(p):
        best = np.inf
        for a, b in zip(seg[:-1], seg[1:]):
            t = np.clip(np.dot(p - a, b - a) / np.dot(b - a, b - a), 0, 1)
            best = min(best, np.linalg.norm(p - (a + t * (b - a))))
        return best

    rms = np.sqrt(np.mean([dist(p) ** 2 for p in root]))
    assert rms < 0.03, rms
    assert np.linalg.norm(root[0] - seg[0]) < 0.03 and np.linalg.norm(root[-1] - seg[-1]) < 0.1


@pytest.mark.parametrize("kind", ["smpl", "mixamo"])
def test_regenerate_keeps_the_chosen_parts(addon, scene, use_backend, kind):
    obj = make_rig(kind)
    mine = user_action(obj)
    before = keys_of(mine, obj)
    start, end = keying.action_frame_range(mine)
    frames = np.arange(start, end + 1, 6.0)
    want = joints_at(obj, frames)
    settings(keep_parts={"lower"})
    assert bpy.ops.momug.animate(tool="REGENERATE") == {"FINISHED"}
    assert _same_keys(keys_of(mine, obj), before)
    got = joints_at(obj, frames)
    legs = [0, 1, 2, 4, 5, 7, 8]
    arms = [16, 17, 18, 19, 20, 21]
    assert np.abs(got[:, legs] - want[:, legs]).max() < 0.02, np.abs(got[:, legs] - want[:, legs]).max()
    assert np.abs(got[:, arms] - want[:, arms]).max() > 0.02   # the rest was regenerated


def test_undo_restores_the_scene(addon, scene, use_backend):
    assert "UNDO" in bpy.types.MOMUG_OT_animate.bl_options
    obj = make_rig("mixamo")
    user_action(obj, keep_frames=(1, 25))
    settings()
    bpy.ops.ed.undo_push(message="before")
    before = fingerprint()
    assert bpy.ops.momug.animate(tool="FILL") == {"FINISHED"}
    bpy.ops.ed.undo_push(message="MoMug Fill")
    assert fingerprint() != before
    bpy.ops.ed.undo()
    assert fingerprint() == before
    assert bpy.data.objects["Armature"].animation_data.action.name == "mine"


class _Driver(operators.MOMUG_OT_animate.__bases__[0]):
    """The operator's modal logic without a window (timers never fire in the bpy module)."""

    def __init__(self, tool):
        self.reports = []
        self.tool = tool
        self._plan = None

    def report(self, level, message):
        self.reports.append((set(level), message))

    def _finish(self, context):
        return operators.finish_animate(self, context)


def test_modal_tool_runs_in_a_worker_and_esc_cancels(addon, scene, use_backend):
    obj = make_rig("mixamo")
    user_action(obj)
    ctx = bpy.context
    # Runs to the end through the timer steps.
    settings(seconds=1.0)
    driver = _Driver("CONTINUE")
    assert driver._begin(ctx, operators.make_animate_job(driver, ctx)) == {"RUNNING_MODAL"}
    deadline = time.monotonic() + 120
    while (result := driver._step(ctx, "TIMER")) == {"RUNNING_MODAL"}:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert result == {"FINISHED"}, driver.reports
    # Esc: a long job cancelled while it runs changes nothing.
    obj.animation_data.action = bpy.data.actions["mine"]
    settings(seconds=4.0, steps=1000)
    before = fingerprint()
    driver = _Driver("CONTINUE")
    driver._begin(ctx, operators.make_animate_job(driver, ctx))
    while driver._runner.job.job_id is None and time.monotonic() < deadline:
        assert driver._step(ctx, "TIMER") == {"RUNNING_MODAL"}
        time.sleep(0.05)
    assert driver._step(ctx, "ESC") == {"CANCELLED"}
    assert driver._runner.wait(30) == "cancelled"
    assert fingerprint() == before


@pytest.mark.parametrize("case, words", [
    ("one_key", "at least two keyed poses"),
    ("no_curve", "Select a curve"),
    ("no_action", "no action"),
    ("too_fast", "faster than a sprint"),
])
def test_errors_leave_the_scene_as_it_was(addon, scene, use_backend, case, words):
    obj = make_rig("mixamo")
    if case == "one_key":
        user_action(obj, keep_frames=(1,))
    elif case != "no_action":
        user_action(obj)
    tool = {"one_key": "FILL", "no_curve": "PATH", "no_action": "CONTINUE", "too_fast": "PATH"}[case]
    if case == "too_fast":
        data = bpy.data.curves.new("far", type="CURVE")
        spline = data.splines.new("POLY")
        spline.points.add(1)
        spline.points[1].co = (60.0, 0.0, 0.0, 1.0)
        curve = bpy.data.objects.new("far", data)
        scene.collection.objects.link(curve)
        curve.select_set(True)
    bpy.context.view_layer.objects.active = obj
    settings(seconds=2.0)
    before = fingerprint()
    with pytest.raises(RuntimeError, match=words):
        bpy.ops.momug.animate(tool=tool)
    assert fingerprint() == before
