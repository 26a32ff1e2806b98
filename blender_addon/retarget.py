"""Retargeting SMPL-22 motion (already in Blender's Z-up frame) onto any armature.

For each mapped bone the world rotation is
    W_b(t) = G_j(t) @ D_b @ F_b
where G_j is the source joint's global rotation (the SMPL rest pose has identity rotations),
F_b the target bone's rest orientation in world space and D_b the rotation that turns the
target's rest bone directions onto SMPL's rest directions. D_b absorbs rest-pose differences
(A-pose vs T-pose), F_b absorbs each rig's own bone axes and rolls, so the bone heads follow the
source joints. A bone whose next mapped joint lies past joints the rig lacks (no spine2 bone)
takes G_j from where the source's chain to that joint points, so the skipped joints' turns count
too. Unmapped bones keep their rest pose relative to their parent and ride along; those
on the way to a mapped bone are keyed at rest, so a pose left by another action cannot tilt what
hangs below them. Root translation is scaled by leg length and goes on the hips (or on a root bone,
or on the nearest ancestor that can move when the hips are connected); hips split into a legs-only
bone and a spine root are keyed through their common parent.

A rig animated through control bones (a generated Rigify rig: rigify.py) brings a plan: the bones
whose heads are the joints when the controls' heads are elsewhere, bones that follow a control by
a constraint (treated as its children), an unmapped bone that carries the travel instead of the
hips, and switches to key (IK/FK) so that the controls drive the deform bones.
"""

import numpy as np

from . import bonemaps, coords

SOURCE_FPS = 20.0


class RetargetError(Exception):
    pass


# --- small numpy quaternion kit (w, x, y, z) -------------------------------------------------

def q_mul(a, b):
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz,
                     aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw], axis=-1)


def q_rotate(q, v):
    qv = q[..., 1:]
    t = 2.0 * np.cross(qv, v)
    return v + q[..., :1] * t + np.cross(qv, t)


def q_to_matrix(q):
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def matrix_to_q(m):
    """(..., 3, 3) rotation matrices -> unit quaternions, numerically safe for all angles."""
    m = np.asarray(m, dtype=np.float64)
    shape = m.shape[:-2]
    m = m.reshape(-1, 3, 3)
    out = np.empty((len(m), 4))
    tr = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    cases = np.stack([tr, m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], -1).argmax(-1)
    for c in range(4):
        i = cases == c
        if not i.any():
            continue
        r = m[i]
        if c == 0:
            s = np.sqrt(1.0 + tr[i]) * 2
            out[i] = np.stack([0.25 * s, (r[:, 2, 1] - r[:, 1, 2]) / s,
                               (r[:, 0, 2] - r[:, 2, 0]) / s, (r[:, 1, 0] - r[:, 0, 1]) / s], -1)
        elif c == 1:
            s = np.sqrt(1.0 + r[:, 0, 0] - r[:, 1, 1] - r[:, 2, 2]) * 2
            out[i] = np.stack([(r[:, 2, 1] - r[:, 1, 2]) / s, 0.25 * s,
                               (r[:, 0, 1] + r[:, 1, 0]) / s, (r[:, 0, 2] + r[:, 2, 0]) / s], -1)
        elif c == 2:
            s = np.sqrt(1.0 + r[:, 1, 1] - r[:, 0, 0] - r[:, 2, 2]) * 2
            out[i] = np.stack([(r[:, 0, 2] - r[:, 2, 0]) / s, (r[:, 0, 1] + r[:, 1, 0]) / s,
                               0.25 * s, (r[:, 1, 2] + r[:, 2, 1]) / s], -1)
        else:
            s = np.sqrt(1.0 + r[:, 2, 2] - r[:, 0, 0] - r[:, 1, 1]) * 2
            out[i] = np.stack([(r[:, 1, 0] - r[:, 0, 1]) / s, (r[:, 0, 2] + r[:, 2, 0]) / s,
                               (r[:, 1, 2] + r[:, 2, 1]) / s, 0.25 * s], -1)
    out /= np.linalg.norm(out, axis=-1, keepdims=True)
    return out.reshape(shape + (4,))


def q_continuous(q):
    """Flip signs along axis 0 so neighbouring keys never take the long way round."""
    q = np.array(q, dtype=np.float64)
    for t in range(1, len(q)):
        if np.dot(q[t], q[t - 1]) < 0:
            q[t] = -q[t]
    return q


