"""Sampling an armature's animation as SMPL-22 joint positions in the backend's convention.

Works on any rig the bone map recognises (an imported BVH or FBX as well as our own rigs):
the world positions of the mapped bone heads are sampled at the backend's 20 fps over the
action's frame range, joints the rig lacks are filled in from their neighbours, the body is
scaled to SMPL's leg length and set on the floor, and the result goes through coords once.
"""

import numpy as np

from . import bonemaps, coords, keying, retarget

TARGET_FPS = 20.0


class DescribeError(Exception):
    pass


def has_animation(obj):
    anim = obj.animation_data
    if anim is None:
        return False
    if anim.action is not None and keying.action_fcurves(anim.action, obj):
        return True
    return any(len(t.strips) for t in anim.nla_tracks)


def frame_range(obj, scene):
    anim = obj.animation_data
    if anim is not None and anim.action is not None:
        start, end = keying.action_frame_range(anim.action)
        if end > start:
            return start, end
    return float(scene.frame_start), float(scene.frame_end)


def fill_missing(pos, found):
    """Joints a rig lacks (collars, feet, a spine segment): between parent and child, or
    continuing the parent's bone for leaves, scaled by SMPL's rest lengths."""
    skel = bonemaps.smpl_skeleton()
    lengths = np.linalg.norm(skel.offsets, axis=-1)
    filled = []
    for j, name in enumerate(skel.names):
        if found[j]:
            continue
        p = skel.parents[j]
        kids = [c for c in skel.children(j) if found[c]]
        if kids and p >= 0 and found[p]:
            c = kids[0]
            w = lengths[j] / max(lengths[j] + lengths[c], 1e-9)
            pos[:, j] = pos[:, p] + w * (pos[:, c] - pos[:, p])
        elif p >= 0 and found[p] and skel.parents[p] >= 0 and found[skel.parents[p]]:
            g = skel.parents[p]
            d = pos[:, p] - pos[:, g]
            pos[:, j] = pos[:, p] + d * (lengths[j] / max(lengths[p], 1e-9))
        else:
            continue
        found[j] = True
        filled.append(name)
    return filled


def mapped_heads(scene, obj, bone_map, frames):
    """World positions (F, 22, 3) of the mapped bones' heads at scene frames (floats, between
    keys by subframe), and which of the 22 joints have a bone. The scene's frame is restored."""
    names = bonemaps.smpl_skeleton().names
    pos = np.zeros((len(frames), len(names), 3))
    found = [n in bone_map for n in names]
    pbones = [obj.pose.bones[bone_map[n]] if n in bone_map else None for n in names]
    frame_was, sub_was = scene.frame_current, scene.frame_subframe
    try:
        for i, f in enumerate(frames):
            scene.frame_set(int(np.floor(f)), subframe=float(f - np.floor(f)))
            mw = np.array(obj.matrix_world)
            for j, pb in enumerate(pbones):
                if pb is not None:
                    pos[i, j] = mw[:3, :3] @ np.array(pb.head) + mw[:3, 3]
    finally:
        scene.frame_set(frame_was, subframe=sub_was)
    return pos, found


def sample(context, obj, bone_map_mode="AUTO"):
    """Returns (joints (T, 22, 3) backend convention, info dict). The scene's frame is restored."""
    if obj is None or obj.type != "ARMATURE":
        raise DescribeError("Select an armature to describe"
                            + (f" ('{obj.name}' is a {obj.type.lower()})" if obj else ""))
    if not has_animation(obj):
        raise DescribeError(f"'{obj.name}' has no animation to describe")
    try:
        label, bone_map, _, _ = bonemaps.resolve(obj, bone_map_mode)
    except bonemaps.BoneMapError as exc:
        raise DescribeError(str(exc)) from None
    # The pelvis is the bone that carries both legs and the spine, as when keying.
    bone_map = retarget.whole_body_map(obj, bone_map)
    scene = context.scene
    fps = scene.render.fps / scene.render.fps_base
    start, end = frame_range(obj, scene)
    n = int(np.floor((end - start) / fps * TARGET_FPS + 1e-6)) + 1
    if n < 2:
        raise DescribeError(f"'{obj.name}' has a single frame of animation; nothing to describe")
    names = bonemaps.smpl_skeleton().names
    pos, found = mapped_heads(scene, obj, bone_map, [start + i * fps / TARGET_FPS for i in range(n)])
    filled = fill_missing(pos, found)
    if not all(found):
        raise DescribeError("could not place joints " + ", ".join(
            n_ for n_, ok in zip(names, found) if not ok))

    # SMPL size, floor at zero, first pelvis position over the origin.
    skel = bonemaps.smpl_skeleton()
    rest = coords.to_blender_points(skel.rest_positions())
    ix = {n_: i for i, n_ in enumerate(names)}
    src_leg = retarget_leg(rest, ix)
    rig_leg = retarget_leg(pos[0], ix)
    scale = src_leg / rig_leg if rig_leg > 1e-6 else 1.0
    pos *= scale
    pos[..., 2] -= pos[..., 2].min()
    pos[..., :2] -= pos[0, 0, :2]
    joints = coords.from_blender_points(pos)
    info = {"bone_map": label, "filled": filled, "frames": (start, end), "scale": scale,
            "samples": n}
    return joints.astype(np.float32), info


def retarget_leg(p, ix):
    total = 0.0
    for side in ("left", "right"):
        a, b, c = (p[ix[f"{side}_{k}"]] for k in ("hip", "knee", "ankle"))
        total += np.linalg.norm(b - a) + np.linalg.norm(c - b)
    return total / 2


def store_caption(obj, caption):
    """Keep the caption on the action (or the object when only NLA strips animate it)."""
    anim = obj.animation_data
    target = anim.action if anim is not None and anim.action is not None else obj
    target["momug_caption"] = caption
    return target
