"""Batch motions onto a rig in Blender, without the UI: one action per prompt, exported as FBX,
glTF binary and/or a .blend.

    blender -b -P scripts/blender_batch.py -- prompts.txt -o out/ --rig smpl
    blender -b -P scripts/blender_batch.py -- prompts.jsonl -o out/ --rig hero.blend --format fbx,glb
    python scripts/blender_batch.py prompts.txt -o out/ --rig smpl      # with the bpy module

Generation is `momug batch` run by the backend's Python (Blender's has no torch): --python,
else $MOMUG_PYTHON, else `momug` on PATH. It is resumable, so a rerun only generates what is
missing; --no-generate uses the finished items already in out/manifest.json. Retargeting and
keying are the add-on's own code (blender_addon.jobs.apply_motion), imported from this checkout.

Writes out/blender/: NAME.fbx and NAME.glb (the rig with that one action), RIG.blend (the rig
with every action, kept by fake users) and exports.json (files, checksums, errors). A .jsonl
line's "rig" (smpl or a .blend path, relative to the prompts file) overrides --rig for it.
The session's scene is cleared for each rig: run it in a fresh Blender.
"""

import argparse
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORMATS = ("fbx", "glb", "blend")
EXPORTS_NAME = "exports.json"
_MAX_ID_BYTES = 63


def _import_paths():
    """The add-on package from this checkout, and the backend's stdlib-only batch modules
    (manifest reading) when the backend is not installed in Blender's Python."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    try:
        import momug.batch.manifest  # noqa: F401
    except ImportError:
        sys.path.insert(0, os.path.join(ROOT, "backend"))


def script_argv():
    """Arguments after '--' under `blender -P`, else the command line's own."""
    if "--" in sys.argv:
        return sys.argv[sys.argv.index("--") + 1:]
    return sys.argv[1:]


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="blender -b -P scripts/blender_batch.py --",
        description="Generate motions for a prompts file (momug batch) and key them onto a rig, "
        "one action per prompt, exported as FBX / glTF binary / .blend.")
    p.add_argument("prompts", help="prompts file (.txt or .jsonl), as for `momug batch`")
    p.add_argument("-o", "--output", required=True, help="batch folder (exports go to OUTPUT/blender)")
    p.add_argument("--rig", required=True, help="'smpl' (a new SMPL-22 rig) or a .blend file with the armature")
    p.add_argument("--rig-object", help="armature object to use when the .blend holds several")
    p.add_argument("--body", default="neutral",
                   help="body of a new SMPL rig: an anny body type (neutral, female, male, slim, heavy, "
                        "muscular; needs the backend's 'body' extra, else boxes) or 'boxes' (default neutral)")
    p.add_argument("--body-height", type=float, default=0.0,
                   help="height of that body and rig in metres (default 0: the SMPL-22 rig's own)")
    p.add_argument("--format", default="fbx,glb,blend", help="comma-separated: fbx, glb, blend (default all)")
    p.add_argument("--bone-map", default="AUTO", help="AUTO, CUSTOM or a preset id (default AUTO)")
    p.add_argument("--in-place", action="store_true", help="keep the hips over the rig's origin (no travel)")
    p.add_argument("--fps", type=float, help="frame rate of the actions (default: the motions' own, 20)")
    p.add_argument("--no-generate", action="store_true", help="only use items already finished in OUTPUT")
    p.add_argument("--python", help="Python with momug installed (default $MOMUG_PYTHON, else `momug` on PATH)")
    g = p.add_argument_group("passed on to `momug batch`")
    for flag, kind in (("--model", str), ("--checkpoint", str), ("--seconds", float), ("--seed", int), ("--steps", int),
                       ("--guidance", float), ("--batch-size", int), ("--device", str)):
        g.add_argument(flag, type=kind)
    g.add_argument("--no-foot-cleanup", action="store_true", help="keep the model's raw foot motion")
    g.add_argument("--whole-prompt", action="store_true",
                   help="give the model each whole prompt, even one that names actions in order")
    args = p.parse_args(argv)
    args.formats = [f.strip().lower() for f in args.format.split(",") if f.strip()]
    bad = [f for f in args.formats if f not in FORMATS]
    if bad or not args.formats:
        p.error(f"--format takes a comma-separated list of {', '.join(FORMATS)}; got {args.format!r}")
    return args


# --- generation (the backend, in its own Python) ---------------------------------------------

def backend_command(args):
    python = args.python or os.environ.get("MOMUG_PYTHON")
    if python:
        return [python, "-m", "momug.cli"]
    exe = shutil.which("momug")
    return [exe] if exe else None