def q_slerp(a, b, t):
    t = np.asarray(t, dtype=np.float64)[..., None]
    dot = np.sum(a * b, axis=-1, keepdims=True)
    b = np.where(dot < 0, -b, b)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin = np.sin(theta)
    small = sin < 1e-6
    wa = np.where(small, 1.0 - t, np.sin((1.0 - t) * theta) / np.where(small, 1.0, sin))
    wb = np.where(small, t, np.sin(t * theta) / np.where(small, 1.0, sin))
    out = wa * a + wb * b
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


def rotation_between(src, dst):
    """Smallest rotation matrix turning unit vector src onto unit vector dst."""
    src = src / np.linalg.norm(src)
    dst = dst / np.linalg.norm(dst)
    axis = np.cross(src, dst)
    s = np.linalg.norm(axis)
    c = float(np.dot(src, dst))
    if s < 1e-9:
        if c > 0:
            return np.eye(3)
        perp = np.cross(src, [1.0, 0.0, 0.0])
        if np.linalg.norm(perp) < 1e-6:
            perp = np.cross(src, [0.0, 1.0, 0.0])
        perp /= np.linalg.norm(perp)
        return 2.0 * np.outer(perp, perp) - np.eye(3)
    k = axis / s
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + s * K + (1 - c) * K @ K


def kabsch(src, dst):
    """Rotation R minimising sum |R src_i - dst_i|^2 for (N, 3) direction sets."""
    H = np.asarray(src).T @ np.asarray(dst)
    U, _, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(Vt.T @ U.T)) or 1.0
    return Vt.T @ np.diag([1.0, 1.0, d]) @ U.T


# --- source side ----------------------------------------------------------------------------

def resample(rotations, root, fps_out, fps_in=SOURCE_FPS):
    """Local rotations (T, J, 4) and root (T, 3) sampled at fps_in -> at fps_out (slerp/lerp)."""
    T = len(rotations)
    if T == 0:
        raise RetargetError("the motion has no frames")
    if abs(fps_out - fps_in) < 1e-6 or T == 1:
        return np.asarray(rotations, dtype=np.float64), np.asarray(root, dtype=np.float64)
    n = int(np.floor((T - 1) * fps_out / fps_in + 1e-6)) + 1
    u = np.arange(n) * fps_in / fps_out
    i0 = np.clip(np.floor(u).astype(int), 0, T - 1)
    i1 = np.clip(i0 + 1, 0, T - 1)
    a = u - i0
    rotations = np.asarray(rotations, dtype=np.float64)
    root = np.asarray(root, dtype=np.float64)
    rot = q_slerp(rotations[i0], rotations[i1], np.broadcast_to(a[:, None], (n, rotations.shape[1])))
    r = root[i0] * (1 - a)[:, None] + root[i1] * a[:, None]
    return rot, r


def forward(parents, offsets, rotations, root):
    """Global rotations (T, J, 4) and world positions (T, J, 3) from local rotations.
    A joint's rotation turns its children's offsets (the backend's convention)."""
    T, J = rotations.shape[:2]
    glob = np.zeros((T, J, 4))
    pos = np.zeros((T, J, 3))
    for j, p in enumerate(parents):
        if p < 0:
            glob[:, j] = rotations[:, j]
            pos[:, j] = root
        else:
            glob[:, j] = q_mul(glob[:, p], rotations[:, j])
            pos[:, j] = pos[:, p] + q_rotate(glob[:, p], np.broadcast_to(offsets[j], (T, 3)))
    return glob, pos


def source_from_motion(motion, fps_out):
    """Backend motion dict (Y-up, as received) -> Blender-frame source arrays at fps_out.
    Returns (global_rotations, positions, offsets) with offsets in Blender's frame."""
    if motion.get("rotations") is None:
        raise RetargetError("the backend sent no joint rotations")
    skel = bonemaps.smpl_skeleton()
    bl = coords.motion_to_blender({
        "rotations": np.asarray(motion["rotations"], dtype=np.float64),
        "root_translation": np.asarray(motion["root_translation"], dtype=np.float64),
        "offsets": np.asarray(skel.offsets if motion.get("offsets") is None else motion["offsets"],
                              dtype=np.float64),
    })
    fps_in = float(motion.get("fps") or SOURCE_FPS)
    rot, root = resample(bl["rotations"], bl["root_translation"], fps_out, fps_in)
    glob, pos = forward(skel.parents, bl["offsets"], rot, root)
    return glob, pos, bl["offsets"]


