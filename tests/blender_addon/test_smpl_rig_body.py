"""The new SMPL rig: 22 bones named after the joints, a skinned box body, and a real body from a
(synthetic) SMPL-style model file read with numpy."""

import numpy as np

import bpy
from blender_addon import bonemaps, coords, smpl_rig


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


def _synthetic_model(path, n_joints=24):
    rng = np.random.default_rng(0)
    skel = bonemaps.smpl_skeleton()
    joints = skel.rest_positions() - np.array([0.0, 1.1, 0.0])  # model origin near the pelvis
    parents = list(skel.parents) + [20, 21][: n_joints - 22]
    joints = np.concatenate([joints, joints[[20, 21]][: n_joints - 22] + [[0.08, 0, 0], [-0.08, 0, 0]]])
    V = 64
    owner = rng.integers(0, n_joints, V)
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
    np.savez(path, v_template=v, f=faces, weights=w, J_regressor=Jreg, kintree_table=kintree)


def test_model_file_body(scene, tmp_path):
    path = str(tmp_path / "SMPL_NEUTRAL.npz")
    _synthetic_model(path)
    arm = smpl_rig.create_smpl_rig(bpy.context, model_path=path)
    body = [c for c in arm.children if c.type == "MESH"][0]
    assert len(body.data.vertices) == 64
    # Hand weights (joints 22, 23) were folded onto the wrists.
    assert "left_wrist" in body.vertex_groups and len(body.vertex_groups) == 22
    # Standing on the floor.
    zs = [v.co.z for v in body.data.vertices]
    assert abs(min(zs)) < 1e-5
