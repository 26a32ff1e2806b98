"""Classifier-free guidance for the streaming model: text dropout in training (the empty prompt on a
share of text-to-motion rows, never on caption rows), the guided sampler (velocities mixed per flow
step, the conditional and empty-prompt rows batched with their own caches), guidance 1 unchanged,
the checkpoint's own default scale, and seeding a run from a stream checkpoint (init_from)."""

import json
import math

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from momug.errors import MomugError  # noqa: E402
from momug.stream import checkpoint as sckpt  # noqa: E402
from momug.stream.ar_model import StreamConfig  # noqa: E402
from momug.stream.flow_head import FlowHead  # noqa: E402
from momug.stream.pipeline import StreamPipeline, move_off_initialisation, tiny_stream_model  # noqa: E402
from momug.stream.train_ar import LatentBatches, StreamTrainSettings, load_stream_config  # noqa: E402

PROMPT = "a person walks forward slowly"


def perturbed_model(seed: int = 0):
    """The tiny model with motion weights and heads moved off their initialisation (a trained
    model's rows differ between prompts, and its flow head reads the condition)."""
    model, vae = tiny_stream_model(seed)
    move_off_initialisation([*model.mot.motion.parameters(), *model.flow.parameters(), *model.adapter.parameters()],
                            seed=seed + 100)
    return model, vae


def latents(model, text, guidance=None, n=4, seed=0, **kw):
    options = {} if guidance is None else {"guidance": guidance}
    return torch.stack(list(model.stream_latents(text, max_latents=n, min_latents=n,
                                                 generator=torch.Generator().manual_seed(seed), **options, **kw)))


# ----------------------------------------------------------------------------- the flow head
def test_guided_flow_sampling_mixes_the_velocities_at_every_step():
    torch.manual_seed(0)
    head = FlowHead(latent_dim=4, cond_dim=6, width=16, depth=2)
    with torch.no_grad():
        for block in head.blocks:  # let the condition steer every block (zero-initialised)
            block.mod.weight.normal_(0, 0.5)
    cond, uncond = torch.randn(1, 6), torch.randn(1, 6)
    w, steps = 3.0, 4
    got = head.sample_guided(cond, uncond, w, steps=steps, generator=torch.Generator().manual_seed(7),
                             temperature=0.8)
    # By hand: the same starting noise as sample() draws, then Euler steps on v_u + w (v_c - v_u).
    x = 0.8 * torch.randn((1, 4), generator=torch.Generator().manual_seed(7))
    ts = torch.linspace(1.0, 0.0, steps + 1)
    with torch.no_grad():
        for i in range(steps):
            t = ts[i].expand(1)
            v_c, v_u = head(x, t, cond), head(x, t, uncond)
            x = x + (ts[i + 1] - ts[i]) * (v_u + w * (v_c - v_u))
    assert torch.allclose(got, x, atol=1e-6)
    # Not what either condition alone gives.
    alone = head.sample(cond, steps=steps, generator=torch.Generator().manual_seed(7), temperature=0.8)
    assert (got - alone).abs().amax() > 1e-3
    # w = 1 is the conditional sample, w = 0 the unconditional one.
    for scale, c in ((1.0, cond), (0.0, uncond)):
        mixed = head.sample_guided(cond, uncond, scale, steps=steps, generator=torch.Generator().manual_seed(7))
        plain = head.sample(c, steps=steps, generator=torch.Generator().manual_seed(7))
        assert torch.allclose(mixed, plain, atol=1e-6)


# ----------------------------------------------------------------------------- the streaming model
def test_guidance_one_is_the_unguided_sampler_bit_for_bit():
    model, _ = perturbed_model()
    calls = []
    real = model.flow.sample_guided
    model.flow.sample_guided = lambda *a, **kw: calls.append(1) or real(*a, **kw)
    before = latents(model, PROMPT, n=5)                  # the default: as before this option existed
    assert torch.equal(latents(model, PROMPT, 1.0, n=5), before)
    assert torch.equal(latents(model, PROMPT, 1, n=5, use_cache=False), latents(model, PROMPT, n=5, use_cache=False))
    assert calls == []                                    # never the batched guided path
    assert not torch.allclose(latents(model, PROMPT, 2.0, n=5), before, atol=1e-4)
    assert len(calls) == 5


