"""scripts/speed_profile.py: the share of the second half still moving, for either generation mode."""

import numpy as np
import pytest

pytest.importorskip("transformers")


def test_summary_of_a_clip_that_stops_halfway(load_script):
    script = load_script("speed_profile")
    moving_then_still = np.r_[np.full(30, 1.2), np.zeros(50)]   # m/s per frame: stops at 1.5 s of 4
    s = script.summarize([moving_then_still])
    assert s["moving_second_half"] == 0.0 and s["mean_speed"] == pytest.approx(0.45)


@pytest.mark.parametrize("mode", ["diffusion", "stream"])
def test_it_runs_on_either_mode(load_script, capsys, mode):
    script = load_script("speed_profile")
    assert script.main(["a person walks forward.", "--checkpoint", "tiny", "--mode", mode, "--seconds", "1",
                        "--seeds", "2", "--steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "'a person walks forward.': mean" in out and out.count("  seed ") == 2
