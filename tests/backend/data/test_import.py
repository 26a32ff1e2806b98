"""`momug data import|bandai|merge`: folders of motion files become corpora the trainers read.

The motions are made here: a walking body from the procedural generator written as .npz and as
BVH (at 30 fps, in centimetres, like real mocap), so the imported joints can be compared with the
known ones; broken and too-short files are skipped with their reason."""

import json
import re

import numpy as np
import pytest

from momug.cli import main
from momug.data import bandai
from momug.data.humanml3d import MotionTextFolder
from momug.data.importer import ImportOptions, clip_id, import_folder, read_captions_file, split_of
from momug.data.merge import merge_corpora
from momug.data.synth import compose
from momug.data.synth.writer import write_corpus
from momug.errors import MomugError
from momug.motion import kinematics
from momug.motion.bvh import write_bvh
from momug.motion.convert import resample
from momug.motion.features import canonicalize
from momug.motion.motionfile import Motion, save_motion
from momug.motion.skeleton import smpl22


def _walk(seed: int, fps: float = 20.0) -> np.ndarray:
    """A procedural motion of a few seconds (joints (T, 22, 3), metres, Y up) at fps."""
    rng = np.random.default_rng(seed)
    motion, _, _ = compose.sample_sequence(rng)
    joints = motion.joints[:80]
    if fps != 20.0:
        joints = resample(Motion(joints, 20.0), fps).joints
    return np.asarray(joints, dtype=np.float64)


def _write_bvh_cm(path, joints: np.ndarray, fps: float) -> np.ndarray:
    """A BVH of the motion in centimetres (as most mocap); returns the joints (metres) it holds."""
    skeleton = kinematics.fit_bone_lengths(smpl22(), joints)
    rotations, root = kinematics.inverse(skeleton, joints)
    scaled = type(skeleton)(skeleton.names, skeleton.parents, skeleton.offsets * 100.0)
    write_bvh(path, rotations, root * 100.0, fps, scaled)
    return kinematics.forward(skeleton, rotations, root)


@pytest.fixture(scope="module")
def mocap(tmp_path_factory):
    """A source folder: two BVH (30 fps, cm), one .npz, a corrupt BVH, a too-short .npz and a
    captions file for all of them."""
    src = tmp_path_factory.mktemp("mocap")
    (src / "session1").mkdir()
    known = {}
    for name, seed in (("session1/walk_a.bvh", 1), ("session1/walk_b.bvh", 2)):
        known[name] = _write_bvh_cm(src / name, _walk(seed, fps=30.0), 30.0)
    joints = _walk(3)
    save_motion(src / "clip c.npz", Motion(joints.astype(np.float32), 20.0))
    known["clip c.npz"] = joints
    (src / "session1" / "broken.bvh").write_text("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0\n")
    save_motion(src / "tiny.npz", Motion(joints[:10].astype(np.float32), 20.0))
    captions = src / "captions.jsonl"
    captions.write_text("\n".join(json.dumps(row) for row in [
        {"file": "session1/walk_a.bvh", "captions": ["a person walks forward", "someone walks"]},
        {"file": "walk_b.bvh", "captions": ["a person walks slowly"]},
        {"file": "clip c", "captions": ["a person moves"]},
        {"file": "tiny.npz", "captions": ["too short to keep"]},
        {"file": "session1/broken.bvh", "captions": ["never read"]},
    ]) + "\n")
    return src, known


def test_import_keeps_the_motion_and_skips_bad_files_with_reasons(mocap, tmp_path):
    src, known = mocap
    out = tmp_path / "corpus"
    skipped = []
    table = read_captions_file(src / "captions.jsonl")
    from momug.data.importer import CaptionsFileCaptioner

    summary = import_folder(src, out, CaptionsFileCaptioner(table, src), progress=False, on_skip=skipped.append)
    assert summary["count"] == 3 and summary["skipped"] == 2
    reasons = {r["file"]: r["skipped"] for r in skipped}
    assert reasons["tiny.npz"].startswith("too short")
    assert "session1/broken.bvh" in reasons
    # Stems are unique, so they are the ids; the files hold the motion, canonicalized, at 20 fps.
    meta = {json.loads(line)["id"]: json.loads(line) for line in (out / "meta.jsonl").read_text().splitlines()}
    assert set(meta) == {"walk_a", "walk_b", "clip_c"}
    assert meta["walk_a"]["source_fps"] == pytest.approx(30.0)
    for motion_id, name in (("walk_a", "session1/walk_a.bvh"), ("clip_c", "clip c.npz")):
        got = np.load(out / "new_joints" / f"{motion_id}.npy")
        source_fps = 30.0 if name.endswith(".bvh") else 20.0
        want = canonicalize(resample(Motion(known[name].astype(np.float32), source_fps), 20.0).joints)
        assert got.shape == want.shape
        assert np.abs(got - want).max() < 1e-3  # a millimetre: the file's text rounds angles
        assert got[..., 1].min() == pytest.approx(0.0, abs=1e-6)  # on the floor
    texts = (out / "texts" / "walk_a.txt").read_text().splitlines()
    assert [t.split("#")[0] for t in texts] == ["a person walks forward", "someone walks"]
    # The trainers' reader takes the folder as it takes the procedural corpus.
    ids = [i for split in ("train", "val", "test") for i in (out / f"{split}.txt").read_text().split()]
    assert sorted(ids) == sorted(meta)
    train = MotionTextFolder(out, "train")
    assert len(train) >= 1 and train.features(0).shape[1] == 263
    assert np.load(out / "Std.npy").min() > 0


