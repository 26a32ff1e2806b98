"""Registration, operators under bpy.ops.momug, and the error cases that must change nothing."""

import numpy as np
import pytest

import bpy
from blender_addon import bonemaps, jobs
from rigs_for_tests import make_mixamo, make_motion


def scene_fingerprint():
    return (sorted(o.name for o in bpy.data.objects), sorted(a.name for a in bpy.data.actions),
            sorted(a.name for a in bpy.data.armatures), sorted(m.name for m in bpy.data.meshes),
            {o.name: (o.animation_data.action.name if o.animation_data and o.animation_data.action
                      else None) for o in bpy.data.objects})


OPERATORS = ("generate", "describe", "randomize_seed", "history_apply", "copy_caption",
             "edit_bone_map", "save_bone_map", "read_token", "backend_check", "backend_start",
             "backend_stop")


def test_operators_registered(addon):
    for op in OPERATORS:
        assert hasattr(bpy.ops.momug, op), op
        assert bpy.ops.momug.__getattr__(op).get_rna_type() is not None
    assert hasattr(bpy.types.Scene, "momug")
    assert bpy.context.scene.momug.target == "NEW_SMPL"


def test_unregister_then_register_again(addon):
    """Everything registered goes away (bpy 4.5 does not exit while anything stays)."""
    import blender_addon
    classes = blender_addon._classes
    assert all(c.is_registered for c in classes)
    blender_addon.unregister()
    try:
        assert not hasattr(bpy.types.Scene, "momug")
        assert not any(c.is_registered for c in classes)
        assert not hasattr(bpy.ops.momug, "generate") or not hasattr(bpy.types, "MOMUG_OT_generate")
    finally:
        blender_addon.register()
    assert all(c.is_registered for c in classes) and hasattr(bpy.types.Scene, "momug")


def test_running_flag_saved_in_a_file_does_not_block(addon, scene):
    """Scene.momug.running is saved with the .blend; reopened mid-job, Generate must still work."""
    scene.momug.running = True
    try:
        assert bpy.ops.momug.generate.poll() and bpy.ops.momug.describe.poll()
    finally:
        scene.momug.running = False


def test_randomize_seed(addon, scene):
    st = scene.momug
    seeds = set()
    for _ in range(3):
        bpy.ops.momug.randomize_seed()
        seeds.add(st.seed)
    assert len(seeds) > 1


def _mesh_selected():
    mesh = bpy.data.meshes.new("Cube")
    obj = bpy.data.objects.new("Cube", mesh)
    bpy.context.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    return obj


def test_non_armature_selection_reports(addon, scene):
    _mesh_selected()
    scene.momug.target = "ACTIVE"
    before = scene_fingerprint()
    with pytest.raises(RuntimeError, match="not an armature"):
        bpy.ops.momug.generate()
    with pytest.raises(RuntimeError, match="Select an armature"):
        bpy.ops.momug.describe()
    assert scene_fingerprint() == before


def test_unmapped_rig_reports(addon, scene):
    arm = bpy.data.armatures.new("Robot")
    obj = bpy.data.objects.new("Robot", arm)
    bpy.context.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    for i, name in enumerate(("base", "arm_a", "arm_b")):
        eb = arm.edit_bones.new(name)
        eb.head, eb.tail = (0, 0, i), (0, 0, i + 1)
    bpy.ops.object.mode_set(mode="OBJECT")
    scene.momug.target = "ACTIVE"
    before = scene_fingerprint()
    with pytest.raises(RuntimeError, match="could not recognise the bones"):
        bpy.ops.momug.generate()
    assert scene_fingerprint() == before


def test_unmapped_bones_listed_and_left_alone(scene):
    obj, _ = make_mixamo()
    bpy.context.view_layer.objects.active = obj
    res = jobs.apply_motion(bpy.context, make_motion(), target="ACTIVE")
    assert "mixamorig:HeadTop_End" in res.unmapped_bones
    assert "3 unmapped bones left as they were: mixamorig:HeadTop_End" in res.summary()
    keyed = {fc.data_path.split('"')[1] for fc in
             __import__("blender_addon").keying.action_fcurves(res.action, obj)}
    assert "mixamorig:HeadTop_End" not in keyed and "mixamorig:Hips" in keyed