# --- target side ----------------------------------------------------------------------------

def _np_matrix(m):
    return np.array([list(row) for row in m], dtype=np.float64)


def leg_length(points, names_to_pos):
    total, sides = 0.0, 0
    for side in ("left", "right"):
        keys = (f"{side}_hip", f"{side}_knee", f"{side}_ankle")
        if all(k in names_to_pos for k in keys):
            a, b, c = (points(names_to_pos[k]) for k in keys)
            total += np.linalg.norm(b - a) + np.linalg.norm(c - b)
            sides += 1
    return total / sides if sides else None


def _frame(up, lateral):
    """Orthonormal columns (lateral', up, forward) from an up direction and a left-right line."""
    y = up / np.linalg.norm(up)
    x = lateral - np.dot(lateral, y) * y
    if np.linalg.norm(x) < 1e-6:
        return None
    x /= np.linalg.norm(x)
    return np.stack([x, y, np.cross(x, y)], axis=-1)


def _branch_frame_correction(dirs, src_rest, names, bone_map, head_world, j):
    """Rest correction for a branching joint (the pelvis: spine and both hips; spine3: neck and
    both collars) from its main child's direction and the left-right line between the paired
    children. Matching all children's directions at once (Kabsch) would tilt the torso on rigs
    whose hip or collar joints sit elsewhere than SMPL's (Rigify's hips are level with the
    pelvis, SMPL's are below it); the spine direction and the left-right axis are what a viewer
    reads as the body's orientation. None when the joint has no such pair."""
    left = [n for n in dirs if n.startswith("left_") and "right_" + n[5:] in dirs]
    main = [n for n in dirs if not n.startswith(("left_", "right_"))]
    if len(left) != 1 or len(main) != 1:
        return None
    l, r = left[0], "right_" + left[0][5:]
    src_lat = src_rest[names.index(l)] - src_rest[names.index(r)]
    tgt_lat = head_world(bone_map[l]) - head_world(bone_map[r])
    fs = _frame(dirs[main[0]][0], src_lat)
    ft = _frame(dirs[main[0]][1], tgt_lat)
    if fs is None or ft is None:
        return None
    return fs @ ft.T


def _frames(up, lateral):
    """_frame for (T, 3) arrays; rows whose lateral line runs along up get None's stand-in, NaN."""
    y = up / np.linalg.norm(up, axis=-1, keepdims=True)
    x = lateral - np.sum(lateral * y, -1, keepdims=True) * y
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    x = np.where(n < 1e-6, np.nan, x / np.where(n < 1e-6, 1.0, n))
    return np.stack([x, y, np.cross(x, y)], axis=-1)


def _swing(src, dst):
    """(T, 4) smallest rotations turning unit vectors src onto unit vectors dst, both (T, 3)."""
    q = np.concatenate([1.0 + np.sum(src * dst, -1, keepdims=True), np.cross(src, dst)], -1)
    n = np.linalg.norm(q, axis=-1)
    for t in np.flatnonzero(n < 1e-6):  # opposite directions: any half turn across them
        q[t] = matrix_to_q(rotation_between(src[t], dst[t]))
        n[t] = 1.0
    return q / n[:, None]


