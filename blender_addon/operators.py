"""Operators under bpy.ops.momug.*.

Generate and Describe run as modal operators when invoked from the UI: a worker thread does the
HTTP (never bpy), a timer polls it, Esc cancels. execute() runs the same job synchronously so
scripts, other add-ons and tests (timers and modal operators do not run in the bpy module) can call
bpy.ops.momug.generate() directly. With the panel's Stream option, Generate reads the backend's
event stream instead and the timer keys each chunk as it arrives (jobs.StreamKeyer).
"""

import bpy
from bpy.props import EnumProperty

from . import animator, bonemaps, client, describe, jobs, preferences, properties, server_process


def _settings(context):
    return context.scene.momug


def requested_guidance(st):
    """The guidance scale a generate request sends: None (the model's own) unless the user set one."""
    return None if st.model_guidance else st.guidance


def _record_history(st, result):
    item = st.history.add()
    for name in properties.HISTORY_SETTINGS:
        setattr(item, name, getattr(st, name))
    item.action_name, item.object_name = result.action.name, result.obj.name
    st.history_index = len(st.history) - 1


def _apply_kwargs(context, st):
    prefs = preferences.get(context)
    return dict(target=st.target, bone_map_mode=st.bone_map, root_motion=st.root_motion,
                translation_bone=st.translation_bone, push_to_nla=st.push_to_nla,
                prompt=st.prompt, model_path=prefs.smpl_model_path,
                python_command=prefs.python_command, betas=tuple(prefs.smpl_betas))


def _note_backend(st, error):
    """Keep the panel's backend line in step with what the last request found."""
    kind = getattr(error, "kind", "")
    if kind in ("down", "auth", "timeout"):
        st.backend_state = str(error)[:200]


# Modal jobs in flight in this Blender session. Scene.momug.running is only for the panel: it is
# saved with the .blend, so a file saved mid-job must not block Generate after it is reopened.
_active = set()


def is_busy():
    return bool(_active)


class _ModalJob:
    """Shared modal/timer plumbing for operators that run a jobs.Job in a worker thread.

    _begin starts a jobs.JobRunner and, when there is a window, a timer and a modal handler;
    _step is the whole modal logic for one event type ('TIMER', 'ESC', anything else), so tests
    can drive it without a window (the bpy module runs neither timers nor modal operators).
    """
    _timer = None
    _runner = None

    # Subclasses define _prepare(context) -> jobs.Job (raising jobs.JobError) and _finish(context),
    # and may define _tick(context) (each timer event while the job runs; may raise jobs.JobError)
    # and _abort(context) (on Esc and on failure: undo what _tick did).
    def _tick(self, context):
        pass

    def _abort(self, context):
        pass

    @classmethod
    def poll(cls, context):
        return context.scene is not None and not is_busy()

    def invoke(self, context, event):
        try:
            job = self._prepare(context)
        except jobs.JobError as exc:
            return self._fail(context, str(exc))
        return self._begin(context, job)

    def execute(self, context):
        try:
            return self._run_sync(context, self._prepare(context))
        except jobs.JobError as exc:
            return self._fail(context, str(exc))

    def _begin(self, context, job):
        st = _settings(context)
        self._runner = jobs.JobRunner(job).start()
        _active.add(self._runner)
        st.running, st.progress, st.status = True, 0.0, "sending"
        wm = context.window_manager
        if context.window is not None and isinstance(self, bpy.types.Operator):
            self._timer = wm.event_timer_add(0.1, window=context.window)
            wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def _end(self, context):
        st = _settings(context)
        _active.discard(self._runner)
        st.running = False
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        _redraw(context)

    def _fail(self, context, message):
        st = _settings(context)
        st.status = message
        self.report({"ERROR"}, f"MoMug: {message}")
        return {"CANCELLED"}

    def _step(self, context, event_type):
        st = _settings(context)
        job = self._runner.job
        if event_type == "ESC":
            self._runner.cancel()  # the worker cancels the backend job at its next poll
            self._abort(context)
            self._end(context)
            st.status = "cancelled"
            self.report({"WARNING"}, "MoMug: cancelled")
            return {"CANCELLED"}
        if event_type != "TIMER":
            return {"PASS_THROUGH"}
        st.progress = job.progress
        st.status = job.status
        state = self._runner.poll()
        try:
            self._tick(context)
        except jobs.JobError as exc:
            self._runner.cancel()
            self._abort(context)
            self._end(context)
            return self._fail(context, str(exc))
        _redraw(context)
        if state == "running":
            return {"RUNNING_MODAL"}
        self._end(context)
        if job.error is not None:
            self._abort(context)
            _note_backend(st, job.error)
            return self._fail(context, str(job.error))
        try:
            return self._finish(context)
        except jobs.JobError as exc:
            self._abort(context)
            return self._fail(context, str(exc))

    def modal(self, context, event):
        return self._step(context, event.type)

    def _run_sync(self, context, job):
        """execute(): the same job without the thread (scripts, other add-ons, tests)."""
        job.talk()
        if job.error is not None:
            _note_backend(_settings(context), job.error)
            raise jobs.JobError(str(job.error))
        self._runner = jobs.JobRunner(job)
        return self._finish(context)