def test_helper_bones_counted_not_listed(scene):
    """Bones the rig drives itself (a constraint) or hides are not called unmapped: Rigify has
    hundreds of them and listing them would bury the bones that matter."""
    obj, _ = make_mixamo()
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    for name in ("MCH-arm_follow", "helper_hidden"):
        eb = obj.data.edit_bones.new(name)
        eb.head, eb.tail = (0.3, 0, 1), (0.3, 0, 1.1)
    bpy.ops.object.mode_set(mode="OBJECT")
    c = obj.pose.bones["MCH-arm_follow"].constraints.new("COPY_LOCATION")
    c.target, c.subtarget = obj, "mixamorig:LeftArm"
    obj.data.bones["helper_hidden"].hide = True
    res = jobs.apply_motion(bpy.context, make_motion(), target="ACTIVE")
    assert res.helper_bones == ["MCH-arm_follow", "helper_hidden"]
    assert not set(res.helper_bones) & set(res.unmapped_bones)
    summary = res.summary()
    assert "3 unmapped bones left as they were: mixamorig:HeadTop_End" in summary
    assert "2 constrained or hidden helper bones not keyed" in summary
    assert "MCH-arm_follow" not in summary


def test_constrained_mapped_bones_are_reported(scene):
    obj, _ = make_mixamo()
    bpy.context.view_layer.objects.active = obj
    c = obj.pose.bones["mixamorig:LeftArm"].constraints.new("COPY_ROTATION")
    c.target, c.subtarget = obj, "mixamorig:Spine"
    res = jobs.apply_motion(bpy.context, make_motion(), target="ACTIVE")
    assert res.notes and "1 mapped bones follow constraints (mixamorig:LeftArm: Copy Rotation)" in res.notes[0]
    c.mute = True
    assert not jobs.apply_motion(bpy.context, make_motion(), target="ACTIVE").notes


def test_partial_map_lists_unmapped_joints(scene):
    obj, _ = make_mixamo()
    bpy.context.view_layer.objects.active = obj
    bonemaps.save_custom_map(obj, {k: v for k, v in __import__("rigs_for_tests").MIXAMO_MAP.items()
                                   if "collar" not in k and "foot" not in k})
    res = jobs.apply_motion(bpy.context, make_motion(), target="ACTIVE", bone_map_mode="CUSTOM")
    assert res.bone_map_label == "custom"
    assert set(res.unmapped_joints) == {"left_collar", "right_collar", "left_foot", "right_foot"}
    assert "SMPL joints without a bone" in res.summary()


def test_no_animation_reports(addon, scene):
    obj, _ = make_mixamo()
    bpy.context.view_layer.objects.active = obj
    before = scene_fingerprint()
    with pytest.raises(RuntimeError, match="has no animation"):
        bpy.ops.momug.describe()
    assert scene_fingerprint() == before


def test_describe_unrecognised_rig_reports(addon, scene):
    arm = bpy.data.armatures.new("Robot")
    obj = bpy.data.objects.new("Robot", arm)
    bpy.context.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    eb = arm.edit_bones.new("base")
    eb.head, eb.tail = (0, 0, 0), (0, 0, 1)
    bpy.ops.object.mode_set(mode="OBJECT")
    obj.pose.bones["base"].keyframe_insert("location", frame=1)
    obj.pose.bones["base"].keyframe_insert("location", frame=20)
    before = scene_fingerprint()
    with pytest.raises(RuntimeError, match="could not recognise the bones"):
        bpy.ops.momug.describe()
    assert scene_fingerprint() == before


def test_describe_backend_down_reports_and_stores_nothing(addon, scene, monkeypatch):
    monkeypatch.setenv("MOMUG_CONFIG", "/nonexistent")
    from blender_addon import preferences
    monkeypatch.setattr(preferences._Defaults, "backend_url", "http://127.0.0.1:9")
    obj, _ = make_mixamo()
    bpy.context.view_layer.objects.active = obj
    res = jobs.apply_motion(bpy.context, make_motion(), target="ACTIVE", prompt="x")
    scene.momug.caption = ""
    before = scene_fingerprint()
    with pytest.raises(RuntimeError, match="No backend at"):
        bpy.ops.momug.describe()
    assert scene_fingerprint() == before
    assert "momug_caption" not in res.action and scene.momug.caption == ""
    assert "No backend at" in scene.momug.backend_state
    assert scene.frame_current == 1  # sampling put the frame back


def test_duration_clamped_to_known_limits(addon, scene):
    from blender_addon import properties
    st = scene.momug
    try:
        st.seconds = 30.0
        assert st.seconds == 30.0 and st.seconds_note == ""  # limits unknown: the user's value
        note = properties.set_limits(st, {"min_seconds": 2.0, "max_seconds": 9.8})
        assert st.seconds == pytest.approx(9.8) and "at most 9.8 s" in note == st.seconds_note
        st.seconds = 1.0
        assert st.seconds == pytest.approx(2.0) and "at least 2 s" in st.seconds_note
        st.seconds = 5.0
        assert st.seconds == 5.0 and st.seconds_note == ""
        assert jobs.clamp_to_limits(12.0, {"min_seconds": 2.0, "max_seconds": 9.8})[0] == 9.8
        assert jobs.clamp_to_limits(5.0, None) == (5.0, "")
    finally:
        st.limit_min_seconds = st.limit_max_seconds = 0.0
        st.seconds = 4.0


