"""`momug generate` with --keys/--start/--end/--path/--edit on the tiny model: files in, the motion
file contract out, bad constraints a one-line error with exit status 2 before any model loads."""

import json

import numpy as np
import pytest

from momug.cli import main
from momug.data.synth import compose
from momug.motion.motionfile import Motion, load_motion, save_motion


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(2)
    for _ in range(50):
        motion, _, _ = compose.sample_sequence(rng, ["walk", "walk"])
        if len(motion.joints) >= 60:
            break
    save_motion(folder / "walk.npz", Motion(motion.joints[:60], 20.0))
    joints = load_motion(folder / "walk.npz").joints  # float32, as the file holds them
    np.savez(folder / "keys.npz", frames=np.array([0, 20, 39]), joints=joints[[0, 20, 39]])
    (folder / "path.json").write_text(json.dumps({"waypoints": [[0, 0], [1, 1]], "speed": 1.0}))
    (folder / "fast.json").write_text(json.dumps([[0, 0], [3, 0], [6, 0]]))
    return folder, joints


def gen(args, out):
    return main(["generate", "a person walks", "--checkpoint", "tiny", "--steps", "2", "--device", "cpu",
                 "-o", str(out), *args])


def test_every_constraint_option_writes_a_motion(files, tmp_path):
    folder, joints = files
    assert gen(["--keys", str(folder / "keys.npz"), "--seconds", "2"], tmp_path / "k.npz") == 0
    k = load_motion(tmp_path / "k.npz")
    assert k.num_frames == 40 and np.abs(k.joints[[0, 20, 39]] - joints[[0, 20, 39]]).max() < 1e-5
    assert k.rotations is not None and k.root_translation is not None
    assert gen(["--start", str(folder / "walk.npz"), "--seconds", "1.5"], tmp_path / "s.npz") == 0
    assert load_motion(tmp_path / "s.npz").num_frames == 30
    assert gen(["--end", str(folder / "walk.npz"), "--seconds", "1.5"], tmp_path / "e.npz") == 0
    assert np.abs(load_motion(tmp_path / "e.npz").joints[-1] - joints[0]).max() < 1e-5
    assert gen(["--path", str(folder / "path.json")], tmp_path / "p.bvh") == 0
    assert gen(["--edit", str(folder / "walk.npz"), "--keep", "left_arm,right_leg"], tmp_path / "d.npz") == 0
    kept = [13, 16, 18, 20, 2, 5, 8, 11]
    assert np.array_equal(load_motion(tmp_path / "d.npz").joints[:, kept], joints[:, kept])


@pytest.mark.parametrize("args, words", [
    (["--path", "{folder}/fast.json"], "faster than a sprint"),
    (["--keys", "{folder}/keys.npz", "--seconds", "1"], "outside the clip"),
    (["--edit", "{folder}/walk.npz"], "body parts to keep"),
    (["--edit", "{folder}/walk.npz", "--keep", "tail"], "unknown body part"),
    (["--start", "{folder}/nope.npz"], "not found"),
    (["--path", "{folder}/walk.npz"], "not JSON"),
])
def test_bad_constraints_exit_2_with_one_line(files, tmp_path, capsys, monkeypatch, args, words):
    folder, _ = files
    import momug.pipeline

    monkeypatch.setattr(momug.pipeline.MotionPipeline, "load",
                        classmethod(lambda cls, *a, **k: pytest.fail("the model loaded")))
    code = gen([a.format(folder=folder) for a in args], tmp_path / "x.npz")
    err = capsys.readouterr().err.strip()
    assert code == 2 and words in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.npz").exists()
