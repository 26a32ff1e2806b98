"""Animator tools on the selected armature: fill between keys, continue, follow a path, regenerate
body parts. The main-thread halves (bpy): read the user's action as SMPL-22 joints in the
backend's space, say what is known (client.constraints_to_wire's fields), and once the motion is
back, key it in a new Action at the user's frames and put its root where the constraints are.

The backend's space for these tools is the scene's, scaled to SMPL's size: a world point p
(Blender, Z up) is coords.from_blender_points(p - (0, 0, object z)) * s, with s the ratio of
SMPL's leg to the rig's (the same measure retargeting uses), so the motion that comes back lines
up with the user's animation once keyed. The user's own action is only read, never changed.
"""

import math

import numpy as np

from . import bonemaps, coords, describe, jobs, keying, retarget

MODEL_FPS = 20.0
TOOLS = {
    "FILL": "Fill between keys",
    "CONTINUE": "Continue",
    "PATH": "Follow path",
    "REGENERATE": "Regenerate body parts",
}
CONTEXT_SECONDS = 2.0   # how much of the action's end a continuation shows the backend
BODY_PARTS = ("lower", "upper", "legs", "left_leg", "right_leg", "arms", "left_arm", "right_arm", "spine", "head")


class Space:
    """World (Blender) <-> backend space for one armature."""

    def __init__(self, obj, bone_map):
        A = np.array(obj.matrix_world)
        rest = {b.name: np.array(b.matrix_local) for b in obj.data.bones}

        def head_world(bone):
            return A[:3, :3] @ rest[bone][:3, 3] + A[:3, 3]

        skel = bonemaps.smpl_skeleton()
        src_rest = skel.rest_positions(skel.offsets)
        tgt = retarget.leg_length(head_world, bone_map)
        src = retarget.leg_length(lambda j: src_rest[skel.names.index(j)], {n: n for n in skel.names})
        if not tgt or not src:
            raise jobs.JobError(f"could not measure the legs of '{obj.name}' (are the hips, knees and ankles mapped?)")
        self.s = src / tgt
        self.origin = np.array([0.0, 0.0, A[2, 3]])

    def to_backend(self, points):
        return coords.from_blender_points(np.asarray(points, dtype=np.float64) - self.origin) * self.s

    def to_world(self, points):
        return coords.to_blender_points(np.asarray(points, dtype=np.float64)) / self.s + self.origin


def resolve(obj, bone_map_mode):
    try:
        label, bone_map, _, _ = bonemaps.resolve(obj, bone_map_mode)
    except bonemaps.BoneMapError as exc:
        raise jobs.JobError(str(exc)) from None
    return label, retarget.whole_body_map(obj, bone_map)


def sample_world(context, obj, bone_map, frames):
    """World positions (T, 22, 3) of the mapped joints at scene frames (floats; the scene's frame
    is restored); joints the rig lacks filled in from their neighbours as describe does."""
    names = bonemaps.smpl_skeleton().names
    pos, found = describe.mapped_heads(context.scene, obj, bone_map, frames)
    describe.fill_missing(pos, found)
    if not all(found):
        raise jobs.JobError("could not place joints " + ", ".join(n for n, ok in zip(names, found) if not ok))
    return pos


def _action(obj):
    anim = obj.animation_data
    if anim is None or anim.action is None or not keying.action_fcurves(anim.action, obj):
        raise jobs.JobError(f"'{obj.name}' has no action to work from: key some poses first")
    return anim.action


def keyed_frames(obj, action, bone_map, lo, hi):
    """Frames (sorted) where the action keys any mapped bone, within [lo, hi]."""
    bones = set(bone_map.values())
    frames = set()
    for fc in keying.action_fcurves(action, obj):
        path = fc.data_path
        if not path.startswith('pose.bones["'):
            continue
        if path.split('"')[1] not in bones:
            continue
        co = np.zeros(2 * len(fc.keyframe_points), dtype=np.float64)
        fc.keyframe_points.foreach_get("co", co)
        frames.update(float(f) for f in co[0::2] if lo - 1e-6 <= f <= hi + 1e-6)
    return sorted(frames)


