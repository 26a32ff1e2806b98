"""Training on a tiny corpus with the tiny model: logs, plot, checkpoint, resume, two processes."""

import dataclasses
import json
import os
import shutil
import subprocess

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("accelerate")

from momug.cli import main  # noqa: E402
from momug.data.synth.writer import write_corpus  # noqa: E402
from momug.errors import MomugError  # noqa: E402
from momug.model import checkpoint as ckpt  # noqa: E402
from momug.train.config import load_train_config  # noqa: E402

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
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    write_corpus(out, 40, seed=3, workers=1, progress=False)
    return out


def write_config(tmp_path, corpus, steps, name="run", extra=""):
    """A tiny run's config; extra: more lines for its [train] table."""
    path = tmp_path / f"{name}.toml"
    path.write_text(CONFIG.format(data=corpus, out=tmp_path / name, steps=steps) + extra + "\n")
    return path


def rows(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_train_writes_checkpoint_metrics_and_plot_then_resumes(tmp_path, corpus):
    cfg = write_config(tmp_path, corpus, 6)
    assert main(["train", "--config", str(cfg), "--quiet"]) == 0
    out = tmp_path / "run"
    for name in ("config.json", "momug.safetensors", "training_state.pt", "metrics.jsonl", "loss.png",
                 "train_config.json"):
        assert (out / name).is_file(), name
    first = rows(out)
    assert [r["step"] for r in first if r["split"] == "train"] == [2, 4, 6]
    assert any(r["split"] == "val" for r in first)
    assert all(r["loss"] > 0 for r in first)
    state = torch.load(out / "training_state.pt", weights_only=True)
    assert state["step"] == 6
    # Resume: more steps continue from step 6, not from zero.
    assert main(["train", "--config", str(cfg), "--quiet", "--max-steps", "8"]) == 0
    later = [r["step"] for r in rows(out)[len(first):] if r["split"] == "train"]
    assert later == [8]
    model = ckpt.from_pretrained(out)
    assert model.config.base_model == "tiny"
    assert model.caption_vocab.numel() > 1  # the training captions' words, for fast captioning


def test_loss_goes_down_on_a_tiny_corpus(tmp_path, corpus):
    cfg = write_config(tmp_path, corpus, 40, "learn")
    assert main(["train", "--config", str(cfg), "--quiet"]) == 0
    val = [r for r in rows(tmp_path / "learn") if r["split"] == "val"]
    assert val[-1]["loss"] < val[0]["loss"]


def test_init_from_seeds_a_new_run_with_a_checkpoints_weights(tmp_path, corpus):
    write_config(tmp_path, corpus, 2, "source")
    assert main(["train", "--config", str(tmp_path / "source.toml"), "--quiet"]) == 0
    source = ckpt.read_weights(tmp_path / "source")
    cfg = load_train_config(write_config(tmp_path, corpus, 1, "tuned"))
    cfg.init_from = str(tmp_path / "source")
    cfg.train.learning_rate = 0.0  # one step that changes nothing: the saved model is the seeded one
    from momug.train.loop import train

    train(cfg, progress=False)
    tuned = ckpt.read_weights(tmp_path / "tuned")
    for name, tensor in source.items():
        assert torch.equal(tuned[name], tensor), name
    # A checkpoint for another model shape is refused before any training.
    other = load_train_config(write_config(tmp_path, corpus, 1, "other"))
    other.model.frames_per_token = 2
    other.init_from = str(tmp_path / "source")
    with pytest.raises(MomugError, match="frames_per_token"):
        train(other, progress=False)


def test_init_from_may_add_lora_targets_and_starts_from_exactly_the_source_model(tmp_path, corpus):
    """Growing the adapter (say onto the MLPs) from an attention-only checkpoint: the added LoRA
    layers start at zero, so the seeded model computes what the source did; dropping a target the
    source trained is refused."""
    from momug.model.momug import LossSettings

    write_config(tmp_path, corpus, 2, "source")
    assert main(["train", "--config", str(tmp_path / "source.toml"), "--quiet"]) == 0
    source = ckpt.from_pretrained(tmp_path / "source")
    mlp = ["gate_proj", "up_proj", "down_proj"]
    grown = ckpt.build_model(dataclasses.replace(source.config, lora_targets=[*source.config.lora_targets, *mlp]))
    fresh = ckpt.init_from(grown, tmp_path / "source")
    assert fresh and all(any(f".{m}.lora_" in name for m in mlp) for name in fresh)
    assert not any(".q_proj." in name for name in fresh)
    summary = ckpt.describe_fresh(fresh)  # the run's log line: one entry per module kind
    layers = source.llm.get_base_model().config.num_hidden_layers
    assert summary.count(f" x{layers}") == 6 and ".layers.*.mlp.up_proj.lora_B.weight" in summary
    grown.eval()
    frames = torch.randn(21, source.config.feature_dim, generator=torch.Generator().manual_seed(4))
    item = {"task": "t2m", "text_ids": source.text_ids("a person waves"), "motion": source.to_tokens(frames),
            "frame_mask": source.to_tokens(torch.ones_like(frames)).bool()}
    with torch.no_grad():
        before = source.training_loss([item], LossSettings(), generator=torch.Generator().manual_seed(0))
        after = grown.training_loss([item], LossSettings(), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(before["diffusion"], after["diffusion"], atol=1e-6)
    fewer = ckpt.build_model(dataclasses.replace(source.config, lora_targets=["q_proj"]))
    with pytest.raises(MomugError, match="leave out"):
        ckpt.init_from(fewer, tmp_path / "source")


def test_fine_tuning_an_opt_in_checkpoint_needs_its_terms_and_keeps_them(tmp_path, corpus, monkeypatch):
    """Weights trained under terms of their own (the real model's CC BY-NC) seed a new run only once
    accepted, and the new run's checkpoint carries the same terms, even on a licence-free corpus."""
    from momug import licences
    from momug.train.loop import train

    monkeypatch.setenv("MOMUG_CONFIG", str(tmp_path / "config"))
    monkeypatch.delenv(licences.ENV_ACCEPT, raising=False)
    write_config(tmp_path, corpus, 1, "source")
    assert main(["train", "--config", str(tmp_path / "source.toml"), "--quiet"]) == 0
    assert licences.read_licence(tmp_path / "source") is None  # the tiny corpus has no terms
    terms = {"name": "CC BY-NC 4.0", "summary": "non-commercial use only", "attribution": "Someone, 2022"}
    licences.write_licence(tmp_path / "source", terms)
    cfg = load_train_config(write_config(tmp_path, corpus, 1, "tuned"))
    cfg.init_from = str(tmp_path / "source")
    with pytest.raises(MomugError, match="is opt-in, licensed CC BY-NC 4.0"):
        train(cfg, progress=False)
    assert not (tmp_path / "tuned" / "momug.safetensors").exists()
    licences.accept(tmp_path / "source")
    train(cfg, progress=False)
    carried = licences.read_licence(tmp_path / "tuned")
    assert carried is not None and carried["name"] == "CC BY-NC 4.0" and "Someone, 2022" in carried["attribution"]


def test_run_licence_joins_the_corpus_terms_and_the_source_checkpoints(tmp_path):
    from momug import licences

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "meta.jsonl").write_text(json.dumps({"id": "b", "licence": "CC BY-NC 4.0", "attribution": "A"}) + "\n")
    source = tmp_path / "source"
    licences.write_licence(source, {"name": "Other Terms", "summary": "s", "attribution": "B"})
    assert licences.run_licence(corpus)["name"] == "CC BY-NC 4.0"
    assert licences.run_licence(tmp_path / "nothing", source)["name"] == "Other Terms"
    both = licences.run_licence(corpus, source)
    assert both["name"] == "CC BY-NC 4.0 + Other Terms" and both["attribution"] == "A; B"
    assert licences.run_licence(tmp_path / "nothing") is None


def test_general_text_rows_are_replayed_and_logged(tmp_path, corpus):
    from momug.cli import main as cli

    text = tmp_path / "general.jsonl"
    assert cli(["data", "general-text", "--out", str(text), "--base-model", "tiny", "--per-opening", "1",
                "--tokens", "12", "--quiet"]) == 0
    cfg = write_config(tmp_path, corpus, 4, "keep")
    body = cfg.read_text().replace('output = ', f'general_text = "{text}"\noutput = ', 1)
    cfg.write_text(body.replace("[train]\n", "[train]\ntext_rows = 2\ntext_tokens = 8\nroot_loss_weight = 3.0\n"))
    assert main(["train", "--config", str(cfg), "--quiet"]) == 0
    logged = rows(tmp_path / "keep")
    assert all(r["text"] > 0 for r in logged if r["split"] in ("train", "val"))
    # Asking for text rows without a text file is refused before anything runs.
    cfg.write_text(body.replace("[train]\n", "[train]\ntext_rows = 2\n").replace(f'general_text = "{text}"\n', ""))
    with pytest.raises(MomugError, match="general_text"):
        load_train_config(cfg)


def test_training_reads_the_split_the_config_names(tmp_path, corpus, capsys):
    cfg = write_config(tmp_path, corpus, 2, "mirrored")
    cfg.write_text(cfg.read_text().replace("[train]\n", '[train]\nsplit = "train_mirrored"\n'))
    assert main(["train", "--config", str(cfg), "--quiet"]) != 0
    assert "momug data mirror" in capsys.readouterr().err
    assert not (tmp_path / "mirrored" / "momug.safetensors").exists()
    assert main(["data", "mirror", str(corpus), "--quiet"]) == 0
    assert main(["train", "--config", str(cfg), "--quiet"]) == 0
    saved = json.loads((tmp_path / "mirrored" / "train_config.json").read_text())
    assert saved["train"]["split"] == "train_mirrored"


def test_bad_config_is_a_clear_error(tmp_path, corpus):
    bad = tmp_path / "bad.toml"
    bad.write_text('data = "x"\noutput = "y"\n[train]\nbatch_sise = 3\n')
    with pytest.raises(MomugError, match="batch_sise"):
        load_train_config(bad)
    bad.write_text("data = [\n")
    with pytest.raises(MomugError, match="not valid TOML"):
        load_train_config(bad)
    cfg = write_config(tmp_path, tmp_path / "missing", 2, "nodata")
    assert main(["train", "--config", str(cfg), "--quiet"]) == 2


@pytest.mark.skipif(shutil.which("accelerate") is None, reason="accelerate CLI not on PATH")
def test_two_process_cpu_training_with_accelerate_launch(tmp_path, corpus):
    cfg = write_config(tmp_path, corpus, 2, "ddp")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    # --multi_gpu is accelerate's torchrun launcher; without GPUs it runs DDP over gloo on the CPU.
    cmd = [shutil.which("accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "momug.cli", "train", "--config", str(cfg),
           "--quiet"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "ddp"
    assert torch.load(out / "training_state.pt", weights_only=True)["step"] == 2
    assert {r["processes"] for r in rows(out) if r["split"] == "train"} == {2}
    ckpt.from_pretrained(out)


def test_a_model_trained_on_licensed_clips_is_opt_in(tmp_path, corpus, monkeypatch):
    """One clip of the corpus under CC BY-NC (as the Bandai import marks them): the checkpoint
    carries the terms and is not loaded until they are accepted."""
    import shutil

    from momug import licences
    from momug.errors import MomugError

    monkeypatch.setenv("MOMUG_CONFIG", str(tmp_path / "config"))
    monkeypatch.delenv(licences.ENV_ACCEPT, raising=False)
    data = tmp_path / "licensed"
    shutil.copytree(corpus, data)
    lines = (data / "meta.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first.update(licence="CC BY-NC 4.0", attribution="Bandai Namco Research Inc.")
    (data / "meta.jsonl").write_text("\n".join([json.dumps(first)] + lines[1:]) + "\n")
    cfg = write_config(tmp_path, data, 2)
    assert main(["train", "--config", str(cfg), "--quiet"]) == 0
    terms = licences.read_licence(tmp_path / "run")
    assert terms["name"] == "CC BY-NC 4.0" and "Bandai" in terms["attribution"]
    with pytest.raises(MomugError, match="opt-in"):
        ckpt.from_pretrained(tmp_path / "run")
    # Resuming one's own run needs no acceptance: the user supplied the data.
    assert main(["train", "--config", str(cfg), "--quiet", "--max-steps", "3"]) == 0
    licences.accept(tmp_path / "run")
    assert ckpt.from_pretrained(tmp_path / "run").config.base_model == "tiny"


def test_motion_scope_run_trains_and_keeps_its_scope(tmp_path, corpus):
    from pathlib import Path

    shipped = load_train_config(Path(__file__).parents[3] / "configs" / "motion_scope_stage1.toml")
    assert shipped.model.adapter_scope == "motion" and shipped.train.text_rows == 0
    path = write_config(tmp_path, corpus, 2, "scoped")
    path.write_text(path.read_text().replace("[model]\n", '[model]\nadapter_scope = "motion"\n'))
    assert main(["train", "--config", str(path), "--quiet"]) == 0
    model = ckpt.from_pretrained(tmp_path / "scoped")
    assert model.config.adapter_scope == "motion" and model.scope_hooks is not None
    path.write_text(path.read_text().replace('"motion"', '"prompt"'))
    with pytest.raises(MomugError, match="adapter_scope"):
        load_train_config(path)


def test_stop_after_ends_a_run_early_on_the_full_schedule_and_resumes(tmp_path, corpus, capsys):
    cfg = write_config(tmp_path, corpus, 10, "early")
    assert main(["train", "--config", str(cfg), "--quiet", "--stop-after", "5"]) == 0
    out = tmp_path / "early"
    assert torch.load(out / "training_state.pt", weights_only=True)["step"] == 5  # saved where it stopped
    early = [r for r in rows(out) if r["split"] == "train"]
    full_cfg = write_config(tmp_path, corpus, 10, "full")
    assert main(["train", "--config", str(full_cfg), "--quiet"]) == 0
    full = [r for r in rows(tmp_path / "full") if r["split"] == "train"]
    # The schedule is the 10-step one: same learning rates (and losses) as the full run's first steps
    assert [r["step"] for r in early] == [2, 4, 5]  # logged where it stopped too
    assert [(r["step"], r["lr"]) for r in early[:2]] == [(r["step"], r["lr"]) for r in full[:2]]
    assert main(["train", "--config", str(cfg), "--quiet"]) == 0  # resumes to the end
    assert torch.load(out / "training_state.pt", weights_only=True)["step"] == 10
    assert main(["train", "--config", str(cfg), "--quiet", "--stop-after", "0"]) == 2
    assert "--stop-after must be" in capsys.readouterr().err


def trainable(folder):
    return {k: v for k, v in ckpt.from_pretrained(folder).trainable_state_dict().items()
            if v.is_floating_point() and k not in ("mean", "std")}


def test_ema_decay_saves_validates_and_resumes_a_weight_average(tmp_path, corpus):
    cfg = write_config(tmp_path, corpus, 8, "run", extra="ema_decay = 0.9")
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


def test_without_ema_decay_there_is_no_weight_average(tmp_path, corpus):
    cfg = write_config(tmp_path, corpus, 3, "plain")
    assert main(["train", "--config", str(cfg), "--quiet"]) == 0
    assert not (tmp_path / "plain" / "ema").exists()
    assert "ema" not in torch.load(tmp_path / "plain" / "training_state.pt", weights_only=True)
    bad = write_config(tmp_path, corpus, 3, "bad", extra="ema_decay = 1.0")
    assert main(["train", "--config", str(bad), "--quiet"]) == 2


def test_train_only_trains_the_named_parameters_and_keeps_the_rest_as_loaded(tmp_path, corpus):
    """[train] train_only (part 21: the prompt questions' projection alone, from a checkpoint that
    had none): every other tensor is saved exactly as the source had it."""
    from momug.train.loop import train

    write_config(tmp_path, corpus, 2, "source")
    assert main(["train", "--config", str(tmp_path / "source.toml"), "--quiet"]) == 0
    source = ckpt.read_weights(tmp_path / "source")
    cfg = load_train_config(write_config(tmp_path, corpus, 3, "reading"))
    cfg.init_from = str(tmp_path / "source")
    cfg.model.prompt_questions = ["Q: {prompt} A:"]
    cfg.train.train_only, cfg.train.reading_only_fraction = ["reading_proj"], 0.5
    cfg.train.learning_rate, cfg.train.caption_fraction = 1e-2, 0.0
    train(cfg, progress=False)
    tuned = ckpt.read_weights(tmp_path / "reading")
    assert set(tuned) == set(source) | {"reading_proj.weight", "reading_proj.bias"}
    for name, tensor in source.items():
        assert torch.equal(tuned[name], tensor), name
    assert float(tuned["reading_proj.weight"].abs().max()) > 0  # started at zero, and learned
    cfg = load_train_config(write_config(tmp_path, corpus, 1, "typo"))
    cfg.train.train_only = ["reading_projection"]
    with pytest.raises(MomugError, match="no trainable parameter is named"):
        train(cfg, progress=False)
