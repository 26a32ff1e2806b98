"""Job logic, callable synchronously (tests, scripts) and from the modal operators.

A job has two halves: talk() runs in a worker thread and only does HTTP (no bpy), apply() runs on
Blender's main thread and touches the scene. Everything that can fail is checked before the
scene is changed, and a failure part-way undoes what the job had created.
"""

import threading
import time

import numpy as np

from . import bonemaps, client, describe, keying, retarget, smpl_rig


class JobError(Exception):
    """A failure with a message meant for Blender's report."""


class Cancelled(JobError):
    pass


def scene_fps(scene):
    return scene.render.fps / scene.render.fps_base


# --- generate -----------------------------------------------------------------------------

def check_target(context, target):
    """The armature a generation will key, or None when a new SMPL rig is to be made."""
    if target == "NEW_SMPL":
        return None
    obj = context.active_object
    if obj is None:
        raise JobError("Select an armature to animate, or choose 'New SMPL rig' as the target")
    if obj.type != "ARMATURE":
        raise JobError(f"'{obj.name}' is a {obj.type.lower()}, not an armature: select an armature "
                       "or choose 'New SMPL rig' as the target")
    return obj


def _validate_motion(motion):
    rot = np.asarray(motion.get("rotations", []), dtype=np.float64)
    root = np.asarray(motion.get("root_translation", []), dtype=np.float64)
    if rot.ndim != 3 or rot.shape[1:] != (22, 4) or len(rot) == 0:
        raise JobError(f"the backend sent rotations of shape {rot.shape}, expected (T, 22, 4)")
    if root.shape != (len(rot), 3):
        raise JobError(f"the backend sent root translation of shape {root.shape}, expected ({len(rot)}, 3)")
    if not (np.isfinite(rot).all() and np.isfinite(root).all()):
        raise JobError("the backend sent a motion with NaN or infinite values")


class ApplyResult:
    def __init__(self, obj, action, label, unmapped_joints, unmapped_bones, scale, frames, seconds,
                 notes=()):
        self.obj = obj
        self.action = action
        self.bone_map_label = label
        self.unmapped_joints = unmapped_joints
        self.unmapped_bones = unmapped_bones
        self.scale = scale
        self.frames = frames
        self.seconds = seconds
        self.notes = list(notes)
        self.pushed_to_nla = False

    def summary(self, max_listed=8):
        where = "an NLA strip" if self.pushed_to_nla else "action"
        text = (f"Keyed {len(self.frames)} frames on '{self.obj.name}' in {where} '{self.action.name}' "
                f"from frame {self.frames[0]:g} (bone map: {self.bone_map_label}, "
                f"scale {self.scale:.3f})")
        if self.unmapped_joints:
            text += f"; SMPL joints without a bone: {', '.join(self.unmapped_joints)}"
        if self.unmapped_bones:
            shown = ", ".join(self.unmapped_bones[:max_listed])
            more = len(self.unmapped_bones) - max_listed
            text += (f"; {len(self.unmapped_bones)} unmapped bones left as they were: {shown}"
                     + (f" and {more} more" if more > 0 else ""))
        for note in self.notes:
            text += f"; {note}"
        return text


def apply_motion(context, motion, target="NEW_SMPL", bone_map_mode="AUTO", root_motion=True,
                 translation_bone="HIPS", push_to_nla=False, prompt="", model_path="",
                 target_obj=None, python_command="python3", betas=(), notes=()):
    """Key a backend motion (Y-up, as received) on the target. Returns ApplyResult.

    The motion (20 fps) is resampled to the scene's frame rate and starts at the current frame,
    in a new Action named after the prompt; the target's existing actions are not touched.
    The scene is only changed at the end; on any error nothing new is left behind.
    model_path / python_command / betas: the real SMPL body for a new SMPL rig (smpl_rig).
    """
    t0 = time.perf_counter()
    notes = list(notes)
    _validate_motion(motion)
    scene = context.scene
    if target_obj is not None:
        try:
            target_obj.name
        except ReferenceError:  # deleted (or undone) while the backend was working
            raise JobError("the target armature no longer exists; select it again") from None
    obj = target_obj if target_obj is not None else check_target(context, target)
    label, bone_map, unmapped_joints = "smpl", None, []
    if obj is not None:
        try:
            label, bone_map, unmapped_joints, _ = bonemaps.resolve(obj, bone_map_mode)
        except bonemaps.BoneMapError as exc:
            raise JobError(str(exc)) from None

    if obj is not None:
        note = constrained_note(obj, bone_map)
        if note:
            notes.append(note)
    created = []
    writer = None
    try:
        if obj is None:
            obj = smpl_rig.create_smpl_rig(context, model_path=model_path,
                                           location=tuple(scene.cursor.location),
                                           python_command=python_command, betas=betas,
                                           notes=notes)
            created.append(obj)
            created.extend(c for c in obj.children)
            label, bone_map, unmapped_joints, _ = bonemaps.resolve(obj, "smpl")
        fps = scene_fps(scene)
        glob, pos, offsets = retarget.source_from_motion(motion, fps)
        result = retarget.retarget(obj, glob, pos, offsets, bone_map, root_motion=root_motion,
                                   translation_bone=translation_bone)
        frames = scene.frame_current + np.arange(len(glob), dtype=np.float64)
        writer = keying.ActionWriter(obj, keying.action_name(prompt))
        retarget.write_channels(writer, obj, result["channels"], frames)
        writer.action["momug_prompt"] = prompt
        if push_to_nla:
            writer.push_to_nla(frames[0])
        else:
            writer.assign()
    except (retarget.RetargetError, ValueError, bonemaps.BoneMapError) as exc:
        _undo_created(created, writer)
        raise JobError(str(exc)) from None
    except Exception:
        _undo_created(created, writer)
        raise
    keyed = set(bone_map.values()) | set(result["channels"])  # a root bone may carry travel
    unmapped_bones = [b.name for b in obj.data.bones if b.name not in keyed]
    res = ApplyResult(obj, writer.action, label, unmapped_joints, unmapped_bones,
                      result["scale"], frames, time.perf_counter() - t0, notes)
    res.pushed_to_nla = bool(push_to_nla)
    return res


