"""`momug batch`: prompt files, resumable runs, manifest checksums, contact sheet, and a
two-process run under `accelerate launch`. All on the tiny untrained model (its motion is noise;
what is checked here is the plumbing)."""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from momug.batch import manifest as mf  # noqa: E402
from momug.batch.contact_sheet import sheet_size  # noqa: E402
from momug.batch.prompts import read_batch_file  # noqa: E402
from momug.batch.runner import BatchSettings, run_batch  # noqa: E402
from momug.cli import main  # noqa: E402
from momug.motion.motionfile import load_motion  # noqa: E402
from momug.pipeline import MotionPipeline  # noqa: E402

FAST = dict(checkpoint="tiny", seconds=1.0, steps=2, batch_size=4)


@pytest.fixture(scope="module")
def pipe():
    return MotionPipeline.load("tiny", "cpu")


class Counting:
    """The tiny pipeline, counting which prompts it was asked to generate."""

    def __init__(self, pipe):
        self.pipe, self.prompts, self.calls, self.clean_feet, self.split = pipe, [], 0, set(), set()

    def __getattr__(self, name):
        return getattr(self.pipe, name)

    def generate(self, prompts, *args, **kwargs):
        self.calls += 1
        self.prompts.extend(prompts)
        self.clean_feet.add(kwargs.get("clean_feet"))
        self.split.add(kwargs.get("split_sequences", True))
        return self.pipe.generate(prompts, *args, **kwargs)


def run(prompts, out, pipe, **overrides):
    counting = Counting(pipe)
    settings = BatchSettings(**{**FAST, **overrides})
    result = run_batch(prompts, out, settings, load_pipeline=lambda c, d: counting, progress=False,
                       log=lambda m: None)
    return result, counting


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write(path, text):
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_txt_file(tmp_path):
    f = write(tmp_path / "p.txt", """
        # a comment, then a blank line

        a person walks forward
          a person   jumps twice
        # another comment
        a person waves
        """)
    items, errors = read_batch_file(f, seconds=3.0, seed=10)
    assert errors == []
    assert [(i.line, i.prompt, i.seed, i.seconds) for i in items] == [
        (3, "a person walks forward", 10, 3.0), (4, "a person jumps twice", 11, 3.0), (6, "a person waves", 12, 3.0)]
    assert [i.name for i in items] == ["0000_a_person_walks_forward", "0001_a_person_jumps_twice",
                                       "0002_a_person_waves"]


def test_jsonl_bad_lines_reported_by_line_number(tmp_path):
    f = write(tmp_path / "p.jsonl", """
        {"prompt": "a person walks", "seconds": 2, "seed": 7, "name": "walk", "rig": "mixamo"}
        {"prompt": "a person runs"
        ["not", "an", "object"]
        {"seconds": 2}
        {"prompt": "a person sits", "second": 3}
        {"prompt": "a person spins", "seconds": "long"}
        # a comment
        {"prompt": "a person jumps", "name": "walk"}
        {"prompt": "a person bows", "name": "../escape"}
        {"prompt": "a person kicks", "seed": true}
        {"prompt": "a person claps"}
        """)
    items, errors = read_batch_file(f, seconds=4.0, seed=100)
    assert [(i.line, i.name, i.prompt, i.seconds, i.seed, i.rig) for i in items] == [
        (1, "walk", "a person walks", 2.0, 7, "mixamo"),
        (11, "0009_a_person_claps", "a person claps", 4.0, 109, None)]
    by_line = {e.line: e.message for e in errors}
    assert sorted(by_line) == [2, 3, 4, 5, 6, 8, 9, 10]
    assert "not valid JSON" in by_line[2]
    assert "JSON object" in by_line[3]
    assert "'prompt'" in by_line[4]
    assert "unknown key(s) second" in by_line[5]
    assert "'seconds' must be a number" in by_line[6]
    assert "already used on line 1" in by_line[8]
    assert "'name'" in by_line[9]
    assert "'seed'" in by_line[10]


