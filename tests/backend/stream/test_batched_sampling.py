"""Several prompts sampled together (StreamModel.sample_latents, StreamPipeline.features_batch and
joints_batch, the evaluations' streaming adapters): each row is the motion its prompt and seed make
alone, with and without guidance, prompts of different lengths padded on the left; sequences fall
back to being made step by step; bad requests are refused. Several motions captioned together
(StreamModel.describe_batch, StreamPipeline.describe_features_batch): each caption is the one its
motion gets alone, read without padding or cache."""

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from momug.errors import MomugError  # noqa: E402
from momug.eval import adapters  # noqa: E402
from momug.model.base_llm import lm_logits  # noqa: E402
from momug.stream.flow_head import starting_noise  # noqa: E402
from momug.stream.pipeline import StreamPipeline, move_off_initialisation, tiny_stream_model  # noqa: E402

# Different token counts, so the batch is padded; one prompt repeated with two seeds.
PROMPTS = ["a person walks forward slowly", "someone waves", "a person jumps high in the air twice",
           "someone waves"]
SEEDS = [3, 1, 4, 9]


@pytest.fixture(scope="module")
def pipe():
    model, vae = tiny_stream_model(0)
    move_off_initialisation([*model.mot.motion.parameters(), *model.flow.parameters(),
                             *model.adapter.parameters()], seed=100)
    # Float64: a batch sums in another order than one row, and under guidance the sampler feeds
    # its own latents back, so float32 rounding grows to 1e-3 within five latents; in float64 it
    # stays far below the tolerances, which then only a wrong prompt, seed or position can break.
    return StreamPipeline(model.double(), vae.double(), "tiny", "tiny", "cpu")


def alone(model, text, n, seed, guidance):
    return torch.stack(list(model.stream_latents(text, max_latents=n, min_latents=n, guidance=guidance, total=n,
                                                 generator=torch.Generator().manual_seed(seed))))


def test_starting_noise_per_row_is_each_generators_own_draw():
    like = torch.zeros(1)
    rows = starting_noise((3, 5), [torch.Generator().manual_seed(s) for s in (0, 1, 0)], like)
    assert torch.equal(rows[0], torch.randn((1, 5), generator=torch.Generator().manual_seed(0))[0])
    assert torch.equal(rows[0], rows[2]) and not torch.equal(rows[0], rows[1])
    with pytest.raises(ValueError, match="2 generators for 3 rows"):
        starting_noise((3, 5), [torch.Generator(), torch.Generator()], like)


@pytest.mark.parametrize("guidance", [1.0, 3.0])
def test_each_row_is_the_motion_its_prompt_and_seed_make_alone(pipe, guidance):
    model, n = pipe.model, 5
    batch = model.sample_latents(PROMPTS, n, [torch.Generator().manual_seed(s) for s in SEEDS],
                                 guidance=guidance, total=n)
    assert batch.shape == (len(PROMPTS), n, model.config.latent_dim)
    for b, (text, seed) in enumerate(zip(PROMPTS, SEEDS)):
        torch.testing.assert_close(batch[b], alone(model, text, n, seed, guidance), atol=1e-9, rtol=0)
    # The rows differ (prompts and seeds are read), so the comparison above can fail.
    assert not torch.allclose(batch[1], batch[3], atol=1e-3)
    assert not torch.allclose(batch[0], batch[2], atol=1e-3)


def test_sample_latents_refuses_mismatched_generators(pipe):
    with pytest.raises(ValueError, match="2 prompts need as many generators"):
        pipe.model.sample_latents(PROMPTS[:2], 3, [torch.Generator()])


def test_features_batch_matches_features_one_at_a_time(pipe):
    got = pipe.features_batch(PROMPTS, 18, SEEDS)
    for f, text, seed in zip(got, PROMPTS, SEEDS):
        assert f.shape == (18, pipe.vae.config.feature_dim)
        np.testing.assert_allclose(f, pipe.features(text, 18, seed), atol=1e-8)
    with pytest.raises(MomugError, match="as many seeds"):
        pipe.features_batch(PROMPTS, 18, SEEDS[:2])
    with pytest.raises(MomugError):
        pipe.features_batch(PROMPTS, 18, SEEDS, steps=0)


def test_rows_of_different_lengths_are_each_made_at_their_own(pipe):
    # The tiny model is not told the length: the batch is made at the longest and each row cut.
    frames = [12, 20, 7, 16]
    got = pipe.features_batch(PROMPTS, frames, SEEDS)
    for f, text, n, seed in zip(got, PROMPTS, frames, SEEDS):
        assert f.shape == (n, pipe.vae.config.feature_dim)
        np.testing.assert_allclose(f, pipe.features(text, n, seed), atol=1e-8)
    with pytest.raises(MomugError, match="as many seeds and lengths"):
        pipe.features_batch(PROMPTS, frames[:3], SEEDS)


