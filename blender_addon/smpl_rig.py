"""A new SMPL-22 armature from rigs/smpl22.json, with a simple skinned body of boxes, or the
real SMPL/SMPL-X body when the user has model files.

Bones are named after the SMPL joints; each bone's head sits on its joint and points at its
child, so a joint rotation from the backend turns the same bone in Blender.
Model files are read with numpy (the keys the smplx package reads: v_template, f, weights,
J_regressor, kintree_table); the smplx package itself would pull in torch, which the add-on avoids.
"""

import os

import bpy
import numpy as np

from . import bonemaps, coords

RIG_TAG = "momug_smpl_rig"

# Which child a bone points at when its joint has several.
_MAIN_CHILD = {"pelvis": "spine1", "spine3": "neck"}
# Box half-widths of the simple body, by joint.
_RADIUS = {"pelvis": 0.11, "spine1": 0.11, "spine2": 0.12, "spine3": 0.12, "neck": 0.05,
           "head": 0.09, "left_collar": 0.05, "right_collar": 0.05, "left_hip": 0.075,
           "right_hip": 0.075, "left_knee": 0.055, "right_knee": 0.055, "left_ankle": 0.045,
           "right_ankle": 0.045, "left_foot": 0.04, "right_foot": 0.04}
_DEFAULT_RADIUS = 0.045


def _tails(names, parents, pos):
    tails = {}
    for j, name in enumerate(names):
        kids = [c for c, p in enumerate(parents) if p == j]
        main = [c for c in kids if names[c] == _MAIN_CHILD.get(name)]
        child = main[0] if main else (kids[0] if len(kids) == 1 else None)
        if child is not None and np.linalg.norm(pos[child] - pos[j]) > 1e-4:
            tails[name] = pos[child]
        elif name == "head":
            tails[name] = pos[j] + np.array([0.0, 0.0, 0.18])
        else:
            d = pos[j] - pos[parents[j]]
            tails[name] = pos[j] + d / max(np.linalg.norm(d), 1e-6) * 0.1
    return tails


def build_armature(context, name="SMPL", offsets=None, location=None):
    """Create and link an armature object; offsets are Y-up (22, 3), default rigs/smpl22.json."""
    skel = bonemaps.smpl_skeleton()
    pos = coords.to_blender_points(skel.rest_positions(offsets))
    tails = _tails(skel.names, skel.parents, pos)

    arm = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, arm)
    obj[RIG_TAG] = True
    if location is not None:
        obj.location = location
    context.collection.objects.link(obj)

    prev_active = context.view_layer.objects.active
    prev_mode = context.object.mode if context.object else "OBJECT"
    if prev_mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    ebones = arm.edit_bones
    for j, jname in enumerate(skel.names):
        eb = ebones.new(jname)
        eb.head = pos[j]
        eb.tail = tails[jname]
        eb.roll = 0.0
        p = skel.parents[j]
        if p >= 0:
            eb.parent = ebones[skel.names[p]]
    bpy.ops.object.mode_set(mode="OBJECT")
    for pb in obj.pose.bones:
        pb.rotation_mode = "QUATERNION"
    arm.display_type = "STICK"
    if prev_active is not None and prev_active.name in context.view_layer.objects:
        context.view_layer.objects.active = prev_active
    return obj


def _skin(mesh_obj, arm_obj):
    mesh_obj.parent = arm_obj
    mod = mesh_obj.modifiers.new("Armature", "ARMATURE")
    mod.object = arm_obj


def add_box_body(context, arm_obj):
    """A low-poly body: one box per bone, each rigidly weighted to its bone."""
    verts, faces, groups = [], [], []
    box_faces = [(0, 1, 2, 3), (4, 7, 6, 5), (0, 4, 5, 1), (1, 5, 6, 2), (2, 6, 7, 3), (3, 7, 4, 0)]
    for bone in arm_obj.data.bones:
        head = np.array(bone.head_local)
        tail = np.array(bone.tail_local)
        axis = tail - head
        length = np.linalg.norm(axis)
        y = axis / length
        x = np.cross(y, [0.0, 0.0, 1.0]) if abs(y[2]) < 0.9 else np.cross(y, [1.0, 0.0, 0.0])
        x /= np.linalg.norm(x)
        z = np.cross(x, y)
        r = _RADIUS.get(bone.name, _DEFAULT_RADIUS)
        base = len(verts)
        for end in (head, tail):
            for sx, sz in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
                verts.append(tuple(end + r * (sx * x + sz * z)))
        faces.extend(tuple(base + i for i in f) for f in box_faces)
        groups.append((bone.name, list(range(base, base + 8))))
    mesh = bpy.data.meshes.new(arm_obj.name + "_body")
    mesh.from_pydata(verts, [], faces)
    mesh.update()
    obj = bpy.data.objects.new(arm_obj.name + "_body", mesh)
    context.collection.objects.link(obj)
    for bone_name, idx in groups:
        obj.vertex_groups.new(name=bone_name).add(idx, 1.0, "REPLACE")
    _skin(obj, arm_obj)
    return obj


