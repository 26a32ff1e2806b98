"""Copies of the straight gaits captioned without a direction (momug data undirected)."""

import numpy as np
import pytest

from momug import cli
from momug.data.derived import original_id
from momug.data.humanml3d import read_split
from momug.data.mirror import write_mirrors
from momug.data.steady import write_steady_windows
from momug.data.synth.writer import read_meta, write_corpus
from momug.data.undirected_captions import is_straight_gait, undirected, write_undirected_copies
from momug.errors import MomugError
from momug.eval.probes import HELD_OUT_PHRASES

SPLIT = "train_mirrored_steady_onset"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("undirected")
    write_corpus(out, 60, seed=5, workers=1, progress=False, actions=["walk", "run", "sidestep", "kick"])
    write_mirrors(out, "train", progress=False)
    write_steady_windows(out, "train_mirrored", onset=True)
    return out


def _captions(root, motion_id):
    return [line.split("#")[0] for line in (root / "texts" / f"{motion_id}.txt").read_text().splitlines()]


def test_the_direction_phrase_after_the_verb_is_taken_out():
    assert undirected("a man runs forward steadily.") == "a man runs steadily."
    assert undirected("person runs forward.") == "person runs."
    assert undirected("a person dashes forward in a straight line at a normal pace.") == \
        "a person dashes at a normal pace."
    assert undirected("someone walks straight ahead slowly.") == "someone walks slowly."
    assert undirected("a woman runs in place.") is None


def test_copies_keep_the_motion_and_drop_only_the_direction(corpus):
    base = read_split(corpus, SPLIT)
    before = {i: (corpus / "texts" / f"{i}.txt").read_text() for i in base}
    summary = write_undirected_copies(corpus, SPLIT)
    listed = read_split(corpus, f"{SPLIT}_undirected")
    copies = listed[len(base):]
    assert listed[:len(base)] == base and summary["clips"] == len(listed) and len(copies) == summary["written"]
    straight = {m["id"] for m in read_meta(corpus) if is_straight_gait(m)}
    gaits = {m["id"]: m["actions"][0]["params"].get("gait") for m in read_meta(corpus) if len(m["actions"]) == 1}
    # Exactly the clips from one straight forward gait get a copy, windows and mirrors included;
    # sidesteps and kicks do not.
    assert set(copies) == {"U" + i for i in base if original_id(i, straight) is not None}
    assert any(c.startswith("UO") for c in copies) and any(c.startswith("UM") for c in copies)
    assert {gaits[original_id(c, straight)] for c in copies} == {"walk", "run"}
    for copy_id in copies:
        source = copy_id[1:]
        for folder in ("new_joints", "new_joint_vecs"):
            np.testing.assert_array_equal(np.load(corpus / folder / f"{copy_id}.npy"),
                                          np.load(corpus / folder / f"{source}.npy"))
        own = _captions(corpus, source)
        caps = _captions(corpus, copy_id)
        assert caps and len(set(caps)) == len(caps)
        assert caps == list(dict.fromkeys(undirected(c) for c in own if undirected(c)))
        for caption in caps:
            assert not any(w in caption for w in ("forward", "straight ahead")), caption
            assert not [p for p in HELD_OUT_PHRASES if p in caption], caption
    # The clips' own captions are untouched.
    assert {i: (corpus / "texts" / f"{i}.txt").read_text() for i in base} == before


def test_times_names_and_reruns(corpus):
    once = read_split(corpus, SPLIT)
    summary = write_undirected_copies(corpus, SPLIT, times=2, name="undirected_twice")
    listed = read_split(corpus, "undirected_twice")
    assert len(listed) == len(once) + 2 * summary["written"]
    for bad in (0, 21):
        with pytest.raises(MomugError, match="--times"):
            write_undirected_copies(corpus, SPLIT, times=bad)
    for bad in ("../out", SPLIT):
        with pytest.raises(MomugError, match="--name"):
            write_undirected_copies(corpus, SPLIT, name=bad)
    write_undirected_copies(corpus, SPLIT)
    first = {p.name: p.read_text() for p in (corpus / "texts").glob("U*.txt")}
    write_undirected_copies(corpus, SPLIT)  # a rerun writes the same files
    assert {p.name: p.read_text() for p in (corpus / "texts").glob("U*.txt")} == first


def test_original_id_follows_undirected_copies():
    known = {"a-1"}
    for derived in ("Ua-1", "UMa-1", "USa-1", "UOMa-1"):
        assert original_id(derived, known) == "a-1"
    assert original_id("Ub-2", known) is None


def test_bad_requests_write_nothing(corpus, tmp_path, capsys):
    with pytest.raises(MomugError, match="no split"):
        write_undirected_copies(corpus, "nosuch")
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "train.txt").write_text("000001\n")
    with pytest.raises(MomugError, match="meta.jsonl"):
        write_undirected_copies(bare, "train")
    assert sorted(p.name for p in bare.iterdir()) == ["train.txt"]
    assert cli.main(["data", "undirected", str(corpus), "--split", "train"]) == 0
    assert "train_undirected.txt" in capsys.readouterr().out
    assert cli.main(["data", "undirected", str(bare)]) == 2
    assert "meta.jsonl" in capsys.readouterr().err
