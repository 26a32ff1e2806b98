"""Real-motion evaluation: caption checks for content, side, way and style; the gait statistics
(speed, stride) that style judgements rest on; `momug eval real` on an imported corpus."""

import json

import numpy as np
import pytest

from momug.cli import main
from momug.eval.real_motion import check_real_caption, gait, real_caption_checks, real_physics

WAVE_LEFT_OLD = {"kind": "wave", "side": "left", "direction": None, "style_family": "old"}
TURN_RIGHT = {"kind": "turn", "side": None, "direction": "right", "style_family": "normal"}
WALK_BACK_TIRED = {"kind": "walk", "side": None, "direction": "backward", "style_family": "tired"}


@pytest.mark.parametrize("caption, row, expected", [
    ("An old man waves the left hand.", WAVE_LEFT_OLD, {"content": True, "style": True}),
    ("A person waves the right hand.", WAVE_LEFT_OLD, {"content": False, "style": False}),
    ("An elderly person waves both hands with the left hand.", WAVE_LEFT_OLD, {"content": False, "style": True}),
    ("An old man raises the left hand.", WAVE_LEFT_OLD, {"content": False, "style": True}),
    ("A person walks and turns right.", TURN_RIGHT, {"content": True}),  # normal style: not counted
    ("A happy person walks and turns right.", TURN_RIGHT, {"content": True}),
    ("A person turns left then right.", TURN_RIGHT, {"content": False}),
    ("A tired person walks backward.", WALK_BACK_TIRED, {"content": True, "style": True}),
    ("A tired person walks forward.", WALK_BACK_TIRED, {"content": False, "style": True}),
    ("A tired old person walks backward.", WALK_BACK_TIRED, {"content": True, "style": False}),
])
def test_caption_checks(caption, row, expected):
    assert check_real_caption(caption, row) == expected


def test_check_rates_count_each_clip():
    meta = {"a": dict(WAVE_LEFT_OLD), "b": dict(TURN_RIGHT), "c": {"kind": "run", "style_family": "young"}}
    out = real_caption_checks({"a": "An old man waves the left hand.", "b": "Someone walks.",
                               "c": "A young man runs.", "zzz": "not a real clip"}, meta)
    assert out["checks"]["content"] == {"pass_rate": pytest.approx(2 / 3), "n": 3}
    assert out["checks"]["style"] == {"pass_rate": 1.0, "n": 2}  # the normal-style clip has no style check
    assert out["content_by_kind"]["turn"] == {"pass_rate": 0.0, "n": 1}
    assert out["failures"][0]["id"] == "b"


def _stepping(speed: float, stride: float, fps: float = 20.0, seconds: float = 4.0) -> np.ndarray:
    """Joints whose root moves at speed and whose toes plant every stride (alternating feet)."""
    t = np.arange(int(seconds * fps) + 1) / fps
    joints = np.zeros((len(t), 22, 3))
    joints[:, :, 1] = 0.5
    joints[:, 0, 2] = speed * t
    for foot, phase in ((10, 0.0), (11, stride / 2)):
        # Each foot rests at a plant, then swings a stride forward in the air at 3x the body speed.
        z = np.zeros(len(t))
        air = np.zeros(len(t), dtype=bool)
        for i, pos in enumerate(speed * t + phase):
            k = np.floor(pos / stride)
            frac = pos / stride - k
            swing = 1 / 3
            z[i] = k * stride + (0 if frac < 1 - swing else (frac - (1 - swing)) / swing * stride)
            air[i] = frac >= 1 - swing
        joints[:, foot, 2] = z
        joints[:, foot, 1] = np.where(air, 0.15, 0.0)
    return joints


def test_gait_measures_speed_and_stride():
    fast = gait(_stepping(1.4, 1.4), 20.0)
    slow = gait(_stepping(0.7, 0.9), 20.0)
    assert fast["speed_m_s"] == pytest.approx(1.4, rel=0.02)
    assert slow["speed_m_s"] == pytest.approx(0.7, rel=0.02)
    assert fast["stride_m"] == pytest.approx(1.4, rel=0.1)
    assert slow["stride_m"] == pytest.approx(0.9, rel=0.1)


