"""Job logic, callable synchronously (tests, scripts) and from the modal operators.

A job has two halves: talk() runs in a worker thread and only does HTTP (no bpy), apply() runs on
Blender's main thread and touches the scene. Everything that can fail is checked before the
scene is changed, and a failure part-way undoes what the job had created.
"""

import queue
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

def check_target(context, target, bone_map_mode=None):
    """The armature a generation will key, or None when a new SMPL rig is to be made. With
    bone_map_mode, also check that the armature's bones map (before anything is sent)."""
    if target == "NEW_SMPL":
        return None
    obj = context.active_object
    if obj is None:
        raise JobError("Select an armature to animate, or choose 'New SMPL rig' as the target")
    if obj.type != "ARMATURE":
        raise JobError(f"'{obj.name}' is a {obj.type.lower()}, not an armature: select an armature "
                       "or choose 'New SMPL rig' as the target")
    if bone_map_mode is not None:
        try:
            bonemaps.resolve(obj, bone_map_mode)
        except bonemaps.BoneMapError as exc:
            raise JobError(str(exc)) from None
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
                 notes=(), helper_bones=()):
        self.obj = obj
        self.action = action
        self.bone_map_label = label
        self.unmapped_joints = unmapped_joints
        self.unmapped_bones = unmapped_bones  # bones an animator poses that the motion did not key
        self.helper_bones = list(helper_bones)  # constrained or hidden: the rig moves them itself
        self.scale = scale
        self.frames = frames
        self.seconds = seconds
        self.notes = list(notes)
        self.pushed_to_nla = False
        self.made_from = []   # the prompts of a sequence made one action at a time, in order

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
        if self.helper_bones:
            text += f"; {len(self.helper_bones)} constrained or hidden helper bones not keyed"
        if len(self.made_from) > 1:
            text += f"; made in {len(self.made_from)} steps: " + " / ".join(self.made_from)
        for note in self.notes:
            text += f"; {note}"
        return text


def is_helper_bone(obj, bone) -> bool:
    """A bone the rig drives itself (constraints) or keeps out of the animator's sight (hidden, or
    only in hidden bone collections), like Rigify's hundreds of MCH-/ORG-/DEF- bones: leaving it
    unkeyed is expected, so the summary counts it instead of listing it as unmapped."""
    if bone.hide or obj.pose.bones[bone.name].constraints:
        return True
    collections = list(getattr(bone, "collections", ()))
    return bool(collections) and not any(c.is_visible for c in collections)


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
    # A root bone may carry travel; bones only held at rest are still unmapped.
    keyed = set(bone_map.values()) | (set(result["channels"]) - set(result.get("held", ())))
    unkeyed = [b for b in obj.data.bones if b.name not in keyed]
    helpers = {b.name for b in unkeyed if is_helper_bone(obj, b)}
    unmapped_bones = [b.name for b in unkeyed if b.name not in helpers]
    res = ApplyResult(obj, writer.action, label, unmapped_joints, unmapped_bones,
                      result["scale"], frames, time.perf_counter() - t0, notes, sorted(helpers))
    res.pushed_to_nla = bool(push_to_nla)
    res.made_from = [str(p) for p in motion.get("made_from", ())]
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
                materials = [m for m in data.materials if m is not None]
                bpy.data.meshes.remove(data)
                for mat in materials:  # a new rig's body material goes with it
                    if mat.users == 0:
                        bpy.data.materials.remove(mat)


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
    if isinstance(m.get("made_from"), list):
        out["made_from"] = m["made_from"]
    if "root_translation" not in out and "joints" in out:
        out["root_translation"] = out["joints"][:, 0]
    return out


