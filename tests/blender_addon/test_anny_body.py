"""The anny human body on a new SMPL rig (built by the backend's Python, `python -m momug.body`):
created with the rig, weighted on the 22 bones near each vertex, deforming without tearing under
wide limb movements, removed with the rig on cancel and errors, and carried by batch exports.
Needs the backend's Python ($MOMUG_PYTHON) with the `body` extra; skipped with the reason if not."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import bpy
from blender_addon import bonemaps, coords, jobs, keying, retarget, smpl_rig

NAMES = bonemaps.smpl_skeleton().names
# Edge length / rest length at any frame, with rest lengths under 1 cm counted as 1 cm: the body
# has millimetre edges (groin, nipples) where any skinning of a high kick moves a few millimetres
# relative to each other, while a torn mesh (a vertex on a far bone) stretches by decimetres.
# Measured worst: 2.1 (the groin during the high kick with the other leg out to the side).
MAX_STRETCH = 2.5
MIN_EDGE = 0.01
MAX_BIND_DISTANCE = 0.3  # metres from a vertex to any bone it follows (fingertips to the wrist: 0.2)


def body_python():
    py = os.environ.get("MOMUG_PYTHON") or shutil.which("python3")
    if not py:
        return None, "no backend Python (set MOMUG_PYTHON)"
    probe = subprocess.run([py, "-c", "import momug.body, anny"], capture_output=True, text=True)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return None, f"the body extra is not installed in {py} (pip install -e '.[body]'): {last}"
    return py, ""


@pytest.fixture(scope="module")
def py(tmp_path_factory):
    python, why = body_python()
    if python is None:
        pytest.skip(why)
    # A private cache: the first rig of the session builds the body, later ones reuse it.
    old = os.environ.get("MOMUG_CACHE")
    os.environ["MOMUG_CACHE"] = str(tmp_path_factory.mktemp("momug_cache"))
    smpl_rig._anny_cache.clear()
    yield python
    smpl_rig._anny_cache.clear()
    if old is None:
        os.environ.pop("MOMUG_CACHE", None)
    else:
        os.environ["MOMUG_CACHE"] = old


def _quat(axis, angle):
    axis = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    angle = np.asarray(angle, dtype=np.float64)[..., None]
    return np.concatenate([np.cos(angle / 2), axis * np.sin(angle / 2)], axis=-1)


def wide_motion(T=24):
    """Arms from overhead to the sides, elbows and knees bent to 120 degrees, a high kick, a deep
    bend forward and a twist: SMPL-22 local rotations (Y up, w x y z) at 20 fps."""
    s = np.sin(np.linspace(0, 2 * np.pi, T))
    c = np.cos(np.linspace(0, 2 * np.pi, T))
    rot = np.zeros((T, 22, 4))
    rot[..., 0] = 1.0
    ix = NAMES.index
    rot[:, ix("left_shoulder")] = _quat([0, 0, 1], 1.3 * s)        # up overhead / down to the side
    rot[:, ix("right_shoulder")] = _quat([0, 1, 0], 1.2 * c)       # swing forward / back
    rot[:, ix("left_elbow")] = _quat([0, 1, 0], -1.0 - 1.0 * c)    # bends up to about 115 degrees
    rot[:, ix("right_elbow")] = _quat([0, 0, 1], -2.1 * (s > 0) * s)
    rot[:, ix("left_hip")] = _quat([1, 0, 0], -1.5 * np.clip(s, 0, 1) + 0.5 * np.clip(-s, 0, 1))  # kick
    rot[:, ix("right_hip")] = _quat([0, 0, 1], -0.8 * np.abs(s))  # leg out to the side
    rot[:, ix("left_knee")] = _quat([1, 0, 0], 2.0 * np.abs(c))
    rot[:, ix("right_knee")] = _quat([1, 0, 0], 1.2 * np.abs(s))
    rot[:, ix("spine1")] = _quat([1, 0, 0], 0.7 * np.abs(s))       # a deep bend forward
    rot[:, ix("spine3")] = _quat([0, 1, 0], 0.6 * c)               # a twist
    rot[:, ix("neck")] = _quat([1, 0, 0], -0.5 * s)
    skel = bonemaps.smpl_skeleton()
    root = np.stack([np.zeros(T), np.full(T, 0.95), np.linspace(0, 0.5, T)], axis=-1)
    _, joints = retarget.forward(skel.parents, skel.offsets, rot, root)
    return {"joints": joints, "rotations": rot, "root_translation": root, "fps": 20.0}


def fingerprint():
    return (sorted(o.name for o in bpy.data.objects), sorted(a.name for a in bpy.data.actions),
            sorted(m.name for m in bpy.data.meshes), sorted(a.name for a in bpy.data.armatures),
            sorted(m.name for m in bpy.data.materials))


def body_of(arm):
    meshes = [c for c in arm.children if c.type == "MESH"]
    assert len(meshes) == 1
    return meshes[0]


def weight_matrix(body):
    names = [g.name for g in body.vertex_groups]
    w = np.zeros((len(body.data.vertices), 22))
    for v in body.data.vertices:
        for g in v.groups:
            w[v.index, NAMES.index(names[g.group])] += g.weight
    return w


def world_vertices(obj):
    deps = bpy.context.evaluated_depsgraph_get()
    ev = obj.evaluated_get(deps)
    mesh = ev.to_mesh()
    co = np.zeros(3 * len(mesh.vertices))
    mesh.vertices.foreach_get("co", co)
    ev.to_mesh_clear()
    co = co.reshape(-1, 3)
    m = np.array(obj.matrix_world)
    return co @ m[:3, :3].T + m[:3, 3]


def test_new_rig_gets_the_anny_body(scene, py):
    res = jobs.apply_motion(bpy.context, wide_motion(), target="NEW_SMPL", python_command=py,
                            prompt="a person stretches")
    arm = res.obj
    body = body_of(arm)
    assert arm["momug_body"].startswith("anny neutral")
    assert any(n.startswith("body: anny 'neutral'") and "CC0" in n for n in res.notes)
    assert 10_000 < len(body.data.vertices) < 14_000  # the body surface, no helper geometry
    assert body.modifiers[0].type == "ARMATURE" and body.modifiers[0].object == arm
    # The rig is the SMPL-22 rest skeleton; the body stands on the floor around it.
    heads = np.array([arm.data.bones[n].head_local for n in NAMES])
    rest = coords.to_blender_points(bonemaps.smpl_skeleton().rest_positions())
    assert np.abs(heads - rest).max() < 1e-5
    co = np.array([v.co for v in body.data.vertices])
    assert -0.005 < co[:, 2].min() < 0.03 and 1.6 < co[:, 2].max() < 1.8
    mat = body.data.materials[0]
    assert tuple(mat.diffuse_color) == pytest.approx(smpl_rig.BODY_COLOUR)


def test_every_vertex_weighted_to_near_bones(scene, py):
    arm = smpl_rig.create_smpl_rig(bpy.context, python_command=py)
    body = body_of(arm)
    w = weight_matrix(body)
    assert sorted(g.name for g in body.vertex_groups) == sorted(NAMES)
    assert np.allclose(w.sum(axis=1), 1.0, atol=1e-4)
    co = np.array([v.co for v in body.data.vertices])
    for j, name in enumerate(NAMES):
        bone = arm.data.bones[name]
        a, b = np.array(bone.head_local), np.array(bone.tail_local)
        idx = np.nonzero(w[:, j] > 0.05)[0]
        assert len(idx) > 20, name
        t = np.clip(((co[idx] - a) @ (b - a)) / ((b - a) @ (b - a)), 0, 1)
        d = np.linalg.norm(co[idx] - (a + t[:, None] * (b - a)), axis=1)
        assert d.max() < MAX_BIND_DISTANCE, (name, float(d.max()))


def test_deforms_with_wide_movements_without_tearing(scene, py):
    motion = wide_motion()
    res = jobs.apply_motion(bpy.context, motion, target="NEW_SMPL", python_command=py)
    arm, body = res.obj, body_of(res.obj)
    faces = np.array([p.vertices[:] for p in body.data.polygons])
    edges = np.unique(np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1), axis=0)
    rest = np.array([v.co for v in body.data.vertices]) @ np.array(body.matrix_world)[:3, :3].T
    rest_len = np.maximum(np.linalg.norm(rest[edges[:, 0]] - rest[edges[:, 1]], axis=1), MIN_EDGE)
    w = weight_matrix(body)
    hand = w[:, NAMES.index("left_wrist")] > 0.95
    scene = bpy.context.scene
    worst, moved = 0.0, 0.0
    for f in range(int(res.frames[0]), int(res.frames[-1]) + 1):
        scene.frame_set(f)
        co = world_vertices(body)
        ratio = np.linalg.norm(co[edges[:, 0]] - co[edges[:, 1]], axis=1) / rest_len
        worst = max(worst, float(ratio.max()))
        assert np.isfinite(co).all()
        # The body follows the bones: the hand stays at the posed wrist.
        wrist = np.array(arm.matrix_world @ arm.pose.bones["left_wrist"].head)
        assert np.linalg.norm(co[hand].mean(axis=0) - wrist) < 0.12, f
        moved = max(moved, float(np.linalg.norm(co[hand].mean(axis=0) - (rest[hand].mean(axis=0)
                                                                       + np.array(arm.matrix_world.translation)))))
    assert worst < MAX_STRETCH, worst
    assert moved > 0.5  # the arm really went overhead and down


def test_cancel_and_errors_leave_the_scene_as_it_was(scene, py, monkeypatch):
    before = fingerprint()
    # Cancel a stream after the first chunk made the rig and its body.
    keyer = jobs.StreamKeyer(bpy.context, target="NEW_SMPL", python_command=py, prompt="a person waves")
    m = wide_motion(8)
    keyer.add(m["rotations"][:4], m["root_translation"][:4])
    assert body_of(keyer.obj).data.materials[0] is not None and fingerprint() != before
    keyer.discard()
    assert fingerprint() == before
    # An error after the rig was made (here: keying fails) removes it, body and material too.

    def broken(*a, **k):
        raise ValueError("keying failed")
    monkeypatch.setattr(keying, "ActionWriter", broken)
    with pytest.raises(jobs.JobError, match="keying failed"):
        jobs.apply_motion(bpy.context, wide_motion(), target="NEW_SMPL", python_command=py)
    assert fingerprint() == before
    monkeypatch.undo()
    # Insisting on the anny body where the backend's Python cannot build it: one clear error.
    with pytest.raises(smpl_rig.BodyModelError, match="no momug backend"):
        smpl_rig.create_smpl_rig(bpy.context, python_command=sys.executable, body="ANNY")
    assert fingerprint() == before


def test_without_the_extra_boxes_and_a_note(scene):
    # This bpy venv's Python has neither momug nor anny: the rig still comes, with boxes, and
    # the note says why.
    res = jobs.apply_motion(bpy.context, wide_motion(), target="NEW_SMPL", python_command=sys.executable)
    assert res.obj["momug_body"] == "boxes"
    assert any(n.startswith("body: boxes, because") and "momug" in n for n in res.notes)
    assert len(body_of(res.obj).data.vertices) == 8 * 22
    arm = smpl_rig.create_smpl_rig(bpy.context, name="B", body="BOXES")
    assert arm["momug_body"] == "boxes" and len(body_of(arm).data.vertices) == 8 * 22


def test_body_types_and_height(scene, py):
    notes = []
    arm = smpl_rig.create_smpl_rig(bpy.context, python_command=py, body_shape="heavy", body_height=1.9,
                                   notes=notes)
    co = np.array([v.co for v in body_of(arm).data.vertices])
    assert co[:, 2].max() == pytest.approx(1.9, abs=2e-3)
    assert arm["momug_body"] == "anny heavy: 1.90 m" and "anny 'heavy', 1.90 m" in notes[0]
    # The rig grew with the body: its hips are higher than the standard SMPL-22 rig's.
    assert arm.data.bones["pelvis"].head_local.z > 0.95 * 1.05


def test_batch_export_carries_the_body(scene, py, tmp_path):
    """An FBX and a GLB from `blender_batch.py --rig smpl` hold the skinned body."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "scripts"))
    import blender_batch
    from rigs_for_tests import clean_scene

    # A finished batch of one item, written by the real batch runner (corpus motions).
    here = os.path.dirname(os.path.abspath(__file__))
    prompts, out = tmp_path / "p.txt", tmp_path / "out"
    prompts.write_text("a person jogs forward\n")
    proc = subprocess.run([py, os.path.join(here, "make_batch_for_tests.py"), str(prompts), str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rc = blender_batch.main([str(prompts), "-o", str(out), "--rig", "smpl", "--no-generate",
                             "--python", py, "--format", "fbx,glb,blend"])
    assert rc == 0
    for ext, importer in (("glb", lambda p: bpy.ops.import_scene.gltf(filepath=p)),
                          ("fbx", lambda p: bpy.ops.import_scene.fbx(filepath=p))):
        clean_scene()
        (path,) = (out / "blender").glob(f"*.{ext}")
        importer(str(path))
        # (the glTF importer adds an icosphere of its own for bone shapes)
        meshes = [o for o in bpy.data.objects if o.type == "MESH" and o.name != "Icosphere"]
        assert len(meshes) == 1, ext
        assert len(meshes[0].data.vertices) > 10_000, ext  # glTF may split vertices at seams
        assert any(mod.type == "ARMATURE" for mod in meshes[0].modifiers), ext
        assert len(meshes[0].vertex_groups) == 22, ext
    # The .blend holds the rig with its body and material.
    clean_scene()
    (blend,) = (out / "blender").glob("*.blend")
    with bpy.data.libraries.load(str(blend)) as (src, dst):
        dst.objects = list(src.objects)
    meshes = [o for o in dst.objects if o is not None and o.type == "MESH"]
    assert len(meshes) == 1 and len(meshes[0].data.vertices) > 10_000
    assert meshes[0].data.materials[0] is not None
