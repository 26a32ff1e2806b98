#!/usr/bin/env python3
"""Describe animation on real motion (issue 20): a real Mixamo walk must be called a walk, and a
real person bending down to pick up and carry a box must be called neither a kick nor a throw.

The clips are real and licence-bound, so none of them ships: they live in a folder outside the
repository (default /work/cache/describe_checks, or $MOMUG_DESCRIBE_CLIPS) and this script takes
its path. Two steps, each through the paths a user's motion takes:

  1. prepare, in real Blender (the bpy module from PyPI; scripts/test_blender.sh makes the venvs):
     imports each source file with Blender's own importer (glTF, FBX, BVH), makes the named action
     the armature's action and samples it exactly as the add-on's "Describe Animation" does
     (blender_addon.jobs.prepare_describe: the rig's bone map, 20 fps, SMPL size, on the floor);
     writes CLIP.npz (the motion file `momug caption` reads) and clips.json. A BVH is also copied
     as it is, for `momug caption FILE.bvh`.

       ~/.cache/momug/bpy-venvs/bpy-4.5.15/bin/python scripts/describe_checks.py prepare \
           --src /work/cache/describe_checks/src --out /work/cache/describe_checks

  2. check, with the backend: captions every clip with the chosen model the way `momug caption`
     does (greedy, a beam search and --samples sampled seeds), judges each caption
     (momug.eval.caption_checks.judge_clip: the deterministic captions must all meet the clip's
     expectation, and at least half of the sampled ones), prints a table and writes JSON.

       MOMUG_ACCEPT_LICENCES="CC BY-NC 4.0" python scripts/describe_checks.py check \
           /work/cache/describe_checks --model real --json docs/results/real/describe_checks.json \
           --txt docs/results/real/describe_checks.txt

Exit status of check: 0 when every clip passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = "/work/cache/describe_checks"
MANIFEST = "clips.json"

WALK = {"names": ["walk"]}
NOT_KICK_OR_THROW = {"not_names": ["kick", "throw"]}

# Where the clips come from (the files themselves are not in the repository).
SOURCES = {
    "Soldier.glb": {
        "repository": "mrdoob/three.js", "path": "examples/models/gltf/Soldier.glb",
        "copy_from": "bulgat/raceCar3D_js public/models/gltf/Soldier.glb at "
                     "5dec661c8f987ecf180bef56d0d963d7415de084 (a vendored copy of three.js's examples)",
        "licence": "three.js is MIT; the character and its Idle/Run/TPose/Walk animations are Adobe "
                   "Mixamo's (royalty-free to use in projects, not to redistribute as files)",
        "sha256": "dfb230fc1f942f259dd00281a1186953ad602fc5d69067ce63e24b2aa439736b"},
    "Xbot.glb": {
        "repository": "mrdoob/three.js", "path": "examples/models/gltf/Xbot.glb",
        "copy_from": "bulgat/raceCar3D_js public/models/gltf/Xbot.glb at "
                     "5dec661c8f987ecf180bef56d0d963d7415de084 (a vendored copy of three.js's examples)",
        "licence": "three.js is MIT; the X Bot character and its animations are Adobe Mixamo's "
                   "(royalty-free to use in projects, not to redistribute as files)",
        "sha256": "002f8d269de68e5dce3d25195caf390d1aa359bbfaae3fcf4c8dc78ec36c3ba5"},
    "cmu_143_10_walk_pick_up_toolbox_20fps.bvh": {
        "repository": "una-dinosauria/cmu-mocap", "path": "143/143_10.bvh",
        "commit": "f50fdd380214418ff240056a728a34adaf7bd1b0",
        "copy_from": "every 6th frame (1, 7, ..., 571) of the 120 fps file, i.e. 20 fps, values as "
                     "stored; frame 0 (the conversion's reference pose) left out",
        "description": "CMU Graphics Lab Motion Capture Database, subject 143 trial 10, 'Walk And Pick "
                       "up Tool Box' (cgspeed BVH conversion): walks about 2 m, bends down, picks the "
                       "box up with the left hand, turns round and carries it back",
        "licence": "CMU mocap: free to use, copy and modify for research and commercial work, not "
                   "for resale; acknowledgement: 'The data used in this project was obtained from "
                   "mocap.cs.cmu.edu. The database was created with funding from NSF EIA-0196217.'"},
}

# name, source file, action in that file (None: a BVH's only one), expectation.
CLIPS = [
    ("mixamo_soldier_walk", "Soldier.glb", "Walk", WALK),
    ("mixamo_xbot_walk", "Xbot.glb", "walk", WALK),
    ("cmu_143_10_pick_up_box", "cmu_143_10_walk_pick_up_toolbox_20fps.bvh", None, NOT_KICK_OR_THROW),
]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- 1. prepare (in Blender) -----------------------------------------------------------------

def _import(path: Path):
    """Import a file with Blender's own importer; returns the armature it brought in."""
    import addon_utils
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    ext = path.suffix.lower()
    if ext in (".glb", ".gltf"):
        bpy.ops.import_scene.gltf(filepath=str(path))
    elif ext == ".fbx":
        bpy.ops.import_scene.fbx(filepath=str(path))
    elif ext == ".bvh":
        addon_utils.enable("io_anim_bvh", default_set=False)
        # The importer's defaults (Y up, -Z forward), and the file's frame rate for the scene.
        bpy.ops.import_anim.bvh(filepath=str(path), update_scene_fps=True, frame_start=1)
    else:
        raise SystemExit(f"{path}: not a .glb, .gltf, .fbx or .bvh file")
    arms = [o for o in bpy.context.scene.objects if o.type == "ARMATURE"]
    if len(arms) != 1:
        raise SystemExit(f"{path}: expected one armature, found {len(arms)}")
    return arms[0]


