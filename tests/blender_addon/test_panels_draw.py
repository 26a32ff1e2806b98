"""The sidebar panels, the history list and the preferences draw without errors in every state.
Blender cannot draw headless, so draw() runs against a layout that checks each property name
it is given against the data it is given, and each operator name against bpy.ops.momug."""

import types

import bpy
from blender_addon import panels, preferences
from rigs_for_tests import make_mixamo


class FakeLayout:
    def __init__(self, log):
        self.log = log

    def _sub(self, *args, **kwargs):
        return FakeLayout(self.log)

    row = column = box = split = _sub

    def prop(self, data, name, **kwargs):
        assert name in data.bl_rna.properties, f"{type(data).__name__} has no property {name!r}"
        self.log.append(("prop", name))

    def prop_search(self, data, name, search_data, search_name, **kwargs):
        assert name in data.bl_rna.properties and search_name in search_data.bl_rna.properties
        self.log.append(("prop_search", name))

    def operator(self, idname, **kwargs):
        module, name = idname.split(".")
        assert module == "momug" and hasattr(bpy.ops.momug, name), idname
        self.log.append(("operator", idname))
        return types.SimpleNamespace(mode=None)

    def label(self, text="", **kwargs):
        self.log.append(("label", text))

    def progress(self, **kwargs):
        self.log.append(("progress", kwargs.get("text", "")))

    def template_list(self, *args, **kwargs):
        self.log.append(("template_list", args[0]))


def draw_all(context):
    log = []
    for cls in panels.classes:
        if issubclass(cls, bpy.types.Panel):
            cls.draw(types.SimpleNamespace(layout=FakeLayout(log)), context)
    return log


def test_panels_draw_in_each_state(addon, scene):
    st = scene.momug
    st.target = "NEW_SMPL"
    log = draw_all(bpy.context)
    assert ("operator", "momug.generate") in log and ("operator", "momug.describe") in log
    assert ("template_list", "MOMUG_UL_history") in log

    obj, _ = make_mixamo()
    bpy.context.view_layer.objects.active = obj
    st.target = "ACTIVE"
    bpy.ops.momug.edit_bone_map()
    st.running, st.status, st.caption = True, "running", "a person walks"
    st.limit_min_seconds, st.limit_max_seconds = 2.0, 9.8
    try:
        log = draw_all(bpy.context)
        assert sum(1 for k, _ in log if k == "prop_search") == 22
        assert ("operator", "momug.copy_caption") in log
        assert any(k == "label" and "9.8" in t for k, t in log)
    finally:
        st.running, st.status, st.caption = False, "", ""
        st.limit_min_seconds = st.limit_max_seconds = 0.0
        st.map_rows.clear()
        st.map_rows_object = ""


def test_history_item_and_preferences_draw(addon, scene):
    st = scene.momug
    item = st.history.add()
    item.prompt, item.seconds, item.seed, item.steps = "a person waves", 3.0, 7, 20
    log = []
    panels.MOMUG_UL_history.draw_item(None, bpy.context, FakeLayout(log), st, item, 0, st,
                                      "history_index", 0)
    assert ("label", "a person waves") in log
    st.history.remove(len(st.history) - 1)

    # The preferences' draw, with property names checked against the real AddonPreferences RNA.
    log.clear()
    fake = types.SimpleNamespace(layout=FakeLayout(log), smpl_model_path="/x/SMPL_NEUTRAL.pkl",
                                 bl_rna=preferences.MOMUG_AP_preferences.bl_rna)
    preferences.MOMUG_AP_preferences.draw(fake, bpy.context)
    assert ("prop", "smpl_betas") in log and ("operator", "momug.backend_start") in log