def test_run_writes_files_manifest_and_contact_sheet(tmp_path, pipe):
    f = write(tmp_path / "p.jsonl", """
        {"prompt": "a person walks forward"}
        {"prompt": "a person jumps", "seconds": 2, "name": "jump"}
        {"prompt": "far too long a motion", "seconds": 99}
        not json at all
        {"prompt": "a person waves", "seed": 5}
        """)
    out = tmp_path / "out"
    result, counting = run(f, out, pipe)
    # Equal lengths share a forward pass: the two 1 s prompts, then the 2 s one.
    assert counting.calls == 2 and sorted(counting.prompts) == ["a person jumps", "a person walks forward",
                                                                 "a person waves"]
    assert result.done == 3 and result.skipped == 0
    data = json.loads((out / "manifest.json").read_text())
    assert data["format"] == mf.FORMAT
    assert data["settings"]["steps"] == 2 and data["settings"]["model"] == "tiny-untrained"
    assert data["summary"] == {"items": 4, "done": 3, "failed": 1, "line_errors": 1}
    assert [(e["line"], "seconds must be between" in e["message"] or "JSON" in e["message"]) for e in data["errors"]] \
        == [(3, True), (4, True)]
    done = [r for r in data["items"] if r["status"] == "done"]
    assert [r["name"] for r in done] == ["0000_a_person_walks_forward", "jump", "0004_a_person_waves"]
    for r in done:
        for kind in ("npz", "bvh"):
            entry = r["files"][kind]
            path = out / entry["file"]
            assert entry["sha256"] == sha(path) and entry["bytes"] == path.stat().st_size
        assert set(r["timings"]) >= {"generate_s", "batch_s", "batch_size", "write_s"}
        motion = load_motion(out / r["files"]["npz"]["file"])
        assert motion.prompt == r["prompt"] and motion.num_frames == r["frames"] == round(r["seconds"] * 20)
    assert done[2]["seed"] == 5 and done[0]["seed"] == 0
    assert (out / "jump.bvh").read_text().startswith("HIERARCHY")
    # The contact sheet: one labelled strip per finished item.
    from PIL import Image

    assert [p.name for p in result.contact_sheets] == ["contact_sheet.png"]
    with Image.open(out / "contact_sheet.png") as im:
        assert im.size == sheet_size(3)
        pixels = np.asarray(im.convert("L"))
    assert pixels.min() < 100  # something was drawn
    assert not list(out.glob(".*"))  # no temp files left


def test_the_manifest_says_which_steps_a_sequence_was_made_from(tmp_path, pipe):
    f = write(tmp_path / "p.txt", "a person walks forward then waves\na person jumps\n")
    out = tmp_path / "out"
    result, _ = run(f, out, pipe, seconds=2.0)
    assert result.done == 2
    items = json.loads((out / "manifest.json").read_text())["items"]
    assert items[0]["made_from"] == ["a person walks forward", "a person waves"]
    assert "made_from" not in items[1]   # made from its prompt alone
    (out / items[0]["files"]["bvh"]["file"]).unlink()   # resuming rebuilds the .bvh and keeps the record
    run(f, out, pipe, seconds=2.0)
    again = json.loads((out / "manifest.json").read_text())["items"]
    assert "repair_s" in again[0]["timings"] and again[0]["made_from"] == items[0]["made_from"]
    assert "made_from" not in again[1]