def generate(args):
    """Run `momug batch` (it skips finished items). Its exit status 1 means some items failed;
    those are reported from the manifest, the rest are still exported."""
    cmd = backend_command(args)
    if cmd is None:
        raise SystemExit("blender_batch: no backend to generate with: pass --python PATH (a Python with "
                         "momug installed), set MOMUG_PYTHON, put `momug` on PATH, or use --no-generate")
    cmd += ["batch", args.prompts, "-o", args.output]
    for flag in ("model", "checkpoint", "seconds", "seed", "steps", "guidance", "batch_size", "device"):
        value = getattr(args, flag)
        if value is not None:
            cmd += ["--" + flag.replace("_", "-"), str(value)]
    for flag in ("no_foot_cleanup", "whole_prompt"):
        if getattr(args, flag):
            cmd.append("--" + flag.replace("_", "-"))
    print("blender_batch: " + " ".join(cmd), flush=True)
    rc = subprocess.run(cmd).returncode
    if rc not in (0, 1):
        raise SystemExit(f"blender_batch: `momug batch` failed (exit status {rc})")


# --- the rig ------------------------------------------------------------------------------------

def clear_scene():
    import bpy

    for coll in (bpy.data.objects, bpy.data.armatures, bpy.data.meshes, bpy.data.actions, bpy.data.materials):
        for item in list(coll):
            coll.remove(item)


def load_rig(context, spec, object_name=None, args=None):
    """A new SMPL rig for 'smpl' (with the body args.body asks for), else the armature (and the
    meshes parented to it) appended from a .blend."""
    import bpy
    from blender_addon import smpl_rig

    if spec.lower() == "smpl":
        body = getattr(args, "body", "neutral") or "neutral"
        notes = []
        # The anny body is built by the backend's Python (it has momug and the body extra).
        python = getattr(args, "python", None) or os.environ.get("MOMUG_PYTHON") or "python3"
        rig = smpl_rig.create_smpl_rig(
            context, name="SMPL", python_command=python, notes=notes,
            body="BOXES" if body == "boxes" else "AUTO", body_shape=None if body == "boxes" else body,
            body_height=getattr(args, "body_height", 0.0) or 0.0)
        for note in notes:
            print(f"blender_batch: {note}", flush=True)
        return rig
    if not spec.lower().endswith(".blend") or not os.path.isfile(spec):
        raise ValueError(f"--rig must be 'smpl' or an existing .blend file, got {spec!r}")
    with bpy.data.libraries.load(spec, link=False) as (src, dst):
        dst.objects = list(src.objects)
    appended = [o for o in dst.objects if o is not None]
    armatures = [o for o in appended if o.type == "ARMATURE"]
    if object_name:
        armatures = [o for o in armatures if o.name == object_name]
    if len(armatures) != 1:
        names = ", ".join(o.name for o in appended if o.type == "ARMATURE") or "none"
        for o in appended:
            bpy.data.objects.remove(o)
        raise ValueError(f"{spec}: expected one armature{f' named {object_name!r}' if object_name else ''} "
                         f"(armatures: {names}); pick one with --rig-object")
    rig = armatures[0]
    keep = {rig} | set(deformed_by(rig, appended))
    for o in appended:
        if o in keep:
            context.collection.objects.link(o)
        else:
            bpy.data.objects.remove(o)
    if rig.animation_data is not None:
        rig.animation_data.action = None  # exports carry only our actions
    # An appended object's matrix_world stays identity until the view layer is evaluated, and
    # the retarget reads it (a rig with an object scale would be sized wrongly).
    context.view_layer.update()
    return rig


def deformed_by(rig, objects):
    """Meshes that move with the rig: parented to it or deformed by an Armature modifier on it."""
    return [o for o in objects if o.type == "MESH" and (
        o.parent == rig or any(m.type == "ARMATURE" and m.object == rig for m in o.modifiers))]


# --- motions and actions --------------------------------------------------------------------------

def load_motion(path):
    """An .npz motion file as the motion dict the add-on's apply_motion takes (still Y up)."""
    import numpy as np

    with np.load(path, allow_pickle=False) as data:
        return {"joints": np.asarray(data["joints"], dtype=np.float64),
                "rotations": np.asarray(data["rotations"], dtype=np.float64),
                "root_translation": np.asarray(data["root_translation"], dtype=np.float64),
                "fps": float(data["fps"]) if "fps" in data else 20.0}


def set_fps(scene, fps):
    scene.render.fps = max(1, int(round(fps)))
    scene.render.fps_base = scene.render.fps / fps