def curve_points(curve_obj, samples_per_metre=20.0):
    """World points along a curve object (its evaluated shape), as a polyline."""
    import bpy

    depsgraph = bpy.context.evaluated_depsgraph_get()
    evaluated = curve_obj.evaluated_get(depsgraph)
    mesh = evaluated.to_mesh()
    try:
        mw = np.array(curve_obj.matrix_world)
        co = np.zeros(3 * len(mesh.vertices))
        mesh.vertices.foreach_get("co", co)
        pts = co.reshape(-1, 3) @ mw[:3, :3].T + mw[:3, 3]
        edges = np.zeros(2 * len(mesh.edges), dtype=np.int64)
        mesh.edges.foreach_get("vertices", edges)
    finally:
        evaluated.to_mesh_clear()
    if len(pts) < 2:
        raise jobs.JobError(f"'{curve_obj.name}' has no length to follow")
    # The evaluated wire's edges chain its points in order (a cyclic curve closes the loop).
    order = _chain(edges.reshape(-1, 2), len(pts))
    return pts[order]


def _chain(edges, n):
    if len(edges) == 0:
        return list(range(n))
    nxt = {}
    for a, b in edges:
        nxt.setdefault(int(a), []).append(int(b))
        nxt.setdefault(int(b), []).append(int(a))
    ends = [v for v, k in nxt.items() if len(k) == 1]
    start = min(ends) if ends else int(edges[0][0])
    order, prev, cur = [start], None, start
    while True:
        options = [v for v in nxt[cur] if v != prev]
        if not options or options[0] == start:
            if options and options[0] == start:
                order.append(start)  # closed: back to the start
            break
        prev, cur = cur, options[0]
        order.append(cur)
    return order


class Plan:
    """What a tool sends and where its answer goes: constraints (client.constraints_to_wire's
    fields), seconds (None when the constraints set it), the scene frame of the motion's first
    frame, the armature and its space."""

    def __init__(self, tool, obj, space, constraints, seconds, start_frame, note=""):
        self.tool, self.obj_name, self.space = tool, obj.name, space
        self.constraints, self.seconds, self.start_frame = constraints, seconds, float(start_frame)
        self.note = note


def plan_tool(context, tool, obj, bone_map_mode="AUTO", seconds=4.0, keep=("lower",), curve=None):
    """Read what the tool needs from the scene and say what to ask. Raises JobError with the
    reason before anything is sent or changed."""
    if tool not in TOOLS:
        raise jobs.JobError(f"unknown tool {tool!r}")
    if obj is None or obj.type != "ARMATURE":
        raise jobs.JobError("Select the armature to work on"
                            + (f" ('{obj.name}' is a {obj.type.lower()})" if obj is not None else ""))
    _, bone_map = resolve(obj, bone_map_mode)
    space = Space(obj, bone_map)
    scene = context.scene
    fps = jobs.scene_fps(scene)
    per_frame = fps / MODEL_FPS   # scene frames per model frame
    if tool == "PATH":
        if curve is None or curve.type != "CURVE":
            raise jobs.JobError("Select a curve object for the path too (the armature active, the curve selected)")
        if not seconds or seconds <= 0:
            raise jobs.JobError("Set a Duration for walking the path")
        pts = space.to_backend(curve_points(curve))[:, [0, 2]]
        length = float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())
        if length < 1e-3:
            raise jobs.JobError(f"'{curve.name}' has no length to follow")
        path = {"waypoints": pts.tolist(), "speed": length / float(seconds)}
        return Plan(tool, obj, space, {"path": path}, None, scene.frame_current)
    action = _action(obj)
    start, end = keying.action_frame_range(action)
    if tool == "FILL":
        lo, hi = max(start, scene.frame_start), min(end, scene.frame_end)
        frames = keyed_frames(obj, action, bone_map, lo, hi)
        if len(frames) < 2:
            raise jobs.JobError(f"Fill between keys needs at least two keyed poses of '{obj.name}' in the "
                                f"frame range {scene.frame_start}-{scene.frame_end} (found {len(frames)})")
        model = [int(round((f - frames[0]) / per_frame)) for f in frames]
        if len(set(model)) != len(model):
            raise jobs.JobError("two keys fall on the same 1/20 s: keys closer than the model can move")
        poses = space.to_backend(sample_world(context, obj, bone_map, frames))
        off = max(abs((f - frames[0]) / per_frame - m) for f, m in zip(frames, model))
        note = (f"keys are on the model's 20 fps grid to within {off * 1000 / MODEL_FPS:.0f} ms"
                if off > 1e-6 else "")
        return Plan(tool, obj, space, {"keys": (model, poses)}, (model[-1] + 1) / MODEL_FPS, frames[0], note)
    if tool == "CONTINUE":
        n = int(min(CONTEXT_SECONDS * MODEL_FPS, math.floor((end - start) / per_frame))) + 1
        if n < 2:
            raise jobs.JobError(f"'{obj.name}''s action is a single frame: nothing to continue")
        frames = [end - (n - 1 - i) * per_frame for i in range(n)]
        before = space.to_backend(sample_world(context, obj, bone_map, frames))
        return Plan(tool, obj, space, {"start": before}, float(seconds), end + per_frame)
    # REGENERATE: the whole action at 20 fps; the kept parts stay, the rest follows the prompt.
    n = int(math.floor((end - start) / per_frame + 1e-6)) + 1
    if n < 2:
        raise jobs.JobError(f"'{obj.name}''s action is a single frame: nothing to regenerate")
    parts = [p for p in keep if p in BODY_PARTS]
    if not parts:
        raise jobs.JobError("Choose the body parts to keep")
    frames = [start + i * per_frame for i in range(n)]
    source = space.to_backend(sample_world(context, obj, bone_map, frames))
    return Plan(tool, obj, space, {"edit": source, "keep": parts}, None, start)


