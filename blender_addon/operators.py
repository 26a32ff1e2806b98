"""Operators under bpy.ops.momug.*.

Generate and Describe run as modal operators when invoked from the UI: a worker thread does the
HTTP (never bpy), a timer polls it, Esc cancels. execute() runs the same job synchronously so
scripts, other add-ons and tests (timers and modal operators do not run in the bpy module) can call
bpy.ops.momug.generate() directly.
"""

import threading

import bpy
from bpy.props import EnumProperty, StringProperty

from . import bonemaps, client, describe, jobs, preferences, server_process


def _settings(context):
    return context.scene.momug


def _record_history(st, result):
    item = st.history.add()
    item.prompt, item.seconds, item.seed = st.prompt, st.seconds, st.seed
    item.guidance, item.steps = st.guidance, st.steps
    item.action_name, item.object_name = result.action.name, result.obj.name
    st.history_index = len(st.history) - 1


def _apply_kwargs(context, st):
    return dict(target=st.target, bone_map_mode=st.bone_map, root_motion=st.root_motion,
                translation_bone=st.translation_bone, push_to_nla=st.push_to_nla,
                prompt=st.prompt, model_path=preferences.get(context).smpl_model_path)


class _ModalJob:
    """Shared modal/timer plumbing for operators that run a jobs.Job in a thread."""
    _timer = None
    _thread = None
    _job = None

    def _start(self, context, job):
        st = _settings(context)
        self._job = job
        self._thread = threading.Thread(target=job.talk, daemon=True)
        self._thread.start()
        st.running, st.progress, st.status = True, 0.0, "sending"
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def _stop(self, context):
        st = _settings(context)
        st.running = False
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        for area in context.screen.areas if context.screen else ():
            area.tag_redraw()

    def modal(self, context, event):
        st = _settings(context)
        if event.type == "ESC":
            self._job.cancel_requested = True
            self._stop(context)
            st.status = "cancelled"
            self.report({"WARNING"}, "MoMug: cancelled")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        st.progress = self._job.progress
        st.status = self._job.status
        for area in context.screen.areas if context.screen else ():
            if area.type == "VIEW_3D":
                area.tag_redraw()
        if self._thread.is_alive():
            return {"RUNNING_MODAL"}
        self._stop(context)
        if self._job.error is not None:
            st.status = str(self._job.error)
            self.report({"ERROR"}, f"MoMug: {self._job.error}")
            return {"CANCELLED"}
        try:
            return self._finish(context)
        except jobs.JobError as exc:
            st.status = str(exc)
            self.report({"ERROR"}, f"MoMug: {exc}")
            return {"CANCELLED"}


class MOMUG_OT_generate(_ModalJob, bpy.types.Operator):
    """Generate a motion from the prompt and key it on the target"""
    bl_idname = "momug.generate"
    bl_label = "Generate"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return context.scene is not None and not context.scene.momug.running

    def _check(self, context, st):
        obj = jobs.check_target(context, st.target)
        if obj is not None:
            try:
                bonemaps.resolve(obj, st.bone_map)
            except bonemaps.BoneMapError as exc:
                raise jobs.JobError(str(exc)) from None
        return obj

    def _make_job(self, context, st):
        prefs = preferences.get(context)
        return jobs.GenerateJob(preferences.make_client(context), st.prompt, st.seconds, st.seed,
                                st.guidance, st.steps, timeout=prefs.request_timeout)

    def invoke(self, context, event):
        st = _settings(context)
        try:
            self._target = self._check(context, st)
        except jobs.JobError as exc:
            self.report({"ERROR"}, f"MoMug: {exc}")
            return {"CANCELLED"}
        return self._start(context, self._make_job(context, st))

    def _finish(self, context):
        st = _settings(context)
        motion = jobs.motion_from_result(self._job.result)
        kwargs = _apply_kwargs(context, st)
        result = jobs.apply_motion(context, motion, target_obj=self._target, **kwargs)
        _record_history(st, result)
        st.status = result.summary()
        self.report({"INFO"}, "MoMug: " + result.summary())
        return {"FINISHED"}

    def execute(self, context):
        st = _settings(context)
        try:
            self._target = self._check(context, st)
            job = self._make_job(context, st)
            job.talk()
            if job.error is not None:
                raise jobs.JobError(str(job.error))
            self._job = job
            return self._finish(context)
        except jobs.JobError as exc:
            st.status = str(exc)
            self.report({"ERROR"}, f"MoMug: {exc}")
            return {"CANCELLED"}


class MOMUG_OT_describe(_ModalJob, bpy.types.Operator):
    """Caption the selected armature's animation"""
    bl_idname = "momug.describe"
    bl_label = "Describe Animation"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        return context.scene is not None and not context.scene.momug.running

    def _make_job(self, context):
        st = _settings(context)
        self._obj = context.active_object
        joints, _ = jobs.prepare_describe(context, self._obj, st.bone_map)
        prefs = preferences.get(context)
        return jobs.CaptionJob(preferences.make_client(context), joints,
                               timeout=prefs.request_timeout)

    def invoke(self, context, event):
        try:
            job = self._make_job(context)
        except jobs.JobError as exc:
            self.report({"ERROR"}, f"MoMug: {exc}")
            return {"CANCELLED"}
        return self._start(context, job)

    def _finish(self, context):
        st = _settings(context)
        text = jobs.caption_from_result(self._job.result)
        describe.store_caption(self._obj, text)
        st.caption = text
        st.status = "caption ready"
        self.report({"INFO"}, f"MoMug: {text}")
        return {"FINISHED"}

    def execute(self, context):
        st = _settings(context)
        try:
            job = self._make_job(context)
            job.talk()
            if job.error is not None:
                raise jobs.JobError(str(job.error))
            self._job = job
            return self._finish(context)
        except jobs.JobError as exc:
            st.status = str(exc)
            self.report({"ERROR"}, f"MoMug: {exc}")
            return {"CANCELLED"}