def _redraw(context, area_type=None):
    for area in context.screen.areas if context.screen else ():
        if area_type is None or area.type == area_type:
            area.tag_redraw()


def make_generate_job(context, st):
    prefs = preferences.get(context)
    prefetch = None
    if st.target == "NEW_SMPL" and prefs.smpl_model_path:
        # Load the body model through smplx in the worker while the backend generates.
        from . import smpl_rig
        path = bpy.path.abspath(prefs.smpl_model_path)
        python, betas = prefs.python_command, tuple(prefs.smpl_betas)
        prefetch = lambda: smpl_rig.body_via_smplx(path, python, betas)  # noqa: E731
    elif st.target == "NEW_SMPL":
        # Build (first time) or find the cached anny body in the worker, off Blender's thread.
        from . import smpl_rig
        python, shape, height = prefs.python_command, prefs.body_shape, prefs.body_height
        prefetch = lambda: smpl_rig.body_via_anny(python, shape, height)  # noqa: E731
    if st.stream:
        if st.model != "default":
            raise jobs.JobError("The real-motion model has no streaming mode: turn Stream off, or choose "
                                "the Default model")
        return jobs.StreamJob(preferences.make_client(context), st.prompt, st.seconds, st.seed, st.steps,
                              timeout=prefs.request_timeout, prefetch=prefetch)
    return jobs.GenerateJob(preferences.make_client(context), st.prompt, st.seconds, st.seed,
                            requested_guidance(st), st.steps, timeout=prefs.request_timeout, prefetch=prefetch,
                            clean_feet=st.clean_feet, model=st.model)


def _generate_target(op):
    target = bpy.data.objects.get(op._target_name) if op._target_name else None
    if op._target_name and target is None:
        raise jobs.JobError(f"'{op._target_name}' no longer exists; select an armature again")
    return target


def tick_generate(op, context):
    """Timer step of a streamed Generate: key the chunks that arrived since the last step."""
    job = op._runner.job
    if not isinstance(job, jobs.StreamJob):
        return
    if op._keyer is None:
        if job.chunks.empty():
            return
        kwargs = _apply_kwargs(context, _settings(context))
        op._keyer = jobs.StreamKeyer(context, target_obj=_generate_target(op), fps=job.fps, **kwargs)
    if op._keyer.drain(job):
        context.view_layer.update()   # the viewport shows the new pose at the current frame


def abort_generate(op, context):
    """Esc or a failure mid-stream: remove the partial action (and a new rig)."""
    if op._keyer is not None:
        op._keyer.discard()
        op._keyer = None


def finish_generate(op, context):
    """Main-thread half of Generate: key the motion, record history, report."""
    st = _settings(context)
    job = op._runner.job
    if isinstance(job.health, dict):
        properties.set_limits(st, job.health.get("limits"))
        st.backend_state = client.health_summary(job.health)[:200]
    if isinstance(job, jobs.StreamJob):
        try:
            tick_generate(op, context)   # the last chunks (all of them when run without a timer)
            if op._keyer is None:
                raise jobs.JobError("the backend's stream held no frames")
            op._keyer.notes.extend(job.notes)
            result = op._keyer.finish()
            made_from = (job.start_info or {}).get("made_from")
            if isinstance(made_from, list):
                result.made_from = [str(p) for p in made_from]
        except BaseException:
            abort_generate(op, context)
            raise
        op._keyer = None
    else:
        motion = jobs.motion_from_result(job.result)
        kwargs = _apply_kwargs(context, st)
        result = jobs.apply_motion(context, motion, target_obj=_generate_target(op), notes=job.notes,
                                   **kwargs)
    _record_history(st, result)
    st.status = result.summary()
    level = "WARNING" if result.notes else "INFO"
    op.report({level}, "MoMug: " + result.summary())
    return {"FINISHED"}


