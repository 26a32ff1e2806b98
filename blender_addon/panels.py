"""The sidebar panel (3D View > Sidebar > MoMug)."""

import bpy

from . import operators, server_process


class MOMUG_UL_history(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        row = layout.row()
        row.label(text=item.prompt, icon="ACTION")
        row.label(text=f"{item.seconds:g} s, seed {item.seed}, {item.steps} steps")


class _Panel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "MoMug"


class MOMUG_PT_main(_Panel, bpy.types.Panel):
    bl_label = "MoMug"

    def draw(self, context):
        layout = self.layout
        st = context.scene.momug
        layout.prop(st, "prompt", text="")
        layout.prop(st, "model")
        col = layout.column(align=True)
        col.prop(st, "seconds")
        if st.limit_max_seconds > 0:
            col.label(text=f"Model: {st.limit_min_seconds:g} to {st.limit_max_seconds:g} s", icon="INFO")
        if st.seconds_note:
            col.label(text=st.seconds_note, icon="ERROR")
        row = col.row(align=True)
        row.prop(st, "seed")
        row.operator("momug.randomize_seed", text="", icon="FILE_REFRESH")
        sub = col.column(align=True)
        sub.active = not st.stream   # the streaming model uses its own guidance
        sub.prop(st, "model_guidance")
        row = sub.row()
        row.active = not st.model_guidance
        row.prop(st, "guidance")
        sub.prop(st, "clean_feet")
        col.prop(st, "steps")
        col.prop(st, "stream")
        if st.stream and st.model != "default":
            col.label(text="Real motion has no streaming mode", icon="ERROR")

        box = layout.box()
        box.prop(st, "target")
        if st.target == "ACTIVE":
            obj = context.active_object
            if obj is None or obj.type != "ARMATURE":
                box.label(text="Select an armature", icon="ERROR")
            row = box.row(align=True)
            row.prop(st, "bone_map")
            row.operator("momug.edit_bone_map", text="", icon="GREASEPENCIL")
            row.operator("momug.save_bone_map", text="", icon="FILE_TICK")
            if obj is not None and obj.type == "ARMATURE" and st.map_rows_object == obj.name:
                grid = box.column(align=True)
                for r in st.map_rows:
                    grid.prop_search(r, "bone", obj.data, "bones", text=r.joint)
        box.prop(st, "root_motion")
        box.prop(st, "translation_bone")
        box.prop(st, "push_to_nla")

        running = st.running and operators.is_busy()
        if running:
            if hasattr(layout, "progress"):
                layout.progress(factor=st.progress, type="BAR", text=f"{st.status} (Esc cancels)")
            else:
                layout.label(text=f"{st.status} {st.progress:.0%} (Esc cancels)")
        layout.operator("momug.generate", icon="PLAY")
        if st.status and not running:
            layout.label(text=st.status)


class MOMUG_PT_animator(_Panel, bpy.types.Panel):
    bl_label = "Animator Tools"
    bl_parent_id = "MOMUG_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        st = context.scene.momug
        obj = context.active_object
        if obj is None or obj.type != "ARMATURE":
            layout.label(text="Select an armature with an action", icon="INFO")
        col = layout.column(align=True)
        col.operator("momug.animate", text="Fill Between Keys", icon="KEYFRAME").tool = "FILL"
        col.operator("momug.animate", text="Continue", icon="NEXT_KEYFRAME").tool = "CONTINUE"
        col.operator("momug.animate", text="Follow Path", icon="CURVE_PATH").tool = "PATH"
        box = layout.box()
        box.label(text="Keep from the action:")
        box.prop(st, "keep_parts")
        box.operator("momug.animate", text="Regenerate the Rest", icon="FILE_REFRESH").tool = "REGENERATE"


class MOMUG_PT_describe(_Panel, bpy.types.Panel):
    bl_label = "Describe Animation"
    bl_parent_id = "MOMUG_PT_main"

    def draw(self, context):
        layout = self.layout
        st = context.scene.momug
        layout.operator("momug.describe", icon="TEXT")
        if st.caption:
            layout.prop(st, "caption", text="")
            layout.operator("momug.copy_caption", icon="COPYDOWN")


class MOMUG_PT_history(_Panel, bpy.types.Panel):
    bl_label = "History"
    bl_parent_id = "MOMUG_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        st = context.scene.momug
        layout.template_list("MOMUG_UL_history", "", st, "history", st, "history_index", rows=3)
        row = layout.row(align=True)
        row.operator("momug.history_apply", text="Load Settings").mode = "SETTINGS"
        row.operator("momug.history_apply", text="Regenerate").mode = "GENERATE"
        row.operator("momug.history_apply", text="Use Action").mode = "ACTION"


class MOMUG_PT_backend(_Panel, bpy.types.Panel):
    bl_label = "Backend"
    bl_parent_id = "MOMUG_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        st = context.scene.momug
        layout.label(text="Backend: " + st.backend_state)
        layout.label(text="Process: " + server_process.state())
        row = layout.row(align=True)
        row.operator("momug.backend_check", icon="URL")
        row.operator("momug.backend_start", text="Start", icon="PLAY")
        row.operator("momug.backend_stop", text="Stop", icon="PAUSE")


classes = (MOMUG_UL_history, MOMUG_PT_main, MOMUG_PT_animator, MOMUG_PT_describe, MOMUG_PT_history, MOMUG_PT_backend)
