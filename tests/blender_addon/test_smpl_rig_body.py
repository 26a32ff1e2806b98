"""The new SMPL rig: 22 bones named after the joints, a skinned box body, and a real body from a
(synthetic) SMPL model file: through the smplx package run by another Python (it needs torch,
which Blender must not import), or, without smplx, read with numpy from an .npz."""

import os
import pickle
import shutil
import subprocess
import sys

import numpy as np
import pytest

import bpy
from blender_addon import bonemaps, coords, jobs, smpl_rig
from rigs_for_tests import make_motion


def test_box_body_rig(scene):
    arm = smpl_rig.create_smpl_rig(bpy.context)
    names = bonemaps.smpl_skeleton().names
    assert sorted(b.name for b in arm.data.bones) == sorted(names)
    body = [c for c in arm.children if c.type == "MESH"][0]
    assert body.modifiers[0].type == "ARMATURE" and body.modifiers[0].object == arm
    assert set(g.name for g in body.vertex_groups) == set(names)
    rest = coords.to_blender_points(bonemaps.smpl_skeleton().rest_positions())
    heads = np.array([arm.data.bones[n].head_local for n in names])
    assert np.abs(heads - rest).max() < 1e-5


def _synthetic_model(path, n_joints=24, smplx_keys=False):
    rng = np.random.default_rng(0)
    skel = bonemaps.smpl_skeleton()
    joints = skel.rest_positions() - np.array([0.0, 1.1, 0.0])  # model origin near the pelvis
    # Joints past the body's 22 (hands, jaw, eyes) hang off the wrists here.
    extra = [20 + (k % 2) for k in range(n_joints - 22)]
    parents = list(skel.parents) + extra
    joints = np.concatenate([joints, joints[extra] + rng.normal(0, 0.03, (len(extra), 3))])
    V = 64
    owner = np.concatenate([np.arange(n_joints), rng.integers(0, n_joints, V - n_joints)])
    v = joints[owner] + rng.normal(0, 0.02, (V, 3))
    w = np.zeros((V, n_joints)); w[np.arange(V), owner] = 1.0
    # Joint regressor: each joint is the mean of its own vertices (or stays put when it has none).
    Jreg = np.zeros((n_joints, V))
    for j in range(n_joints):
        idx = np.nonzero(owner == j)[0]
        if len(idx):
            Jreg[j, idx] = 1.0 / len(idx)
    faces = np.array([[i, (i + 1) % V, (i + 2) % V] for i in range(0, V - 2, 3)])
    kintree = np.array([[4294967295] + parents[1:], list(range(n_joints))], dtype=np.int64)
    data = dict(v_template=v, f=faces, weights=w, J_regressor=Jreg, kintree_table=kintree)
    if smplx_keys:  # the rest of what smplx reads: shape and pose blend shapes, ...
        data["shapedirs"] = rng.normal(0, 0.01, (V, 3, 10 if n_joints < 55 else 20))
        data["posedirs"] = np.zeros((V, 3, 9 * (n_joints - 1)))
    if smplx_keys and n_joints == 55:  # ... and SMPL-X's hands and face landmarks
        data.update(hands_componentsl=np.eye(45), hands_componentsr=np.eye(45),
                    hands_meanl=np.zeros(45), hands_meanr=np.zeros(45),
                    lmk_faces_idx=np.arange(5), lmk_bary_coords=np.full((5, 3), 1 / 3))
    if path.endswith(".npz"):
        np.savez(path, **data)
    else:
        with open(path, "wb") as f:
            pickle.dump(data, f)
    return data


def fingerprint():
    return (sorted(o.name for o in bpy.data.objects), sorted(a.name for a in bpy.data.actions),
            sorted(m.name for m in bpy.data.meshes), sorted(a.name for a in bpy.data.armatures))


def smplx_python():
    """A Python with the smplx package: $MOMUG_SMPLX_PYTHON, else the backend's ($MOMUG_PYTHON)."""
    for py in (os.environ.get("MOMUG_SMPLX_PYTHON"), os.environ.get("MOMUG_PYTHON")):
        if py and shutil.which(py) and subprocess.run(
                [py, "-c", "import smplx"], capture_output=True).returncode == 0:
            return py
    return None