class MOMUG_OT_generate(_ModalJob, bpy.types.Operator):
    """Generate a motion from the prompt and key it on the target (Esc cancels)"""
    bl_idname = "momug.generate"
    bl_label = "Generate"
    bl_options = {"REGISTER", "UNDO"}

    _target_name = ""
    _keyer = None

    def _prepare(self, context):
        st = _settings(context)
        target = jobs.check_target(context, st.target, st.bone_map)
        self._target_name = target.name if target is not None else ""
        self._keyer = None
        return make_generate_job(context, st)

    def _tick(self, context):
        tick_generate(self, context)

    def _abort(self, context):
        abort_generate(self, context)

    def _finish(self, context):
        return finish_generate(self, context)


def make_animate_job(op, context):
    """Main-thread half before the request: read the user's action (or the selected curve) into
    the constraints; raises jobs.JobError with the reason before anything is sent."""
    st = _settings(context)
    obj = context.active_object
    curve = next((o for o in context.selected_objects if o.type == "CURVE"), None)
    op._plan = animator.plan_tool(context, op.tool, obj, st.bone_map, st.seconds, tuple(sorted(st.keep_parts)),
                                  curve)
    prefs = preferences.get(context)
    return jobs.GenerateJob(preferences.make_client(context), st.prompt, op._plan.seconds, st.seed,
                            requested_guidance(st), st.steps, timeout=prefs.request_timeout, clean_feet=st.clean_feet,
                            constraints=op._plan.constraints, model=st.model)


def finish_animate(op, context):
    """Key the answer at the user's frames in a new Action; the user's action stays as it was."""
    st = _settings(context)
    job = op._runner.job
    if isinstance(job.health, dict):
        st.backend_state = client.health_summary(job.health)[:200]
    motion = jobs.motion_from_result(job.result)
    kwargs = _apply_kwargs(context, st)
    kwargs["root_motion"] = True   # the constraints say where the root goes
    for name in ("target", "push_to_nla"):
        kwargs.pop(name)
    result = animator.apply_plan(context, op._plan, motion, notes=job.notes, **kwargs)
    st.status = f"{animator.TOOLS[op.tool]}: " + result.summary()
    op.report({"WARNING" if result.notes else "INFO"}, "MoMug: " + st.status)
    return {"FINISHED"}


class MOMUG_OT_animate(_ModalJob, bpy.types.Operator):
    """Animator tools on the active armature's action: fill between its keys, continue it, follow
    the selected curve, or regenerate body parts; the result is a new Action (Esc cancels)"""
    bl_idname = "momug.animate"
    bl_label = "Animator Tool"
    bl_options = {"REGISTER", "UNDO"}

    tool: EnumProperty(name="Tool", items=[(k, v, "") for k, v in animator.TOOLS.items()], default="FILL")
    _plan = None

    @classmethod
    def poll(cls, context):
        obj = context.active_object
        return super().poll(context) and obj is not None and obj.type == "ARMATURE"

    @classmethod
    def description(cls, context, properties):
        return {
            "FILL": "Fill the frames between the active armature's keyed poses in the frame range "
                    "(the keys are met exactly)",
            "CONTINUE": "Carry the active action on from its last frame with the prompt, for Duration",
            "PATH": "Walk the selected curve in Duration while doing what the prompt says",
            "REGENERATE": "Keep the chosen body parts of the active action and regenerate the rest "
                          "from the prompt",
        }.get(properties.tool, cls.__doc__)

    def _prepare(self, context):
        return make_animate_job(self, context)

    def _finish(self, context):
        return finish_animate(self, context)


def finish_describe(op, context):
    st = _settings(context)
    text = jobs.caption_from_result(op._runner.job.result)
    obj = bpy.data.objects.get(op._object_name)
    if obj is None:
        raise jobs.JobError(f"'{op._object_name}' no longer exists; the caption was: {text}")
    describe.store_caption(obj, text)
    st.caption = text
    st.status = "caption ready"
    op.report({"INFO"}, f"MoMug: {text}")
    return {"FINISHED"}


