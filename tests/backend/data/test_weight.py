"""Weighted ids files (momug data weight): which clips are repeated, how often, and bad input."""

from collections import Counter

import pytest

from momug import cli
from momug.data.mirror import write_mirrors
from momug.data.steady import write_steady_windows
from momug.data.synth.writer import read_meta, write_corpus
from momug.data.weight import original_id, parse_weights, write_weighted_split
from momug.errors import MomugError


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("weighted")
    write_corpus(out, 30, seed=5, workers=1, progress=False, actions=["walk", "kick", "wave"])
    write_mirrors(out, "train", progress=False)
    write_steady_windows(out, "train_mirrored")
    return out


def test_parse_weights():
    assert parse_weights("kick=4, jump_in_place=2") == {"kick": 4, "jump_in_place": 2}
    for bad in ("kick", "kick=x", "=3", "kick=0", "kick=21", "", ","):
        with pytest.raises(MomugError):
            parse_weights(bad)


def test_original_id_follows_mirrors_and_windows():
    known = {"a-1", "Sfoo"}
    assert original_id("a-1", known) == "a-1"
    assert original_id("Ma-1", known) == "a-1"
    assert original_id("Sa-1", known) == "a-1"
    assert original_id("SMa-1", known) == "a-1"
    assert original_id("Oa-1", known) == "a-1" and original_id("OMa-1", known) == "a-1"  # onset windows
    assert original_id("Sfoo", known) == "Sfoo"  # an id that merely starts with S is itself
    assert original_id("b-2", known) is None


def test_each_weighted_clip_is_listed_its_weight(corpus):
    split = "train_mirrored_steady"
    base = (corpus / f"{split}.txt").read_text().split()
    summary = write_weighted_split(corpus, split, {"kick": 3, "wave": 2})
    listed = Counter((corpus / f"{split}_weighted.txt").read_text().split())
    actions = {m["id"]: {a["action"] for a in m["actions"]} for m in read_meta(corpus)}
    expected_listed = 0
    for motion_id in base:
        acts = actions[original_id(motion_id, actions)]
        want = max([3] * ("kick" in acts) + [2] * ("wave" in acts) + [1])
        assert listed[motion_id] == want, motion_id
        expected_listed += want
    assert set(listed) == set(base)
    assert summary["listed"] == expected_listed > len(base) == summary["clips"]
    mirrored_kicks = [i for i in base if i.startswith("M") and "kick" in actions[i[1:]]]
    assert mirrored_kicks and all(listed[i] == 3 for i in mirrored_kicks)
    assert summary["per_action"]["kick"] == sum(1 for i in base if "kick" in actions[original_id(i, actions)])


def test_bad_requests_write_nothing(corpus):
    before = sorted(p.name for p in corpus.iterdir())
    with pytest.raises(MomugError, match="no clip of action"):
        write_weighted_split(corpus, "train", {"backflip": 2})
    with pytest.raises(MomugError, match="replace"):
        write_weighted_split(corpus, "train", {"kick": 2}, name="train")
    for outside in ("../escaped", "sub/dir", ".hidden", "/"):
        with pytest.raises(MomugError, match="plain file name"):
            write_weighted_split(corpus, "train", {"kick": 2}, name=outside)
    with pytest.raises(MomugError, match="no split"):
        write_weighted_split(corpus, "nosuch", {"kick": 2})
    assert sorted(p.name for p in corpus.iterdir()) == before


def test_cli_writes_the_named_file(corpus, capsys):
    assert cli.main(["data", "weight", str(corpus), "--times", "kick=2", "--name", "train_kicks"]) == 0
    assert (corpus / "train_kicks.txt").is_file()
    assert "train_kicks.txt" in capsys.readouterr().out
    assert cli.main(["data", "weight", str(corpus), "--times", "kick"]) == 2  # a clear error, no traceback
    assert "ACTION=N" in capsys.readouterr().err
