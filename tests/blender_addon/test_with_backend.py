"""End to end against a REAL local backend (`momug serve` with the tiny model), no mocks.

The server runs from the main Python environment (not the bpy venv): $MOMUG_PYTHON, else the
first python3 on PATH outside this venv, on a free port with a temporary $MOMUG_CONFIG. Its extra
arguments come from $MOMUG_TEST_SERVE_ARGS (default: the tiny model, '--checkpoint tiny'; set it
to '' for the default model). Skipped with the reason when the server is not installed there.
"""

import time

import numpy as np
import pytest

import bpy
from blender_addon import client, jobs, keying, operators, preferences
from rigs_for_tests import keys_of, make_mixamo


def fingerprint():
    return (sorted(o.name for o in bpy.data.objects), sorted(a.name for a in bpy.data.actions))


def test_health(use_backend):
    info = client.Client(use_backend["url"], use_backend["token"]).health()
    deadline = time.monotonic() + 120
    while info["status"] == "loading" and time.monotonic() < deadline:
        time.sleep(0.5)
        info = client.Client(use_backend["url"], use_backend["token"]).health()
    assert info["status"] == "ready", info
    assert client.health_summary(info).startswith(f"ready: {info['model_id']}")
    assert info["limits"]["max_seconds"] > info["limits"]["min_seconds"] > 0


def test_backend_check_operator(addon, scene, use_backend):
    assert bpy.ops.momug.backend_check() == {"FINISHED"}
    assert scene.momug.backend_state.startswith("ready: ")


def test_request_outside_the_models_limits_reports_why(scene, use_backend):
    be = client.Client(use_backend["url"], use_backend["token"])
    limit = be.health()["limits"]["max_seconds"]
    before = fingerprint()
    # The backend itself refuses with a reason...
    with pytest.raises(client.BackendError, match="rejected the request: .*seconds"):
        be.submit_generate("a person walks", seconds=limit + 5, steps=2)
    assert fingerprint() == before


def test_duration_follows_the_backends_limits(addon, scene, use_backend):
    """...but the add-on never sends such a request: the Duration property is clamped to the
    limits from /v1/health (once known), and a job clamps to what health says at submit time."""
    st = scene.momug
    be = client.Client(use_backend["url"], use_backend["token"])
    limits = be.health()["limits"]
    st.limit_min_seconds = st.limit_max_seconds = 0.0  # as before the add-on knew the model
    try:
        st.seconds = limits["max_seconds"] + 5
        assert st.seconds == pytest.approx(limits["max_seconds"] + 5) and not st.seconds_note
        assert bpy.ops.momug.backend_check() == {"FINISHED"}
        assert st.limit_max_seconds == pytest.approx(limits["max_seconds"])
        assert st.seconds == pytest.approx(limits["max_seconds"])
        assert "at most" in st.seconds_note
        st.seconds = 0.1
        assert st.seconds == pytest.approx(limits["min_seconds"]) and "at least" in st.seconds_note
        job = jobs.GenerateJob(be, "a person walks", limits["max_seconds"] + 5, 0, 2.5, 2)
        job_id = job.submit()
        be.cancel(job_id)
        assert job.params["seconds"] == pytest.approx(limits["max_seconds"])
        assert job.notes and "at most" in job.notes[0]
    finally:
        st.limit_min_seconds = st.limit_max_seconds = 0.0
        st.seconds = 4.0


def test_cancel_while_waiting_cancels_on_the_backend(use_backend):
    be = client.Client(use_backend["url"], use_backend["token"])
    job = jobs.GenerateJob(be, "a person dances", 4.0, 0, 2.5, 1000)
    job.cancel_requested = True  # cancelled before it was sent: nothing is sent
    job.talk()
    assert job.status == "cancelled" and job.error.kind == "cancelled" and job.job_id is None
    job = jobs.GenerateJob(be, "a person dances", 4.0, 0, 2.5, 1000)
    job.prefetch = lambda: setattr(job, "cancel_requested", True)  # runs after submit: Esc while it runs
    job.talk()
    assert job.status == "cancelled" and job.error.kind == "cancelled"
    assert be.job(job.job_id)["status"] == "cancelled"