class MOMUG_OT_describe(_ModalJob, bpy.types.Operator):
    """Caption the selected armature's animation; the caption is kept on its action"""
    bl_idname = "momug.describe"
    bl_label = "Describe Animation"
    bl_options = {"REGISTER", "UNDO"}

    _object_name = ""

    def _prepare(self, context):
        st = _settings(context)
        obj = context.active_object
        joints, _ = jobs.prepare_describe(context, obj, st.bone_map)
        self._object_name = obj.name
        prefs = preferences.get(context)
        return jobs.CaptionJob(preferences.make_client(context), joints,
                               timeout=prefs.request_timeout, model=st.model)

    def _finish(self, context):
        return finish_describe(self, context)


class MOMUG_OT_randomize_seed(bpy.types.Operator):
    """Pick a random seed"""
    bl_idname = "momug.randomize_seed"
    bl_label = "Random Seed"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        _settings(context).randomize_seed()
        return {"FINISHED"}


class MOMUG_OT_history_apply(bpy.types.Operator):
    """Re-apply a past generation: load its settings, generate it again, or use its action again"""
    bl_idname = "momug.history_apply"
    bl_label = "Re-apply"
    bl_options = {"REGISTER", "UNDO"}

    mode: EnumProperty(items=(
        ("SETTINGS", "Load Settings", "Load its prompt, seed and settings into the panel"),
        ("GENERATE", "Regenerate", "Load its settings and generate again (same seed, same motion) "
                                   "on the same armature"),
        ("ACTION", "Use Action", "Make its action the active one on its object again")),
        default="SETTINGS")

    @classmethod
    def poll(cls, context):
        st = context.scene.momug if context.scene else None
        return st is not None and 0 <= st.history_index < len(st.history) and not is_busy()

    def _load_settings(self, st, item):
        for name in properties.HISTORY_SETTINGS:
            value = getattr(item, name)
            try:
                setattr(st, name, value)
            except TypeError:  # a bone map preset that is gone: keep the current one
                self.report({"WARNING"}, f"MoMug: bone map '{value}' is not available")

    def invoke(self, context, event):
        return self._run(context, invoke=True)

    def execute(self, context):
        return self._run(context, invoke=False)

    def _run(self, context, invoke):
        st = _settings(context)
        if not (0 <= st.history_index < len(st.history)):
            self.report({"ERROR"}, "MoMug: no history entry selected")
            return {"CANCELLED"}
        item = st.history[st.history_index]
        if self.mode == "ACTION":
            return self._use_action(item)
        if self.mode == "GENERATE" and item.target == "ACTIVE":
            obj = bpy.data.objects.get(item.object_name)
            if obj is None or obj.name not in context.view_layer.objects:
                self.report({"ERROR"}, f"MoMug: '{item.object_name}' is not in this view layer")
                return {"CANCELLED"}
        self._load_settings(st, item)
        if self.mode == "SETTINGS":
            return {"FINISHED"}
        if item.target == "ACTIVE":
            context.view_layer.objects.active = bpy.data.objects[item.object_name]
        # Generate is its own undo step; this operator only loaded settings.
        if invoke and context.window is not None:
            bpy.ops.momug.generate("INVOKE_DEFAULT")  # runs on as its own modal operator
            return {"FINISHED"}
        try:
            return bpy.ops.momug.generate("EXEC_DEFAULT")
        except RuntimeError as exc:
            self.report({"ERROR"}, str(exc).replace("Error: ", "").strip())
            return {"CANCELLED"}

    def _use_action(self, item):
        action = bpy.data.actions.get(item.action_name)
        obj = bpy.data.objects.get(item.object_name)
        if action is None or obj is None:
            self.report({"ERROR"}, f"MoMug: '{item.action_name}' or '{item.object_name}' no longer exists")
            return {"CANCELLED"}
        if obj.type != "ARMATURE":
            self.report({"ERROR"}, f"MoMug: '{obj.name}' is no longer an armature")
            return {"CANCELLED"}
        anim = obj.animation_data or obj.animation_data_create()
        previous = anim.action
        if previous is not None and previous.users <= 1:
            previous.use_fake_user = True
        anim.action = action
        if hasattr(anim, "action_slot") and len(getattr(action, "slots", ())):
            anim.action_slot = action.slots[0]
        self.report({"INFO"}, f"MoMug: '{action.name}' is active on '{obj.name}' again")
        return {"FINISHED"}