def place_root(context, obj, action, plan, motion, bone_map):
    """Move the new action's travel so its first frame's pelvis stands where the backend put it
    (retargeting starts every motion over the rig's rest hips). One constant offset on the bone
    that carries the travel, found as the bone with location keys in the new action."""
    want = plan.space.to_world(np.asarray(motion["joints"])[0, 0])
    carrier = None
    for fc in keying.action_fcurves(action, obj):
        if fc.data_path.endswith(".location") and fc.data_path.startswith('pose.bones["'):
            carrier = fc.data_path.split('"')[1]
            break
    if carrier is None:
        return
    scene = context.scene
    frame_was = scene.frame_current
    pelvis = obj.pose.bones[bone_map["pelvis"]]
    pb = obj.pose.bones[carrier]
    try:
        scene.frame_set(int(round(plan.start_frame)))
        for _ in range(2):  # the second pass takes up what a parent's rotation leaves
            context.view_layer.update()
            mw = np.array(obj.matrix_world)
            have = mw[:3, :3] @ np.array(pelvis.head) + mw[:3, 3]
            delta_world = want - have
            if np.linalg.norm(delta_world) < 1e-5:
                break
            delta_arm = np.linalg.solve(mw[:3, :3], delta_world)
            import mathutils

            moved = pb.matrix.copy()
            moved.translation = moved.translation + mathutils.Vector(delta_arm)
            local_now = obj.convert_space(pose_bone=pb, matrix=pb.matrix, from_space="POSE", to_space="LOCAL")
            local_new = obj.convert_space(pose_bone=pb, matrix=moved, from_space="POSE", to_space="LOCAL")
            shift = np.array(local_new.translation) - np.array(local_now.translation)
            for fc in keying.action_fcurves(action, obj):
                if fc.data_path == f'pose.bones["{carrier}"].location':
                    pts = fc.keyframe_points
                    co = np.zeros(2 * len(pts), dtype=np.float32)
                    pts.foreach_get("co", co)
                    co[1::2] += shift[fc.array_index]
                    pts.foreach_set("co", co)
                    fc.update()
            scene.frame_set(int(round(plan.start_frame)))
    finally:
        scene.frame_set(frame_was)


def apply_plan(context, plan, motion, **apply_kwargs):
    """Key the backend's motion on the plan's armature from the plan's first frame, in a new
    Action, with its root placed in the user's world. Returns jobs.ApplyResult."""
    import bpy

    obj = bpy.data.objects.get(plan.obj_name)
    if obj is None:
        raise jobs.JobError(f"'{plan.obj_name}' no longer exists; select it again")
    scene = context.scene
    frame_was = scene.frame_current
    previous = obj.animation_data.action if obj.animation_data else None
    fake_user = previous.use_fake_user if previous is not None else False
    apply_kwargs = dict(apply_kwargs, target="ACTIVE", push_to_nla=False)
    notes = list(apply_kwargs.pop("notes", ())) + ([plan.note] if plan.note else [])
    scene.frame_current = int(round(plan.start_frame))
    try:
        result = jobs.apply_motion(context, motion, target_obj=obj, notes=notes, **apply_kwargs)
        try:
            _, bone_map = resolve(obj, apply_kwargs.get("bone_map_mode", "AUTO"))
            place_root(context, obj, result.action, plan, motion, bone_map)
        except Exception:
            # Leave the scene as it was: the new action goes, the user's comes back.
            obj.animation_data.action = previous
            if previous is not None:
                previous.use_fake_user = fake_user
            bpy.data.actions.remove(result.action)
            raise
    finally:
        scene.frame_current = frame_was
    return result