def test_foot_cleanup_choice_reaches_the_backend(use_backend):
    be = client.Client(use_backend["url"], use_backend["token"])
    for clean_feet in (False, True):
        job = jobs.GenerateJob(be, "a person walks", 1.0, 0, 2.5, 2, clean_feet=clean_feet)
        job.talk()
        assert job.error is None and job.result["motions"]
        assert job.params["clean_feet"] is clean_feet
    # A bad value is refused by the backend with a reason, not silently taken as "on".
    with pytest.raises(client.BackendError, match="clean_feet"):
        be._request("POST", "/generate", {"prompt": "a person walks", "seconds": 1.0, "clean_feet": "no"})


def test_guidance_is_the_models_own_unless_given(use_backend):
    be = client.Client(use_backend["url"], use_backend["token"])
    own = be.wait(be.submit_generate("a person walks", 1.0, seed=2, steps=2))
    model = next(m for m in be.models()["models"] if m["default"])
    assert "guidance" in model   # the backend lists each model's own scale
    given = be.wait(be.submit_generate("a person walks", 1.0, seed=2, steps=2, guidance=2.5))
    other = be.wait(be.submit_generate("a person walks", 1.0, seed=2, steps=2, guidance=1.0))
    # The tiny test model's own scale is 2.5: leaving it out is the same request as giving it.
    assert own["motions"][0]["joints"] == given["motions"][0]["joints"] != other["motions"][0]["joints"]
    with pytest.raises(client.BackendError, match="finite"):
        be.submit_generate("a person walks", 1.0, guidance=float("nan"))


def test_caption_input_is_checked_before_sending(use_backend):
    be = client.Client(use_backend["url"], use_backend["token"])
    joints = np.zeros((10, 22, 3))
    joints[2, 3, 1] = np.nan
    with pytest.raises(client.BackendError, match="NaN"):
        be.submit_caption(joints)
    with pytest.raises(client.BackendError, match="at most"):
        be.submit_caption(np.zeros((client.MAX_CAPTION_FRAMES + 1, 22, 3)))


def test_generate_new_smpl_rig_operator_and_history(addon, scene, use_backend):
    st = scene.momug
    st.history.clear()
    st.prompt, st.seconds, st.seed, st.steps, st.target = "a person walks forward", 2.0, 3, 4, "NEW_SMPL"
    assert st.model_guidance and operators.requested_guidance(st) is None   # the model's own scale by default
    st.model_guidance, st.guidance, st.root_motion, st.push_to_nla, st.clean_feet = False, 3.0, True, False, False
    assert operators.requested_guidance(st) == 3.0
    scene.frame_current = 5
    assert bpy.ops.momug.generate() == {"FINISHED"}
    obj = bpy.data.objects["SMPL"]
    first = obj.animation_data.action
    assert first.name.startswith("MoMug: a person walks forward")
    fcs = keying.action_fcurves(first, obj)
    assert any("pelvis" in fc.data_path and fc.data_path.endswith("location") for fc in fcs)
    # 2 s of 20 fps motion at the scene's 24 fps, from the current frame.
    assert min(fc.keyframe_points[0].co[0] for fc in fcs) == 5
    n_source = round(2.0 * 20)  # the backend's frames for 2 s (it may round to a multiple of 4)
    assert abs(len(fcs[0].keyframe_points) - (n_source - 1) * 24 / 20) <= 4
    assert len(st.history) == 1
    item = st.history[0]
    assert (item.prompt, item.seconds, item.seed, item.steps, item.model_guidance, item.guidance, item.target,
            item.clean_feet) == ("a person walks forward", 2.0, 3, 4, False, 3.0, "NEW_SMPL", False)
    assert item.action_name == first.name and item.object_name == obj.name

    # Load Settings puts every setting back.
    st.prompt, st.seed, st.steps, st.guidance, st.seconds, st.clean_feet = "something else", 99, 7, 1.0, 3.0, True
    st.model_guidance = True
    assert bpy.ops.momug.history_apply(mode="SETTINGS") == {"FINISHED"}
    assert (st.prompt, st.seed, st.steps, st.model_guidance, st.guidance, st.seconds, st.clean_feet) == \
        ("a person walks forward", 3, 4, False, 3.0, 2.0, False)

    # Regenerate: same seed and settings, same motion, in a new rig and action.
    assert bpy.ops.momug.history_apply(mode="GENERATE") == {"FINISHED"}
    assert len(st.history) == 2
    second = bpy.data.actions[st.history[1].action_name]
    obj2 = bpy.data.objects[st.history[1].object_name]
    assert second != first and obj2 != obj
    k1, k2 = keys_of(first, obj), keys_of(second, obj2)
    assert k1.keys() == k2.keys()
    assert max(np.abs(k1[k] - k2[k]).max() for k in k1) < 1e-4

    # Use Action: the first generation's action goes back on the object it was made for.
    obj.animation_data.action = None
    st.history_index = 0
    assert bpy.ops.momug.history_apply(mode="ACTION") == {"FINISHED"}
    assert obj.animation_data.action == first