class Job:
    """State shared between the worker thread (talk) and the main thread (progress, apply)."""

    def __init__(self, client, timeout=600.0, prefetch=None):
        self.client = client
        self.timeout = timeout
        # prefetch: optional callable run in the worker while the backend works (e.g. loading an
        # SMPL body model); its error is kept in prefetch_error, never fatal here.
        self.prefetch = prefetch
        self.prefetch_error = None
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
            self.exchange()
            self.status = "done"
        except client.BackendError as exc:
            self.error = exc
            self.status = "cancelled" if exc.kind == "cancelled" else "failed"
        except Exception as exc:  # keep the thread from dying silently
            self.error = client.BackendError("server", f"{type(exc).__name__}: {exc}")
            self.status = "failed"

    def exchange(self):
        """Submit a job, overlap the prefetch with the backend's work, wait for the result."""
        self.job_id = self.submit()
        self.status = "queued"
        self.run_prefetch()
        self.result = self.client.wait(self.job_id, timeout=self.timeout, on_progress=self._on_progress,
                                       should_cancel=lambda: self.cancel_requested)

    def submit(self):
        raise NotImplementedError

    def run_prefetch(self):
        if self.prefetch is None:
            return
        try:
            self.prefetch()
        except Exception as exc:
            self.prefetch_error = exc


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
    note), then submits."""

    def __init__(self, client, prompt, seconds, seed, guidance, steps, timeout=600.0, prefetch=None,
                 clean_feet=True, constraints=None, model=None):
        super().__init__(client, timeout, prefetch)
        # seconds None: the constraints (a path, an edit) set the length.
        self.params = {"prompt": prompt, "seconds": None if seconds is None else float(seconds), "seed": seed,
                       "guidance": guidance, "steps": steps, "clean_feet": bool(clean_feet), "model": model}
        if constraints:
            self.params["constraints"] = constraints

    def submit(self):
        if not self.params["prompt"].strip():
            raise client.BackendError("request", "Type a prompt first")
        self.status = "asking the backend"
        self.health = self.client.health()
        state = self.health.get("status") if isinstance(self.health, dict) else None
        if state == "failed":
            raise client.BackendError("server", "The backend's " + client.health_summary(self.health))
        if self.params["seconds"] is None or self.params.get("constraints"):
            # A constrained motion's length is the user's (keys, an action's end): never clamped.
            return self.client.submit_generate(**self.params)
        seconds, note = clamp_to_limits(self.params["seconds"], self.health.get("limits"))
        if note:
            self.params["seconds"] = seconds
            self.notes.append(note)
        return self.client.submit_generate(**self.params)


class StreamJob(Job):
    """Worker-thread half of a streamed generation: reads POST /v1/generate/stream and queues
    each chunk (start index, rotations, root translation; Y up, as received) for the main thread,
    where a StreamKeyer keys it. Asks /v1/health first, so a backend without a streaming model is
    a clear message and the duration is clamped to the streaming model's limits (with a note).
    read_timeout: the longest silence accepted from the backend (it sends a keep-alive line
    every 10 s; the first answer may wait for the model to load)."""

    def __init__(self, client, prompt, seconds, seed, steps=None, timeout=600.0,
                 read_timeout=client.STREAM_TIMEOUT, prefetch=None):
        super().__init__(client, timeout, prefetch)
        self.params = {"prompt": prompt, "seconds": float(seconds), "seed": seed, "steps": steps}
        self.read_timeout = read_timeout
        self.chunks = queue.Queue()
        self.fps = retarget.SOURCE_FPS
        self.total_frames = 0
        self.received = 0
        self.start_info = None

    def exchange(self):
        self._check_backend()
        self.run_prefetch()
        self.status = "waiting for the streaming model"
        t_end = time.monotonic() + self.timeout
        for event, data in self.client.stream_generate(
                **self.params, timeout=min(self.read_timeout, self.timeout),
                should_cancel=lambda: self.cancel_requested):
            if event == "start":
                self._on_start(data)
            elif event == "frames":
                self._on_frames(data)
            if time.monotonic() > t_end:
                raise client.BackendError("timeout", f"The stream did not finish within {self.timeout:g} s")
        if self.received != self.total_frames:
            raise client.BackendError("server", f"The backend's stream ended after {self.received} of "
                                      f"{self.total_frames} frames")

    def _check_backend(self):
        if not str(self.params["prompt"]).strip():
            raise client.BackendError("request", "Type a prompt first")
        self.status = "asking the backend"
        self.health = self.client.health()
        reason = client.stream_unavailable(self.health)
        if reason:
            raise client.BackendError("server", reason)
        limits = self.health["stream"].get("limits")
        seconds, note = clamp_to_limits(self.params["seconds"], limits)
        if note:
            self.params["seconds"] = seconds
            self.notes.append(note)
        most = int((limits or {}).get("max_steps") or 0) if isinstance(limits, dict) else 0
        if most and self.params["steps"] is not None and int(self.params["steps"]) > most:
            self.notes.append(f"Steps set to {most}: the streaming model takes at most {most} "
                              f"({self.params['steps']} asked)")
            self.params["steps"] = most

    def _on_start(self, data):
        try:
            self.fps = float(data.get("fps") or retarget.SOURCE_FPS)
            self.total_frames = int(data["frames"])
        except (AttributeError, KeyError, TypeError, ValueError):
            raise client.BackendError("server", f"The backend's stream began oddly: {str(data)[:200]}") from None
        self.start_info = data
        self.status = "streaming"

    def _on_frames(self, data):
        if self.start_info is None:
            raise client.BackendError("server", "The backend sent frames before saying how many")
        try:
            start = int(data["start"])
            rot = np.asarray(data["rotations"], dtype=np.float64)
            root = np.asarray(data["root_translation"], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            raise client.BackendError("server", "The backend sent a chunk without rotations") from None
        if rot.ndim != 3 or rot.shape[1:] != (22, 4) or root.shape != (len(rot), 3) or not len(rot):
            raise client.BackendError("server", f"The backend sent a chunk shaped {rot.shape} / {root.shape}")
        if not (np.isfinite(rot).all() and np.isfinite(root).all()):
            raise client.BackendError("server", "The backend sent a chunk with NaN or infinite values")
        if start != self.received:
            raise client.BackendError("server", f"The backend's stream skipped from frame {self.received} to {start}")
        self.chunks.put((rot, root))
        self.received += len(rot)
        self.progress = min(1.0, self.received / max(self.total_frames, 1))
        self.status = f"streaming: {self.received} of {self.total_frames} frames"

    def take_chunks(self):
        """Main thread: every chunk that arrived since the last call."""
        out = []
        while True:
            try:
                out.append(self.chunks.get_nowait())
            except queue.Empty:
                return out


class StreamKeyer:
    """Main-thread half of a streamed generation: keys chunks on the target as they arrive, in a
    new Action that is shown (made active) from the first chunk on.

    Each call retargets the whole motion received so far and rewrites the keys: the retarget is
    causal (the first frame fixes the start, rotations only look back for continuity), so earlier
    keys do not change, and the final keys are exactly those of one apply_motion() call on the
    whole motion. discard() puts everything back as it was: the Action, a new SMPL rig, the
    previous action and its fake-user flag, and animation data that did not exist before.
    """

    def __init__(self, context, target="NEW_SMPL", bone_map_mode="AUTO", root_motion=True,
                 translation_bone="HIPS", push_to_nla=False, prompt="", model_path="",
                 target_obj=None, python_command="python3", betas=(), notes=(), fps=retarget.SOURCE_FPS):
        self.context = context
        self.options = dict(target=target, bone_map_mode=bone_map_mode, model_path=model_path,
                            python_command=python_command, betas=betas)
        self.root_motion, self.translation_bone = root_motion, translation_bone
        self.push_to_nla, self.prompt = push_to_nla, prompt
        self.target_obj = target_obj
        self.notes = list(notes)
        self.fps_in = float(fps)
        self.obj = self.writer = self.result = self.bone_map = None
        self.label, self.unmapped_joints = "smpl", []
        self.created = []
        self.rotations, self.roots = [], []
        self.frames = np.zeros(0)
        self.start_frame = float(context.scene.frame_current)
        self._shown = None   # what the target showed before: (anim existed, action, slot, fake user)
        self.t0 = time.perf_counter()

    @property
    def started(self):
        return self.writer is not None

    def drain(self, job):
        """Key what the worker has queued; returns the number of new source frames."""
        self.fps_in = job.fps
        chunks = job.take_chunks()
        if chunks:
            self.add(np.concatenate([r for r, _ in chunks]), np.concatenate([t for _, t in chunks]))
        return sum(len(r) for r, _ in chunks)

    def add(self, rotations, root_translation):
        """Append source frames (Y up, as received) and key everything so far. JobError on failure
        (the caller discards)."""
        if not self.started:
            self._begin()
        self.rotations.append(np.asarray(rotations, dtype=np.float64))
        self.roots.append(np.asarray(root_translation, dtype=np.float64))
        motion = {"rotations": np.concatenate(self.rotations), "root_translation": np.concatenate(self.roots),
                  "fps": self.fps_in}
        try:
            glob, pos, offsets = retarget.source_from_motion(motion, scene_fps(self.context.scene))
            self.result = retarget.retarget(self.obj, glob, pos, offsets, self.bone_map,
                                            root_motion=self.root_motion, translation_bone=self.translation_bone)
            self.frames = self.start_frame + np.arange(len(glob), dtype=np.float64)
            retarget.write_channels(self.writer, self.obj, self.result["channels"], self.frames)
        except (retarget.RetargetError, ValueError, bonemaps.BoneMapError) as exc:
            raise JobError(str(exc)) from None

    def _begin(self):
        context = self.context
        obj = self.target_obj
        if obj is not None:
            try:
                obj.name
            except ReferenceError:
                raise JobError("the target armature no longer exists; select it again") from None
        else:
            obj = check_target(context, self.options["target"])
        if obj is not None:
            try:
                resolved = bonemaps.resolve(obj, self.options["bone_map_mode"])
            except bonemaps.BoneMapError as exc:
                raise JobError(str(exc)) from None
            self.label, self.bone_map, self.unmapped_joints, _ = resolved
            note = constrained_note(obj, self.bone_map)
            if note:
                self.notes.append(note)
        else:
            try:
                obj = smpl_rig.create_smpl_rig(context, model_path=self.options["model_path"],
                                               location=tuple(context.scene.cursor.location),
                                               python_command=self.options["python_command"],
                                               betas=self.options["betas"], notes=self.notes)
            except ValueError as exc:
                raise JobError(str(exc)) from None
            self.created = [obj, *obj.children]
            self.label, self.bone_map, self.unmapped_joints, _ = bonemaps.resolve(obj, "smpl")
        self.obj = obj
        anim = obj.animation_data
        action = anim.action if anim is not None else None
        self._shown = (anim is not None, action,
                       getattr(anim, "action_slot", None) if action is not None else None,
                       action.use_fake_user if action is not None else False)
        self.writer = keying.ActionWriter(obj, keying.action_name(self.prompt))
        self.writer.action["momug_prompt"] = self.prompt
        self.writer.assign()   # shown while it streams

    def _restore_shown(self, keep_animation_data=False):
        had_anim, action, slot, fake = self._shown
        anim = self.obj.animation_data
        if anim is not None:
            anim.action = action
            if action is not None:
                action.use_fake_user = fake
                if slot is not None:
                    try:
                        anim.action_slot = slot
                    except (AttributeError, TypeError, RuntimeError, ReferenceError):
                        pass
        if not had_anim and not keep_animation_data:
            self.obj.animation_data_clear()

    def finish(self):
        """The motion is complete: keep the keys (or move them to an NLA strip). Returns ApplyResult."""
        if not self.started or not len(self.frames):
            raise JobError("the backend's stream held no frames")
        if self.push_to_nla:
            self._restore_shown(keep_animation_data=True)
            self.writer.push_to_nla(self.frames[0])
        keyed = set(self.bone_map.values()) | (set(self.result["channels"]) - set(self.result.get("held", ())))
        unmapped_bones = [b.name for b in self.obj.data.bones if b.name not in keyed]
        res = ApplyResult(self.obj, self.writer.action, self.label, self.unmapped_joints, unmapped_bones,
                          self.result["scale"], self.frames, time.perf_counter() - self.t0, self.notes)
        res.pushed_to_nla = bool(self.push_to_nla)
        return res

    def discard(self):
        """Cancel or error: remove the partial Action (and a new rig) and show what was there before."""
        if self.writer is not None and self._shown is not None and not self.created:
            try:
                self._restore_shown()
            except ReferenceError:
                pass   # the target was deleted meanwhile: nothing left to restore on it
        _undo_created(self.created, self.writer)
        self.writer, self.created = None, []


def run_stream_generate(context, backend, prompt, seconds=4.0, seed=0, steps=None, target="NEW_SMPL",
                        bone_map_mode="AUTO", root_motion=True, translation_bone="HIPS",
                        push_to_nla=False, model_path="", timeout=600.0, python_command="python3",
                        betas=(), on_chunk=None):
    """Streamed generation synchronously (tests, scripts): the worker's half runs in a thread as
    in the operator, and this thread keys chunks as they come, like the operator's timer.
    on_chunk(keyer) is called after each keying. On any failure the scene is left as it was."""
    target_obj = check_target(context, target, bone_map_mode)
    job = StreamJob(backend, prompt, seconds, seed, steps, timeout=timeout)
    runner = JobRunner(job).start()
    keyer = StreamKeyer(context, target=target, bone_map_mode=bone_map_mode, root_motion=root_motion,
                        translation_bone=translation_bone, push_to_nla=push_to_nla, prompt=prompt,
                        model_path=model_path, target_obj=target_obj, python_command=python_command,
                        betas=betas)
    try:
        while True:
            running = runner.poll() == "running"
            if keyer.drain(job) and on_chunk is not None:
                on_chunk(keyer)
            if not running:
                break
            time.sleep(0.02)
        if job.error is not None:
            raise JobError(str(job.error))
        keyer.notes.extend(job.notes)
        return keyer.finish()
    except BaseException:
        runner.cancel()
        keyer.discard()
        raise


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
    def __init__(self, client, joints, fps=describe.TARGET_FPS, timeout=600.0, model=None):
        super().__init__(client, timeout)
        self.joints = joints
        self.fps = fps
        self.model = model

    def submit(self):
        return self.client.submit_caption(self.joints, fps=self.fps, model=self.model)


def caption_from_result(result):
    text = result.get("caption") if isinstance(result, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise JobError("the backend's result holds no caption")
    return text.strip()


def run_generate(context, backend, prompt, seconds=4.0, seed=0, guidance=None, steps=50,
                 target="NEW_SMPL", bone_map_mode="AUTO", root_motion=True,
                 translation_bone="HIPS", push_to_nla=False, model_path="", timeout=600.0,
                 python_command="python3", betas=(), clean_feet=True, model=None):
    """Generate synchronously (tests, scripts): check the target, ask the backend, key it.
    The same steps as the Generate operator, without the thread. guidance None: the model's own
    scale; model: a backend model name (None: the backend's default)."""
    target_obj = check_target(context, target, bone_map_mode)
    job = GenerateJob(backend, prompt, seconds, seed, guidance, steps, timeout=timeout, clean_feet=clean_feet,
                      model=model)
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


def run_describe(context, backend, obj, bone_map_mode="AUTO", timeout=600.0, model=None):
    """Caption an armature's animation synchronously; stores it on the action. Returns the text."""
    joints, _ = prepare_describe(context, obj, bone_map_mode)
    job = CaptionJob(backend, joints, timeout=timeout, model=model)
    job.talk()
    if job.error is not None:
        raise JobError(str(job.error))
    text = caption_from_result(job.result)
    describe.store_caption(obj, text)
    return text
