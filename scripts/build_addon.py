#!/usr/bin/env python3
"""Build the installable Blender extension zip: blender_addon/ plus the rig data from rigs/ and
the backend's automatic bone mapper (automap.py).

    python scripts/build_addon.py -o DIR [--blender-ext PATH/TO/blender_ext.py]

Prints the zip's path. With Blender's own extension tool (bl_pkg/cli/blender_ext.py, found in a
Blender or bpy install, or given with --blender-ext / $MOMUG_BLENDER_EXT) the zip is built and
validated by it; otherwise it is zipped here the same way (manifest at the zip's root).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADDON = os.path.join(ROOT, "blender_addon")
RIGS = os.path.join(ROOT, "rigs")
# The automatic bone mapper is one file shared with the backend (numpy only, no momug imports).
AUTOMAP = os.path.join(ROOT, "backend", "momug", "motion", "automap.py")
SKIP_DIRS = {"__pycache__", ".git", ".pytest_cache"}
SKIP_SUFFIXES = (".pyc", ".pyo", ".blend1")


def stage(dest):
    """Copy the add-on, rigs/ and automap.py into dest (the layout inside the zip)."""
    ignore = shutil.ignore_patterns(*SKIP_DIRS, *("*" + s for s in SKIP_SUFFIXES))
    shutil.copytree(ADDON, dest, ignore=ignore)
    shutil.copytree(RIGS, os.path.join(dest, "rigs"), ignore=ignore)
    shutil.copy2(AUTOMAP, os.path.join(dest, "automap.py"))


def find_blender_ext():
    path = os.environ.get("MOMUG_BLENDER_EXT")
    if path and os.path.isfile(path):
        return path
    try:  # a bpy module on this interpreter carries the tool
        import importlib.util
        spec = importlib.util.find_spec("bpy")
    except (ImportError, ValueError):
        spec = None
    if spec and spec.submodule_search_locations:
        base = list(spec.submodule_search_locations)[0]
        for dirpath, dirnames, filenames in os.walk(base):
            if "blender_ext.py" in filenames and dirpath.endswith(os.path.join("bl_pkg", "cli")):
                return os.path.join(dirpath, "blender_ext.py")
    return None


def zip_dir(src, zip_path):
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for dirpath, dirnames, filenames in os.walk(src):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            for name in sorted(filenames):
                if name.endswith(SKIP_SUFFIXES):
                    continue
                full = os.path.join(dirpath, name)
                zf.write(full, os.path.relpath(full, src))


def build(out_dir, blender_ext=None):
    with open(os.path.join(ADDON, "blender_manifest.toml"), "rb") as f:
        manifest = tomllib.load(f)
    os.makedirs(out_dir, exist_ok=True)
    zip_path = os.path.join(os.path.abspath(out_dir), f"{manifest['id']}-{manifest['version']}.zip")
    if os.path.exists(zip_path):
        os.remove(zip_path)
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, manifest["id"])
        stage(src)
        tool = blender_ext or find_blender_ext()
        if tool:
            cmd = [sys.executable, tool, "build", "--source-dir", src,
                   "--output-filepath", zip_path]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                sys.stderr.write(proc.stdout + proc.stderr)
                raise SystemExit(f"blender_ext.py build failed ({proc.returncode})")
        else:
            zip_dir(src, zip_path)
    return zip_path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output-dir", default="dist", help="folder for the zip (default: dist)")
    parser.add_argument("--blender-ext", default=None,
                        help="path to Blender's bl_pkg/cli/blender_ext.py (optional)")
    args = parser.parse_args(argv)
    print(build(args.output_dir, args.blender_ext))


if __name__ == "__main__":
    main()