def activate(obj, action):
    """Make an existing action the rig's active one (with its slot on 4.4+)."""
    anim = obj.animation_data or obj.animation_data_create()
    anim.action = action
    if getattr(action, "slots", None) and hasattr(anim, "action_slot"):
        anim.action_slot = action.slots[0]


def id_name(text):
    while len(text.encode("utf-8")) > _MAX_ID_BYTES:
        text = text[:-1]
    return text


def key_item(context, rig, record, folder, args):
    """One action on rig for one finished batch item, frames 1..T, left active.
    Returns (action, scale of the motion on this rig)."""
    from blender_addon import jobs

    motion = load_motion(os.path.join(folder, record["files"]["npz"]["file"]))
    scene = context.scene
    scene.frame_current = 1
    result = jobs.apply_motion(context, motion, target_obj=rig, bone_map_mode=args.bone_map,
                               root_motion=not args.in_place, prompt=record.get("prompt", ""))
    action = result.action
    action.name = id_name(record["name"])
    action.use_fake_user = True  # every prompt's action survives in the .blend
    action.use_frame_range = True  # exporters and the Action editor use the motion's own range
    action.frame_start, action.frame_end = float(result.frames[0]), float(result.frames[-1])
    action["momug_batch_item"] = record["name"]
    return action, result.scale


# --- exports -----------------------------------------------------------------------------------

def _enable_exporters(formats):
    import addon_utils

    for fmt, module in (("fbx", "io_scene_fbx"), ("glb", "io_scene_gltf2")):
        if fmt in formats:
            addon_utils.enable(module, default_set=False)


def _select_only(context, objects):
    context.view_layer.update()  # objects linked since the last update cannot be selected yet
    for o in context.view_layer.objects:
        o.select_set(o in objects)
    context.view_layer.objects.active = objects[0]


def _atomic(final, write):
    """write(tmp_path) then rename onto final, so a crash never leaves a half file under final's name."""
    folder, name = os.path.split(final)
    stem, ext = os.path.splitext(name)
    tmp = os.path.join(folder, f".{stem}.tmp{ext}")
    try:
        write(tmp)
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def export_fbx(path, context):
    import bpy

    # The active action only, baked on every frame with no simplification; no extra leaf bones.
    # FBX names that one take after the scene, so the scene wears the action's name meanwhile.
    scene = context.scene
    scene_name, scene.name = scene.name, context.active_object.animation_data.action.name
    try:
        _atomic(path, lambda tmp: bpy.ops.export_scene.fbx(
            filepath=tmp, use_selection=True, object_types={"ARMATURE", "MESH"}, add_leaf_bones=False,
            bake_anim=True, bake_anim_use_all_actions=False, bake_anim_use_nla_strips=False,
            bake_anim_force_startend_keying=True, bake_anim_simplify_factor=0.0, bake_anim_step=1.0))
    finally:
        scene.name = scene_name


def export_glb(path, context):
    import bpy

    # ACTIVE_ACTIONS merges the selected objects' active actions into one animation, named here.
    # export_anim_single_armature off: Blender 4.2's exporter otherwise also gathers every other
    # armature action in the file (the earlier prompts') into that animation, and the first wins.
    name = context.active_object.animation_data.action.name
    _atomic(path, lambda tmp: bpy.ops.export_scene.gltf(
        filepath=tmp, export_format="GLB", use_selection=True, export_animations=True,
        export_animation_mode="ACTIVE_ACTIONS", export_nla_strips_merged_animation_name=name,
        export_anim_single_armature=False,
        export_force_sampling=True, export_optimize_animation_size=False, export_apply=False))


def save_blend(path):
    import bpy

    _atomic(path, lambda tmp: bpy.ops.wm.save_as_mainfile(filepath=tmp, copy=True, check_existing=False))


def _rig_label(spec):
    return "smpl" if spec.lower() == "smpl" else os.path.splitext(os.path.basename(spec))[0]


def rig_groups(records, args, prompts_dir):
    """{rig spec: [records]} in first-seen order; a record's own rig (a .jsonl line's) wins."""
    groups = {}
    for r in records:
        spec = r.get("rig") or args.rig
        if spec.lower() == "smpl":
            spec = "smpl"
        elif r.get("rig") and not os.path.isabs(spec):
            spec = os.path.join(prompts_dir, spec)
        groups.setdefault(spec, []).append(r)
    return groups


