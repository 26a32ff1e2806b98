"""`momug eval styles`: the gait measures on procedural walks whose speed and cadence are known,
the pair rule, the prompts, the real-data reference on a small fake corpus, and the command on the
tiny model (plumbing only: its motion is noise)."""

import json
import re
from functools import lru_cache

import numpy as np
import pytest

from momug.cli import main
from momug.data.synth.actions import GAITS
from momug.eval import styles

FPS = 20.0


@lru_cache(maxsize=None)
def synth(gait: str, speed: str, seed: int = 0, heading: float = 0.7):
    """A procedural straight locomotion clip: (joints, the speed it was built at, the stride
    frequency range it was drawn from)."""
    from momug.data.synth import compose
    from momug.data.synth.actions import ACTIONS
    from momug.data.synth.clip import State
    from momug.data.synth.rig import Body

    body = Body.make(1.0)
    params = {"gait": gait, "speed": speed, "path": "straight", "direction": "forward"}
    clip = ACTIONS[gait].build(body, State(np.array([0.4, -0.7]), heading), params, np.random.default_rng(seed))
    joints = compose.solve(body, clip).joints
    # The generator's walks step 12% slower for "slow" and 20% quicker for "fast" (actions._locomotion).
    factor = {"slow": 0.88, "fast": 1.2}.get(speed, 1.0) if gait == "walk" else 1.0
    low, high = GAITS[gait]["stride_hz"]
    return joints, clip.meta["speed_m_s"], (low * factor, high * factor)


@pytest.mark.parametrize("gait, speed", [("walk", "slow"), ("walk", "fast"), ("run", "normal"), ("jog", "slow")])
@pytest.mark.parametrize("seed", [0, 1])
def test_measure_gives_back_the_built_speed_and_step(gait, speed, seed):
    joints, built_speed, (hz_low, hz_high) = synth(gait, speed, seed)
    m = styles.measure(joints, FPS)
    assert m["speed_m_s"] == pytest.approx(built_speed, abs=0.05)
    # A step is half a stride: speed / (2 x strides per second), at the drawn cadence.
    assert built_speed / (2 * hz_high) * 0.95 <= m["step_m"] <= built_speed / (2 * hz_low) * 1.05
    assert m["steps"] >= 2


def test_slow_short_steps_against_fast_long_ones():
    slow = styles.measure(synth("walk", "slow")[0], FPS)
    fast = styles.measure(synth("walk", "fast")[0], FPS)
    assert slow["speed_m_s"] < 0.9 < 1.4 < fast["speed_m_s"]
    assert slow["step_m"] < 0.45 < 0.55 < fast["step_m"]
    assert styles.pair_passes(slow, fast) == {"slower": True, "shorter_steps": True, "passed": True}
    assert not styles.pair_passes(fast, slow)["passed"]


def test_step_length_ignores_facing_and_standing():
    joints = synth("walk", "normal", heading=0.0)[0]
    turned = synth("walk", "normal", heading=2.0)[0]
    assert styles.step_length(turned)[0] == pytest.approx(styles.step_length(joints)[0], rel=1e-6)
    standing = np.repeat(joints[:1], 60, axis=0)
    assert np.isnan(styles.step_length(standing)[0]) and styles.step_length(standing)[1] == 0


@pytest.mark.parametrize("slow, lively, expected", [
    ((0.8, 0.4), (1.5, 0.7), (True, True, True)),
    ((0.8, 0.8), (1.5, 0.7), (True, False, False)),    # slower, but longer steps
    ((1.6, 0.4), (1.5, 0.7), (False, True, False)),    # shorter steps, but faster
    ((1.5, 0.4), (1.5, 0.7), (False, True, False)),    # equal speed is not slower
    ((0.2, np.nan), (1.5, 0.7), (True, False, False)),  # no measurable steps fails
    ((0.8, 0.4), (1.5, np.nan), (True, False, False)),
])
def test_pair_rule(slow, lively, expected):
    def m(speed, step):
        return {"speed_m_s": speed, "step_m": step, "steps": 3}

    got = styles.pair_passes(m(*slow), m(*lively))
    assert (got["slower"], got["shorter_steps"], got["passed"]) == expected


def test_prompts_use_the_corpus_wording_or_its_held_out_one():
    from momug.data.bandai import CONTENTS, STYLES, heldout_vocabulary

    assert styles.style_prompt("walk", "elderly") == "An elderly person walks forward."
    assert styles.style_prompt("run", "exhausted") == "An exhausted person runs forward."
    assert styles.style_prompt("walk", "active") == "An energetic person walks forward."
    pairs = styles.style_pairs("corpus")
    assert len(pairs) == 12  # 2 actions x 3 slow x 2 lively
    for p in pairs:  # a training subject of the style with a training verb of the action
        verb = CONTENTS[p["action"]][3][0]
        for side in ("slow", "lively"):
            assert any(p[f"{side}_prompt"] == f"{s[0].upper()}{s[1:]} {verb}." for s in STYLES[p[side]][1])
    held = styles.style_pairs("heldout")
    assert len(held) == 8  # tired and exhausted share one held-out wording
    unseen = heldout_vocabulary()
    for p in held:
        for side in ("slow", "lively"):
            assert set(re.findall(r"[a-z]+", p[f"{side}_prompt"].lower())) & unseen


