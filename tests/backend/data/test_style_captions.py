"""Style-captioned copies of slow and brisk gaits (momug data styles)."""

import re

import numpy as np
import pytest

from momug import cli
from momug.data.derived import original_id
from momug.data.humanml3d import read_split
from momug.data.mirror import write_mirrors
from momug.data.steady import write_steady_windows
from momug.data.style_captions import ADVERBS, SUBJECTS, style_captions, style_family, write_style_copies
from momug.data.synth.writer import read_meta, write_corpus
from momug.errors import MomugError
from momug.eval.probes import HELD_OUT_PHRASES

# The extended probes' own style words and `momug eval styles --wording heldout`'s: the corpus must
# never pair them with a speed.
PROBE_STYLE_WORDS = {"old", "tired", "exhausted", "energetic", "energetically", "lively", "pep",
                     "aged", "worn-out", "vigorous", "vigorously", "teenaged"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("styled")
    write_corpus(out, 60, seed=3, workers=1, progress=False, actions=["walk", "jog", "run", "kick"])
    write_mirrors(out, "train", progress=False)
    write_steady_windows(out, "train_mirrored", onset=True)
    return out


def _captions(root, motion_id):
    return [line.split("#")[0] for line in (root / "texts" / f"{motion_id}.txt").read_text().splitlines()]


def test_copies_keep_the_motion_and_say_its_speed_by_style(corpus):
    split = "train_mirrored_steady_onset"
    base = read_split(corpus, split)
    summary = write_style_copies(corpus, split)
    listed = read_split(corpus, f"{split}_styled")
    copies = [i for i in listed if i not in set(base)]
    assert listed[:len(base)] == base and summary["clips"] == len(listed)
    assert len(copies) == summary["written"] == summary["slow"] + summary["brisk"]
    assert summary["slow"] > 0 and summary["brisk"] > 0
    families = {m["id"]: style_family(m) for m in read_meta(corpus)}
    # Exactly the clips from a slow or fast straight gait get a copy, windows and mirrors included.
    want = {"Y" + i for i in base if families.get(original_id(i, families)) is not None}
    assert set(copies) == want
    assert any(c.startswith("YO") for c in copies) and any(c.startswith("YM") for c in copies)
    for copy_id in copies:
        source = copy_id[1:]
        for folder in ("new_joints", "new_joint_vecs"):
            np.testing.assert_array_equal(np.load(corpus / folder / f"{copy_id}.npy"),
                                          np.load(corpus / folder / f"{source}.npy"))
        gait, family = families[original_id(copy_id, families)]
        style_words = [s for s, _ in SUBJECTS[family]] + [a.split("{")[0].strip() for a in ADVERBS[family]]
        caps = _captions(corpus, copy_id)
        assert len(caps) == 3 and len(set(caps)) == 3
        for caption in caps:
            assert any(w in caption for w in style_words), caption
            assert ("runs" in caption or "jogs" in caption) == (gait != "walk"), caption
    # Nothing but the copies and the list was written: the clips' own captions are untouched.
    some_walk = next(i for i in base if families.get(i) is not None)
    assert not any(w in " ".join(_captions(corpus, some_walk)) for w in ("elderly", "athletic", "wearily"))


def test_times_lists_each_copy_that_often(corpus):
    split = "train_mirrored_steady_onset"
    once = read_split(corpus, split)
    summary = write_style_copies(corpus, split, times=3)
    listed = read_split(corpus, f"{split}_styled")
    copies = [i for i in listed if i.startswith("Y")]
    assert len(copies) == 3 * summary["written"] and len(set(copies)) == summary["written"]
    assert summary["clips"] == len(once) + len(copies)
    for bad in (0, 21):
        with pytest.raises(MomugError, match="--times"):
            write_style_copies(corpus, split, times=bad)
    write_style_copies(corpus, split, times=2, name="styled_twice")
    assert len(read_split(corpus, "styled_twice")) == len(once) + 2 * summary["written"]
    for bad in ("../out", split):
        with pytest.raises(MomugError, match="--name"):
            write_style_copies(corpus, split, name=bad)
    write_style_copies(corpus, split)  # back to one listing each for the other tests


def test_rerun_writes_the_same_files(corpus):
    split = "train_mirrored_steady_onset"
    write_style_copies(corpus, split)
    first = {p.name: p.read_text() for p in (corpus / "texts").glob("Y*.txt")}
    listed = (corpus / f"{split}_styled.txt").read_text()
    write_style_copies(corpus, split)
    assert {p.name: p.read_text() for p in (corpus / "texts").glob("Y*.txt")} == first
    assert (corpus / f"{split}_styled.txt").read_text() == listed


def test_style_words_stay_clear_of_the_probes():
    for family, gait in (("slow", "walk"), ("slow", "jog"), ("brisk", "walk"), ("brisk", "run")):
        for seed in range(40):
            for caption in style_captions(gait, family, np.random.default_rng(seed)):
                words = set(re.findall(r"[a-z-]+", caption))
                assert not words & PROBE_STYLE_WORDS, caption
                assert not [p for p in HELD_OUT_PHRASES if p in caption], caption
                assert not words & {"left", "right"}, caption  # nothing a mirror would have to swap


def test_original_id_follows_style_copies():
    known = {"a-1"}
    for derived in ("Ya-1", "YMa-1", "YSa-1", "YOMa-1"):
        assert original_id(derived, known) == "a-1"
    assert original_id("Yb-2", known) is None


def test_bad_requests_write_nothing(corpus, tmp_path, capsys):
    with pytest.raises(MomugError, match="no split"):
        write_style_copies(corpus, "nosuch")
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "train.txt").write_text("000001\n")
    with pytest.raises(MomugError, match="meta.jsonl"):
        write_style_copies(bare, "train")
    assert sorted(p.name for p in bare.iterdir()) == ["train.txt"]
    assert cli.main(["data", "styles", str(corpus), "--split", "train"]) == 0
    assert "train_styled.txt" in capsys.readouterr().out
    assert cli.main(["data", "styles", str(bare)]) == 2
    assert "meta.jsonl" in capsys.readouterr().err