def test_model_file_body_without_smplx(scene, tmp_path):
    """smplx missing (this bpy venv's Python has neither smplx nor torch): an .npz is read with
    numpy, and the result says why the body shape is not applied."""
    path = str(tmp_path / "SMPL_NEUTRAL.npz")
    _synthetic_model(path)
    res = jobs.apply_motion(bpy.context, make_motion(), target="NEW_SMPL", model_path=path,
                            python_command=sys.executable, prompt="a person waves")
    assert any("needs the 'smplx' package" in n and "pip install smplx" in n for n in res.notes)
    assert "smplx" in res.summary()
    arm = res.obj
    body = [c for c in arm.children if c.type == "MESH"][0]
    assert len(body.data.vertices) == 64
    # Hand weights (joints 22, 23) were folded onto the wrists.
    assert "left_wrist" in body.vertex_groups and len(body.vertex_groups) == 22
    # Standing on the floor.
    zs = [v.co.z for v in body.data.vertices]
    assert abs(min(zs)) < 1e-5


def test_pickle_without_smplx_reports_and_changes_nothing(scene, tmp_path):
    path = str(tmp_path / "SMPL_NEUTRAL.pkl")
    _synthetic_model(path, smplx_keys=True)
    before = fingerprint()
    with pytest.raises(jobs.JobError, match=r"needs the 'smplx' package.*only \.npz"):
        jobs.apply_motion(bpy.context, make_motion(), target="NEW_SMPL", model_path=path,
                          python_command=sys.executable)
    assert fingerprint() == before
    with pytest.raises(jobs.JobError, match="not found"):
        jobs.apply_motion(bpy.context, make_motion(), target="NEW_SMPL",
                          model_path=str(tmp_path / "missing.pkl"), python_command=sys.executable)
    assert fingerprint() == before


@pytest.mark.parametrize("file_name, n_joints, kind", [("SMPL_NEUTRAL.pkl", 24, "smpl"),
                                                       ("SMPLX_NEUTRAL.npz", 55, "smplx")])
def test_model_file_body_through_smplx(scene, tmp_path, file_name, n_joints, kind):
    py = smplx_python()
    if py is None:
        pytest.skip("no Python with the smplx package (set MOMUG_SMPLX_PYTHON)")
    path = str(tmp_path / file_name)
    data = _synthetic_model(path, n_joints=n_joints, smplx_keys=True)
    betas = (1.5, -0.7) + (0.0,) * 8
    arm = smpl_rig.create_smpl_rig(bpy.context, model_path=path, python_command=py, betas=betas)
    assert arm["momug_body"] == f"{kind}: {file_name}"
    body = [c for c in arm.children if c.type == "MESH"][0]
    # The shaped template (v_template + shapedirs . betas), stood on the floor, in Blender's frame.
    shaped = data["v_template"] + data["shapedirs"][:, :, :10] @ np.array(betas)
    joints = data["J_regressor"] @ shaped
    lift = -shaped[:, 1].min()
    shaped[:, 1] += lift
    joints[:, 1] += lift
    got = np.array([v.co for v in body.data.vertices])
    assert np.abs(got - coords.to_blender_points(shaped)).max() < 1e-5
    names = bonemaps.smpl_skeleton().names
    heads = np.array([arm.data.bones[n].head_local for n in names])
    assert np.abs(heads - coords.to_blender_points(joints[:22])).max() < 1e-5
    assert len(body.vertex_groups) == 22
    # Weights of the extra joints (hands, jaw, eyes) went to the wrists: every vertex keeps its weight.
    total = np.zeros(len(got))
    for v in body.data.vertices:
        total[v.index] = sum(g.weight for g in v.groups)
    assert np.allclose(total, 1.0, atol=1e-5)
    # A second rig with the same file and shape comes from the cache (no second smplx run).
    n_cached = len(smpl_rig._body_cache)
    smpl_rig.create_smpl_rig(bpy.context, name="SMPL2", model_path=path, python_command=py,
                             betas=betas)
    assert len(smpl_rig._body_cache) == n_cached
