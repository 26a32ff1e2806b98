"""The corpus folder: HumanML3D layout, captions, statistics, determinism, CLI errors."""

import argparse
import re
from pathlib import Path

import numpy as np
import pytest

from momug.commands import data as data_command
from momug.data.synth import captions, tagging
from momug.data.synth.actions import JUMP_HEIGHTS
from momug.data.synth.writer import read_meta, write_corpus
from momug.errors import MomugError
from momug.eval.probes import BIG_JUMP_RISE, jumps_to, pelvis_rise
from momug.motion import features

N = 24
SIDE_ACTIONS = {"wave", "kick", "point", "raise_arms", "punch", "throw", "hop_one_leg"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    write_corpus(out, N, seed=123, workers=2, progress=False)
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_layout_and_shapes(corpus):
    ids = (corpus / "all.txt").read_text().split()
    assert len(ids) == N
    for mid in ids:
        joints = np.load(corpus / "new_joints" / f"{mid}.npy")
        vecs = np.load(corpus / "new_joint_vecs" / f"{mid}.npy")
        assert joints.dtype == np.float32 and joints.ndim == 3 and joints.shape[1:] == (22, 3)
        assert vecs.dtype == np.float32 and vecs.shape == (len(joints) - 1, 263)
        assert 40 <= len(joints) <= 200
        assert np.isfinite(vecs).all()
        assert joints[..., 1].min() > -0.01


def test_texts_parse_in_humanml3d_format(corpus):
    for path in sorted((corpus / "texts").glob("*.txt")):
        lines = path.read_text(encoding="utf-8").strip().split("\n")
        assert len(lines) >= 3
        assert len(set(lines)) == len(lines)
        for line in lines:
            caption, tokens, start, end = line.split("#")
            assert caption.endswith(".") and caption == caption.lower()
            assert float(start) == 0.0 and float(end) == 0.0
            pairs = [t.split("/") for t in tokens.split(" ")]
            assert all(len(p) == 2 and p[0] and re.fullmatch(r"[A-Z]+", p[1]) for p in pairs)
            assert any(p[1] == "VERB" for p in pairs)


def test_splits_partition_the_ids(corpus):
    ids = set((corpus / "all.txt").read_text().split())
    parts = {name: (corpus / f"{name}.txt").read_text().split() for name in ("train", "val", "test")}
    assert set().union(*map(set, parts.values())) == ids
    assert sum(len(v) for v in parts.values()) == len(ids)
    assert len(parts["train"]) > len(parts["test"]) > 0


def test_mean_std_match_features_mean_std_over_train(corpus):
    mean, std = np.load(corpus / "Mean.npy"), np.load(corpus / "Std.npy")
    assert mean.shape == (263,) and std.shape == (263,)
    assert np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()
    train = (corpus / "train.txt").read_text().split()
    ref_mean, ref_std = features.mean_std([np.load(corpus / "new_joint_vecs" / f"{i}.npy") for i in train])
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(std, ref_std, rtol=1e-3, atol=1e-5)


def test_meta_records_the_ground_truth(corpus):
    metas = read_meta(corpus)
    assert [m["id"] for m in metas] == (corpus / "all.txt").read_text().split()
    for m in metas:
        assert 1 <= len(m["actions"]) <= 3
        assert m["actions"][0]["start"] == 0 and m["actions"][-1]["end"] == m["frames"]
        assert m["split"] in ("train", "val", "test")
        texts = (corpus / "texts" / f"{m['id']}.txt").read_text().strip().split("\n")
        assert [t.split("#")[0] for t in texts] == m["captions"]


def test_captions_name_the_side_and_use_then_for_sequences():
    rng = np.random.default_rng(0)
    for name in SIDE_ACTIONS:
        for side in ("left", "right"):
            params = {"side": side, "count": 2, "direction": "forward"}
            texts = captions.captions([(name, params)], rng, n=6)
            other = "right" if side == "left" else "left"
            assert all(other not in c for c in texts), texts  # a side word, when given, is the right one
            assert sum(side in c for c in texts) >= len(texts) // 2, texts
    for caption in captions.captions([("walk_backward", {"gait": "walk_backward", "speed": "normal", "path": "straight",
                                                          "direction": "backward"}), ("clap", {"count": 3})], rng, n=5):
        assert "then" in caption and ("back" in caption or "reverse" in caption)
    for d in ("left", "right"):
        for caption in captions.captions([("sidestep", {"gait": "sidestep", "speed": "slow", "path": "straight",
                                                        "direction": d})], rng, n=5):
            assert d in caption


def test_captions_avoid_held_out_probe_wordings():
    from momug.eval.probes import HELD_OUT_PHRASES as banned

    rng = np.random.default_rng(1)
    from momug.data.synth.actions import ACTIONS

    for vocabulary in captions.VOCABULARIES:
        for name, action in ACTIONS.items():
            for _ in range(5):
                for caption in captions.captions([(name, action.sample(rng))], rng, n=5, vocabulary=vocabulary):
                    assert not any(b in caption for b in banned), caption


def test_wide_vocabulary_changes_the_captions_only(corpus, tmp_path):
    wide = tmp_path / "wide"
    write_corpus(wide, N, seed=123, workers=1, progress=False, vocabulary="wide")
    base_files, wide_files = _files(corpus), _files(wide)
    captions_differ = [k for k in base_files if base_files[k] != wide_files[k]]
    # Motions, features, statistics and splits are the same files; captions (and the record of
    # which vocabulary made them) differ.
    assert captions_differ and all(k.startswith("texts/") or k in ("meta.jsonl", "corpus.json")
                                   for k in captions_differ)
    assert '"vocabulary": "wide"' in wide_files["corpus.json"].decode()
    assert "vocabulary" not in base_files["corpus.json"].decode()
    base_words = {w for m in read_meta(corpus) for c in m["captions"] for w in c.split()}
    wide_words = {w for m in read_meta(wide) for c in m["captions"] for w in c.split()}
    assert wide_words - base_words
    with pytest.raises(MomugError, match="--vocabulary"):
        write_corpus(tmp_path / "bad", 2, vocabulary="huge", progress=False)
    assert not (tmp_path / "bad").exists()


def test_both_vocabularies_list_each_motions_base_then_wide_captions(corpus, tmp_path):
    write_corpus(tmp_path / "wide", N, seed=123, workers=1, progress=False, vocabulary="wide")
    write_corpus(tmp_path / "both", N, seed=123, workers=1, progress=False, vocabulary="both")
    base, wide, both = _files(corpus), _files(tmp_path / "wide"), _files(tmp_path / "both")
    texts = [k for k in base if k.startswith("texts/")]
    assert len(texts) == N
    for k in texts:
        assert both[k].decode().splitlines() == base[k].decode().splitlines() + wide[k].decode().splitlines()
    assert all(both[k] == base[k] for k in base if not k.startswith("texts/") and k not in ("meta.jsonl", "corpus.json"))


def test_all_vocabularies_list_base_wide_then_rich_captions_of_the_same_motions(corpus, tmp_path):
    for vocabulary in ("wide", "rich", "all"):
        write_corpus(tmp_path / vocabulary, N, seed=123, workers=1, progress=False, vocabulary=vocabulary)
    base, wide, rich, all_ = (_files(corpus), *(_files(tmp_path / v) for v in ("wide", "rich", "all")))
    for k in (k for k in base if k.startswith("texts/")):
        assert all_[k].decode().splitlines() == (base[k].decode().splitlines() + wide[k].decode().splitlines()
                                                 + rich[k].decode().splitlines())
    assert all(all_[k] == base[k] for k in base if not k.startswith("texts/") and k not in ("meta.jsonl", "corpus.json"))
    # the rich draws use wordings neither of the others has
    rich_words = {w for m in read_meta(tmp_path / "rich") for c in m["captions"] for w in c.split()}
    wide_words = {w for m in read_meta(tmp_path / "wide") for c in m["captions"] for w in c.split()}
    base_words = {w for m in read_meta(corpus) for c in m["captions"] for w in c.split()}
    assert rich_words - wide_words - base_words


def test_rich_phrases_keep_the_side_speed_and_height_words():
    kick = captions.phrases("kick", {"side": "left", "count": 1}, "her", rich=True)
    assert any("kicks out with her left leg" == c for c in kick) and not any("right" in c for c in kick)
    slow = captions.phrases("walk", {"gait": "walk", "speed": "slow", "path": "straight", "direction": "forward"},
                            rich=True)
    assert {"treads forward at a relaxed pace", "steps forward at a gentle pace"} <= set(slow)
    high = captions.phrases("jump_in_place", {"count": 1, "height": "high"}, rich=True)
    low = captions.phrases("jump_in_place", {"count": 1, "height": "low"}, rich=True)
    assert "jumps really high" in high and "jumps really high" not in low and "does a little jump" in low


def test_tagging():
    line = tagging.text_line("a man kicks with his left leg.")
    assert line == "a man kicks with his left leg.#a/DET man/NOUN kick/VERB with/ADP his/DET left/ADJ leg/NOUN#0.0#0.0"


def test_same_seed_gives_identical_files_whatever_the_workers(tmp_path, corpus):
    write_corpus(tmp_path / "one", N, seed=123, workers=1, progress=False)
    assert _files(tmp_path / "one") == _files(corpus)
    write_corpus(tmp_path / "other", 6, seed=124, workers=1, progress=False)
    a = np.load(tmp_path / "other" / "new_joints" / "000000.npy")
    b = np.load(corpus / "new_joints" / "000000.npy")
    assert a.shape != b.shape or not np.array_equal(a, b)


def _args(**kw):
    base = dict(data_command="synth", n=5, out="x", seed=0, workers=1, quiet=True, vocabulary="base", actions=None,
                gait_seconds=None, jump_heights="overlap")
    base.update(kw)
    return argparse.Namespace(**base)


def test_cli_rejects_bad_arguments(tmp_path):
    with pytest.raises(MomugError, match="--n"):
        data_command.run(_args(n=0, out=str(tmp_path / "a")))
    with pytest.raises(MomugError, match="--n"):
        data_command.run(_args(n=-3, out=str(tmp_path / "a")))
    with pytest.raises(MomugError, match="--workers"):
        data_command.run(_args(workers=0, out=str(tmp_path / "a")))
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(MomugError, match="not a folder|cannot write"):
        data_command.run(_args(out=str(blocker)))
    with pytest.raises(MomugError, match="cannot write"):
        data_command.run(_args(out=str(blocker / "sub")))
    for bad in ("walk,fly", ","):
        with pytest.raises(MomugError, match="--actions: unknown action"):
            data_command.run(_args(actions=bad, out=str(tmp_path / "b")))
    assert not (tmp_path / "b").exists()  # rejected before anything was written
    for bad, message in (("5", "two numbers"), ("a,b", "two numbers"), ("4,5,6", "two numbers"),
                         ("6,4", "LO <= HI"), ("0,3", "LO <= HI"), ("4,12", "HI <= 8"), ("nan,5", "LO <= HI")):
        with pytest.raises(MomugError, match=f"--gait-seconds.*{re.escape(message)}"):
            data_command.run(_args(gait_seconds=bad, out=str(tmp_path / "g")))
    assert not (tmp_path / "g").exists()
    with pytest.raises(MomugError, match="--jump-heights must be one of overlap, apart"):
        write_corpus(tmp_path / "j", 3, workers=1, progress=False, jump_heights="huge")
    assert not (tmp_path / "j").exists()


def test_actions_limit_which_actions_the_motions_use(tmp_path):
    pool = {"walk", "kick", "jump_in_place"}
    write_corpus(tmp_path / "focus", 16, seed=5, workers=1, progress=False, actions=sorted(pool))
    used = {step["action"] for meta in read_meta(tmp_path / "focus") for step in meta["actions"]}
    # idle pads motions that came out shorter than 2 s
    assert used - {"idle"} <= pool and len(used & pool) >= 2
    assert '"actions"' in (tmp_path / "focus" / "corpus.json").read_text()


def _straight_gait_frames(folder: Path) -> list[int]:
    return [step["end"] - step["start"] for meta in read_meta(folder) for step in meta["actions"]
            if step["action"] in ("walk", "jog", "run") and step["params"]["path"] == "straight"]


def test_gait_seconds_lengthen_straight_gaits_and_leave_the_rest(tmp_path):
    gaits = ["walk", "jog", "run"]
    write_corpus(tmp_path / "short", 24, seed=6, workers=1, progress=False, actions=gaits)
    write_corpus(tmp_path / "long", 24, seed=6, workers=1, progress=False, actions=gaits, gait_seconds=(6.0, 7.0))
    short, long = _straight_gait_frames(tmp_path / "short"), _straight_gait_frames(tmp_path / "long")
    assert short and long
    # a 6-7 s hold alone is 120+ frames; the default holds (1.5-4 s) are 3.75 s (75 frames) shorter on average
    assert min(long) >= 120 and np.mean(long) > np.mean(short) + 50
    metas = read_meta(tmp_path / "long")
    for step in (s for meta in metas for s in meta["actions"]):
        recorded = step["params"].get("hold_seconds")
        assert recorded == ([6.0, 7.0] if step["params"].get("path") == "straight" else None)
    assert '"gait_seconds"' in (tmp_path / "long" / "corpus.json").read_text()
    assert "gait_seconds" not in (tmp_path / "short" / "corpus.json").read_text()


def _jump_rises(folder: Path) -> dict[str, list[float]]:
    """Pelvis rise of every motion that is one jump in place, by its height word; each must pass
    the probe for its word ("does a small jump" / "does a big jump")."""
    rises: dict[str, list[float]] = {"low": [], "high": []}
    for meta in read_meta(folder):
        steps = [s for s in meta["actions"] if s["action"] != "idle"]
        if len(steps) == 1 and steps[0]["action"] == "jump_in_place":
            joints = np.load(folder / "new_joints" / f"{meta['id']}.npy")
            height = steps[0]["params"]["height"]
            assert jumps_to("small" if height == "low" else "big")(joints, 20.0).passed, meta["id"]
            rises[height].append(pelvis_rise(joints))
    return rises


def test_jump_heights_apart_put_small_and_big_jumps_either_side_of_the_probe_line(tmp_path):
    pool = ["jump_in_place", "walk"]
    write_corpus(tmp_path / "overlap", 40, seed=8, workers=1, progress=False, actions=pool)
    write_corpus(tmp_path / "apart", 40, seed=8, workers=1, progress=False, actions=pool, jump_heights="apart")
    rises = _jump_rises(tmp_path / "apart")
    assert len(rises["low"]) >= 3 and len(rises["high"]) >= 3
    # the probes judge "small" and "big" against BIG_JUMP_RISE; apart bands clear it by 4 cm or more
    assert max(rises["low"]) < BIG_JUMP_RISE - 0.04 and min(rises["high"]) > BIG_JUMP_RISE + 0.04
    for meta in read_meta(tmp_path / "apart"):
        for step in meta["actions"]:
            expected = {"low": [0.11, 0.16], "high": [0.36, 0.46]}.get(step["params"].get("height"))
            assert step["params"].get("apex") == (expected if step["action"] == "jump_in_place" else None)
    # only jumps in place change: every motion without one is the same file in both corpora
    same = [m["id"] for m in read_meta(tmp_path / "overlap")
            if all(s["action"] != "jump_in_place" for s in m["actions"])]
    assert same
    for mid in same:
        assert np.array_equal(np.load(tmp_path / "overlap" / "new_joints" / f"{mid}.npy"),
                              np.load(tmp_path / "apart" / "new_joints" / f"{mid}.npy"))
    assert '"jump_heights": "apart"' in (tmp_path / "apart" / "corpus.json").read_text()
    assert "jump_heights" not in (tmp_path / "overlap" / "corpus.json").read_text()


def test_cli_parser_and_run(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    data_command.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["data", "synth", "--n", "3", "--out", str(tmp_path / "c"), "--seed", "4", "--quiet"])
    assert data_command.run(args) == 0
    assert len(list((tmp_path / "c" / "new_joints").glob("*.npy"))) == 3
    for vocabulary in captions.VOCABULARIES:  # the CLI offers every vocabulary the captions know
        assert parser.parse_args(["data", "synth", "--n", "3", "--out", "x", "--vocabulary", vocabulary]
                                 ).vocabulary == vocabulary
    assert "wrote 3 motions" in capsys.readouterr().out
    assert parser.parse_args(["data", "synth", "--n", "3", "--out", "x", "--gait-seconds", "4,7"]).gait_seconds == "4,7"
    for heights in JUMP_HEIGHTS:  # the CLI offers every jump-height choice the generator knows
        assert parser.parse_args(["data", "synth", "--n", "3", "--out", "x", "--jump-heights", heights]
                                 ).jump_heights == heights


def test_momug_main_prints_a_clear_error(tmp_path, capsys):
    from momug import cli

    assert cli.main(["data", "synth", "--n", "0", "--out", str(tmp_path / "z")]) == 2
    err = capsys.readouterr().err
    assert "--n must be a positive" in err and "Traceback" not in err


def test_a_split_with_no_usable_clips_is_a_clear_error(corpus, tmp_path):
    import shutil

    from momug.data.humanml3d import MotionTextFolder

    copy = tmp_path / "corpus"
    shutil.copytree(corpus, copy)
    (copy / "empty.txt").write_text("no_such_clip\n")
    with pytest.raises(MomugError, match="no usable clips in split 'empty'"):
        MotionTextFolder(copy, "empty")