class MOMUG_OT_copy_caption(bpy.types.Operator):
    """Copy the caption to the clipboard"""
    bl_idname = "momug.copy_caption"
    bl_label = "Copy Caption"

    @classmethod
    def poll(cls, context):
        return context.scene is not None and bool(context.scene.momug.caption)

    def execute(self, context):
        context.window_manager.clipboard = _settings(context).caption
        self.report({"INFO"}, "MoMug: caption copied")
        return {"FINISHED"}


def _active_armature(context):
    obj = context.active_object
    return obj if obj is not None and obj.type == "ARMATURE" else None


class _OnActiveArmature:
    """Operators that work on the active armature (undoable)."""
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return _active_armature(context) is not None


class MOMUG_OT_edit_bone_map(_OnActiveArmature, bpy.types.Operator):
    """Show the bone map of the active armature (detected, preset or saved) for editing, one SMPL
    joint per row; Save Bone Map keeps it on the rig as its custom map"""
    bl_idname = "momug.edit_bone_map"
    bl_label = "Edit Bone Map"

    def execute(self, context):
        obj = _active_armature(context)
        st = _settings(context)
        try:
            _, found, _, _ = bonemaps.resolve(obj, st.bone_map)
        except bonemaps.BoneMapError:
            # An unrecognised rig: start from whatever names match, and let the user fill in the rest.
            found = {}
            for pid in bonemaps.preset_ids():
                m = bonemaps.match_preset(list(obj.data.bones.keys()), bonemaps.load_preset(pid))
                if len(m) > len(found):
                    found = m
        st.map_rows.clear()
        for joint in bonemaps.smpl_skeleton().names:
            row = st.map_rows.add()
            row.joint, row.bone = joint, found.get(joint, "")
        st.map_rows_object = obj.name
        return {"FINISHED"}


class MOMUG_OT_save_bone_map(_OnActiveArmature, bpy.types.Operator):
    """Save the bone map on the armature as its custom map: the edited rows when they are shown
    for this armature, else the chosen (or detected) preset's map"""
    bl_idname = "momug.save_bone_map"
    bl_label = "Save Bone Map on Rig"

    def execute(self, context):
        obj = _active_armature(context)
        st = _settings(context)
        if st.map_rows_object == obj.name and len(st.map_rows):
            bones = obj.data.bones
            bad = [f"{r.joint}: {r.bone}" for r in st.map_rows if r.bone and r.bone not in bones]
            if bad:
                self.report({"ERROR"}, f"MoMug: not bones of {obj.name}: {', '.join(bad)}")
                return {"CANCELLED"}
            bone_map = {r.joint: r.bone for r in st.map_rows if r.bone}
            label = "edited rows"
        else:
            mode = st.bone_map
            try:
                label, bone_map, _, _ = bonemaps.resolve(obj, "AUTO" if mode == "CUSTOM" else mode)
            except bonemaps.BoneMapError as exc:
                self.report({"ERROR"}, f"MoMug: {exc}")
                return {"CANCELLED"}
        used = [b for b in bone_map.values()]
        if len(set(used)) != len(used):
            dup = sorted({b for b in used if used.count(b) > 1})
            self.report({"ERROR"}, f"MoMug: a bone can drive one joint only: {', '.join(dup)}")
            return {"CANCELLED"}
        bonemaps.save_custom_map(obj, bone_map)
        missing = [j for j in bonemaps.smpl_skeleton().names if j not in bone_map]
        core = [j for j in bonemaps.CORE_JOINTS if j not in bone_map]
        msg = f"saved {len(bone_map)} bones from {label} on {obj.name}"
        if missing:
            msg += f"; unmapped joints: {', '.join(missing)}"
        if core:
            msg += "; the map cannot be used until these are mapped: " + ", ".join(core)
        self.report({"WARNING"} if core else {"INFO"}, "MoMug: " + msg)
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
        note = properties.set_limits(st, info.get("limits"))
        self.report({"WARNING"} if note else {"INFO"},
                    "MoMug backend " + st.backend_state + (f"; {note}" if note else ""))
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


classes = (MOMUG_OT_generate, MOMUG_OT_animate, MOMUG_OT_describe, MOMUG_OT_randomize_seed, MOMUG_OT_history_apply,
           MOMUG_OT_copy_caption, MOMUG_OT_edit_bone_map, MOMUG_OT_save_bone_map, MOMUG_OT_read_token,
           MOMUG_OT_backend_check, MOMUG_OT_backend_start, MOMUG_OT_backend_stop)
