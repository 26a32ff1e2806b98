"""Left-right mirrored clips: the motion reflected with its sides swapped, the captions' side words
swapped, the original files untouched, and a training run that reads the mirrored split."""

import numpy as np
import pytest

from momug.cli import main
from momug.data.humanml3d import MotionTextFolder
from momug.data.mirror import mirror_joints, mirror_pairs, mirror_text, names_one_side, write_mirrors
from momug.data.synth.writer import write_corpus
from momug.errors import MomugError
from momug.eval.probes import facing_yaw, kicks, travels
from momug.motion.features import canonicalize, features_to_joints, humanml3d_spec


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    write_corpus(out, 16, seed=5, workers=1, progress=False)
    return out


def test_caption_side_words_swap_and_nothing_else():
    line = "a person turns counterclockwise, then kicks with their left leg.#turn/VERB left/ADJ#0.0#0.0"
    assert mirror_text(line) == ("a person turns clockwise, then kicks with their right leg."
                                 "#turn/VERB right/ADJ#0.0#0.0")
    assert mirror_text("someone waves with the left-handed grip to the Right") == \
        "someone waves with the right-handed grip to the Left"
    assert mirror_text("a person leftover straight") == "a person leftover straight"  # whole words only


def test_mirrored_motion_uses_the_other_side():
    spec = humanml3d_spec()
    order = mirror_pairs(spec.skeleton.names)
    names = spec.skeleton.names
    assert names[order[names.index("left_ankle")]] == "right_ankle"
    assert names[order[names.index("spine1")]] == "spine1"
    # A body that kicks its right ankle up while travelling left and turning left ...
    rest = spec.skeleton.rest_joints()
    T = 40
    joints = np.repeat(rest[None], T, axis=0).astype(np.float64)
    t = np.linspace(0, 1, T)
    joints[:, :, 0] += 1.5 * t[:, None]  # +X is the body's left at rest
    joints[:, names.index("right_ankle"), 1] += 0.5 * np.sin(np.pi * t)
    mirrored = mirror_joints(joints, order).astype(np.float64)
    assert kicks("right")(joints, 20).passed and not kicks("right")(mirrored, 20).passed
    assert kicks("left")(mirrored, 20).passed
    assert travels("left", 0.3)(joints, 20).passed and travels("right", 0.3)(mirrored, 20).passed
    # ... and mirroring twice gives the motion back.
    np.testing.assert_allclose(mirror_joints(mirrored, order), joints, atol=1e-6)
    turning = joints.copy()
    angle = np.linspace(0, np.pi / 2, T)  # a left turn about the pelvis
    x, z = turning[..., 0].copy(), turning[..., 2].copy()
    turning[..., 0] = np.cos(angle)[:, None] * x + np.sin(angle)[:, None] * z
    turning[..., 2] = -np.sin(angle)[:, None] * x + np.cos(angle)[:, None] * z
    yaw = facing_yaw(turning)
    yaw_mirror = facing_yaw(mirror_joints(turning, order).astype(np.float64))
    turned, turned_mirror = np.degrees(yaw[-1] - yaw[0]), np.degrees(yaw_mirror[-1] - yaw_mirror[0])
    assert turned == pytest.approx(-turned_mirror, abs=1e-3) and abs(turned) > 80


def test_write_mirrors_adds_files_and_a_split_without_touching_originals(corpus):
    before = {p: p.read_bytes() for p in corpus.rglob("*") if p.is_file()}
    assert main(["data", "mirror", str(corpus), "--quiet"]) == 0
    for path, data in before.items():
        assert path.read_bytes() == data, f"{path} changed"
    train_ids = (corpus / "train.txt").read_text().split()
    listed = (corpus / "train_mirrored.txt").read_text().split()
    assert listed == [i for mid in train_ids for i in (mid, "M" + mid)]
    for mid in train_ids:
        joints = np.load(corpus / "new_joints" / f"{mid}.npy")
        mirrored = np.load(corpus / "new_joints" / f"M{mid}.npy")
        np.testing.assert_allclose(mirrored, mirror_joints(joints, mirror_pairs(humanml3d_spec().skeleton.names)))
        vecs = np.load(corpus / "new_joint_vecs" / f"M{mid}.npy")
        assert vecs.shape == (len(joints) - 1, 263) and np.isfinite(vecs).all()
        # The features decode to the mirrored motion (in the canonical pose features encode).
        decoded = features_to_joints(vecs.astype(np.float64))
        expected = canonicalize(mirrored)[: len(decoded)]
        assert np.abs(decoded - expected).max() < 1e-3
        texts = (corpus / "texts" / f"{mid}.txt").read_text()
        assert (corpus / "texts" / f"M{mid}.txt").read_text() == mirror_text(texts)
    folder = MotionTextFolder(corpus, "train_mirrored")
    assert len(folder) == 2 * len(train_ids)
    # Rerunning finds every mirror written and writes nothing.
    assert write_mirrors(corpus, progress=False)["written"] == 0


def test_a_split_that_already_lists_mirrors_is_left_alone(tmp_path, corpus):
    """HumanML3D lists 000001 and M000001 in train.txt: nothing is written, nothing listed twice."""
    ids = (corpus / "train.txt").read_text().split()[:2]
    for sub in ("new_joints", "new_joint_vecs", "texts"):
        (tmp_path / sub).mkdir()
        for mid in ids:
            ext = "txt" if sub == "texts" else "npy"
            for name in (mid, "M" + mid):
                (tmp_path / sub / f"{name}.{ext}").write_bytes((corpus / sub / f"{mid}.{ext}").read_bytes())
    listed = [ids[0], "M" + ids[0], ids[1], "M" + ids[1]]
    (tmp_path / "train.txt").write_text("\n".join(listed) + "\n")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    summary = write_mirrors(tmp_path, progress=False)
    assert summary["written"] == 0
    assert (tmp_path / "train_mirrored.txt").read_text().split() == listed
    for path, data in before.items():
        assert path.read_bytes() == data, f"{path} changed"


def test_bad_folders_are_clear_errors(tmp_path, corpus):
    with pytest.raises(MomugError, match="has no split 'nosuchsplit': nosuchsplit.txt is missing"):
        write_mirrors(corpus, "nosuchsplit", progress=False)
    (tmp_path / "train.txt").write_text("000000\n")
    with pytest.raises(MomugError, match="new_joints"):
        write_mirrors(tmp_path, progress=False)
    with pytest.raises(MomugError, match="twin"):
        mirror_pairs(("pelvis", "left_hip"))


def test_names_one_side_means_exactly_one_of_left_and_right():
    assert names_one_side("a person waves with their left hand.")
    assert names_one_side("someone says hello with a left-handed wave")   # hyphenated words count
    assert names_one_side("The person turns RIGHT.")
    assert not names_one_side("a person turns left then waves their right hand.")
    assert not names_one_side("a person walks forward.")
    assert not names_one_side("the person walks ahead with leftover energy")  # a word, not a prefix
