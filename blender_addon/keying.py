"""Writing keyframes into a new Action, on Blender 4.2 to 5.x.

Blender 4.4 introduced slotted (layered) actions and 5.0 removed the old `Action.fcurves`.
Everything else in the add-on goes through ActionWriter, which hides the difference, and keys
whole channels at once with keyframe_points.add + foreach_set (hundreds of times faster
than keyframe_insert in a loop).
"""

import bpy
import numpy as np

SLOTTED = "slots" in bpy.types.Action.bl_rna.properties

# Longest ID name Blender accepts is 63 bytes; leave room for ".001".
_MAX_NAME = 58


def action_name(prompt, prefix="MoMug"):
    text = " ".join(str(prompt).split()) or "motion"
    name = f"{prefix}: {text}"
    while len(name.encode("utf-8")) > _MAX_NAME:
        name = name[:-1]
    return name


class ActionWriter:
    """Creates one new Action for an ID and writes channels into it.

    The Action is not assigned to anything until assign() or push_to_nla() is called, so a
    failure part-way leaves the scene as it was (call discard()). Writing a channel again
    replaces its keys (a streamed motion is keyed again as it grows).
    """

    def __init__(self, id_data, name):
        self.id_data = id_data
        self.action = bpy.data.actions.new(name)
        if SLOTTED:
            if "id_root" in self.action.bl_rna.properties:
                self.action.id_root = "OBJECT"
            self.slot = self.action.slots.new(id_type="OBJECT", name=id_data.name)
            layer = self.action.layers.new("Layer")
            strip = layer.strips.new(type="KEYFRAME")
            self._fcurves = strip.channelbag(self.slot, ensure=True).fcurves
            self._groups = strip.channelbag(self.slot).groups
        else:
            self.slot = None
            self._fcurves = self.action.fcurves
            self._groups = self.action.groups
        self._group_cache = {}
        self._curves = {}
        self.fast_path_used = 0

    def _group(self, name):
        if not name:
            return None
        group = self._group_cache.get(name)
        if group is None:
            group = self._groups.get(name) or self._groups.new(name)
            self._group_cache[name] = group
        return group

    def write(self, data_path, index, frames, values, group=None, interpolation="LINEAR"):
        """Key one channel: frames (N,) and values (N,) in one go."""
        frames = np.asarray(frames, dtype=np.float32)
        values = np.asarray(values, dtype=np.float32)
        fc = self._curves.get((data_path, index))
        if fc is None:
            fc = self._curves[(data_path, index)] = self._fcurves.new(data_path, index=index)
            grp = self._group(group)
            if grp is not None:
                fc.group = grp
        points = fc.keyframe_points
        if len(points) > len(frames):
            points.clear()
        points.add(len(frames) - len(points))
        co = np.empty(2 * len(frames), dtype=np.float32)
        co[0::2] = frames
        co[1::2] = values
        points.foreach_set("co", co)
        if interpolation:
            enum = points[0].bl_rna.properties["interpolation"].enum_items[interpolation].value
            points.foreach_set("interpolation", np.full(len(frames), enum, dtype=np.int32))
        fc.update()
        self.fast_path_used += 1
        return fc

    def write_vector(self, data_path, frames, values, group=None):
        """Key every component of a vector property: values (N, k)."""
        values = np.asarray(values)
        for i in range(values.shape[1]):
            self.write(data_path, i, frames, values[:, i], group=group)

    def assign(self):
        """Make the new Action the active one. The previous Action is kept (fake user) so it is
        never lost when the file is saved."""
        anim = self.id_data.animation_data or self.id_data.animation_data_create()
        previous = anim.action
        if previous is not None and previous.users <= 1 and not previous.use_fake_user:
            previous.use_fake_user = True
        anim.action = self.action
        if SLOTTED:
            anim.action_slot = self.slot
        return previous

    def push_to_nla(self, start_frame, track_name="MoMug"):
        """Put the new Action on a new NLA track, leaving the active Action alone."""
        anim = self.id_data.animation_data or self.id_data.animation_data_create()
        track = anim.nla_tracks.new()
        track.name = track_name
        strip = track.strips.new(self.action.name, int(start_frame), self.action)
        if SLOTTED and getattr(strip, "action_slot", None) != self.slot:
            strip.action_slot = self.slot
        return strip

    def discard(self):
        bpy.data.actions.remove(self.action)
        self.action = None


def action_fcurves(action, id_data=None):
    """All F-Curves of an action (for the slot of id_data when given), on any version."""
    if not SLOTTED or not hasattr(action, "layers"):
        return list(action.fcurves)
    out = []
    slot = None
    if id_data is not None and id_data.animation_data and id_data.animation_data.action == action:
        slot = id_data.animation_data.action_slot
    for layer in action.layers:
        for strip in layer.strips:
            for bag in strip.channelbags:
                if slot is None or bag.slot == slot:
                    out.extend(bag.fcurves)
    if not out and hasattr(action, "fcurves") and not action.layers:
        out = list(action.fcurves)
    return out


def action_frame_range(action):
    start, end = action.frame_range
    return float(start), float(end)