@pytest.fixture(scope="module")
def real_corpus(tmp_path_factory):
    """40 real-looking walks (old and slow, young and fast) as an imported corpus' test split."""
    root = tmp_path_factory.mktemp("real") / "real"
    for sub in ("new_joints", "new_joint_vecs", "texts"):
        (root / sub).mkdir(parents=True)
    from momug.motion.features import joints_to_features, mean_std

    rng = np.random.default_rng(0)
    rows, feats = [], []
    for i in range(40):
        old = i % 2 == 0
        joints = _stepping(0.6 if old else 1.3, 0.8 if old else 1.3) + rng.normal(0, 0.002, (81, 22, 3))
        joints[:, 1:10, 1] += np.linspace(0.1, 0.9, 9)  # a body with some height, for the features
        motion_id = f"c{i:02d}"
        np.save(root / "new_joints" / f"{motion_id}.npy", joints.astype(np.float32))
        f = joints_to_features(joints)
        feats.append(f)
        np.save(root / "new_joint_vecs" / f"{motion_id}.npy", f)
        caption = "An old man walks forward." if old else "A young man walks forward."
        (root / "texts" / f"{motion_id}.txt").write_text(caption + "#x#0.0#0.0\n")
        rows.append({"id": motion_id, "kind": "walk", "direction": "forward", "captions": [caption],
                     "style_family": "old" if old else "young"})
    mean, std = mean_std(feats)
    np.save(root / "Mean.npy", mean)
    np.save(root / "Std.npy", std)
    (root / "meta.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "test.txt").write_text("".join(r["id"] + "\n" for r in rows))
    return root


def test_eval_real_reports_ground_truth_and_physics(real_corpus, tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    root = real_corpus
    stats = real_physics(root, "test")
    assert stats["clips"] == 40
    assert stats["gait"]["walk/old"]["speed_m_s"] < stats["gait"]["walk/young"]["speed_m_s"]
    assert stats["gait"]["walk/old"]["stride_m"] < stats["gait"]["walk/young"]["stride_m"]
    out = tmp_path / "real.json"
    from momug.eval.matching import default_evaluator_dir, merged_evaluator_dir

    if merged_evaluator_dir() is not None:
        # The default here is the opt-in evaluator trained on CC BY-NC motion: refused, terms shown.
        monkeypatch.setenv("MOMUG_CONFIG", str(tmp_path / "config"))
        monkeypatch.delenv("MOMUG_ACCEPT_LICENCES", raising=False)
        assert main(["eval", "real", "--data", str(root), "--repeats", "2"]) == 2
        assert "CC BY-NC 4.0" in capsys.readouterr().err
    assert main(["eval", "real", "--data", str(root), "--repeats", "2", "--json", str(out),
                 "--evaluator", str(default_evaluator_dir())]) == 0
    printed = capsys.readouterr().out
    assert "Ground truth" in printed and "walk/old" in printed
    result = json.loads(out.read_text())
    assert 0 <= result["ground_truth"]["top1"]["mean"] <= 1
    assert result["physics"]["foot_skating_m_s"] >= 0


def test_eval_real_with_a_model_sets_its_physics_beside_the_real(real_corpus, tmp_path, capsys):
    """--checkpoint: one motion per clip (first caption, its length), the model's physical statistics
    beside the real ones; the real side is what the real-only path computes."""
    pytest.importorskip("torch")
    from momug.eval.matching import default_evaluator_dir

    real_json, model_json = tmp_path / "real.json", tmp_path / "model.json"
    assert main(["eval", "real", "--data", str(real_corpus), "--repeats", "2",
                 "--json", str(real_json), "--evaluator", str(default_evaluator_dir())]) == 0
    capsys.readouterr()
    assert main(["eval", "real", "--data", str(real_corpus), "--checkpoint", "tiny", "--steps", "2",
                 "--batch-size", "16", "--json", str(model_json)]) == 0
    printed = capsys.readouterr().out
    for key in ("foot_skating_m_s", "jitter_m_s3", "bone_length_error_m", "largest_step_m"):
        assert f"| {key} |" in printed
    assert "within 1.5x" in printed
    real_only = json.loads(real_json.read_text())
    result = json.loads(model_json.read_text())
    assert result["real"]["physics"] == real_only["physics"]
    assert result["real"]["gait"] == real_only["gait"]
    assert result["real"]["clips"] == result["model_physics"]["clips"] == 40
    clips = result["model_physics"]["per_clip"]
    assert [c["id"] for c in clips] == [f"c{i:02d}" for i in range(40)]
    assert clips[0]["prompt"] == "An old man walks forward." and clips[1]["prompt"] == "A young man walks forward."
    assert all(c["frames"] == c["real_frames"] == 81 for c in clips)  # each clip's own length
    assert [c["seed"] for c in clips] == list(range(40))
    rows = result["comparison"]["rows"]
    for key in ("foot_skating_m_s", "jitter_m_s3", "bone_length_error_m", "largest_step_m"):
        row = rows[key]
        assert row["model"] >= 0 and row["real"] == real_only["physics"][key]
        assert row["ratio"] == pytest.approx(row["model"] / row["real"])
    assert rows["foot_skating_m_s"]["within_bar"] == (rows["foot_skating_m_s"]["ratio"] <= 1.5)
    assert result["comparison"]["passed"] == (rows["foot_skating_m_s"]["within_bar"]
                                              and rows["jitter_m_s3"]["within_bar"])
    assert "ground_truth" not in result  # the matching rows are eval t2m's


def test_eval_real_model_choice_is_one_of_checkpoint_or_model(real_corpus, capsys):
    assert main(["eval", "real", "--data", str(real_corpus), "--checkpoint", "tiny", "--model", "default"]) == 2
    assert "--model and --checkpoint" in capsys.readouterr().err


def test_eval_real_limit_takes_the_first_clips_on_both_sides(real_corpus, tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "model.json"
    assert main(["eval", "real", "--data", str(real_corpus), "--checkpoint", "tiny", "--limit", "3", "--steps", "1",
                 "--seed", "5", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["real"]["physics"] == real_physics(real_corpus, "test", limit=3)["physics"]
    assert [c["seed"] for c in result["model_physics"]["per_clip"]] == [5, 6, 7]
