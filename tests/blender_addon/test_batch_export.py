"""scripts/blender_batch.py in real Blender: batch motions keyed on a rig with the add-on's own
retargeting, exported, then imported back with Blender's importers and held to the source.

The source is the batch's .npz joints, placed where the add-on puts a motion (scaled to the rig,
starting over its rest hips). The batch used for accuracy comes from the real batch runner fed
with corpus motions projected onto SMPL-22 (make_batch_for_tests.py), because the tiny model's
noise has stretching bones that no skeleton can reproduce; one test runs the tiny model itself
through `momug batch` end to end. Tolerance: 1 mm on every joint and frame.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import addon_utils
import bpy
from blender_addon import bonemaps, coords
from rigs_for_tests import MIXAMO_MAP, clean_scene, make_mixamo

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.join(ROOT, "scripts") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
import blender_batch  # noqa: E402

TOL_M = 1e-3
NAMES = bonemaps.smpl_skeleton().names
PROMPTS = "a person jogs forward\na person bows\n"


def backend_python():
    return os.environ.get("MOMUG_PYTHON") or shutil.which("python3")


def require_backend():
    py = backend_python()
    probe = subprocess.run([py, "-c", "import momug.batch.runner, momug.pipeline"], capture_output=True,
                           text=True, cwd=ROOT)
    if probe.returncode != 0:
        pytest.skip(f"the backend is not importable with {py}: {(probe.stderr.strip().splitlines() or ['?'])[-1]}")
    return py


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    py = require_backend()
    folder = tmp_path_factory.mktemp("batch")
    prompts = folder / "prompts.txt"
    prompts.write_text(PROMPTS)
    out = folder / "out"
    proc = subprocess.run([py, os.path.join(HERE, "make_batch_for_tests.py"), str(prompts), str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    items = json.loads((out / "manifest.json").read_text())["items"]
    assert [r["status"] for r in items] == ["done", "done"]
    return prompts, out, items


@pytest.fixture(scope="module")
def smpl_exports(batch):
    prompts, out, _ = batch
    assert blender_batch.main([str(prompts), "-o", str(out), "--rig", "smpl", "--no-generate"]) == 0
    clean_scene()
    return json.loads((out / "blender" / "exports.json").read_text())


def source_world(npz, hips_xy, scale=1.0, z0=0.0):
    """The .npz joints in Blender's frame where the add-on places them (see retarget.retarget)."""
    with np.load(npz) as data:
        joints = coords.to_blender_points(data["joints"]) * scale
    joints[..., :2] += np.asarray(hips_xy)[:2] - joints[0, 0, :2]
    joints[..., 2] += z0
    return joints


def world_heads(obj, bones, frames):
    scene = bpy.context.scene
    out = np.zeros((len(frames), len(bones), 3))
    for i, f in enumerate(frames):
        scene.frame_set(int(f))
        mw = obj.matrix_world
        for j, b in enumerate(bones):
            out[i, j] = tuple(mw @ obj.pose.bones[b].head)
    return out


def only_armature():
    arms = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    assert len(arms) == 1, [o.name for o in arms]
    return arms[0]


def imported_frames(obj):
    start, end = obj.animation_data.action.frame_range
    return int(round(start)), int(round(end))


def compare(obj, bones, source, first_frame):
    frames = first_frame + np.arange(len(source))
    got = world_heads(obj, bones, frames)
    err = np.linalg.norm(got - source, axis=-1)
    return err.max()


def smpl_hips_xy():
    return coords.to_blender_points(bonemaps.smpl_skeleton().rest_positions())[0, :2]


def start_import(fmt):
    clean_scene()
    bpy.context.scene.render.fps = 20
    module = {"bvh": "io_anim_bvh", "glb": "io_scene_gltf2", "fbx": "io_scene_fbx"}[fmt]
    addon_utils.enable(module, default_set=False)


def test_bvh_reimport_matches_npz(scene, batch):
    _, out, items = batch
    for r in items:
        start_import("bvh")
        # The batch's BVH is Y up, facing +Z: Blender's importer turns it Z up like coords does.
        bpy.ops.import_anim.bvh(filepath=str(out / r["files"]["bvh"]["file"]), axis_forward="-Z", axis_up="Y",
                                global_scale=1.0, frame_start=1, update_scene_fps=True, rotate_mode="NATIVE")
        obj = only_armature()
        with np.load(out / r["files"]["npz"]["file"]) as data:
            source = coords.to_blender_points(data["joints"])  # BVH keeps the absolute root path
        assert imported_frames(obj) == (1, len(source))
        err = compare(obj, NAMES, source, 1)
        print(f"BVH {r['name']}: max error {err * 1000:.4f} mm")
        assert err < TOL_M