def test_judge_model_counts_pairs_per_seed():
    slow, fast = synth("walk", "slow")[0], synth("walk", "fast")[0]
    lively_words = ("energetic", "youthful", "vigorous", "teenaged")

    def generate(prompts, seconds, seed):
        return [fast if any(w in p.lower() for w in lively_words) else slow for p in prompts]

    def backwards(prompts, seconds, seed):
        return [slow if any(w in p.lower() for w in lively_words) else fast for p in prompts]

    out = styles.judge_model(generate, seeds=(0, 1), seconds=5.0, fps=FPS)
    assert out["summary"]["n"] == 24 and out["summary"]["pass_rate"] == 1.0
    assert out["summary"]["by_action"] == {"walk": {"pass_rate": 1.0, "n": 12}, "run": {"pass_rate": 1.0, "n": 12}}
    assert out["summary"]["bar"]["met"]
    assert out["styles"]["walk/elderly"]["n"] == 2
    assert styles.judge_model(backwards, seeds=(0,), seconds=5.0, fps=FPS, wording="heldout")["summary"][
        "pass_rate"] == 0.0
    table = styles.pair_table(out["rows"])
    assert "| walk | elderly | active | 0 |" in table and table.count("| yes |") == 24


def write_fake_corpus(root, swap: bool = False):
    """A corpus folder as `momug data bandai` writes it, with procedural walks and runs standing in
    for the real clips: slow styles slow, lively ones fast (or the other way round with swap)."""
    (root / "new_joints").mkdir(parents=True)
    rows = []
    plan = [("walk", "elderly"), ("walk", "exhausted"), ("walk", "active"), ("walk", "youthful"),
            ("run", "elderly"), ("run", "active"), ("walk", "normal"), ("walk-back", "elderly"), ("dash", "active")]
    for k, (content, style) in enumerate(plan):
        slow = style in ("elderly", "exhausted")
        if swap:
            slow = not slow
        gait = "walk" if content.startswith("walk") else "run"
        joints = synth(gait, ("slow" if slow else "fast") if gait == "walk" else ("normal" if slow else "fast"))[0]
        clip_id = f"dataset-2_{content}_{style}_{k:03d}"
        np.save(root / "new_joints" / f"{clip_id}.npy", joints.astype(np.float32))
        kind = {"walk-back": "walk", "dash": "run"}.get(content, content)
        rows.append({"id": clip_id, "kind": kind, "content": content, "style": style, "dataset": 2,
                     "direction": "backward" if content == "walk-back" else "forward", "captions": ["x"]})
    (root / "meta.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "test.txt").write_text("".join(r["id"] + "\n" for r in rows[:3]))
    return rows


def test_real_reference_pairs_slow_and_lively_clips_of_one_content(tmp_path):
    write_fake_corpus(tmp_path / "c")
    ref = styles.real_reference(tmp_path / "c")
    # walks: 2 slow x 2 lively; runs: 1 x 1; the normal walk, the backward walk and the dash are left out.
    assert ref["clips"] == 6
    assert ref["summary"]["n"] == 5 and ref["summary"]["pass_rate"] == 1.0
    assert ref["summary"]["by_pair"]["walk: exhausted vs youthful"] == {"pass_rate": 1.0, "n": 1}
    assert ref["styles"]["run/elderly"]["speed_m_s"] < ref["styles"]["run/active"]["speed_m_s"]
    only_test = styles.real_reference(tmp_path / "c", ["test"])
    assert only_test["summary"]["n"] == 2  # elderly and exhausted walks against the one active walk
    write_fake_corpus(tmp_path / "swapped", swap=True)
    assert styles.real_reference(tmp_path / "swapped")["summary"]["pass_rate"] == 0.0


def test_command_reference_only(tmp_path, capsys):
    write_fake_corpus(tmp_path / "c")
    out = tmp_path / "ref.json"
    assert main(["eval", "styles", "--data", str(tmp_path / "c"), "--reference-only", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "pass rate 100% (5)" in printed and "walk/elderly" in printed
    result = json.loads(out.read_text())
    assert result["real_reference"]["summary"]["pass_rate"] == 1.0 and "model_result" not in result
    assert main(["eval", "styles", "--reference-only"]) == 2
    assert main(["eval", "styles", "--data", str(tmp_path / "missing"), "--reference-only"]) == 2


def test_command_on_the_tiny_model(tmp_path, capsys):
    pytest.importorskip("torch")
    write_fake_corpus(tmp_path / "c")
    out = tmp_path / "styles.json"
    rc = main(["eval", "styles", "--checkpoint", "tiny", "--data", str(tmp_path / "c"), "--seeds", "1",
               "--steps", "1", "--seconds", "2", "--device", "cpu", "--json", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "| walk | elderly | active | 0 |" in printed and "| run | tired | youthful | 0 |" in printed
    assert "issue 20's bar" in printed and "model against real" in printed
    result = json.loads(out.read_text())
    assert result["model"] == "tiny" and len(result["model_result"]["rows"]) == 12
    assert 0.0 <= result["model_result"]["summary"]["pass_rate"] <= 1.0
    assert result["real_reference"]["summary"]["n"] == 5
    assert main(["eval", "styles", "--checkpoint", "tiny", "--seconds", "60", "--device", "cpu"]) == 2
