"""The weights' moving average ([train] ema_decay, momug.train.ema): its arithmetic, the swap in
and out of the model, and a tiny run that writes, validates and resumes it."""

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("accelerate")

from momug.cli import main  # noqa: E402
from momug.data.synth.writer import write_corpus  # noqa: E402
from momug.errors import MomugError  # noqa: E402
from momug.model import checkpoint as ckpt  # noqa: E402
from momug.train.ema import WeightAverage  # noqa: E402

CONFIG = """
data = "{data}"
output = "{out}"

[model]
base_model = "tiny"
frames_per_token = 4
max_frames = 80
lora_rank = 4
lora_alpha = 8

[train]
batch_size = 4
max_steps = {steps}
warmup_steps = 2
log_every = 2
val_every = 4
val_batches = 1
save_every = 3
ema_decay = {decay}
"""


def test_average_follows_the_formula_and_swaps_in_and_out_exactly():
    p = torch.nn.Parameter(torch.zeros(3))
    ema = WeightAverage([p], decay=0.5)
    expected = torch.zeros(3)
    for value in (1.0, 2.0, 4.0):
        with torch.no_grad():
            p.fill_(value)
        d = min(0.5, (2 + ema.updates) / (11 + ema.updates))  # the decay of the coming update
        ema.update()
        expected = d * expected + (1 - d) * value
        assert torch.allclose(ema.shadow[0], expected)
    # Warm-up: the first updates follow the weights more closely than the decay says.
    assert WeightAverage([p], decay=0.99).current_decay() == pytest.approx(0.1)
    with ema.applied():
        assert torch.allclose(p, expected)
    assert torch.equal(p.detach(), torch.full((3,), 4.0))
    state = ema.state_dict()
    other = WeightAverage([torch.nn.Parameter(torch.ones(3))], decay=0.5)
    other.load_state_dict(state)
    assert torch.equal(other.shadow[0], ema.shadow[0]) and other.updates == 3
    with pytest.raises(MomugError, match="does not match"):
        WeightAverage([torch.nn.Parameter(torch.ones(4))], decay=0.5).load_state_dict(state)
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(MomugError, match="ema_decay"):
            WeightAverage([p], decay=bad)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    write_corpus(out, 24, seed=5, workers=1, progress=False)
    return out


def write_config(tmp_path, corpus, steps, name, decay=0.9):
    path = tmp_path / f"{name}.toml"
    path.write_text(CONFIG.format(data=corpus, out=tmp_path / name, steps=steps, decay=decay))
    return path


def trainable(folder):
    return {k: v for k, v in ckpt.from_pretrained(folder).trainable_state_dict().items()
            if v.is_floating_point() and k not in ("mean", "std")}


def test_a_run_saves_validates_and_resumes_its_average(tmp_path, corpus):
    cfg = write_config(tmp_path, corpus, 8, "run")
    assert main(["train", "--config", str(cfg), "--quiet", "--stop-after", "5"]) == 0
    out = tmp_path / "run"
    assert torch.load(out / "training_state.pt", weights_only=True)["ema"]["updates"] == 5
    assert main(["train", "--config", str(cfg), "--quiet"]) == 0  # resumes, average included
    state = torch.load(out / "training_state.pt", weights_only=True)
    assert state["step"] == 8 and state["ema"]["updates"] == 8  # carried on (started afresh: 3)
    average, last = trainable(out / "ema"), trainable(out)
    assert average.keys() == last.keys()
    assert any(not torch.allclose(average[k], last[k]) for k in last)  # an average, not a copy
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["split"] == "val_ema"] == [4, 5, 8]  # 5: where it stopped


def test_without_ema_decay_there_is_no_average(tmp_path, corpus):
    cfg = write_config(tmp_path, corpus, 3, "plain", decay=0.0)
    assert main(["train", "--config", str(cfg), "--quiet"]) == 0
    assert not (tmp_path / "plain" / "ema").exists()
    assert "ema" not in torch.load(tmp_path / "plain" / "training_state.pt", weights_only=True)
    bad = write_config(tmp_path, corpus, 3, "bad", decay=1.0)
    assert main(["train", "--config", str(bad), "--quiet"]) == 2