@pytest.mark.parametrize("use_cache", [True, False])
def test_guided_rows_see_what_the_prompt_and_the_empty_prompt_would_alone(use_cache):
    """The batch of 2 (left-padded, own positions, own caches) gives each row the hidden states of
    its own sequence with the sampled latents fed to both; the end head reads the prompt's row."""
    model, _ = perturbed_model()
    seen, ends = [], []
    real_sample, real_end = model.flow.sample_guided, model.end.forward

    def sample_spy(cond, uncond, w, **kw):
        seen.append((cond.clone(), uncond.clone(), w))
        return real_sample(cond, uncond, w, **kw)

    def end_spy(h):
        ends.append(h.clone())
        return real_end(h)

    with torch.no_grad():
        model.end.proj.bias.fill_(-1e4)   # never stops: all 4 latents come
    model.flow.sample_guided, model.end.forward = sample_spy, end_spy
    z = list(model.stream_latents(PROMPT, max_latents=4, min_latents=1, generator=torch.Generator().manual_seed(3),
                                  guidance=2.5, use_cache=use_cache))
    assert len(z) == 4 and [w for _, _, w in seen] == [2.5] * 4
    zs = torch.stack(z)
    for row, ids in enumerate((model.text_ids(PROMPT), model.empty_text_ids)):
        with torch.no_grad():
            embeds, attn, motion, bom_at = model.build([ids], [zs[:3]])
            h, _ = model.hidden(embeds, attn, motion)
        alone = h[0, bom_at[0]:bom_at[0] + 4]
        fed = torch.cat([s[row] for s in seen])
        assert torch.allclose(fed, alone, atol=1e-5), (row, (fed - alone).abs().amax())
    # The end head was asked (from the second latent on) about the prompt's row only.
    assert len(ends) == 3 and all(e.shape[0] == 1 for e in ends)
    assert torch.allclose(torch.cat(ends), torch.cat([c for c, _, _ in seen[1:]]), atol=0)
    assert len(model.empty_text_ids) < len(model.text_ids(PROMPT))   # the padding was exercised


def test_guidance_zero_is_the_empty_prompt_run_and_the_scale_moves_the_result():
    model, _ = perturbed_model()
    unconditional = latents(model, "", n=4, seed=5)
    assert torch.allclose(latents(model, PROMPT, 0.0, n=4, seed=5), unconditional, atol=1e-4)
    conditional = latents(model, PROMPT, n=4, seed=5)
    assert not torch.allclose(conditional, unconditional, atol=1e-3)   # the prompt matters at all
    # The first latent follows v_u + w (v_c - v_u) from one noise: it moves along with w.
    firsts = [latents(model, PROMPT, w, n=1, seed=5)[0] for w in (0.0, 1.0, 2.0)]
    assert torch.allclose(firsts[1], conditional[0], atol=1e-4)
    assert (firsts[2] - firsts[1]).abs().amax() > 1e-4


def test_the_empty_prompt_is_bos_alone():
    model, _ = tiny_stream_model()
    assert model.empty_text_ids == model.bos == model.text_ids("") and model.bos


# ----------------------------------------------------------------------------- the pipeline
def test_pipeline_uses_the_checkpoints_default_scale_unless_asked():
    model, vae = perturbed_model()
    pipe = StreamPipeline(model, vae, "tiny", "tiny-perturbed", "cpu")
    assert pipe.guidance == 1.0
    plain = np.concatenate(list(pipe.stream(PROMPT, 1.0, seed=2)))
    assert np.array_equal(np.concatenate(list(pipe.stream(PROMPT, 1.0, seed=2, guidance=1.0))), plain)
    guided = np.concatenate(list(pipe.stream(PROMPT, 1.0, seed=2, guidance=4.0)))
    assert guided.shape == plain.shape and not np.allclose(guided, plain, atol=1e-4)
    pipe.guidance = 4.0   # as a checkpoint whose config says guidance = 4 loads
    assert np.array_equal(np.concatenate(list(pipe.stream(PROMPT, 1.0, seed=2))), guided)
    made = pipe.generate(PROMPT, 1.0, seed=2, raw=True).joints   # a Motion: joints refitted with rotations
    assert np.array_equal(pipe.generate(PROMPT, 1.0, seed=2, raw=True, guidance=4.0).joints, made)
    assert not np.allclose(pipe.generate(PROMPT, 1.0, seed=2, raw=True, guidance=1.0).joints, made, atol=1e-4)
    feats = pipe.features(PROMPT, 20, seed=2, guidance=1.0)
    assert feats.shape[0] == 20 and not np.allclose(feats, pipe.features(PROMPT, 20, seed=2), atol=1e-4)


@pytest.mark.parametrize("bad", [-0.5, math.nan, math.inf, 1000.0])
def test_pipeline_refuses_bad_scales_as_the_diffusion_pipeline_does(bad):
    pipe = StreamPipeline.load("tiny", device="cpu")
    with pytest.raises(MomugError, match="guidance must be between 0 and"):
        pipe.validate_request(PROMPT, 2.0, None, bad)
    with pytest.raises(MomugError, match="guidance"):
        next(pipe.stream(PROMPT, 2.0, guidance=bad))
    with pytest.raises(MomugError, match="guidance"):
        pipe.features(PROMPT, 20, guidance=bad)


