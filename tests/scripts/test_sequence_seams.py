"""scripts/sequence_seams.py: the join step against the motion's own steps."""

import numpy as np


def walk(frames=80, pop_at=None):
    t = np.arange(frames)[:, None, None]
    joints = np.zeros((frames, 22, 3)) + np.array([0.05, 0.0, 0.0]) * t  # 5 cm a frame
    joints[..., 1] += np.linspace(0, 1.6, 22)[None, :]
    if pop_at is not None:
        joints[pop_at:] += [0.5, 0.0, 0.0]
    return joints


def test_an_ordinary_join_and_a_pop(load_script):
    script = load_script("sequence_seams")
    smooth = script.seam_report(walk(), [40])
    assert abs(smooth["join_step_m"] - 0.05) < 1e-9 and abs(smooth["ratio_to_p95"] - 1.0) < 1e-9
    popped = script.seam_report(walk(pop_at=40), [40])
    assert popped["join_step_m"] > popped["largest_elsewhere_m"] and popped["ratio_to_p95"] > 5


def test_runs_end_to_end_with_the_tiny_model(load_script, tmp_path, capsys):
    import json

    script = load_script("sequence_seams")
    out = tmp_path / "s.json"
    assert script.main(["--checkpoint", "tiny", "--steps", "2", "--seconds", "4", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 33 and all(r["joins"] == [40] for r in rows)
    assert "33 prompts" in capsys.readouterr().out