def test_joints_batch_matches_generate_and_makes_sequences_step_by_step(pipe):
    prompts = PROMPTS[:2] + ["a person walks forward, then waves"]
    seeds = [2, 5, 7]
    assert len(pipe.sequence_plan(prompts[2], 2.0)) == 2
    got = pipe.joints_batch(prompts, 2.0, seeds)
    for joints, text, seed in zip(got, prompts, seeds):
        want = pipe.generate(text, 2.0, seed, raw=True).joints
        assert joints.shape == want.shape == (round(2.0 * pipe.fps), 22, 3)
        np.testing.assert_allclose(joints, want, atol=1e-8)
    whole = pipe.joints_batch(prompts[2:], 2.0, seeds[2:], split_sequences=False)[0]
    np.testing.assert_allclose(whole, pipe.generate(prompts[2], 2.0, seeds[2], raw=True,
                                                    split_sequences=False).joints, atol=1e-8)
    with pytest.raises(MomugError):
        pipe.joints_batch(["   "], 2.0, [0])


def test_eval_adapters_batch_the_streaming_mode_as_one_at_a_time(pipe, monkeypatch):
    monkeypatch.setattr(adapters, "STREAM_BATCH", 3)  # several batches, one of them partial
    texts, frames = PROMPTS + ["a person turns left"], [12, 16, 12, 12, 16]
    seeds = [0, 1, 2, 3, 4]
    got = adapters.generator(pipe)(texts, frames, seeds)
    for f, text, n, seed in zip(got, texts, frames, seeds):
        np.testing.assert_allclose(f, pipe.features(text, n, seed), atol=1e-8)
    joints = adapters.probe_generator(pipe)(texts, 1.5, 6)
    for j, text in zip(joints, texts):
        np.testing.assert_allclose(j, pipe.generate(text, 1.5, 6, raw=True).joints, atol=1e-8)


def caption_alone(model, z, max_new_tokens):
    """Greedy caption ids of one motion, the whole row read again at every token (no padding, no
    cache, default positions): what describe_batch must reproduce for each of its rows."""
    embeds, motion = model._caption_row(z, [])
    ids = []
    for _ in range(max_new_tokens):
        attn = torch.ones(1, len(embeds), dtype=torch.long)
        h, _ = model.hidden(embeds[None], attn, motion[None])
        token = int(lm_logits(model.mot.llm, h[:, -1]).argmax(-1))
        if token == model.tokenizer.eos_token_id:
            break
        ids.append(token)
        embeds = torch.cat([embeds, model._embed_text([token])])
        motion = torch.cat([motion, torch.zeros(1, dtype=torch.bool)])
    return model.tokenizer.decode(ids, skip_special_tokens=True).strip()


@torch.no_grad()
def test_captions_read_together_are_each_motions_own(pipe):
    model = pipe.model
    g = torch.Generator().manual_seed(0)
    latents = [torch.randn(n, model.config.latent_dim, generator=g, dtype=torch.float64) for n in (3, 7, 5, 2)]
    got = model.describe_batch(latents, max_new_tokens=10)
    want = [caption_alone(model, z, 10) for z in latents]
    assert got == want
    assert len(set(got)) > 1  # the motions are read, so a mix-up of rows would show
    assert model.describe(latents[1], max_new_tokens=10) == want[1]
    assert model.describe_batch([]) == []


@torch.no_grad()
def test_rows_that_end_early_keep_their_captions(pipe):
    # With a word the rows emit as the end token, rows end after different numbers of words
    # (one at once), and the others go on as they would alone.
    model, tokenizer = pipe.model, pipe.model.tokenizer
    g = torch.Generator().manual_seed(0)
    latents = [torch.randn(n, model.config.latent_dim, generator=g, dtype=torch.float64) for n in (3, 7, 5, 2)]
    first = model.describe_batch(latents, max_new_tokens=3)
    end_word = first[0].split()[1]
    eos = tokenizer.eos_token
    tokenizer.eos_token = end_word
    try:
        got = model.describe_batch(latents, max_new_tokens=10)
        want = [caption_alone(model, z, 10) for z in latents]
    finally:
        tokenizer.eos_token = eos
    assert got == want
    assert len({len(c.split()) for c in got}) > 1, got


def test_describe_features_batch_and_the_eval_adapter(pipe, monkeypatch):
    rng = np.random.default_rng(0)
    feats = [rng.normal(size=(n, pipe.vae.config.feature_dim)) for n in (12, 20, 8, 16, 12)]
    want = [pipe.describe_features(f) for f in feats]
    assert pipe.describe_features_batch(feats) == want
    monkeypatch.setattr(adapters, "STREAM_BATCH", 3)  # two batches, one partial
    seen = []
    assert adapters.describer(pipe, progress=lambda done, total: seen.append((done, total)))(feats) == want
    assert seen == [(3, 5), (5, 5)]