def _use_action(obj, name):
    """Make the named action the armature's own, as a user picks it in the Action editor; the NLA
    tracks an importer made for its other animations are muted so they do not blend in."""
    import bpy

    anim = obj.animation_data
    if name is not None:
        # glTF animations come in as NLA tracks of their name; the action itself is called NAME in
        # Blender 4.4+ and NAME_ARMATURE before that.
        track = anim.nla_tracks.get(name)
        action = (track.strips[0].action if track is not None and len(track.strips) else None) \
            or bpy.data.actions.get(name) or bpy.data.actions.get(f"{name}_{obj.name}")
        if action is None:
            raise SystemExit(f"no action '{name}' (there are: {', '.join(a.name for a in bpy.data.actions)})")
        anim.action = action
        if getattr(anim, "action_slot", "absent") is None and len(anim.action.slots):
            anim.action_slot = anim.action.slots[0]
    for track in anim.nla_tracks:
        track.mute = True


def prepare(src: Path, out: Path) -> int:
    sys.path.insert(0, str(ROOT))
    import bpy
    import numpy as np

    from blender_addon import jobs

    out.mkdir(parents=True, exist_ok=True)
    manifest = {"made_with": f"Blender {bpy.app.version_string} (bpy), blender_addon.jobs.prepare_describe",
                "clips": []}
    for name, source, action, expect in CLIPS:
        path = src / source
        if not path.is_file():
            raise SystemExit(f"{path} is missing; see SOURCES in {Path(__file__).name} for where it comes from")
        info = dict(SOURCES.get(source, {}))
        if info.get("sha256") and sha256(path) != info["sha256"]:
            raise SystemExit(f"{path}: not the file these checks were written for (sha256 differs)")
        obj = _import(path)
        _use_action(obj, action)
        bpy.context.view_layer.objects.active = obj
        joints, sampled = jobs.prepare_describe(bpy.context, obj)
        np.savez(out / f"{name}.npz", joints=joints, fps=np.float32(20.0))
        files = [{"file": f"{name}.npz", "path": "Blender import + Describe Animation's sampling"}]
        if path.suffix.lower() == ".bvh":
            shutil.copyfile(path, out / path.name)
            files.append({"file": path.name, "path": "momug caption FILE.bvh"})
        manifest["clips"].append({
            "name": name, "source": source, "action": action, "expect": expect, "files": files,
            "bone_map": sampled["bone_map"], "frames": len(joints), "seconds": round(len(joints) / 20.0, 2),
            "origin": info})
        print(f"{name}: {source}{' / ' + action if action else ''} -> {len(joints)} frames "
              f"(bone map {sampled['bone_map']}, filled {sampled['filled'] or 'none'})")
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {out / MANIFEST}")
    return 0


# --- 2. check (with the backend) ---------------------------------------------------------------

def read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    if not path.is_file():
        raise SystemExit(f"{path} is missing: run `scripts/describe_checks.py prepare --out {folder}` "
                         "with a bpy Python first")
    return json.loads(path.read_text())


def caption_clip(pipe, path: Path, beams: int, samples: int) -> list[dict]:
    """The captions `momug caption` gives for one file: greedy, --beams N, --sample --seed 0..N-1."""
    from momug.motion.convert import read_motion

    motion = read_motion(path)
    args = ([motion.joints], [motion.fps])
    out = [{"mode": "greedy", "text": pipe.caption(*args)[0]}]
    if beams > 1:
        out.append({"mode": "beam", "beams": beams, "text": pipe.caption(*args, num_beams=beams)[0]})
    for seed in range(samples):
        out.append({"mode": "sample", "seed": seed, "text": pipe.caption(*args, do_sample=True, seed=seed)[0]})
    return out


