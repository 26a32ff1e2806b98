"""Run in a fresh bpy process by test_install_extension.py: install the built zip with Blender's
own extension installer, enable it, use it, disable it. Prints OK lines the test looks for."""

import os
import sys

import bpy
import addon_utils

zip_path = sys.argv[-1]
result = bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default",
                                                  enable_on_install=True)
print("INSTALL", result)
module = "bl_ext.user_default.momug"
enabled = {m for m in bpy.context.preferences.addons.keys()}
print("ENABLED", module in enabled)
print("OPERATOR", hasattr(bpy.ops.momug, "generate") and "MOMUG_OT_generate" in dir(bpy.types))
prefs = bpy.context.preferences.addons[module].preferences
print("PREFS_URL", prefs.backend_url)
# The installed copy finds its rig data inside the zip and builds an SMPL rig.
import importlib
pkg = importlib.import_module(module)
print("RIGS_DIR", pkg.bonemaps.rigs_dir())
print("PRESETS", ",".join(pkg.bonemaps.preset_ids()))
arm = pkg.smpl_rig.create_smpl_rig(bpy.context)
print("BONES", len(arm.data.bones))
print("TORCH_IMPORTED", "torch" in sys.modules)
bpy.ops.preferences.addon_disable(module=module)
print("DISABLED", module not in bpy.context.preferences.addons.keys())
# bpy 4.2's module teardown can segfault after a headless run; every check has printed by now.
sys.stdout.flush()
os._exit(0)
