"""Steady-gait windows (momug data steady): which clips, where they are cut, mirrors cut alike."""

import argparse
import json
import re

import numpy as np
import pytest

from momug.commands import data as data_command
from momug.data.mirror import write_mirrors
from momug.data.steady import cruising_window, write_steady_windows
from momug.data.synth.writer import read_meta, write_corpus
from momug.errors import MomugError
from momug.motion.travel import root_ground_speed

FPS = 20.0


def test_cruising_window_drops_the_start_and_the_stop():
    # 1 s standing, 1 s speeding up, 3 s at 1.5 m/s, 1 s slowing down, 1 s standing
    speed = np.concatenate([np.zeros(20), np.linspace(0, 1.5, 20), np.full(60, 1.5), np.linspace(1.5, 0, 20),
                            np.zeros(20)])
    joints = np.zeros((len(speed) + 1, 22, 3))
    joints[1:, 0, 2] = np.cumsum(speed) / FPS
    a, b = cruising_window(joints, 1.5, FPS, 40)
    assert 30 <= a <= 45 and 95 <= b <= 112  # inside the ramps, around the 3 s of cruising
    assert root_ground_speed(joints[a:b], FPS).min() >= 0.5 * 1.5
    assert cruising_window(joints, 1.5, FPS, 120) is None  # shorter than asked


@pytest.fixture(scope="module")
def gait_corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("gaits")
    write_corpus(out, 24, seed=3, workers=1, progress=False, actions=["walk", "jog", "wave"])
    write_mirrors(out, "train", progress=False)
    return out


def test_windows_of_single_straight_gaits_and_their_mirrors(gait_corpus):
    summary = write_steady_windows(gait_corpus, "train_mirrored")
    listed = (gait_corpus / "train_mirrored_steady.txt").read_text().split()
    base = (gait_corpus / "train_mirrored.txt").read_text().split()
    windows = [i for i in listed if i.startswith("S")]
    assert listed[:len(base)] == base and len(windows) == summary["written"] > 0
    meta = {m["id"]: m for m in read_meta(gait_corpus)}
    for window_id in windows:
        clip_id = window_id[1:]
        original = clip_id[1:] if clip_id.startswith("M") else clip_id
        actions = meta[original]["actions"]
        assert len(actions) == 1 and actions[0]["action"] in ("walk", "jog")
        assert actions[0]["params"]["path"] == "straight"
        joints = np.load(gait_corpus / "new_joints" / f"{window_id}.npy")
        full = np.load(gait_corpus / "new_joints" / f"{clip_id}.npy")
        assert 40 <= len(joints) < len(full)
        # Cut from the clip (same frames), moving from the first frame to the last
        starts = [k for k in range(len(full) - len(joints) + 1) if np.allclose(full[k:k + len(joints)], joints)]
        assert len(starts) == 1
        speed = root_ground_speed(joints, FPS)
        cruise = actions[0]["measured"]["speed_m_s"]
        assert np.median(speed) > 0.8 * cruise and speed[:10].mean() > 0.5 * cruise and speed[-10:].mean() > 0.5 * cruise
        assert np.load(gait_corpus / "new_joint_vecs" / f"{window_id}.npy").shape == (len(joints) - 1, 263)
        texts = (gait_corpus / "texts" / f"{window_id}.txt").read_text()
        assert texts == (gait_corpus / "texts" / f"{clip_id}.txt").read_text()
    mirrored = {w[2:] for w in windows if w.startswith("SM")}
    assert mirrored and mirrored <= {w[1:] for w in windows}  # a mirror's window beside its original's
    for clip in mirrored:
        a = len(np.load(gait_corpus / "new_joints" / f"S{clip}.npy"))
        assert a == len(np.load(gait_corpus / "new_joints" / f"SM{clip}.npy"))


def test_onset_windows_start_from_rest_and_end_still_moving(gait_corpus):
    summary = write_steady_windows(gait_corpus, "train_mirrored", onset=True)
    listed = (gait_corpus / "train_mirrored_steady_onset.txt").read_text().split()
    steady = [i for i in listed if i.startswith("S")]
    onset = [i for i in listed if i.startswith("O")]
    assert onset and (len(steady), len(onset)) == (summary["steady"], summary["onset"])
    assert summary["written"] == len(steady) + len(onset)
    assert (gait_corpus / "train_mirrored_steady.txt").read_text().split() == \
        [i for i in listed if not i.startswith("O")]  # the plain list stays as it was
    for window_id in onset:
        clip_id = window_id[1:]
        joints = np.load(gait_corpus / "new_joints" / f"{window_id}.npy")
        full = np.load(gait_corpus / "new_joints" / f"{clip_id}.npy")
        steady_cut = np.load(gait_corpus / "new_joints" / f"S{clip_id}.npy")
        # The clip's first frames, ending where its steady window ends.
        assert np.array_equal(joints, full[:len(joints)]) and len(joints) < len(full)
        assert np.array_equal(joints[-len(steady_cut):], steady_cut)
        speed = root_ground_speed(joints, FPS)
        cruise = speed[-20:].mean()
        assert speed[:3].mean() < 0.3 * cruise and cruise > 0.5  # from standing, to still moving at the end
        assert (gait_corpus / "texts" / f"{window_id}.txt").read_text() == \
            (gait_corpus / "texts" / f"{clip_id}.txt").read_text()


def test_without_stops_lists_onset_windows_in_place_of_their_clips(gait_corpus):
    with_stops = write_steady_windows(gait_corpus, "train_mirrored", onset=True)
    full = (gait_corpus / "train_mirrored_steady_onset.txt").read_text().split()
    summary = write_steady_windows(gait_corpus, "train_mirrored", onset=True, without_stops=True)
    assert summary["split_file"].endswith("train_mirrored_steady_onset_nostops.txt")
    listed = (gait_corpus / "train_mirrored_steady_onset_nostops.txt").read_text().split()
    replaced = {i[len("O"):] for i in full if i.startswith("O")}
    assert replaced and with_stops["onset"] == summary["onset"] == len(replaced)
    assert listed == [i for i in full if i not in replaced]   # the same order, those clips gone
    assert all(("O" + clip) in listed for clip in replaced)
    with pytest.raises(MomugError, match="needs --onset"):
        write_steady_windows(gait_corpus, "train_mirrored", without_stops=True)


def test_cli_and_clear_errors(gait_corpus, tmp_path, capsys):
    args = argparse.Namespace(data_command="steady", data=str(gait_corpus), split="train", min_seconds=2.0,
                              onset=False, without_stops=False)
    assert data_command.run(args) == 0
    assert "steady windows written" in capsys.readouterr().out
    assert data_command.run(argparse.Namespace(**{**vars(args), "onset": True})) == 0
    assert re.search(r"\d+ steady and \d+ onset windows written", capsys.readouterr().out)
    with pytest.raises(MomugError, match="min-seconds"):
        data_command.run(argparse.Namespace(**{**vars(args), "min_seconds": 0.0}))
    bare = tmp_path / "bare"
    (bare / "new_joints").mkdir(parents=True)
    (bare / "train.txt").write_text("a\n")
    before = sorted(p.name for p in bare.rglob("*"))
    with pytest.raises(MomugError, match="meta.jsonl"):
        write_steady_windows(bare, "train")
    assert sorted(p.name for p in bare.rglob("*")) == before  # nothing written
    (bare / "meta.jsonl").write_text(json.dumps({"id": "a", "actions": []}) + "\n")
    with pytest.raises(MomugError):
        write_steady_windows(bare, "missing_split")
