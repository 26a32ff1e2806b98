"""`momug stream train` on a tiny corpus with the tiny base LLM: run layout, resume, the saved
checkpoint loads into StreamPipeline, and broken checkpoints are clear errors."""

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("accelerate")
torch = pytest.importorskip("torch")

from momug.cli import main  # noqa: E402
from momug.data.synth.writer import write_corpus  # noqa: E402
from momug.errors import MomugError  # noqa: E402
from momug.stream import checkpoint as sckpt  # noqa: E402
from momug.stream.pipeline import StreamPipeline  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_stream_config):
    root = tmp_path_factory.mktemp("stream")
    corpus = root / "corpus"
    write_corpus(corpus, 24, seed=5, workers=1, progress=False)
    assert main(["stream", "train-vae", "--data", str(corpus), "-o", str(root / "vae"), "--steps", "5",
                 "--batch-size", "4", "--window", "32", "--quiet"]) == 0
    cfg = root / "stream.toml"
    cfg.write_text(tiny_stream_config.format(data=corpus, out=root / "run", vae=root / "vae", steps=4))
    assert main(["stream", "train", "--config", str(cfg), "--quiet"]) == 0
    return root


def rows(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_run_layout_and_resume(trained):
    out = trained / "run"
    for name in ("config.json", "momug.safetensors", "vae/config.json", "vae/vae.safetensors",
                 "training_state.pt", "metrics.jsonl", "loss.png", "train_config.json"):
        assert (out / name).is_file(), name
    first = rows(out)
    assert [r["step"] for r in first if r["split"] == "train"] == [2, 4]
    assert all(r["flow"] > 0 and r["lm"] > 0 for r in first)
    assert json.loads((out / "config.json").read_text())["latent_scale"] != 1.0  # measured on the data
    assert main(["stream", "train", "--config", str(trained / "stream.toml"), "--quiet", "--max-steps", "6"]) == 0
    assert [r["step"] for r in rows(out)[len(first):] if r["split"] == "train"] == [6]


def test_init_from_seeds_a_new_run_with_text_dropout(trained, tmp_path, tiny_stream_config):
    """init_from = a stream checkpoint: the new run starts from its tensors, latent scale and VAE
    (with learning rate 0 they are still exactly its tensors after training), and text_dropout is
    recorded with the run."""
    from safetensors.torch import load_file

    source = trained / "run"
    cfg = tmp_path / "seeded.toml"
    text = tiny_stream_config.format(data=trained / "corpus", out=tmp_path / "seeded", vae="unused", steps=2)
    text = text.replace('vae = "unused"', f'init_from = "{source}"')
    text = text.replace("[train]\n", "[train]\nlearning_rate = 0.0\ntext_dropout = 0.5\n")
    cfg.write_text(text)
    assert main(["stream", "train", "--config", str(cfg), "--quiet"]) == 0
    out = tmp_path / "seeded"
    settings = json.loads((out / "train_config.json").read_text())
    assert settings["init_from"] == str(source) and settings["train"]["text_dropout"] == 0.5
    assert [r["step"] for r in rows(out) if r["split"] == "train"] == [2]
    got, want = load_file(str(out / "momug.safetensors")), load_file(str(source / "momug.safetensors"))
    assert set(got) == set(want) and all(torch.equal(got[k], want[k]) for k in want)
    assert json.loads((out / "config.json").read_text())["latent_scale"] == \
        json.loads((source / "config.json").read_text())["latent_scale"]
    # The same VAE (tensors and metadata; safetensors may write the metadata's keys in any order).
    from safetensors import safe_open

    vaes = [out / "vae" / "vae.safetensors", source / "vae" / "vae.safetensors"]
    got_vae, want_vae = (load_file(str(p)) for p in vaes)
    assert set(got_vae) == set(want_vae) and all(torch.equal(got_vae[k], want_vae[k]) for k in want_vae)
    meta = [safe_open(str(p), "pt").metadata() for p in vaes]
    assert meta[0] == meta[1]


def test_a_run_reads_the_split_its_config_names(trained, tmp_path, tiny_stream_config):
    """[train] split picks the ids file (e.g. the mirrored one); a split the data folder lacks is a
    clear error before anything is written."""
    import shutil

    from momug.data.mirror import write_mirrors
    from momug.stream.train_ar import load_stream_config, train_stream

    corpus = tmp_path / "corpus"
    shutil.copytree(trained / "corpus", corpus)
    write_mirrors(corpus, "train", progress=False)
    text = tiny_stream_config.format(data=corpus, out=tmp_path / "mirrored", vae=trained / "vae", steps=2)
    cfg = tmp_path / "mirrored.toml"
    cfg.write_text(text.replace("[train]\n", '[train]\nsplit = "train_mirrored"\n'))
    assert main(["stream", "train", "--config", str(cfg), "--quiet"]) == 0
    assert json.loads((tmp_path / "mirrored" / "train_config.json").read_text())["train"]["split"] == "train_mirrored"
    missing = tiny_stream_config.format(data=corpus, out=tmp_path / "missing", vae=trained / "vae", steps=2)
    cfg.write_text(missing.replace("[train]\n", '[train]\nsplit = "train_steady"\n'))
    with pytest.raises(MomugError, match="has no split 'train_steady'"):
        train_stream(load_stream_config(cfg), progress=False)
    assert not (tmp_path / "missing").exists()


def test_a_run_from_opt_in_weights_carries_their_terms(trained, tmp_path, monkeypatch, tiny_stream_config):
    """Fine-tuning a stream checkpoint that has terms of its own needs them accepted, and the new
    run's checkpoint carries them (the tiny corpus has none of its own)."""
    import shutil

    from momug import licences
    from momug.errors import MomugError

    monkeypatch.setenv("MOMUG_CONFIG", str(tmp_path / "config"))
    monkeypatch.delenv(licences.ENV_ACCEPT, raising=False)
    source = tmp_path / "opt_in"
    shutil.copytree(trained / "run", source)
    assert licences.read_licence(source) is None
    licences.write_licence(source, {"name": "CC BY-NC 4.0", "summary": "non-commercial", "attribution": "X"})
    cfg = tmp_path / "tuned.toml"
    text = tiny_stream_config.format(data=trained / "corpus", out=tmp_path / "tuned", vae="unused", steps=2)
    cfg.write_text(text.replace('vae = "unused"', f'init_from = "{source}"'))
    from momug.stream.train_ar import load_stream_config, train_stream

    with pytest.raises(MomugError, match="is opt-in, licensed CC BY-NC 4.0"):
        train_stream(load_stream_config(cfg), progress=False)
    licences.accept(source)
    assert main(["stream", "train", "--config", str(cfg), "--quiet"]) == 0
    assert licences.read_licence(tmp_path / "tuned")["name"] == "CC BY-NC 4.0"


def test_checkpoint_streams_and_captions_through_the_pipeline(trained):
    pipe = StreamPipeline.load(str(trained / "run"), device="cpu")
    chunks = list(pipe.stream("a person walks forward", 1.5, seed=1))
    joints = np.concatenate(chunks)
    assert joints.shape == (30, 22, 3) and np.isfinite(joints).all()
    again = np.concatenate(list(pipe.stream("a person walks forward", 1.5, seed=1)))
    assert np.array_equal(joints, again)  # the seed decides the result
    assert isinstance(pipe.caption(joints, 20.0), str)


def test_broken_or_foreign_checkpoints_are_clear_errors(trained, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(trained / "run", bad)
    (bad / "momug.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(MomugError, match="corrupt"):
        sckpt.from_pretrained(bad)
    shutil.rmtree(bad / "vae")
    with pytest.raises(MomugError, match="VAE"):
        sckpt.from_pretrained(bad)
    diffusion = tmp_path / "diffusion"
    diffusion.mkdir()
    (diffusion / "config.json").write_text(json.dumps({"base_model": "tiny", "frames_per_token": 4}))
    with pytest.raises(MomugError, match="config"):
        sckpt.from_pretrained(diffusion)
    assert not sckpt.is_stream_checkpoint(diffusion) and sckpt.is_stream_checkpoint(trained / "run")


def decode_all_at_once(pipe, prompt: str, n_frames: int, seed: int) -> np.ndarray:
    """Joints (float64) of every latent the seed gives for n_frames, decoded in one go."""
    from momug.motion.features import features_to_joints

    n = pipe.latents_for(n_frames)
    latents = list(pipe.model.stream_latents(prompt, max_latents=n, min_latents=n,
                                             generator=torch.Generator().manual_seed(seed)))
    with torch.no_grad():
        feats = pipe.vae.denormalise(pipe.vae.decode(torch.stack(latents)[None]))[0].numpy()
    return features_to_joints(feats.astype(np.float64))


def test_frames_sent_in_chunks_equal_one_decode_of_all_latents():
    """The VAE decoder and joint recovery are causal, and the cleanup holds back the frames it may
    still change: streaming changes no frame already sent, and sends what the offline replay of the
    same cleanup over one decode of all the latents makes."""
    from momug.motion.cleanup import STREAM_SMOOTH_DELAY, replay_streamed

    pipe = StreamPipeline.load("tiny", device="cpu")
    chunks = list(pipe.stream("a person jumps", 2.0, seed=4))
    raw_chunks = list(pipe.stream("a person jumps", 2.0, seed=4, raw=True))
    whole = decode_all_at_once(pipe, "a person jumps", 40, seed=4)
    assert np.allclose(np.concatenate(raw_chunks), whole[:40], atol=1e-5)
    cleaned = replay_streamed(whole, pipe.fps, pipe.frames_per_latent)
    assert np.allclose(np.concatenate(chunks), cleaned[:40], atol=1e-5)
    assert not np.allclose(cleaned, whole, atol=1e-4)  # the cleanup did something to compare
    # Raw frames come as latents do; cleaned ones once STREAM_SMOOTH_DELAY frames follow them.
    assert [len(c) for c in raw_chunks] == [4] * 10
    first = -(-(STREAM_SMOOTH_DELAY + 1) // 4) * 4 - STREAM_SMOOTH_DELAY
    assert len(chunks[0]) == first and sum(len(c) for c in chunks) == 40


def test_streamed_cleanup_matches_its_replay_at_any_length():
    """Streams of lengths that cut a latent short end exactly where the replayed cleanup does."""
    from momug.motion.cleanup import replay_streamed

    pipe = StreamPipeline.load("tiny", device="cpu")
    for seconds in (1.0, 1.15, 1.35):
        raw = np.concatenate(list(pipe.stream("a person walks", seconds, seed=2, raw=True)))
        streamed = np.concatenate(list(pipe.stream("a person walks", seconds, seed=2)))
        n = int(round(seconds * pipe.fps))
        whole = decode_all_at_once(pipe, "a person walks", n, seed=2)
        assert len(streamed) == len(raw) == n
        assert np.allclose(streamed, replay_streamed(whole, pipe.fps, pipe.frames_per_latent)[:n], atol=1e-5)


def test_bad_requests_are_refused_before_any_frame():
    pipe = StreamPipeline.load("tiny", device="cpu")
    for prompt, seconds, match in (("", 2.0, "empty"), ("walk", 0.2, "seconds"), ("walk", float("nan"), "finite"),
                                   ("x" * 600, 2.0, "characters")):
        with pytest.raises(MomugError, match=match):
            next(pipe.stream(prompt, seconds))


def test_export_script_writes_a_float16_copy_that_loads(trained, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from safetensors.torch import load_file

    script = Path(__file__).resolve().parents[3] / "scripts" / "export_checkpoint.py"
    subprocess.run([sys.executable, str(script), str(trained / "run"), str(tmp_path / "half")], check=True,
                   capture_output=True)
    weights = load_file(str(tmp_path / "half" / "momug.safetensors"))
    assert all(v.dtype == torch.float16 for v in weights.values() if v.is_floating_point())
    pipe = StreamPipeline.load(str(tmp_path / "half"), device="cpu")
    assert np.concatenate(list(pipe.stream("a person walks", 1.0, seed=0))).shape == (20, 22, 3)


def test_caption_command_in_stream_mode(tmp_path, capsys):
    from momug.motion.motionfile import save_motion

    motion = StreamPipeline.load("tiny", device="cpu").generate("a person walks", 2.0, seed=0)
    save_motion(tmp_path / "walk.npz", motion)
    assert main(["caption", str(tmp_path / "walk.npz"), "--mode", "stream", "--checkpoint", "tiny",
                 "--device", "cpu"]) == 0
    assert capsys.readouterr().out.strip() != ""
    assert main(["caption", str(tmp_path / "walk.npz"), "--mode", "stream", "--checkpoint", "tiny",
                 "--beams", "2"]) == 2
    assert "greedily" in capsys.readouterr().err


def test_stop_after_saves_where_it_stops(trained, tmp_path, tiny_stream_config):
    cfg = tmp_path / "early.toml"
    cfg.write_text(tiny_stream_config.format(data=trained / "corpus", out=tmp_path / "early", vae=trained / "vae", steps=6))
    assert main(["stream", "train", "--config", str(cfg), "--quiet", "--stop-after", "3"]) == 0
    assert torch.load(tmp_path / "early" / "training_state.pt", weights_only=True)["step"] == 3
    assert [r["step"] for r in rows(tmp_path / "early") if r["split"] == "train"] == [2, 3]


def test_ema_decay_keeps_a_loadable_weight_average_across_a_resume(trained, tmp_path, tiny_stream_config):
    cfg = tmp_path / "ema.toml"
    text = tiny_stream_config.format(data=trained / "corpus", out=tmp_path / "ema", vae=trained / "vae", steps=5)
    cfg.write_text(text.replace("[train]\n", "[train]\nema_decay = 0.9\n"))
    assert main(["stream", "train", "--config", str(cfg), "--quiet", "--stop-after", "3"]) == 0
    assert main(["stream", "train", "--config", str(cfg), "--quiet"]) == 0
    out = tmp_path / "ema"
    assert torch.load(out / "training_state.pt", weights_only=True)["ema"]["updates"] == 5  # carried on
    average, _ = sckpt.from_pretrained(out / "ema")
    last, _ = sckpt.from_pretrained(out)
    a, b = average.trainable_state_dict(), last.trainable_state_dict()
    assert a.keys() == b.keys()
    assert any(v.is_floating_point() and not torch.allclose(v, b[k]) for k, v in a.items())
    assert [r["step"] for r in rows(out) if r["split"] == "val_ema"] == [2, 3, 4, 5]
    cfg.write_text(text.replace("[train]\n", "[train]\nema_decay = 1.5\n"))
    assert main(["stream", "train", "--config", str(cfg), "--quiet"]) == 2


def test_onset_weighting_is_recorded_and_range_checked(trained, tmp_path, tiny_stream_config):
    from momug.stream.train_ar import load_stream_config

    text = tiny_stream_config.format(data=trained / "corpus", out=tmp_path / "onset", vae=trained / "vae", steps=2)
    cfg = tmp_path / "onset.toml"
    cfg.write_text(text.replace("[train]\n", "[train]\nonset_latents = 4\nonset_weight = 3.0\n"))
    assert main(["stream", "train", "--config", str(cfg), "--quiet"]) == 0
    settings = json.loads((tmp_path / "onset" / "train_config.json").read_text())["train"]
    assert (settings["onset_latents"], settings["onset_weight"]) == (4, 3.0)
    assert all(r["flow"] > 0 for r in rows(tmp_path / "onset") if r["split"] == "train")
    for bad in ("onset_weight = 0.0", "onset_latents = -1"):
        cfg.write_text(text.replace("[train]\n", f"[train]\n{bad}\n"))
        with pytest.raises(MomugError, match="onset_latents must be at least 0 and onset_weight above 0"):
            load_stream_config(cfg)


def mirrored_run_config(trained, tmp_path, tiny_stream_config, name: str) -> tuple[str, Path]:
    """A 4-step config on a copy of the trained fixture's corpus with its mirrors (every sided clip
    beside its mirror, as runs use it), batch 8, output tmp_path/name; (its text, its path)."""
    import shutil

    from momug.data.mirror import write_mirrors

    corpus = tmp_path / "corpus"
    shutil.copytree(trained / "corpus", corpus)
    write_mirrors(corpus, "train", progress=False)
    text = tiny_stream_config.format(data=corpus, out=tmp_path / name, vae=trained / "vae", steps=4)
    return text.replace("batch_size = 4", 'batch_size = 8\nsplit = "train_mirrored"'), tmp_path / f"{name}.toml"


def test_side_contrast_trains_logs_its_term_and_is_range_checked(trained, tmp_path, tiny_stream_config):
    from momug.stream.train_ar import load_stream_config

    text, cfg = mirrored_run_config(trained, tmp_path, tiny_stream_config, "side")
    cfg.write_text(text.replace("[train]\n", "[train]\nside_contrast_weight = 0.5\nside_contrast_latents = 4\n"
                                "side_contrast_margin = 0.2\n"))
    assert main(["stream", "train", "--config", str(cfg), "--quiet"]) == 0
    settings = json.loads((tmp_path / "side" / "train_config.json").read_text())["train"]
    assert (settings["side_contrast_weight"], settings["side_contrast_latents"],
            settings["side_contrast_margin"]) == (0.5, 4, 0.2)
    train_rows = [r for r in rows(tmp_path / "side") if r["split"] == "train"]
    assert train_rows and all(r["side"] >= 0 for r in train_rows) and any(r["side"] > 0 for r in train_rows)
    for bad in ("side_contrast_weight = -0.1", "side_contrast_latents = 0", "side_contrast_margin = -1.0"):
        cfg.write_text(text.replace("[train]\n", f"[train]\n{bad}\n"))
        with pytest.raises(MomugError, match="side_contrast_weight and side_contrast_margin must be at least 0"):
            load_stream_config(cfg)


def test_guided_onset_trains_logs_its_term_and_is_range_checked(trained, tmp_path, tiny_stream_config):
    from momug.stream.train_ar import load_stream_config

    text, cfg = mirrored_run_config(trained, tmp_path, tiny_stream_config, "guided")
    cfg.write_text(text.replace("[train]\n", "[train]\nguided_onset_weight = 0.5\nguided_onset_latents = 2\n"
                                "guided_onset_scale = 4.0\nguided_onset_rows = \"all\"\n"))
    assert main(["stream", "train", "--config", str(cfg), "--quiet"]) == 0
    settings = json.loads((tmp_path / "guided" / "train_config.json").read_text())["train"]
    assert (settings["guided_onset_weight"], settings["guided_onset_latents"], settings["guided_onset_scale"],
            settings["guided_onset_rows"]) == (0.5, 2, 4.0, "all")
    train_rows = [r for r in rows(tmp_path / "guided") if r["split"] == "train"]
    assert train_rows and all(r["guided"] > 0 for r in train_rows)
    for bad in ("guided_onset_weight = -0.1", "guided_onset_latents = 0", "guided_onset_scale = 0.5",
                'guided_onset_rows = "left"'):
        cfg.write_text(text.replace("[train]\n", f"[train]\n{bad}\n"))
        with pytest.raises(MomugError, match="guided_onset_weight must be at least 0"):
            load_stream_config(cfg)
