"""MoMug for Blender: text-to-motion keyframes and "Describe animation" from a local backend.

The add-on never imports torch: it talks to `momug serve` over HTTP on 127.0.0.1 and does the
rig work with bpy, mathutils and numpy.
"""

if "bpy" in locals():
    import importlib
    for _mod in (coords, keying, bonemaps, rigify, retarget, smpl_rig, describe, animator,  # noqa: F821
                 client, server_process, jobs, preferences, properties, operators,  # noqa: F821
                 panels):  # noqa: F821
        importlib.reload(_mod)

import bpy

from . import (animator, bonemaps, client, coords, describe, jobs, keying, operators, panels,  # noqa: F401
               preferences, properties, retarget, rigify, server_process, smpl_rig)

_classes = preferences.classes + properties.classes + operators.classes + panels.classes


def register():
    for cls in _classes:
        bpy.utils.register_class(cls)
    properties.register_props()


def unregister():
    # Stop a backend we started, so Blender does not leave it running.
    server_process.stop()
    properties.unregister_props()
    for cls in reversed(_classes):
        bpy.utils.unregister_class(cls)