def _chain_rotation(skel, glob, pos, src_rest, j, dirs):
    """Global rotations (T, 4) for mapped joint j when unmapped joints lie between it and some of
    its nearest mapped descendants (dirs: descendant -> (source rest direction, _)): the rotation
    that turns the source's rest directions from j to those descendants onto their directions in
    each frame, fitted as the rest correction D was (a main child and a left-right pair, one
    child, or all at once). For one child the twist about the chain, which its direction leaves
    open, is the chain's joints' rotations averaged by the lengths they turn. A branching joint
    whose pair hangs from it directly (the pelvis's hips, spine3's collars) keeps its own
    rotation: turning it to aim the main chain past a missing spine1 or neck would move the pair
    (the legs, and the feet with them), which the rest of the body reads its orientation from.
    A pair reached past missing joints (no collar bones) is followed as nearly as the rigid bone
    allows with the main chain aimed."""
    names = skel.names
    T = len(glob)
    cur = {c: pos[:, names.index(c)] - pos[:, j] for c in dirs}
    cur = {c: v / np.linalg.norm(v, axis=-1, keepdims=True) for c, v in cur.items()}
    left = [n for n in dirs if n.startswith("left_") and "right_" + n[5:] in dirs]
    main = [n for n in dirs if not n.startswith(("left_", "right_"))]
    if len(left) == 1 and len(main) == 1:
        l, r = names.index(left[0]), names.index("right_" + left[0][5:])
        if skel.parents[l] == j and skel.parents[r] == j:
            return glob[:, j]
        fs = _frame(dirs[main[0]][0], src_rest[l] - src_rest[r])
        ft = _frames(cur[main[0]], pos[:, l] - pos[:, r])
        if fs is not None:
            m = ft @ fs.T
            ok = np.isfinite(m).all(axis=(1, 2))
            out = np.array(glob[:, j])
            out[ok] = matrix_to_q(m[ok])
            return out
    if len(dirs) > 1:
        src = np.array([s for s, _ in dirs.values()])
        return matrix_to_q(np.stack([kabsch(src, np.stack([cur[c][t] for c in dirs]))
                                     for t in range(T)]))
    (c, (src, _)), = dirs.items()
    chain = [names.index(c)]
    while chain[-1] != j:
        chain.append(skel.parents[chain[-1]])
    chain = chain[::-1]  # j, skipped joints..., c; each turns the offset of the next
    q, total = glob[:, j], 0.0
    for a, b in zip(chain[:-1], chain[1:]):
        w = float(np.linalg.norm(src_rest[b] - src_rest[a]))
        total += w
        if a != j and total > 0:
            q = q_slerp(q, glob[:, a], np.full(T, w / total))
    return q_mul(_swing(q_rotate(q, np.broadcast_to(src, (T, 3))), cur[c]), q)


def _effective_parents(arm_obj, overrides):
    """{bone: parent name or None}, with a plan's overrides (bones that follow another by a
    constraint rather than by parenting)."""
    parents = {b.name: (b.parent.name if b.parent else None) for b in arm_obj.data.bones}
    for bone, parent in (overrides or {}).items():
        if bone in parents and parent in parents:
            parents[bone] = parent
    return parents


def _ordered_names(parents):
    """Bone names, every bone after its (effective) parent."""
    depth = {}
    for name in parents:
        chain, b = [], name
        while b is not None and b not in depth:
            if b in chain:
                raise RetargetError(f"bone {b!r} ends up its own parent")
            chain.append(b)
            b = parents[b]
        d = -1 if b is None else depth[b]
        for c in reversed(chain):
            d += 1
            depth[c] = d
    return sorted(parents, key=lambda n: depth[n])


def _chain(parent_of, bone):
    """bone and its ancestors, nearest first."""
    out = []
    while bone is not None and bone not in out:
        out.append(bone)
        bone = parent_of[bone]
    return out


def whole_body_map(arm_obj, bone_map, parent_of=None):
    """bone_map with the pelvis on the bone that moves the whole body (see
    _pelvis_common_parent); the caption path reads the same joints as the keying path."""
    if parent_of is None:
        parent_of = _effective_parents(arm_obj, None)
    common = _pelvis_common_parent(arm_obj, parent_of, bone_map) if "pelvis" in bone_map else None
    return bone_map if common is None else {**bone_map, "pelvis": common}


def _pelvis_common_parent(arm_obj, parent_of, bone_map):
    """The bone to key for the pelvis when the mapped one does not parent both legs and the
    spine: hips split into a legs-only bone and a spine root beside it (Character Creator's
    CC_Base_Pelvis and CC_Base_Waist under CC_Base_Hip). Their common parent moves the whole
    body; the legs-only bone keeps its rest under it. Only the mapped bone's own parent, unmapped
    and at the hips (not a root on the floor), is taken; otherwise None (the map stands)."""
    pelvis = bone_map["pelvis"]
    common = parent_of[pelvis]
    if common is None or common in bone_map.values():
        return None
    spine = next((bone_map[j] for j in ("spine1", "spine2", "spine3", "neck", "head") if j in bone_map),
                 None)
    below = [b for b in (bone_map.get("left_hip"), bone_map.get("right_hip"), spine) if b is not None]
    if all(pelvis in _chain(parent_of, b) for b in below):
        return None  # the mapped bone already carries them all
    if not all(common in _chain(parent_of, b) for b in below):
        return None
    bones = arm_obj.data.bones
    head = lambda b: np.array(bones[b].head_local, dtype=np.float64)
    thigh, knee = bone_map.get("left_hip"), bone_map.get("left_knee")
    reach = (np.linalg.norm(head(knee) - head(thigh)) if thigh and knee
             else np.linalg.norm(head(pelvis)))
    if np.linalg.norm(head(common) - head(pelvis)) > 0.5 * reach:
        return None
    return common


