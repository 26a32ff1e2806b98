"""scripts/bench_stream_batch.py: one run times both ways of sampling and of captioning and
reports how far apart their results are."""

import re

import pytest

pytest.importorskip("transformers")


def test_it_times_both_ways_and_they_agree(load_script, capsys):
    script = load_script("bench_stream_batch")
    assert script.main(["--checkpoint", "tiny", "--prompts", "4", "--batch", "3", "--seconds", "1"]) == 0
    out = capsys.readouterr().out
    gap = float(re.search(r"largest feature difference between the two: (\S+)", out).group(1))
    assert gap < 1e-3
    same = re.search(r"the same caption for (\d+) of (\d+)", out)
    assert same and int(same.group(2)) == 4 and int(same.group(1)) >= 3, out