def test_resume_skips_finished_and_redoes_broken(tmp_path, pipe):
    f = write(tmp_path / "p.txt", "a person walks\na person jumps\na person waves\na person sits\n")
    out = tmp_path / "out"
    run(f, out, pipe)
    before = {p.name: (sha(p), p.stat().st_mtime_ns) for p in out.glob("*.npz")}
    names = sorted(before)
    # Break things: truncate one .npz, flip a byte in another, delete one .bvh.
    (out / names[0]).write_bytes((out / names[0]).read_bytes()[:100])
    data = bytearray((out / names[1]).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (out / names[1]).write_bytes(bytes(data))
    (out / names[2].replace(".npz", ".bvh")).unlink()
    result, counting = run(f, out, pipe)
    assert sorted(counting.prompts) == ["a person jumps", "a person walks"]  # only the two broken motions
    assert result.skipped == 1 and result.done == 3  # 2 regenerated + 1 .bvh rebuilt from its .npz
    assert (out / names[2].replace(".npz", ".bvh")).is_file()
    after = {p.name: (sha(p), p.stat().st_mtime_ns) for p in out.glob("*.npz")}
    assert after[names[2]] == before[names[2]] and after[names[3]] == before[names[3]]
    assert after[names[0]][0] == before[names[0]][0]  # same seed, same motion
    data = json.loads((out / "manifest.json").read_text())
    assert all(mf.record_ok(out, r, kinds=("npz", "bvh")) for r in data["items"])
    # Nothing to do: the model is not even loaded.
    result = run_batch(f, out, BatchSettings(**FAST), load_pipeline=lambda c, d: pytest.fail("model loaded"),
                       progress=False, log=lambda m: None)
    assert result.skipped == 4 and result.done == 0
    # A changed request (more steps) is not the finished item any more.
    result, counting = run(f, out, pipe, steps=3)
    assert len(counting.prompts) == 4 and counting.clean_feet == {True}
    # So is one with the foot cleanup turned off, and the model is told so.
    result, counting = run(f, out, pipe, steps=3, clean_feet=False)
    assert len(counting.prompts) == 4 and counting.clean_feet == {False} and counting.split == {True}
    # And one that reads sequences whole.
    result, counting = run(f, out, pipe, steps=3, clean_feet=False, split_sequences=False)
    assert len(counting.prompts) == 4 and counting.split == {False}


CRASH = """
import os, sys
import numpy as np
from momug.batch.runner import BatchSettings, run_batch
from momug.pipeline import MotionPipeline

real_savez = np.savez
count = [0]

def savez_then_die(f, **arrays):
    count[0] += 1
    if count[0] == 2:  # the second motion file: half of it, then the process is killed
        f.write(b"PK\\x03\\x04" + b"\\0" * 1000)
        f.flush()
        os._exit(9)
    return real_savez(f, **arrays)

np.savez = savez_then_die
pipe = MotionPipeline.load("tiny", "cpu")
run_batch(sys.argv[1], sys.argv[2], BatchSettings(checkpoint="tiny", seconds=1.0, steps=2, batch_size=1),
          load_pipeline=lambda c, d: pipe, progress=False)
"""


def test_killed_run_leaves_no_file_that_looks_finished(tmp_path, pipe):
    f = write(tmp_path / "p.txt", "a person walks\na person jumps\na person waves\n")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", CRASH, str(f), str(out)], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 9, proc.stderr[-2000:]
    data = json.loads((out / "manifest.json").read_text())
    status = {r["name"]: r["status"] for r in data["items"]}
    # Saves are spaced out (ManifestWriter), so the first item's record is usually saved before the
    # kill but may be lost on a loaded machine; then resuming makes it again, as documented.
    walked = status["0000_a_person_walks"] == "done"
    assert status == {"0000_a_person_walks": "done" if walked else "pending",
                      "0001_a_person_jumps": "pending", "0002_a_person_waves": "pending"}
    # The half-written file is under a temp name only.
    assert not (out / "0001_a_person_jumps.npz").exists()
    assert [p.name.startswith(".0001_a_person_jumps.") and p.name.endswith(".part") for p in out.glob(".*")] == [True]
    assert [r["name"] for r in mf.finished_records(out)] == (["0000_a_person_walks"] if walked else [])
    result, counting = run(f, out, pipe)
    assert counting.prompts == ["a person walks"] * (not walked) + ["a person jumps", "a person waves"]
    assert result.skipped == int(walked) and not list(out.glob(".*"))
    assert [r["name"] for r in mf.finished_records(out)] == sorted(status)   # all three made and recorded


def test_cli_exit_status_and_options(tmp_path, capsys):
    f = write(tmp_path / "p.txt", "a person walks\n")
    out = tmp_path / "out"
    assert main(["batch", str(f), "-o", str(out), "--checkpoint", "tiny", "--seconds", "1", "--steps", "2",
                 "--no-bvh", "--no-contact-sheet", "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["0000_a_person_walks.npz", "manifest.json"]
    assert json.loads((out / "manifest.json").read_text())["settings"]["clean_feet"] is True
    assert main(["batch", str(f), "-o", str(tmp_path / "raw"), "--checkpoint", "tiny", "--seconds", "1",
                 "--steps", "2", "--no-foot-cleanup", "--no-bvh", "--no-contact-sheet", "--quiet"]) == 0
    assert json.loads((tmp_path / "raw" / "manifest.json").read_text())["settings"]["clean_feet"] is False
    bad = write(tmp_path / "bad.jsonl", '{"prompt": "a person walks", "seconds": 1}\n{"oops": 1}\n')
    assert main(["batch", str(bad), "-o", str(tmp_path / "o2"), "--checkpoint", "tiny", "--steps", "2",
                 "--quiet"]) == 1
    assert "line 2: unknown key(s) oops" in capsys.readouterr().err
    assert main(["batch", str(tmp_path / "p.csv"), "-o", str(out), "--checkpoint", "tiny"]) == 2
    empty = write(tmp_path / "empty.txt", "# nothing here\n\n")
    assert main(["batch", str(empty), "-o", str(out), "--checkpoint", "tiny"]) == 2
    assert "has no prompts" in capsys.readouterr().err


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("accelerate") is None, reason="accelerate CLI not on PATH")
def test_two_processes_under_accelerate_launch(tmp_path):
    f = write(tmp_path / "p.txt", "a person walks\na person jumps\na person waves\na person sits\na person bows\n")
    out = tmp_path / "out"
    # --multi_gpu is accelerate's torchrun launcher; without GPUs the processes meet over gloo.
    cmd = [shutil.which("accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()),
           "-m", "momug.cli", "batch", str(f), "-o", str(out), "--checkpoint", "tiny", "--seconds", "1",
           "--steps", "2", "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=400, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    parts = [json.loads((out / mf.part_name(k)).read_text()) for k in (0, 1)]
    assert [[r["name"][:4] for r in p["items"]] for p in parts] == [["0000", "0002", "0004"], ["0001", "0003"]]
    assert [p["shard"] for p in parts] == [0, 1] and all(p["processes"] == 2 for p in parts)
    assert all(r["status"] == "done" and r["shard"] == k for k, p in enumerate(parts) for r in p["items"])
    merged = json.loads((out / "manifest.json").read_text())
    assert merged["processes"] == 2 and len(merged["shards"]) == 2 and "shard" not in merged
    assert [r["name"][:4] for r in merged["items"]] == ["0000", "0001", "0002", "0003", "0004"]
    assert all(mf.record_ok(out, r, kinds=("npz", "bvh")) for r in merged["items"])
    assert (out / "contact_sheet.png").is_file()
    # A one-process rerun finds everything finished through the merged manifest.
    result = run_batch(f, out, BatchSettings(**{**FAST, "batch_size": 8}), progress=False, log=lambda m: None,
                       load_pipeline=lambda c, d: pytest.fail("model loaded"))
    assert result.skipped == 5


def test_a_named_shipped_model_is_what_loads_and_the_manifest_names_it(tmp_path, pipe):
    """`momug batch --model real` passes the real model's folder on (its licence was checked by the
    command); the tiny pipeline stands in for it here."""
    from momug.model import checkpoint as ckpt
    from momug.model.registry import REGISTRY

    folder = REGISTRY.entry("real").folder
    asked = []
    settings = BatchSettings(**{**FAST, "checkpoint": str(folder)})
    run_batch(write(tmp_path / "p.txt", "a person walks\n"), tmp_path / "out", settings,
              load_pipeline=lambda c, d: asked.append(c) or pipe, progress=False, log=lambda m: None)
    assert asked == [str(folder)]
    data = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert data["settings"]["checkpoint"] == "real" and data["settings"]["model"] == ckpt.checkpoint_id(folder)