def test_a_sequence_says_how_it_was_made(addon, scene, use_backend):
    st = scene.momug
    st.prompt, st.seconds, st.seed, st.steps, st.target = "a person walks forward then waves", 2.0, 0, 2, "NEW_SMPL"
    assert bpy.ops.momug.generate() == {"FINISHED"}
    # The backend made it one action at a time and said so; the status line tells the animator.
    assert "made in 2 steps: a person walks forward / a person waves" in st.status


def test_undo_restores_the_scene_after_generate(addon, scene, use_backend):
    """Generate is one undo step (bl_options UNDO). The bpy module pushes no undo step after an
    operator by itself, so the test pushes the one Blender's UI pushes when the operator ends."""
    assert "UNDO" in bpy.types.MOMUG_OT_generate.bl_options
    obj, _ = make_mixamo()
    bpy.context.view_layer.objects.active = obj
    pb = obj.pose.bones["mixamorig:LeftArm"]
    pb.keyframe_insert("rotation_euler", frame=1)
    obj.animation_data.action.name = "mine"
    st = scene.momug
    st.prompt, st.seconds, st.steps, st.target, st.bone_map = "a person waves", 1.0, 2, "ACTIVE", "AUTO"
    n_history = len(st.history)
    bpy.ops.ed.undo_push(message="before")
    before = fingerprint()
    assert bpy.ops.momug.generate() == {"FINISHED"}
    bpy.ops.ed.undo_push(message="MoMug Generate")
    assert fingerprint() != before
    bpy.ops.ed.undo()
    assert fingerprint() == before
    assert bpy.data.objects["Armature"].animation_data.action.name == "mine"
    assert len(bpy.context.scene.momug.history) == n_history
    bpy.ops.ed.redo()
    assert bpy.data.objects["Armature"].animation_data.action.name.startswith("MoMug: a person waves")


class _Driver(operators._ModalJob):
    """The operators' modal logic without a window: _step gets the event types a modal handler
    would get. report() is Blender's; here it records."""

    def __init__(self, finish, target_name=""):
        self.reports = []
        self._finish_fn = finish
        self._target_name = target_name
        self._object_name = target_name

    def report(self, level, message):
        self.reports.append((set(level), message))

    def _finish(self, context):
        return self._finish_fn(self, context)


def _drive(driver, context, limit_s=120.0):
    deadline = time.monotonic() + limit_s
    seen_progress = set()
    while time.monotonic() < deadline:
        result = driver._step(context, "TIMER")
        seen_progress.add(round(context.scene.momug.progress, 3))
        if result != {"RUNNING_MODAL"}:
            return result, seen_progress
        assert driver._step(context, "MOUSEMOVE") == {"PASS_THROUGH"}
        time.sleep(0.05)
    raise AssertionError("the job did not end")


def test_modal_generate_worker_thread_and_timer(addon, scene, use_backend):
    obj, _ = make_mixamo()
    bpy.context.view_layer.objects.active = obj
    st = scene.momug
    st.prompt, st.seconds, st.seed, st.steps, st.target, st.bone_map = \
        "a person jumps", 1.0, 2, 4, "ACTIVE", "AUTO"
    st.push_to_nla = False
    ctx = bpy.context
    driver = _Driver(operators.finish_generate, target_name=obj.name)
    job = operators.make_generate_job(ctx, st)
    assert driver._begin(ctx, job) == {"RUNNING_MODAL"}
    assert st.running and driver._runner.thread.is_alive()
    result, _ = _drive(driver, ctx)
    assert result == {"FINISHED"}, driver.reports
    assert not st.running and st.status.startswith("Keyed")
    assert obj.animation_data.action.name.startswith("MoMug: a person jumps")
    assert st.backend_state.startswith("ready: ")