# ----------------------------------------------------------------------------- config and checkpoint
def test_the_guidance_default_round_trips_through_a_checkpoint(tmp_path):
    model, vae = tiny_stream_model()
    model.config.guidance = 2.5
    sckpt.save_pretrained(model, vae, tmp_path / "ck")
    assert json.loads((tmp_path / "ck" / "config.json").read_text())["guidance"] == 2.5
    assert StreamPipeline.load(str(tmp_path / "ck"), device="cpu").guidance == 2.5
    # A checkpoint written before the option (the first shipped one) means no guidance.
    cfg = json.loads((tmp_path / "ck" / "config.json").read_text())
    del cfg["guidance"]
    assert StreamConfig.from_dict(cfg).guidance == 1.0
    for bad in (-1.0, math.nan, "2", True):
        with pytest.raises(MomugError, match="guidance"):
            StreamConfig.from_dict(dict(cfg, guidance=bad))


def write_config(path, extra_top="", model="", train=""):
    path.write_text(f'data = "corpus"\noutput = "runs/x"\n{extra_top}\n[model]\nbase_model = "tiny"\n{model}\n'
                    f'[train]\nmax_steps = 3\n{train}\n')
    return path


def test_stream_config_reads_text_dropout_guidance_and_init_from(tmp_path):
    cfg = load_stream_config(write_config(tmp_path / "a.toml"))
    assert cfg.train.text_dropout == 0.0 and cfg.model.guidance == 1.0 and cfg.init_from is None
    cfg = load_stream_config(write_config(tmp_path / "b.toml", 'init_from = "somewhere/ck"', "guidance = 3",
                                          "text_dropout = 0.2"))
    assert cfg.train.text_dropout == 0.2 and cfg.model.guidance == 3.0
    assert cfg.init_from.endswith("somewhere/ck") and cfg.to_dict()["init_from"] == cfg.init_from
    assert cfg.to_dict()["train"]["text_dropout"] == 0.2 and cfg.to_dict()["model"]["guidance"] == 3.0
    with pytest.raises(MomugError, match="text_dropout"):
        load_stream_config(write_config(tmp_path / "c.toml", train="text_dropout = 1.5"))


def test_init_from_seeds_the_trainable_tensors_and_latent_scale(tmp_path):
    source, vae = perturbed_model(seed=1)
    source.config.latent_scale = 0.37
    sckpt.save_pretrained(source, vae, tmp_path / "src")
    fresh, _ = tiny_stream_model(seed=2)
    before = fresh.trainable_state_dict()
    assert any(not torch.equal(before[k], v) for k, v in source.trainable_state_dict().items())
    assert sckpt.init_from(fresh, tmp_path / "src") == []
    got, want = fresh.trainable_state_dict(), source.trainable_state_dict()
    assert set(got) == set(want) and all(torch.equal(got[k], want[k]) for k in want)
    assert fresh.config.latent_scale == 0.37
    # Another architecture, or not a checkpoint, is a clear error.
    other = sckpt.build_stream_model(StreamConfig(base_model="tiny", latent_dim=8, mot_rank=4, flow_width=16,
                                                  flow_depth=1, flow_steps=2))
    with pytest.raises(MomugError, match="flow_width"):
        sckpt.init_from(other, tmp_path / "src")
    with pytest.raises(MomugError, match="not a streaming checkpoint"):
        sckpt.init_from(fresh, tmp_path)


# ----------------------------------------------------------------------------- text dropout
class FakeFolder:
    """MotionTextFolder's sampling interface: random features and a caption naming the clip."""
    feature_dim = 263

    def __len__(self):
        return 50

    def sample(self, index, rng, max_frames):
        return rng.standard_normal((8, self.feature_dim)).astype(np.float32), f"a person walks {index} steps"


def dropout_batches(text_dropout, steps=60):
    model, vae = tiny_stream_model()
    s = StreamTrainSettings(batch_size=8, caption_fraction=0.25)
    batches = LatentBatches(FakeFolder(), vae, model, s, seed=3, text_dropout=text_dropout)
    return model, [batches.batch(step) for step in range(steps)]


def test_text_dropout_empties_that_share_of_text_to_motion_prompts_and_no_caption():
    model, dropped = dropout_batches(0.3)
    _, kept = dropout_batches(0.0)
    empty = model.empty_text_ids
    texts = [t for b in dropped for t in b["texts"]]
    share = sum(t == empty for t in texts) / len(texts)
    assert len(texts) == 60 * 6 and abs(share - 0.3) < 0.07, share
    assert not any(t == empty for b in kept for t in b["texts"])
    for d, k in zip(dropped, kept):
        # Only the prompts change: the same clips, windows and captions either way.
        assert all(torch.equal(a, b) for a, b in zip(d["latents"], k["latents"]))
        assert d["captions"] == k["captions"] and len(d["captions"]) == 2
        assert all(a == empty or a == b for a, b in zip(d["texts"], k["texts"]))
        # Caption rows always keep their words (+ eos).
        assert all(len(c) > 2 for c in d["captions"])
    every = dropout_batches(1.0, steps=3)[1]
    assert all(t == empty for b in every for t in b["texts"]) and all(len(c) > 2 for b in every for c in b["captions"])