def test_import_resumes_and_is_deterministic(mocap, tmp_path):
    src, _ = mocap
    args = ["data", "import", str(src), "--captions", str(src / "captions.jsonl"), "--quiet"]
    assert main(args + ["--out", str(tmp_path / "a")]) == 0
    first = {p.name: p.read_bytes() for p in (tmp_path / "a" / "new_joint_vecs").iterdir()}
    # An interrupted run: one clip's record and outputs lost; the rerun redoes only that clip.
    (tmp_path / "a" / "import" / "walk_b.json").unlink()
    (tmp_path / "a" / "new_joint_vecs" / "walk_b.npy").unlink()
    before = (tmp_path / "a" / "new_joint_vecs" / "walk_a.npy").stat().st_mtime_ns
    assert main(args + ["--out", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a" / "new_joint_vecs" / "walk_a.npy").stat().st_mtime_ns == before
    assert {p.name: p.read_bytes() for p in (tmp_path / "a" / "new_joint_vecs").iterdir()} == first
    # Two workers give the same bytes.
    assert main(args + ["--out", str(tmp_path / "b"), "--workers", "2"]) == 0
    for name in ("meta.jsonl", "Mean.npy", "Std.npy", "train.txt", "test.txt"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_import_errors_are_one_line(tmp_path, capsys):
    assert main(["data", "import", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"),
                 "--captions", str(tmp_path / "c.jsonl")]) == 2
    (tmp_path / "c.jsonl").write_text("not json\n")
    (tmp_path / "src").mkdir()
    assert main(["data", "import", str(tmp_path / "src"), "--out", str(tmp_path / "o"),
                 "--captions", str(tmp_path / "c.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "c.jsonl:1" in err and "Traceback" not in err
    with pytest.raises(MomugError, match="no motion files"):
        import_folder(tmp_path / "src", tmp_path / "o", lambda p, j: (["x"], {}), progress=False)


def test_ids_and_splits_are_stable():
    assert clip_id(__import__("pathlib").Path("a b/walk (1).bvh")) == "a_b__walk_1"
    assert split_of("walk_a") == split_of("walk_a")
    shares = np.mean([[split_of(f"clip{i}") == s for s in ("train", "val", "test")] for i in range(4000)], axis=0)
    assert np.allclose(shares, [0.80, 0.05, 0.15], atol=0.02)


# ----------------------------------------------------------------------------------------------
# Bandai-Namco captions


def test_bandai_captions_name_content_side_and_style():
    caps, heldout = bandai.captions_for("wave-left-hand", "elderly", "dataset-2_wave-left-hand_elderly_001")
    assert len(caps) == bandai.TRAIN_CAPTIONS and len(set(caps)) == len(caps)
    for c in caps:
        words = set(c.lower().replace(",", "").replace(".", "").split())
        assert "left" in words and "right" not in words and "wave" in c.lower()
        assert words & bandai.STYLE_WORDS["old"], c
    assert caps == bandai.captions_for("wave-left-hand", "elderly", "dataset-2_wave-left-hand_elderly_001")[0]
    assert heldout and not set(heldout) & set(caps)
    turn, _ = bandai.captions_for("walk-turn-right", "normal", "x")
    assert all("right" in c and "left" not in c for c in turn)
    # No style word of one family appears in another style's captions.
    for style, (family, *_rest) in bandai.STYLES.items():
        caps, _ = bandai.captions_for("walk", style, f"walk_{style}")
        others = set().union(*(w for f, w in bandai.STYLE_WORDS.items() if f != family))
        for c in caps:
            assert not set(c.lower().replace(",", "").replace(".", "").split()) & others, (style, c)


def test_bandai_heldout_words_never_reach_training_captions():
    from momug.eval.probes import HELD_OUT_PHRASES

    held = bandai.heldout_vocabulary()
    assert {"strolls", "individual", "somebody"} <= held
    for content, (_, _, _, verbs, _) in bandai.CONTENTS.items():
        for style, (_, subjects, manners, _, _) in bandai.STYLES.items():
            caps, _ = bandai.captions_for(content, style, f"{content}_{style}")
            # Every wording a clip can draw, not only the ones this draw picked.
            for c in [*caps, *verbs, *subjects, *manners]:
                assert not set(c.lower().replace(",", " ").replace(".", " ").split()) & held, c
                # The probes' held-out wordings, at the start of a word ("stroll" in "strolls", not
                # "idly" in "timidly").
                assert not any(re.search(r"\b" + re.escape(p), c.lower()) for p in HELD_OUT_PHRASES), c


def test_bandai_labels_from_file_name_and_label_file(tmp_path):
    data = tmp_path / "dataset-2" / "data"
    cfg = tmp_path / "dataset-2" / "cfg"
    data.mkdir(parents=True)
    cfg.mkdir()
    cfg.joinpath("content_label.txt").write_text("dataset-2_walk\ndataset-2_wave-left-hand\n")
    cfg.joinpath("style_label.txt").write_text("dataset-2_active\ndataset-2_elderly\n")
    clip = data / "dataset-2_wave-left-hand_elderly_003.bvh"
    clip.with_suffix(".json").write_text('{"content": 1, "style": 1}')
    assert bandai.labels_for(clip) == {"dataset": 2, "content": "wave-left-hand", "style": "elderly", "take": 3}
    clip.with_suffix(".json").write_text('{"content": 0, "style": 1}')
    with pytest.raises(MomugError, match="label file says walk/elderly"):
        bandai.labels_for(clip)
    with pytest.raises(MomugError, match="not named like"):
        bandai.labels_for(data / "walk.bvh")


def test_bandai_import_and_merge_with_the_procedural_corpus(tmp_path):
    src = tmp_path / "bandai" / "dataset-2" / "data"
    src.mkdir(parents=True)
    for i, name in enumerate(("walk_elderly_001", "walk-turn-left_youthful_002", "wave-right-hand_normal_001")):
        _write_bvh_cm(src / f"dataset-2_{name}.bvh", _walk(10 + i, fps=30.0), 30.0)
    out = tmp_path / "bandai_corpus"
    assert main(["data", "bandai", str(tmp_path / "bandai"), "--out", str(out), "--quiet"]) == 0
    rows = [json.loads(line) for line in (out / "meta.jsonl").read_text().splitlines()]
    by_content = {r["content"]: r for r in rows}
    assert by_content["walk-turn-left"]["direction"] == "left" and by_content["walk-turn-left"]["kind"] == "turn"
    assert by_content["wave-right-hand"]["side"] == "right"
    assert by_content["walk"]["style_family"] == "old" and by_content["walk"]["licence"] == "CC BY-NC 4.0"
    assert all(r["heldout_captions"] for r in rows)

    synth = tmp_path / "synth"
    write_corpus(synth, 12, seed=3, workers=1, progress=False)
    merged = tmp_path / "merged"
    summary = merge_corpora([str(synth), f"real={out}"], merged, progress=False)
    assert summary["count"] == 12 + 3
    meta = [json.loads(line) for line in (merged / "meta.jsonl").read_text().splitlines()]
    sources = {m["source"] for m in meta}
    assert sources == {"synth", "real"}
    real = [m for m in meta if m["source"] == "real"]
    assert all(m["id"] == f"real-{m['source_id']}" and m["content"] for m in real)
    # Every clip keeps its split, and the statistics are the merged train split's.
    for m in meta:
        assert m["id"] in (merged / f"{m['split']}.txt").read_text().split()
    train_ids = (merged / "train.txt").read_text().split()
    data = np.concatenate([np.load(merged / "new_joint_vecs" / f"{i}.npy") for i in train_ids])
    assert np.allclose(np.load(merged / "Mean.npy"), data.mean(axis=0), atol=1e-4)
    assert len(MotionTextFolder(merged, "train")) == len(train_ids)
    with pytest.raises(MomugError, match="share a name"):
        merge_corpora([str(synth), f"synth={out}"], tmp_path / "m2", progress=False)


def test_import_options_are_checked(tmp_path):
    with pytest.raises(MomugError, match="fps"):
        import_folder(tmp_path, tmp_path / "o", lambda p, j: None, ImportOptions(fps=0), progress=False)


def test_bandai_captions_follow_the_motion_when_the_label_says_the_other_side(tmp_path):
    """A clip labelled 'turn left' whose body turns right (the release has a few) is captioned
    as turning right; the label is kept in meta.jsonl."""
    t = np.linspace(0, 1, 41)[:, None]
    yaw = -np.pi / 2 * t  # clockwise seen from above: a right turn
    rest = smpl22().rest_joints()
    cos, sin = np.cos(yaw)[..., None], np.sin(yaw)[..., None]
    x, z = rest[None, :, 0:1], rest[None, :, 2:3]
    joints = np.concatenate([cos * x + sin * z, np.broadcast_to(rest[None, :, 1:2], (41, 22, 1)),
                             -sin * x + cos * z], axis=-1)
    assert bandai.turned_way(joints)[0] == "right"
    path = tmp_path / "dataset-2_walk-turn-left_normal_009.bvh"
    caps, meta = bandai.BandaiCaptioner()(path, joints)
    assert meta["content"] == "walk-turn-right" and meta["label_content"] == "walk-turn-left"
    assert all("right" in c and "left" not in c for c in caps)
    # The right wrist above its shoulder: a 'raise the right hand' clip keeps its label.
    raised = np.repeat(rest[None], 10, axis=0)
    raised[:, 21, 1] += 0.8
    _, meta = bandai.BandaiCaptioner()(tmp_path / "dataset-2_raise-up-right-hand_youthful_001.bvh", raised)
    assert meta["side"] == "right" and "label_content" not in meta