def test_modal_escape_cancels_on_the_backend_and_changes_nothing(addon, scene, use_backend):
    st = scene.momug
    st.prompt, st.seconds, st.steps, st.target = "a person dances", 4.0, 1000, "NEW_SMPL"
    ctx = bpy.context
    before = fingerprint()
    driver = _Driver(operators.finish_generate)
    driver._begin(ctx, operators.make_generate_job(ctx, st))
    deadline = time.monotonic() + 30
    while driver._runner.job.job_id is None and time.monotonic() < deadline:
        assert driver._step(ctx, "TIMER") == {"RUNNING_MODAL"}
        time.sleep(0.05)
    assert driver._step(ctx, "ESC") == {"CANCELLED"}
    assert not st.running and st.status == "cancelled"
    assert driver._runner.wait(30) == "cancelled"
    be = client.Client(use_backend["url"], use_backend["token"])
    assert be.job(driver._runner.job.job_id)["status"] == "cancelled"
    assert fingerprint() == before


def test_modal_error_reports_and_changes_nothing(addon, scene, use_backend, monkeypatch):
    monkeypatch.setattr(preferences._Defaults, "token", "not-the-token")
    st = scene.momug
    st.prompt, st.seconds, st.steps, st.target = "a person sits", 1.0, 2, "NEW_SMPL"
    before = fingerprint()
    driver = _Driver(operators.finish_generate)
    driver._begin(bpy.context, operators.make_generate_job(bpy.context, st))
    result, _ = _drive(driver, bpy.context)
    assert result == {"CANCELLED"}
    assert any("ERROR" in lvl and "refused the token" in msg for lvl, msg in driver.reports)
    assert "refused the token" in st.backend_state
    assert fingerprint() == before


def test_generate_on_mixamo_and_describe(addon, scene, use_backend):
    obj, _ = make_mixamo()
    bpy.context.view_layer.objects.active = obj
    be = client.Client(use_backend["url"], use_backend["token"])
    res = jobs.run_generate(bpy.context, be, "a person jumps", seconds=2.0, seed=1, steps=4,
                            target="ACTIVE")
    assert res.bone_map_label == "mixamo" and len(res.frames) > 10
    scene.momug.caption = ""
    assert bpy.ops.momug.describe() == {"FINISHED"}
    assert scene.momug.caption
    assert obj.animation_data.action.get("momug_caption") == scene.momug.caption
    assert bpy.ops.momug.copy_caption() == {"FINISHED"}
    clip = bpy.context.window_manager.clipboard
    if clip:  # the bpy module may run without a system clipboard
        assert clip == scene.momug.caption


def test_modal_describe(addon, scene, use_backend):
    obj, _ = make_mixamo()
    bpy.context.view_layer.objects.active = obj
    from rigs_for_tests import make_motion
    jobs.apply_motion(bpy.context, make_motion(), target="ACTIVE", prompt="made up")
    scene.momug.caption = ""
    driver = _Driver(operators.finish_describe, target_name=obj.name)
    joints, _ = jobs.prepare_describe(bpy.context, obj)
    job = jobs.CaptionJob(preferences.make_client(bpy.context), joints)
    driver._begin(bpy.context, job)
    result, _ = _drive(driver, bpy.context)
    assert result == {"FINISHED"}, driver.reports
    assert scene.momug.caption and obj.animation_data.action["momug_caption"] == scene.momug.caption


def test_wrong_token_reports_and_changes_nothing(addon, scene, use_backend, monkeypatch):
    monkeypatch.setattr(preferences._Defaults, "token", "not-the-token")
    before = fingerprint()
    with pytest.raises(RuntimeError, match="refused the token"):
        bpy.ops.momug.generate()
    assert fingerprint() == before


def test_timeout_reports_and_changes_nothing(scene, use_backend):
    be = client.Client(use_backend["url"], use_backend["token"])
    before = fingerprint()
    with pytest.raises(jobs.JobError, match="did not finish within"):
        jobs.run_generate(bpy.context, be, "a person runs", seconds=4.0, steps=50, timeout=0.01)
    assert fingerprint() == before