def _base(pose, rest, parent_of, bones, name, T):
    """(base, rotation frame, location frame) of a bone for the parents' poses: the bone's
    armature-space matrix with an identity basis, the frame its rotation channel turns in (the
    rest's own when it does not inherit rotation) and the frame its location channel moves in
    (the parent's pose orientation when the location is not local), as Blender evaluates them."""
    parent = parent_of[name]
    if parent is not None:
        base = pose[parent] @ (np.linalg.inv(rest[parent]) @ rest[name])
    else:
        base = np.broadcast_to(rest[name], (T, 4, 4))
    bone = bones[name]
    rot_frame = base[:, :3, :3]
    if parent is not None and not bone.use_inherit_rotation:
        rot_frame = np.broadcast_to(rest[name][:3, :3], (T, 3, 3))
    loc_frame = base[:, :3, :3]
    if not bone.use_local_location:
        loc_frame = (pose[parent][:, :3, :3] if parent is not None
                     else np.broadcast_to(np.eye(3), (T, 3, 3)))
    return base, rot_frame, loc_frame


def retarget(arm_obj, glob, pos, offsets, bone_map, root_motion=True, translation_bone="HIPS",
             scale=None, plan=None):
    """Compute pose-bone channels for arm_obj.

    glob, pos: source global rotations / world positions (T, 22, ...) in Blender's frame;
    offsets: source rest offsets (22, 3). bone_map: {smpl_joint: bone_name}.
    plan: extra knowledge of a rig with control bones (rigify.Plan); by default rigify.plan()
    supplies one for a generated Rigify rig and None for every other rig.
    Returns dict with 'channels' {bone: {'rotation': (T, 4) or None, 'location': (T, 3) or None,
    optional 'properties': {custom property: value}}}, 'held' (unmapped bones keyed at rest, see
    below), 'scale', 'expected' (T, 22, 3) world positions the joints should reach.

    Any hierarchy: unmapped bones above or between mapped ones (a root, hip helpers, twist and
    share bones) keep their rest relative to their parents, whatever its orientation, and are
    keyed so (a pose left by another action would tilt everything below them). The travel goes
    on the pelvis bone, or on its nearest ancestor that can move when it is connected, and the
    pelvis joint is placed on the scaled root path whatever lies above it.
    """
    skel = bonemaps.smpl_skeleton()
    names = skel.names
    bones = arm_obj.data.bones
    for joint, bone in bone_map.items():
        if bone not in bones:
            raise RetargetError(f"bone {bone!r} (for {joint}) is not in {arm_obj.name!r}")
    if "pelvis" not in bone_map:
        raise RetargetError("the bone map has no bone for the pelvis")
    if plan is None:
        from . import rigify
        plan = rigify.plan(arm_obj, bone_map, translation_bone)
    parent_of = _effective_parents(arm_obj, plan.parents if plan is not None else None)
    # A joint is the head of its bone, or of the plan's position bone (a control's head may be
    # elsewhere: Rigify's hips FK control pivots at the top of the hips).
    if plan is None:
        # A legs-only pelvis: as if the map had named the common parent; the legs-only bone
        # keeps its rest under it.
        bone_map = whole_body_map(arm_obj, bone_map, parent_of)
    points = dict(bone_map)
    if plan is not None:
        points.update({j: b for j, b in plan.points.items() if j in bone_map and b in bones})
    T = len(glob)

    A = _np_matrix(arm_obj.matrix_world)
    obj_scale = np.cbrt(abs(np.linalg.det(A[:3, :3])))
    Ar = A[:3, :3] / obj_scale
    A_inv = np.linalg.inv(A)
    rest = {b.name: _np_matrix(b.matrix_local) for b in bones}

    def head_world(bone_name):
        return A[:3, :3] @ rest[bone_name][:3, 3] + A[:3, 3]

    src_rest = skel.rest_positions(offsets)
    if scale is None:
        tgt_leg = leg_length(head_world, points)
        src_leg = leg_length(lambda j: src_rest[names.index(j)], {n: n for n in names})
        if tgt_leg:
            scale = tgt_leg / src_leg
        else:
            scale = (head_world(points["pelvis"])[2] - A[2, 3]) / src_rest[0][2]
        if not scale or scale <= 0:
            raise RetargetError(f"could not measure the size of {arm_obj.name!r}")

    # Rest-pose difference per mapped joint: target rest directions -> SMPL rest directions.
    joint_of = {b: j for j, b in bone_map.items()}
    D = {}
    fits = {}  # mapped joint -> its nearest mapped descendants, when a joint between is unmapped
    for j, name in enumerate(names):
        if name not in bone_map:
            continue
        dirs = {}  # nearest mapped descendant -> (source rest direction, target rest direction)
        stack = list(skel.children(j))
        while stack:
            c = stack.pop()
            if names[c] in bone_map:
                src = src_rest[c] - src_rest[j]
                tgt = head_world(points[names[c]]) - head_world(points[name])
                if np.linalg.norm(src) > 1e-6 and np.linalg.norm(tgt) > 1e-6:
                    dirs[names[c]] = (src / np.linalg.norm(src), tgt / np.linalg.norm(tgt))
            else:
                stack.extend(skel.children(c))
        if any(skel.parents[names.index(c)] != j for c in dirs):
            fits[j] = dirs
        frame = _branch_frame_correction(dirs, src_rest, names, points, head_world, j)
        if frame is not None:
            D[name] = frame
        elif len(dirs) == 1:
            (src, tgt), = dirs.values()
            D[name] = rotation_between(tgt, src)
        elif len(dirs) > 1:
            D[name] = kabsch(np.array([t for _, t in dirs.values()]),
                             np.array([s_ for s_, _ in dirs.values()]))
        else:
            # A leaf (head, wrist, foot): inherit the nearest mapped ancestor's correction.
            p = skel.parents[j]
            while p >= 0 and names[p] not in D:
                p = skel.parents[p]
            D[name] = D[names[p]] if p >= 0 else np.eye(3)
    # A mapped bone whose next mapped joint lies past joints the rig lacks stands for the whole
    # source chain between them: its rotation comes from where that chain points, not from its
    # own joint's rotation alone (which leaves out the skipped joints' turns).
    if fits:
        glob = np.array(glob, dtype=np.float64)
        for j, dirs in fits.items():
            glob[:, j] = _chain_rotation(skel, glob, pos, src_rest, j, dirs)

    # World targets for the root: scaled, starting over the target's rest hips.
    hips = bone_map["pelvis"]
    hips_rest = head_world(points["pelvis"])
    p = pos[:, 0] * scale
    start = p[0].copy()
    world_root = np.empty_like(p)
    world_root[:, 2] = p[:, 2] + A[2, 3]
    if root_motion:
        world_root[:, :2] = p[:, :2] - start[:2] + hips_rest[:2]
    else:
        world_root[:, :2] = hips_rest[:2]
    expected = pos * scale - pos[:, :1] * scale + world_root[:, None, :]

    # The bone whose location carries the travel: a plan's carrier, else the hips, or the
    # nearest ancestor that can move when the hips are connected to their parent (a BVH
    # import connects a bone without position channels to its parent's tail).
    carrier = plan.carrier if plan is not None and plan.carrier else None
    if carrier not in parent_of or carrier in joint_of:
        carrier = None
    mover = carrier or hips
    while bones[mover].use_connect and parent_of[mover] is not None:
        mover = parent_of[mover]
    root_bone = None
    if plan is not None and carrier is not None:
        root_bone = plan.root if translation_bone == "ROOT" and plan.root in parent_of else None
    elif translation_bone == "ROOT":
        top = _chain(parent_of, hips)[-1]
        if top != hips and top not in joint_of:
            root_bone = top

    # Unmapped bones on the way from the top of the rig to a mapped bone (or a joint's point):
    # keyed at rest, since the mapped bones' keys assume them there. A rig's own helpers
    # (constrained bones) and a plan's rig are left to themselves.
    held = set()
    if plan is None:
        on_path = set()
        for b in set(bone_map.values()) | set(points.values()):
            on_path.update(_chain(parent_of, parent_of[b]) if parent_of[b] is not None else ())
        held = {b for b in on_path
                if b not in joint_of and not arm_obj.pose.bones[b].constraints}

    pose = {}
    channels = {}
    for name in _ordered_names(parent_of):
        base, rot_frame, _ = _base(pose, rest, parent_of, bones, name, T)
        if name not in joint_of:
            pose[name] = np.array(base)
            if name in held:
                channels[name] = {"rotation": np.tile([1.0, 0.0, 0.0, 0.0], (T, 1)),
                                  "location": np.zeros((T, 3)), "held": True}
            continue
        j = names.index(joint_of[name])
        F = Ar @ rest[name][:3, :3]
        world_rot = q_to_matrix(glob[:, j]) @ (D[joint_of[name]] @ F)
        desired = np.array(np.broadcast_to(np.eye(4), (T, 4, 4)))
        desired[:, :3, :3] = Ar.T @ world_rot
        desired[:, :3, 3] = base[:, :3, 3]
        pose[name] = desired
        basis_rot = np.swapaxes(rot_frame, -1, -2) @ desired[:, :3, :3]
        channels[name] = {"rotation": q_continuous(matrix_to_q(basis_rot)), "location": None}

    # Where the pelvis joint landed with the travel bones at rest; their subtrees move by the
    # difference, which changes no other bone's channels. With translate 'ROOT' the horizontal
    # part goes on the rig's top bone and the height stays on the hips (or their mover).
    pelvis_local = np.linalg.inv(rest[hips]) @ np.append(rest[points["pelvis"]][:3, 3], 1.0)
    landed = (pose[hips] @ pelvis_local)[:, :3] @ A[:3, :3].T + A[:3, 3]
    delta = world_root - landed
    moves = {mover: delta}
    if root_bone is not None and root_bone != mover:
        moves = {root_bone: delta * [1.0, 1.0, 0.0], mover: delta * [0.0, 0.0, 1.0]}
    for m, d in moves.items():
        d_arm = d @ A_inv[:3, :3].T
        for name in parent_of:
            if m in _chain(parent_of, name):
                pose[name] = np.array(pose[name])
                pose[name][:, :3, 3] += d_arm
    for m in moves:
        base, _, loc_frame = _base(pose, rest, parent_of, bones, m, T)
        loc = np.einsum("tji,tj->ti", loc_frame, pose[m][:, :3, 3] - base[:, :3, 3])
        ch = channels.setdefault(m, {"rotation": None, "location": None})
        ch["location"] = loc
        ch.pop("held", None)  # it carries the travel: not just held
    if plan is not None:
        for name in plan.rest_bones:
            if name in bones and name not in channels:
                channels[name] = {"rotation": np.tile([1.0, 0.0, 0.0, 0.0], (T, 1)),
                                  "location": np.zeros((T, 3))}
        for name, props in plan.properties.items():
            if name in bones and props:
                channels.setdefault(name, {"rotation": None, "location": None})["properties"] = dict(props)
    held = sorted(b for b in held if channels.get(b, {}).get("held"))
    return {"channels": channels, "held": held, "scale": float(scale), "expected": expected}