def test_edit_and_save_custom_bone_map(addon, scene):
    obj, _ = make_mixamo()
    bpy.context.view_layer.objects.active = obj
    st = scene.momug
    st.target, st.bone_map = "ACTIVE", "AUTO"
    assert bpy.ops.momug.edit_bone_map() == {"FINISHED"}
    rows = {r.joint: r for r in st.map_rows}
    assert len(rows) == 22 and rows["pelvis"].bone == "mixamorig:Hips"
    rows["left_collar"].bone = ""      # leave a joint out
    rows["head"].bone = "mixamorig:HeadTop_End"  # and point another elsewhere
    assert bpy.ops.momug.save_bone_map() == {"FINISHED"}
    label, found, missing, _ = bonemaps.resolve(obj, "CUSTOM")
    assert label == "custom" and "left_collar" not in found and missing == ["left_collar"]
    assert found["head"] == "mixamorig:HeadTop_End"
    assert bonemaps.resolve(obj, "AUTO")[0] == "custom"  # a saved map wins over detection
    # Saved with the rig: it is on the armature data, as JSON.
    assert "mixamorig:HeadTop_End" in obj.data[bonemaps.CUSTOM_MAP_KEY]
    # A name that is not a bone is refused, and nothing is saved.
    rows = {r.joint: r for r in st.map_rows}
    rows["neck"].bone = "no such bone"
    saved = obj.data[bonemaps.CUSTOM_MAP_KEY]
    with pytest.raises(RuntimeError, match="not bones of"):
        bpy.ops.momug.save_bone_map()
    assert obj.data[bonemaps.CUSTOM_MAP_KEY] == saved
    st.map_rows.clear()
    st.map_rows_object = ""


def test_start_and_stop_backend_process(addon, scene, tmp_path, monkeypatch):
    """Start Backend runs '<python> -m momug.cli serve --host H --port P <extra>' as a child;
    Stop Backend ends that child (and only it)."""
    from blender_addon import preferences, server_process
    fake = tmp_path / "fake_python"
    fake.write_text("#!/bin/sh\necho \"$@\" > " + str(tmp_path / "args.txt") + "\nexec sleep 60\n")
    fake.chmod(0o755)
    monkeypatch.setattr(preferences._Defaults, "python_command", str(fake))
    monkeypatch.setattr(preferences._Defaults, "serve_args", "--checkpoint tiny")
    try:
        assert bpy.ops.momug.backend_start() == {"FINISHED"}
        assert server_process.is_running() and server_process.state().startswith("running (pid")
        import time
        deadline = time.monotonic() + 10
        while not (tmp_path / "args.txt").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        args = (tmp_path / "args.txt").read_text().split()
        assert args[:3] == ["-m", "momug.cli", "serve"] and "--checkpoint" in args
        assert args[args.index("--port") + 1] == "8765"
    finally:
        bpy.ops.momug.backend_stop()
    assert not server_process.is_running()
    assert server_process.state() == "not started from Blender"
    monkeypatch.setattr(preferences._Defaults, "python_command", str(tmp_path / "missing"))
    with pytest.raises(RuntimeError, match="cannot run"):
        bpy.ops.momug.backend_start()


def test_bad_motion_leaves_no_new_rig(scene):
    before = scene_fingerprint()
    bad = make_motion()
    bad["rotations"] = bad["rotations"][:, :21]
    with pytest.raises(jobs.JobError, match="expected"):
        jobs.apply_motion(bpy.context, bad, target="NEW_SMPL")
    bad = make_motion()
    bad["rotations"][3, 4] = np.nan
    with pytest.raises(jobs.JobError, match="NaN"):
        jobs.apply_motion(bpy.context, bad, target="NEW_SMPL")
    assert scene_fingerprint() == before


def test_backend_down_reports(addon, scene, monkeypatch):
    monkeypatch.setenv("MOMUG_CONFIG", "/nonexistent")
    from blender_addon import preferences
    monkeypatch.setattr(preferences._Defaults, "backend_url", "http://127.0.0.1:9")
    scene.momug.target = "NEW_SMPL"
    before = scene_fingerprint()
    with pytest.raises(RuntimeError, match="No backend at"):
        bpy.ops.momug.generate()
    assert scene_fingerprint() == before
    with pytest.raises(RuntimeError, match="No backend at"):
        bpy.ops.momug.backend_check()


def test_bone_map_detection_presets(scene):
    obj, _ = make_mixamo()
    assert bonemaps.detect(obj)[0] == "mixamo"
    from rigs_for_tests import make_rigify_metarig
    rig, _ = make_rigify_metarig()
    pid, found = bonemaps.detect(rig)
    assert pid == "rigify" and len(found) == 22