class MOMUG_OT_randomize_seed(bpy.types.Operator):
    """Pick a random seed"""
    bl_idname = "momug.randomize_seed"
    bl_label = "Random Seed"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        _settings(context).randomize_seed()
        return {"FINISHED"}


class MOMUG_OT_history_apply(bpy.types.Operator):
    """Re-apply a past generation: load its settings, or assign its action again"""
    bl_idname = "momug.history_apply"
    bl_label = "Re-apply"
    bl_options = {"REGISTER", "UNDO"}

    mode: EnumProperty(items=(("SETTINGS", "Settings", "Load prompt, seed and settings"),
                              ("ACTION", "Action", "Make its action active on its object again")),
                       default="SETTINGS")

    def execute(self, context):
        st = _settings(context)
        if not (0 <= st.history_index < len(st.history)):
            self.report({"ERROR"}, "MoMug: no history entry selected")
            return {"CANCELLED"}
        item = st.history[st.history_index]
        if self.mode == "SETTINGS":
            st.prompt, st.seconds, st.seed = item.prompt, item.seconds, item.seed
            st.guidance, st.steps = item.guidance, item.steps
            return {"FINISHED"}
        action = bpy.data.actions.get(item.action_name)
        obj = bpy.data.objects.get(item.object_name)
        if action is None or obj is None:
            self.report({"ERROR"}, f"MoMug: '{item.action_name}' or '{item.object_name}' no longer exists")
            return {"CANCELLED"}
        anim = obj.animation_data or obj.animation_data_create()
        previous = anim.action
        if previous is not None and previous.users <= 1:
            previous.use_fake_user = True
        anim.action = action
        if hasattr(anim, "action_slot") and len(getattr(action, "slots", ())):
            anim.action_slot = action.slots[0]
        return {"FINISHED"}


class MOMUG_OT_copy_caption(bpy.types.Operator):
    """Copy the caption to the clipboard"""
    bl_idname = "momug.copy_caption"
    bl_label = "Copy Caption"

    def execute(self, context):
        context.window_manager.clipboard = _settings(context).caption
        return {"FINISHED"}


class MOMUG_OT_save_bone_map(bpy.types.Operator):
    """Save the chosen (or detected) bone map on the armature as its custom map"""
    bl_idname = "momug.save_bone_map"
    bl_label = "Save Bone Map on Rig"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return context.active_object is not None and context.active_object.type == "ARMATURE"

    def execute(self, context):
        obj = context.active_object
        mode = _settings(context).bone_map
        try:
            label, bone_map, missing, _ = bonemaps.resolve(obj, "AUTO" if mode == "CUSTOM" else mode)
        except bonemaps.BoneMapError as exc:
            self.report({"ERROR"}, f"MoMug: {exc}")
            return {"CANCELLED"}
        bonemaps.save_custom_map(obj, bone_map)
        msg = f"saved {len(bone_map)} bones from '{label}' on {obj.name}"
        if missing:
            msg += f"; unmapped joints: {', '.join(missing)}"
        self.report({"INFO"}, "MoMug: " + msg)
        return {"FINISHED"}


class MOMUG_OT_read_token(bpy.types.Operator):
    """Read the token written by the local backend"""
    bl_idname = "momug.read_token"
    bl_label = "Read Token"

    def execute(self, context):
        token = client.read_token()
        if not token:
            self.report({"ERROR"}, f"MoMug: no token in {client.config_dir()}; start the backend once")
            return {"CANCELLED"}
        prefs = preferences.get(context)
        if prefs is not preferences._Defaults:
            prefs.token = token
        self.report({"INFO"}, "MoMug: token read")
        return {"FINISHED"}


class MOMUG_OT_backend_check(bpy.types.Operator):
    """Ask the backend whether it is up"""
    bl_idname = "momug.backend_check"
    bl_label = "Check"

    def execute(self, context):
        st = context.scene.momug
        try:
            info = preferences.make_client(context, timeout=3.0).health()
        except client.BackendError as exc:
            st.backend_state = str(exc)
            self.report({"ERROR"}, f"MoMug: {exc}")
            return {"CANCELLED"}
        st.backend_state = client.health_summary(info)[:200]
        self.report({"INFO"}, "MoMug backend " + st.backend_state)
        return {"FINISHED"}


class MOMUG_OT_backend_start(bpy.types.Operator):
    """Start 'momug serve' as a child process of Blender"""
    bl_idname = "momug.backend_start"
    bl_label = "Start Backend"

    def execute(self, context):
        prefs = preferences.get(context)
        try:
            proc = server_process.start(prefs.python_command, prefs.backend_url, prefs.serve_args)
        except OSError as exc:
            self.report({"ERROR"}, f"MoMug: cannot run '{prefs.python_command}': {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"MoMug: backend starting (pid {proc.pid})")
        return {"FINISHED"}


class MOMUG_OT_backend_stop(bpy.types.Operator):
    """Stop the backend started from Blender"""
    bl_idname = "momug.backend_stop"
    bl_label = "Stop Backend"

    def execute(self, context):
        server_process.stop()
        return {"FINISHED"}


classes = (MOMUG_OT_generate, MOMUG_OT_describe, MOMUG_OT_randomize_seed, MOMUG_OT_history_apply,
           MOMUG_OT_copy_caption, MOMUG_OT_save_bone_map, MOMUG_OT_read_token,
           MOMUG_OT_backend_check, MOMUG_OT_backend_start, MOMUG_OT_backend_stop)