def write_channels(writer, arm_obj, channels, frames):
    """Key the computed channels in each pose bone's own rotation mode (the rig is not changed)."""
    import bpy
    from mathutils import Quaternion

    for name, ch in channels.items():
        pb = arm_obj.pose.bones[name]
        path = f'pose.bones["{bpy.utils.escape_identifier(name)}"]'
        if ch["location"] is not None:
            writer.write_vector(path + ".location", frames, ch["location"], group=name)
        for prop, value in ch.get("properties", {}).items():
            # A switch (Rigify's IK_FK ...): one key, so it holds for the whole action.
            writer.write(f'{path}["{bpy.utils.escape_identifier(prop)}"]', 0, frames[:1], [value],
                         group=name)
        rot = ch["rotation"]
        if rot is None:
            continue
        mode = pb.rotation_mode
        if mode == "QUATERNION":
            writer.write_vector(path + ".rotation_quaternion", frames, rot, group=name)
        elif mode == "AXIS_ANGLE":
            vals = []
            for q in rot:
                axis, angle = Quaternion(q).to_axis_angle()
                vals.append((angle, axis[0], axis[1], axis[2]))
            writer.write_vector(path + ".rotation_axis_angle", frames, np.array(vals), group=name)
        else:
            vals = []
            prev = None
            for q in rot:
                e = Quaternion(q).to_euler(mode, prev) if prev is not None else Quaternion(q).to_euler(mode)
                vals.append(tuple(e))
                prev = e
            writer.write_vector(path + ".rotation_euler", frames, np.array(vals), group=name)