def export_item(context, rig, objects, record, args, folder, out):
    """Key one record on rig and write its FBX/GLB files; returns its exports.json entry."""
    from momug.batch import manifest as mf

    action, scale = key_item(context, rig, record, folder, args)
    scene = context.scene
    scene.frame_start, scene.frame_end = int(action.frame_start), int(action.frame_end)
    _select_only(context, objects)
    files = {}
    for fmt, export in (("fbx", export_fbx), ("glb", export_glb)):
        if fmt in args.formats:
            name = f"{record['name']}.{fmt}"
            export(os.path.join(out, name), context)
            files[fmt] = mf.file_entry(out, name)
    return {"action": action.name, "frames": int(action.frame_end - action.frame_start) + 1,
            "fps": scene.render.fps / scene.render.fps_base, "scale": round(scale, 6), "files": files,
            "status": "done"}


def export_group(context, spec, group, args, folder, out, blend_name):
    """Every record of one rig: keyed, exported, and saved together in blend_name.
    Returns (entries, the .blend's listing or None)."""
    import bpy
    from momug.batch import manifest as mf

    clear_scene()
    base = [{"name": r["name"], "line": r.get("line"), "prompt": r.get("prompt"), "rig": spec} for r in group]
    try:
        rig = load_rig(context, spec, args.rig_object, args)
    except (ValueError, OSError) as exc:
        return [{**b, "status": "failed", "error": str(exc)} for b in base], None
    set_fps(context.scene, args.fps or float(group[0].get("fps") or 20.0))
    objects = [rig] + deformed_by(rig, context.scene.objects)
    entries = []
    for entry, record in zip(base, group):
        try:
            entry.update(export_item(context, rig, objects, record, args, folder, out))
        except Exception as exc:  # one item's failure must not stop the batch
            entry.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        entries.append(entry)
        print(f"blender_batch: {entry['name']}: {entry['status']}"
              + (f" ({entry['error']})" if entry["status"] == "failed" else ""), flush=True)
    actions = [e["action"] for e in entries if e["status"] == "done"]
    if "blend" not in args.formats or not actions:
        return entries, None
    activate(rig, bpy.data.actions[actions[0]])
    save_blend(os.path.join(out, blend_name))
    return entries, {"rig": spec, **mf.file_entry(out, blend_name), "actions": actions}


def export_batch(context, records, args, folder):
    """Key and export every record, rig by rig; writes and returns exports.json's content."""
    import bpy
    from momug.batch import manifest as mf

    out = os.path.join(folder, "blender")
    os.makedirs(out, exist_ok=True)
    _enable_exporters(args.formats)
    entries, blends, labels = [], [], {}
    for spec, group in rig_groups(records, args, os.path.dirname(os.path.abspath(args.prompts))).items():
        label = _rig_label(spec)
        labels[label] = labels.get(label, 0) + 1
        blend_name = f"{label}.blend" if labels[label] == 1 else f"{label}-{labels[label]}.blend"
        group_entries, blend = export_group(context, spec, group, args, folder, out, blend_name)
        entries += group_entries
        if blend:
            blends.append(blend)
    errors = [{"name": e["name"], "line": e["line"], "message": e["error"]} for e in entries if e["status"] == "failed"]
    data = {"format": "momug-blender-exports", "version": 1, "blender": bpy.app.version_string,
            "created_at": mf.now(), "formats": args.formats, "items": entries, "blend_files": blends,
            "errors": errors}
    mf.write_json_atomic(os.path.join(out, EXPORTS_NAME), data)
    return data


def main(argv=None):
    args = parse_args(script_argv() if argv is None else argv)
    _import_paths()
    import bpy
    from momug.batch import manifest as mf

    if not args.no_generate:
        generate(args)
    records = mf.finished_records(args.output)
    batch = mf.read_json(os.path.join(args.output, mf.MANIFEST_NAME)) or {}
    unfinished = [r for r in batch.get("items", []) if r not in records]
    for r in unfinished:
        print(f"blender_batch: skipping {r.get('name')} (line {r.get('line')}): "
              f"{r.get('error') or 'not finished or its files changed'}", flush=True)
    if not records:
        print("blender_batch: no finished motions to export", file=sys.stderr)
        return 1
    data = export_batch(bpy.context, records, args, args.output)
    done = sum(1 for e in data["items"] if e["status"] == "done")
    print(f"blender_batch: exported {done} of {len(records)} motions to "
          f"{os.path.join(args.output, 'blender')}", flush=True)
    return 1 if (data["errors"] or unfinished or batch.get("errors")) else 0


if __name__ == "__main__":
    code = main()
    if code:
        sys.exit(code)