def test_exports_listed_one_action_per_prompt(batch, smpl_exports):
    _, out, items = batch
    folder = out / "blender"
    assert [e["name"] for e in smpl_exports["items"]] == [r["name"] for r in items]
    for e in smpl_exports["items"]:
        assert e["status"] == "done" and e["action"] == e["name"] and e["scale"] == pytest.approx(1.0)
        assert e["frames"] == 40 and e["fps"] == 20
        for fmt in ("fbx", "glb"):
            entry = e["files"][fmt]
            path = folder / entry["file"]
            assert path.stat().st_size == entry["bytes"]
            from momug.batch.manifest import sha256_file
            assert sha256_file(path) == entry["sha256"]
    (blend,) = smpl_exports["blend_files"]
    assert blend["file"] == "smpl.blend" and blend["actions"] == [r["name"] for r in items]
    with bpy.data.libraries.load(str(folder / "smpl.blend")) as (src, _):
        assert sorted(src.actions) == sorted(r["name"] for r in items)
        assert "SMPL" in src.objects
    assert not [p for p in os.listdir(folder) if p.startswith(".")]  # no temp files left


def test_gltf_reimport_matches_npz(scene, batch, smpl_exports):
    _, out, items = batch
    for r in items:
        start_import("glb")
        bpy.ops.import_scene.gltf(filepath=str(out / "blender" / f"{r['name']}.glb"))
        obj = only_armature()
        assert obj.animation_data.action.name.startswith(r["name"])
        source = source_world(out / r["files"]["npz"]["file"], smpl_hips_xy())
        assert imported_frames(obj) == (1, len(source))
        err = compare(obj, NAMES, source, 1)
        print(f"glTF {r['name']}: max error {err * 1000:.4f} mm")
        assert err < TOL_M


def test_fbx_reimport_matches_npz_one_frame_later(scene, batch, smpl_exports):
    _, out, items = batch
    for r in items:
        start_import("fbx")
        # Blender's FBX importer shifts animation by anim_offset (default 1 frame): the action
        # exported on frames 1..T comes back on 2..T+1. Frame k+1 is compared with source frame k.
        bpy.ops.import_scene.fbx(filepath=str(out / "blender" / f"{r['name']}.fbx"))
        obj = only_armature()
        assert obj.animation_data.action.name.endswith(r["name"])  # the take is named after the action
        source = source_world(out / r["files"]["npz"]["file"], smpl_hips_xy())
        assert imported_frames(obj) == (2, len(source) + 1)
        err = compare(obj, NAMES, source, 2)
        print(f"FBX {r['name']}: max error {err * 1000:.4f} mm")
        assert err < TOL_M


def test_describe_samples_an_imported_fbx(scene, batch, smpl_exports):
    """Describe works on a rig the add-on did not make: an FBX imported with Blender's importer."""
    from blender_addon import describe

    _, out, items = batch
    r = items[0]
    start_import("fbx")
    bpy.ops.import_scene.fbx(filepath=str(out / "blender" / f"{r['name']}.fbx"))
    obj = only_armature()
    joints, info = describe.sample(bpy.context, obj)
    with np.load(out / r["files"]["npz"]["file"]) as data:
        exp = np.array(data["joints"], dtype=np.float64)
    # Describe's convention: floor at the lowest joint, first frame's pelvis over the origin.
    exp[..., 1] -= exp[..., 1].min()
    exp[..., [0, 2]] -= exp[0, 0, [0, 2]]
    assert info["filled"] == [] and joints.shape == exp.shape
    err = np.abs(joints - exp).max()
    print(f"describe on an imported FBX: max error {err * 1000:.4f} mm over {len(exp)} frames")
    assert err < TOL_M


