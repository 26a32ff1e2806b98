"""Constraint fields in a JSON-lines batch file (momug.batch.prompts), on the tiny model."""

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from momug.batch.prompts import read_batch_file  # noqa: E402
from momug.batch.runner import BatchSettings, run_batch  # noqa: E402
from momug.data.synth import compose  # noqa: E402
from momug.motion.motionfile import Motion, load_motion, save_motion  # noqa: E402
from momug.pipeline import MotionPipeline  # noqa: E402


@pytest.fixture(scope="module")
def walk_file(tmp_path_factory):
    rng = np.random.default_rng(5)
    for _ in range(50):
        motion, _, _ = compose.sample_sequence(rng, ["walk", "walk"])
        if len(motion.joints) >= 40:
            break
    folder = tmp_path_factory.mktemp("src")
    save_motion(folder / "walk.npz", Motion(motion.joints[:40], 20.0))
    return folder / "walk.npz"


def write_lines(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_constraint_fields_are_read_and_checked_per_line(tmp_path, walk_file):
    (tmp_path / "walk.npz").write_bytes(walk_file.read_bytes())
    f = write_lines(tmp_path / "p.jsonl", [
        {"prompt": "a person walks", "edit": "walk.npz", "keep": "lower"},
        {"prompt": "a person walks", "path": {"waypoints": [[0, 0], [1, 0]], "speed": 1.0}},
        {"prompt": "a person walks", "start": "walk.npz", "seconds": 1.5},
        {"prompt": "a person walks", "path": [[0, 0], [9, 0]]},
        {"prompt": "a person walks", "edit": "missing.npz", "keep": "lower"},
        {"prompt": "a person walks", "keep": 3},
    ])
    items, errors = read_batch_file(f)
    assert [i.line for i in items] == [1, 2, 3]
    assert items[0].seconds == 2.0 and items[1].seconds == 21 / 20 and items[2].seconds == 1.5
    assert items[0].constraint_id and items[0].constraint_id != items[1].constraint_id
    by_line = {e.line: e.message for e in errors}
    assert "faster than a sprint" in by_line[4]
    assert "missing.npz" in by_line[5]
    assert "--edit" in by_line[6] or "keep" in by_line[6]


def test_batch_generates_constrained_items(tmp_path, walk_file):
    (tmp_path / "walk.npz").write_bytes(walk_file.read_bytes())
    f = write_lines(tmp_path / "p.jsonl", [
        {"prompt": "a person waves", "edit": "walk.npz", "keep": "lower", "name": "edit"},
        {"prompt": "a person walks", "path": [[0.05 * i, 0.0] for i in range(30)], "name": "path"},
        {"prompt": "a person walks", "seconds": 1.0, "name": "plain"},
    ])
    pipe = MotionPipeline.load("tiny", "cpu")
    settings = BatchSettings(checkpoint="tiny", seconds=1.0, steps=2, batch_size=4)
    result = run_batch(f, tmp_path / "out", settings, load_pipeline=lambda c, d: pipe, progress=False,
                       log=lambda m: None)
    assert result.done == 3 and not result.failed
    src = load_motion(walk_file).joints
    edit = load_motion(tmp_path / "out" / "edit.npz").joints
    assert np.array_equal(edit[:, [0, 1, 2, 4, 5, 7, 8, 10, 11]], src[:, [0, 1, 2, 4, 5, 7, 8, 10, 11]])
    path = load_motion(tmp_path / "out" / "path.npz").joints
    assert np.abs(path[:, 0, 0] - 0.05 * np.arange(30)).max() < 1e-5
    # A rerun with the same constraint files skips every item.
    again = run_batch(f, tmp_path / "out", settings, load_pipeline=lambda c, d: pipe, progress=False,
                      log=lambda m: None)
    assert again.done == 0 and again.skipped == 3