def constrained_note(obj, bone_map, max_listed=4):
    """A warning when mapped bones follow constraints (a generated Rigify rig's DEF-/ORG- bones,
    for example): keys on them are overridden, so the user should map the rig's controls."""
    driven = []
    for bone in bone_map.values():
        pb = obj.pose.bones.get(bone)
        for c in pb.constraints if pb is not None else ():
            if not c.mute and c.influence > 0.0:
                driven.append(f"{bone}: {c.type.replace('_', ' ').title()}")
                break
    if not driven:
        return ""
    more = len(driven) - max_listed
    return (f"{len(driven)} mapped bones follow constraints ({', '.join(driven[:max_listed])}"
            + (f" and {more} more" if more > 0 else "") + "), so their keys may not show; "
            "map the rig's control bones instead (Edit Bone Map)")


def _undo_created(created, writer):
    import bpy
    if writer is not None and writer.action is not None:
        writer.discard()
    for obj in reversed(created):
        data = obj.data
        bpy.data.objects.remove(obj)
        if data is not None and data.users == 0:
            if isinstance(data, bpy.types.Armature):
                bpy.data.armatures.remove(data)
            elif isinstance(data, bpy.types.Mesh):
                bpy.data.meshes.remove(data)


def motion_from_result(result):
    """The backend's generate result (client.py: {"motions": [...]}) -> the first motion as a
    dict of numpy arrays, still Y-up."""
    motions = result.get("motions") if isinstance(result, dict) else None
    if not motions or not isinstance(motions[0], dict) or motions[0].get("rotations") is None:
        raise JobError("the backend's result holds no motion (no 'rotations')")
    m = motions[0]
    out = {k: np.asarray(m[k], dtype=np.float64)
           for k in ("joints", "rotations", "root_translation") if m.get(k) is not None}
    out["fps"] = float(m.get("fps") or retarget.SOURCE_FPS)
    if "root_translation" not in out and "joints" in out:
        out["root_translation"] = out["joints"][:, 0]
    return out


class Job:
    """State shared between the worker thread (talk) and the main thread (progress, apply)."""

    def __init__(self, client, timeout=600.0):
        self.client = client
        self.timeout = timeout
        self.progress = 0.0
        self.status = "starting"
        self.result = None
        self.error = None
        self.cancel_requested = False
        self.job_id = None
        self.health = None      # the backend's /v1/health answer, when asked
        self.notes = []         # things the user should be told besides the result

    def _on_progress(self, value, status):
        self.progress, self.status = value, status or self.status

    def talk(self):
        """Worker-thread half: HTTP only, never bpy. Errors are kept for the main thread."""
        try:
            if self.cancel_requested:
                raise client.BackendError("cancelled", "Cancelled")
            self.job_id = self.submit()
            self.status = "queued"
            self.after_submit()
            self.result = self.client.wait(self.job_id, timeout=self.timeout,
                                           on_progress=self._on_progress,
                                           should_cancel=lambda: self.cancel_requested)
            self.status = "done"
        except client.BackendError as exc:
            self.error = exc
            self.status = "cancelled" if exc.kind == "cancelled" else "failed"
        except Exception as exc:  # keep the thread from dying silently
            self.error = client.BackendError("server", f"{type(exc).__name__}: {exc}")
            self.status = "failed"

    def submit(self):
        raise NotImplementedError

    def after_submit(self):
        """Worker-thread work to overlap with the backend's (no bpy)."""