def test_custom_rig_from_blend_file(scene, batch, tmp_path):
    prompts, out, items = batch
    folder = tmp_path / "out"
    shutil.copytree(out, folder, ignore=shutil.ignore_patterns("blender"))
    rig, joints = make_mixamo()
    rig_file = tmp_path / "hero.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(rig_file), copy=True)
    clean_scene()
    assert blender_batch.main([str(prompts), "-o", str(folder), "--rig", str(rig_file), "--format", "glb,fbx,blend",
                               "--no-generate"]) == 0
    exports = json.loads((folder / "blender" / "exports.json").read_text())
    assert [b["file"] for b in exports["blend_files"]] == ["hero.blend"]
    bones = [MIXAMO_MAP[n] for n in NAMES]
    for e, r in zip(exports["items"], items):
        assert e["status"] == "done" and e["scale"] == pytest.approx(0.95, abs=1e-3)
        source = source_world(folder / r["files"]["npz"]["file"], joints["pelvis"], e["scale"])
        for fmt, first in (("glb", 1), ("fbx", 2)):
            start_import(fmt)
            if fmt == "glb":
                bpy.ops.import_scene.gltf(filepath=str(folder / "blender" / e["files"]["glb"]["file"]))
            else:
                bpy.ops.import_scene.fbx(filepath=str(folder / "blender" / e["files"]["fbx"]["file"]))
            obj = only_armature()
            assert imported_frames(obj) == (first, first + len(source) - 1)
            err = compare(obj, bones, source, first)
            print(f"Mixamo-style rig, {fmt} {r['name']}: max error {err * 1000:.4f} mm")
            assert err < TOL_M


def test_bad_rig_and_missing_batch_are_reported(scene, batch, tmp_path, capsys):
    prompts, out, _ = batch
    with pytest.raises(SystemExit):
        blender_batch.main([str(prompts), "-o", str(out), "--rig", "smpl", "--format", "obj"])
    folder = tmp_path / "out"
    shutil.copytree(out, folder, ignore=shutil.ignore_patterns("blender"))
    assert blender_batch.main([str(prompts), "-o", str(folder), "--rig", str(tmp_path / "none.blend"),
                               "--no-generate", "--format", "glb"]) == 1
    exports = json.loads((folder / "blender" / "exports.json").read_text())
    assert len(exports["errors"]) == 2 and "existing .blend" in exports["errors"][0]["message"]
    assert blender_batch.main([str(prompts), "-o", str(tmp_path / "empty"), "--rig", "smpl", "--no-generate"]) == 1


def test_generates_with_the_tiny_model_then_reuses(scene, tmp_path, capfd):
    py = require_backend()
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "a person waves", "name": "wave"}\n{"prompt": "a person sits", "seconds": 2}\n')
    args = [str(prompts), "-o", str(tmp_path / "out"), "--rig", "smpl", "--format", "glb", "--python", py,
            "--checkpoint", "tiny", "--seconds", "1", "--steps", "2"]
    assert blender_batch.main(args) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [(r["name"], r["status"], r["frames"]) for r in manifest["items"]] == [
        ("wave", "done", 20), ("0001_a_person_sits", "done", 40)]
    assert sorted(os.listdir(tmp_path / "out" / "blender")) == ["0001_a_person_sits.glb", "exports.json", "wave.glb"]
    capfd.readouterr()
    assert blender_batch.main(args) == 0  # a rerun generates nothing
    assert "0 written, 2 already finished" in capfd.readouterr().out
    assert manifest["settings"]["clean_feet"] is True
    # --no-foot-cleanup reaches `momug batch`: a different request, so both motions are made again.
    assert blender_batch.main(args + ["--no-foot-cleanup"]) == 0
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["settings"]["clean_feet"] is False
    assert "2 written" in capfd.readouterr().out
    # So does --whole-prompt.
    assert blender_batch.main(args + ["--no-foot-cleanup", "--whole-prompt"]) == 0
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["settings"]["split_sequences"] is False
    assert "2 written" in capfd.readouterr().out


def test_rig_per_line_and_blender_argv(monkeypatch, tmp_path):
    """A .jsonl line's rig wins over --rig, and a relative path is read next to the prompts file;
    under `blender -b -P script -- ...` only the arguments after '--' are the script's."""
    args = blender_batch.parse_args(["p.jsonl", "-o", "out", "--rig", "smpl"])
    records = [{"name": "a"}, {"name": "b", "rig": "rigs/hero.blend"}, {"name": "c", "rig": "SMPL"},
               {"name": "d", "rig": "/abs/hero.blend"}, {"name": "e", "rig": "rigs/hero.blend"}]
    groups = blender_batch.rig_groups(records, args, str(tmp_path))
    assert {k: [r["name"] for r in v] for k, v in groups.items()} == {
        "smpl": ["a", "c"], str(tmp_path / "rigs" / "hero.blend"): ["b", "e"], "/abs/hero.blend": ["d"]}
    monkeypatch.setattr(sys, "argv", ["blender", "-b", "-P", "scripts/blender_batch.py", "--", "p.txt", "-o", "x",
                                      "--rig", "smpl"])
    assert blender_batch.script_argv() == ["p.txt", "-o", "x", "--rig", "smpl"]
