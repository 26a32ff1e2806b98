"""scripts/compare_probe_runs.py: paired pass counts of two checkpoints' probe runs and the sign
test on the generations one passes and the other fails."""

import json

import pytest


def run(path, checkpoint, passes: dict, **extra):
    rows = [{"prompt": prompt, "seed": seed, "held_out": prompt.startswith("someone"), "tags": [tag],
             "side": None, "passed": ok, "measure": 0.0, "detail": ""}
            for (prompt, seed, tag), ok in passes.items()]
    path.write_text(json.dumps({"checkpoint": checkpoint, "suite": "extended", "split_sequences": True,
                                "rows": rows, **extra}))
    return str(path)


def test_sign_test_matches_the_binomial(load_script):
    script = load_script("compare_probe_runs")
    assert script.sign_test(0, 0) == 1.0
    assert script.sign_test(5, 5) == 1.0
    assert script.sign_test(10, 0) == pytest.approx(2 / 1024)   # 2 * (1/2)^10
    assert script.sign_test(1, 9) == pytest.approx(2 * 11 / 1024)
    assert script.sign_test(3, 4) == script.sign_test(4, 3)


def test_paired_counts_by_group(tmp_path, load_script):
    script = load_script("compare_probe_runs")
    a = run(tmp_path / "a.json", "aaa", {("a person jumps", 0, "jump"): True, ("a person jumps", 1, "jump"): False,
                                          ("someone hops", 0, "jump"): False, ("a person waves", 0, "hand"): True,
                                          ("a person claps", 0, "hands"): True})
    b = run(tmp_path / "b.json", "bbb", {("a person jumps", 0, "jump"): True, ("a person jumps", 1, "jump"): True,
                                          ("someone hops", 0, "jump"): True, ("a person waves", 0, "hand"): False,
                                          ("a person sits", 0, "idle"): True})
    text = script.compare(a, b)
    lines = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line[:1].isalpha() and "/" in line}
    assert "4 generations made by both" in text       # the claps and the sits were made by one run only
    assert lines["all"][:4] == ["2/4", "3/4", "2", "1"]
    assert lines["jump"][:4] == ["1/3", "3/3", "2", "0"]
    assert lines["held-out"][:4] == ["0/1", "1/1", "1", "0"]
    assert lines["hand"][:4] == ["1/1", "0/1", "0", "1"]
    other = run(tmp_path / "c.json", "ccc", {("a person jumps", 0, "jump"): True}, split_sequences=False)
    with pytest.raises(SystemExit, match="how sequences were made"):
        script.compare(a, other)