def format_table(result: dict) -> str:
    lines = [f"Describe animation on real motion: model {result['model']}, {result['date']}",
             f"greedy + beam search ({result['beams']} beams) + {result['samples']} sampled seeds per file; "
             "a clip passes when its greedy and beam captions meet the expectation and at least "
             f"{int(result['min_sampled'] * 100)}% of its sampled ones do", ""]
    for clip in result["clips"]:
        expect = "; ".join([f"names {'/'.join(clip['expect'].get('names', []))}"] * bool(clip["expect"].get("names"))
                           + [f"not {a}" for a in clip["expect"].get("not_names", [])])
        for f in clip["files"]:
            j = f["judged"]
            rate = "-" if j["sampled_pass_rate"] is None else f"{j['sampled_pass_rate'] * 100:.0f}%"
            lines.append(f"{clip['name']}  [{f['file']}, {f['path']}]  expect: {expect}  "
                         f"-> {'PASS' if j['pass'] else 'FAIL'} (sampled {rate})")
            for c in j["captions"]:
                tag = c["mode"] + (f" {c['seed']}" if c["mode"] == "sample" else "")
                lines.append(f"    {'ok  ' if c['pass'] else 'MISS'} {tag:9s} {c['text']}")
            lines.append("")
    lines.append(f"{result['passed']} of {result['total']} clip files pass")
    return "\n".join(lines) + "\n"


def check(folder: Path, model: str | None, checkpoint: str | None, beams: int, samples: int,
          device: str, json_out: str | None, txt_out: str | None) -> dict:
    from momug.eval.caption_checks import MIN_SAMPLED_SHARE, judge_clip
    from momug.model import registry
    from momug.pipeline import MotionPipeline

    manifest = read_manifest(folder)
    pipe = MotionPipeline.load(registry.checkpoint_for(model, checkpoint), device)
    clips = []
    for clip in manifest["clips"]:
        files = []
        for f in clip["files"]:
            captions = caption_clip(pipe, folder / f["file"], beams, samples)
            files.append({**f, "judged": judge_clip(captions, clip["expect"])})
        clips.append({k: clip[k] for k in ("name", "source", "action", "expect", "bone_map", "frames",
                                           "seconds", "origin")} | {"files": files})
    judged = [f["judged"]["pass"] for c in clips for f in c["files"]]
    result = {"model": model or checkpoint or registry.DEFAULT, "date": datetime.date.today().isoformat(),
              "beams": beams, "samples": samples, "min_sampled": MIN_SAMPLED_SHARE,
              "prepared_with": manifest.get("made_with"), "clips": clips,
              "passed": sum(judged), "total": len(judged)}
    text = format_table(result)
    print(text, end="")
    if json_out:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(result, indent=2) + "\n")
    if txt_out:
        Path(txt_out).parent.mkdir(parents=True, exist_ok=True)
        Path(txt_out).write_text(text)
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="step", required=True)
    pp = sub.add_parser("prepare", help="in Blender (bpy): import the source files and sample them as "
                        "Describe Animation does")
    pp.add_argument("--src", default=os.path.join(os.environ.get("MOMUG_DESCRIBE_CLIPS", DEFAULT_DIR), "src"),
                    help="folder holding the source files (see SOURCES)")
    pp.add_argument("--out", default=os.environ.get("MOMUG_DESCRIBE_CLIPS", DEFAULT_DIR),
                    help="clips folder to write (default $MOMUG_DESCRIBE_CLIPS or %(default)s)")
    pc = sub.add_parser("check", help="caption the prepared clips and judge the captions")
    pc.add_argument("clips", nargs="?", default=os.environ.get("MOMUG_DESCRIBE_CLIPS", DEFAULT_DIR),
                    help="clips folder made by prepare (default $MOMUG_DESCRIBE_CLIPS or %(default)s)")
    pc.add_argument("--model", help="a shipped model by name (default: real; 'real' needs its licence "
                    "accepted, e.g. MOMUG_ACCEPT_LICENCES='CC BY-NC 4.0')")
    pc.add_argument("--checkpoint", metavar="DIR", help="a model folder instead of --model")
    pc.add_argument("--beams", type=int, default=4, help="beam search width (default 4; 1 skips it)")
    pc.add_argument("--samples", type=int, default=5, help="sampled captions per file, seeds 0..N-1 (default 5)")
    pc.add_argument("--device", default="auto")
    pc.add_argument("--json", metavar="OUT", help="write the results as JSON")
    pc.add_argument("--txt", metavar="OUT", help="write the printed table to this file too")
    args = p.parse_args(argv)
    if args.step == "prepare":
        return prepare(Path(args.src), Path(args.out))
    model = args.model if (args.model or args.checkpoint) else "real"
    result = check(Path(args.clips), model, args.checkpoint, args.beams, args.samples, args.device,
                   args.json, args.txt)
    return 0 if result["passed"] == result["total"] else 1


if __name__ == "__main__":
    sys.exit(main())