def load_body_model(path):
    """Read an SMPL/SMPL-H/SMPL-X model file (.npz, or an unpickled-to-numpy .pkl) with numpy."""
    if not os.path.isfile(path):
        raise ValueError(f"body model file not found: {path}")
    if path.endswith(".npz"):
        data = dict(np.load(path, allow_pickle=True))
    else:
        import pickle
        with open(path, "rb") as f:
            try:
                data = pickle.load(f, encoding="latin1")
            except Exception as exc:  # e.g. chumpy objects in the original SMPL pickles
                raise ValueError(f"cannot read {os.path.basename(path)} without extra packages "
                                 f"({exc}); use the .npz release of the model") from exc
    needed = ("v_template", "f", "weights", "J_regressor", "kintree_table")
    missing = [k for k in needed if k not in data]
    if missing:
        raise ValueError(f"{os.path.basename(path)} is not an SMPL-family model (missing {missing})")
    out = {}
    for k in needed:
        v = data[k]
        if hasattr(v, "toarray"):
            v = v.toarray()
        out[k] = np.asarray(v)
    return out


def body_from_model(model):
    """Model arrays -> (offsets (22,3) Y-up, vertices (V,3) Y-up, faces, weights (V,22))."""
    v = model["v_template"].astype(np.float64)
    joints = model["J_regressor"].astype(np.float64) @ v
    parents = model["kintree_table"][0].astype(np.int64)
    parents = np.where(parents > 10 ** 6, -1, parents)
    # Stand the body on the ground: SMPL templates have their origin near the pelvis.
    lift = -v[:, 1].min()
    v = v.copy()
    v[:, 1] += lift
    joints[:, 1] += lift
    skel = bonemaps.smpl_skeleton()
    offsets = np.array([joints[j] - joints[p] if p >= 0 else joints[j]
                        for j, p in enumerate(skel.parents)])
    # Fold weights of joints past the first 22 (hands, jaw, eyes) onto their nearest kept ancestor.
    w = model["weights"].astype(np.float64)
    folded = w[:, :22].copy()
    for k in range(22, w.shape[1]):
        a = k
        while a >= 22:
            a = int(parents[a])
        folded[:, max(a, 0)] += w[:, k]
    return offsets, v, model["f"].astype(np.int64), folded


def add_model_body(context, arm_obj, vertices, faces, weights):
    names = bonemaps.smpl_skeleton().names
    mesh = bpy.data.meshes.new(arm_obj.name + "_body")
    mesh.from_pydata([tuple(p) for p in coords.to_blender_points(vertices)], [],
                     [tuple(int(i) for i in f) for f in faces])
    mesh.update()
    obj = bpy.data.objects.new(arm_obj.name + "_body", mesh)
    context.collection.objects.link(obj)
    for j, name in enumerate(names):
        idx = np.nonzero(weights[:, j] > 1e-4)[0]
        vg = obj.vertex_groups.new(name=name)
        for i in idx:
            vg.add([int(i)], float(weights[i, j]), "REPLACE")
    _skin(obj, arm_obj)
    return obj


def create_smpl_rig(context, name="SMPL", model_path="", location=None):
    """The full 'new SMPL rig' target: armature plus a body. Returns the armature object."""
    if model_path:
        model = load_body_model(bpy.path.abspath(model_path))
        offsets, verts, faces, weights = body_from_model(model)
        arm = build_armature(context, name, offsets=offsets, location=location)
        add_model_body(context, arm, verts, faces, weights)
    else:
        arm = build_armature(context, name, location=location)
        add_box_body(context, arm)
    return arm


def rig_offsets(arm_obj):
    """Y-up rest offsets of an SMPL rig made by this module (for the retarget's source skeleton)."""
    names = bonemaps.smpl_skeleton().names
    parents = bonemaps.smpl_skeleton().parents
    heads = np.array([arm_obj.data.bones[n].head_local for n in names])
    off = np.array([heads[j] - heads[p] if p >= 0 else heads[j] for j, p in enumerate(parents)])
    return coords.from_blender_points(off)