def clamp_to_limits(seconds, limits):
    """(seconds within the model's limits from /v1/health, note or '')."""
    if not isinstance(limits, dict):
        return seconds, ""
    hi = float(limits.get("max_seconds") or 0.0)
    lo = float(limits.get("min_seconds") or 0.0)
    if hi > 0.0 and seconds > hi + 1e-6:
        return hi, f"Duration set to {hi:g} s: the backend's model makes at most {hi:g} s ({seconds:g} s asked)"
    if lo > 0.0 and seconds < lo - 1e-6:
        return lo, f"Duration set to {lo:g} s: the backend's model makes at least {lo:g} s ({seconds:g} s asked)"
    return seconds, ""


class GenerateJob(Job):
    """Asks /v1/health first (model state and limits: the duration is clamped to them, with a
    note), then submits. prefetch: optional callable run in the worker while the backend works
    (e.g. loading an SMPL body model); its error is kept in prefetch_error, never fatal here."""

    def __init__(self, client, prompt, seconds, seed, guidance, steps, timeout=600.0, prefetch=None):
        super().__init__(client, timeout)
        self.params = {"prompt": prompt, "seconds": float(seconds), "seed": seed,
                       "guidance": guidance, "steps": steps}
        self.prefetch = prefetch
        self.prefetch_error = None

    def submit(self):
        if not self.params["prompt"].strip():
            raise client.BackendError("request", "Type a prompt first")
        self.status = "asking the backend"
        self.health = self.client.health()
        state = self.health.get("status") if isinstance(self.health, dict) else None
        if state == "failed":
            raise client.BackendError("server", "The backend's " + client.health_summary(self.health))
        seconds, note = clamp_to_limits(self.params["seconds"], self.health.get("limits"))
        if note:
            self.params["seconds"] = seconds
            self.notes.append(note)
        return self.client.submit_generate(**self.params)

    def after_submit(self):
        if self.prefetch is None:
            return
        try:
            self.prefetch()
        except Exception as exc:
            self.prefetch_error = exc


class JobRunner:
    """Runs a Job's talk() in a daemon thread; the modal operator polls it from a timer.
    Plain Python (no bpy), so tests drive the same object the operators use."""

    def __init__(self, job):
        self.job = job
        self.thread = threading.Thread(target=job.talk, name="momug-job", daemon=True)

    def start(self):
        self.thread.start()
        return self

    def poll(self):
        """'running', 'done', 'failed' or 'cancelled'."""
        if self.thread.is_alive():
            return "running"
        if self.job.error is None:
            return "done"
        return "cancelled" if getattr(self.job.error, "kind", "") == "cancelled" else "failed"

    def cancel(self):
        """Ask the worker to stop; it cancels the backend job at its next poll."""
        self.job.cancel_requested = True

    def wait(self, timeout=None):
        self.thread.join(timeout)
        return self.poll()


class CaptionJob(Job):
    def __init__(self, client, joints, fps=describe.TARGET_FPS, timeout=600.0):
        super().__init__(client, timeout)
        self.joints = joints
        self.fps = fps

    def submit(self):
        return self.client.submit_caption(self.joints, fps=self.fps)


def caption_from_result(result):
    text = result.get("caption") if isinstance(result, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise JobError("the backend's result holds no caption")
    return text.strip()


def run_generate(context, backend, prompt, seconds=4.0, seed=0, guidance=2.5, steps=50,
                 target="NEW_SMPL", bone_map_mode="AUTO", root_motion=True,
                 translation_bone="HIPS", push_to_nla=False, model_path="", timeout=600.0,
                 python_command="python3", betas=()):
    """Generate synchronously (tests, scripts): check the target, ask the backend, key it.
    The same steps as the Generate operator, without the thread."""
    target_obj = check_target(context, target)
    if target_obj is not None:
        try:
            bonemaps.resolve(target_obj, bone_map_mode)
        except bonemaps.BoneMapError as exc:
            raise JobError(str(exc)) from None
    job = GenerateJob(backend, prompt, seconds, seed, guidance, steps, timeout=timeout)
    job.talk()
    if job.error is not None:
        raise JobError(str(job.error))
    return apply_motion(context, motion_from_result(job.result), target=target,
                        bone_map_mode=bone_map_mode, root_motion=root_motion,
                        translation_bone=translation_bone, push_to_nla=push_to_nla,
                        prompt=prompt, model_path=model_path, target_obj=target_obj,
                        python_command=python_command, betas=betas, notes=job.notes)


def prepare_describe(context, obj, bone_map_mode="AUTO"):
    """Main-thread half before the request: sample the rig. Raises JobError with a clear reason."""
    try:
        joints, info = describe.sample(context, obj, bone_map_mode)
    except describe.DescribeError as exc:
        raise JobError(str(exc)) from None
    return joints, info


def run_describe(context, backend, obj, bone_map_mode="AUTO", timeout=600.0):
    """Caption an armature's animation synchronously; stores it on the action. Returns the text."""
    joints, _ = prepare_describe(context, obj, bone_map_mode)
    job = CaptionJob(backend, joints, timeout=timeout)
    job.talk()
    if job.error is not None:
        raise JobError(str(job.error))
    text = caption_from_result(job.result)
    describe.store_caption(obj, text)
    return text

