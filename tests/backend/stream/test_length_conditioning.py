"""The streaming model's length conditioning (StreamConfig.length_conditioning): BOM and every input
latent carry the embedding of how many latents are still to come. Off, nothing changes; new, it is
a no-op; the samplers add exactly what training's full pass adds; rows can be trained without it
(length_dropout); it round-trips through checkpoints and init_from."""

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from momug.errors import MomugError  # noqa: E402
from momug.stream import checkpoint as sckpt  # noqa: E402
from momug.stream.ar_model import StreamConfig  # noqa: E402
from momug.stream.pipeline import move_off_initialisation  # noqa: E402

PROMPT = "a person walks forward slowly"
MOST = 6   # counts above this read as this


def length_model(seed: int = 0, opened: bool = True, length_dropout: float = 0.0, most: int = MOST):
    """A tiny model with length conditioning; opened: its weights moved off their initialisation
    (the length table's rows all different), as a trained model's are."""
    torch.manual_seed(seed)
    model = sckpt.build_stream_model(StreamConfig(base_model="tiny", latent_dim=8, mot_rank=4, flow_width=32,
                                                  flow_depth=1, flow_steps=2, latent_noise=0.0,
                                                  length_conditioning=most, length_dropout=length_dropout)).eval()
    if opened and most:
        move_off_initialisation([*model.mot.motion.parameters(), *model.flow.parameters(),
                                 *model.adapter.parameters(), *model.remaining.parameters()], seed=seed + 100)
    return model


def motion_inputs(model, z, length_dropout=0.0, generator=None):
    """The embeddings build() gives the motion positions (BOM, z_1 .. z_N) of one row."""
    with torch.no_grad():
        embeds, _, _, bom_at = model.build([model.text_ids(PROMPT)], [z], length_dropout=length_dropout,
                                           generator=generator)
    return embeds[0, bom_at[0]:]


def test_off_by_default_and_range_checked():
    assert StreamConfig().length_conditioning == 0 and StreamConfig().length_dropout == 0.0
    assert not hasattr(length_model(most=0), "remaining")
    for bad in ({"length_conditioning": -1}, {"length_dropout": 1.5}, {"length_dropout": -0.1}):
        with pytest.raises(MomugError, match="length"):
            StreamConfig.from_dict(bad)


def test_new_it_changes_nothing():
    plain, new = length_model(most=0), length_model(opened=False)
    texts, z = [plain.text_ids(PROMPT)], [torch.randn(5, 8, generator=torch.Generator().manual_seed(3))]
    a = plain.training_loss(texts, z, generator=torch.Generator().manual_seed(0))
    b = new.training_loss(texts, z, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a["loss"], b["loss"])
    za = list(plain.stream_latents(PROMPT, max_latents=3, min_latents=3, generator=torch.Generator().manual_seed(0)))
    zb = list(new.stream_latents(PROMPT, max_latents=3, min_latents=3, total=3,
                                 generator=torch.Generator().manual_seed(0)))
    assert all(torch.equal(x, y) for x, y in zip(za, zb))


def test_each_position_carries_the_latents_still_to_come():
    model, plain = length_model(), length_model()
    with torch.no_grad():
        plain.remaining.weight.zero_()   # the same model with the length rows emptied
    z = torch.randn(9, 8, generator=torch.Generator().manual_seed(4))
    added = motion_inputs(model, z) - motion_inputs(plain, z)
    # BOM predicts z_1 with 9 to come (read as MOST), ..., z_9 predicts nothing more: 0.
    want = model.remaining.weight[torch.tensor([6, 6, 6, 6, 5, 4, 3, 2, 1, 0])]
    assert torch.allclose(added, want, atol=1e-6)
    # Dropped rows read "unknown" (the last row) everywhere.
    hidden = motion_inputs(model, z, length_dropout=1.0, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(hidden - motion_inputs(plain, z), model.remaining.weight[MOST + 1].expand(10, -1), atol=1e-6)


def test_length_dropout_hides_about_that_share_of_rows():
    model = length_model(length_dropout=0.5)
    z = torch.randn(3, 8, generator=torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(0)
    unknown = model.remaining.weight[MOST + 1]
    hidden = 0
    for _ in range(100):
        bom = motion_inputs(model, z, length_dropout=0.5, generator=g)[0] - model.bom
        hidden += bool(torch.allclose(bom, unknown, atol=1e-6))
    assert 30 < hidden < 70


def head_inputs(model, ids, z, n, total):
    """The hidden states that condition the heads at BOM .. z_{n-1}, from one full pass over a motion of
    `total` latents whose first ones are z."""
    full = torch.cat([z, torch.zeros(total - len(z), z.shape[-1])])  # later latents do not reach these
    with torch.no_grad():
        embeds, attn, motion, bom_at = model.build([ids], [full])
        h, _ = model.hidden(embeds, attn, motion)
    return h[0, bom_at[0]:bom_at[0] + n]


@pytest.mark.parametrize("use_cache", [True, False])
def test_the_sampler_adds_what_training_adds(use_cache, flow_conditions):
    model = length_model()
    seen = flow_conditions(model)
    z = list(model.stream_latents(PROMPT, max_latents=4, min_latents=4, total=4, use_cache=use_cache,
                                  generator=torch.Generator().manual_seed(0)))
    want = head_inputs(model, model.text_ids(PROMPT), torch.stack(z[:3]), 4, total=4)
    assert torch.allclose(torch.cat(seen), want, atol=1e-5)
    # and the length mattered: an unknown length gives other states.
    seen.clear()
    list(model.stream_latents(PROMPT, max_latents=1, min_latents=1, generator=torch.Generator().manual_seed(0)))
    assert (seen[0] - want[:1]).abs().amax() > 1e-3


def test_guided_rows_both_read_the_length(flow_conditions):
    model = length_model()
    seen = flow_conditions(model, guided=True)
    z = torch.stack(list(model.stream_latents(PROMPT, max_latents=3, min_latents=3, guidance=3.0, total=5,
                                              generator=torch.Generator().manual_seed(1))))
    for row, ids in enumerate((model.text_ids(PROMPT), model.empty_text_ids)):
        want = head_inputs(model, ids, z[:2], 3, total=5)
        assert torch.allclose(torch.cat([pair[row] for pair in seen]), want, atol=1e-5), row


def test_the_pipeline_tells_the_model_its_length(monkeypatch):
    from momug.stream.pipeline import StreamPipeline, tiny_stream_model

    _, vae = tiny_stream_model()
    pipe = StreamPipeline(length_model(), vae, "tiny", "test", "cpu")
    asked = []
    real = pipe.model.stream_latents

    def spy(*args, **kw):
        asked.append(kw.get("total"))
        return real(*args, **kw)

    monkeypatch.setattr(pipe.model, "stream_latents", spy)
    pipe.features(PROMPT, n_frames=10)
    assert asked == [pipe.latents_for(10)]


def test_a_batch_of_different_lengths_tells_each_row_its_own():
    # A model told the length cannot be made at the longest and cut: rows are batched by length.
    from momug.stream.pipeline import StreamPipeline, tiny_stream_model

    _, vae = tiny_stream_model()
    pipe = StreamPipeline(length_model().double(), vae.double(), "tiny", "test", "cpu")
    prompts, frames, seeds = [PROMPT, "a person jumps", PROMPT], [8, 16, 12], [0, 1, 2]
    got = pipe.features_batch(prompts, frames, seeds)
    for f, text, n, seed in zip(got, prompts, frames, seeds):
        assert f.shape[0] == n
        np.testing.assert_allclose(f, pipe.features(text, n, seed), atol=1e-8)
    # Made at the longest and cut, the shorter rows would differ: the length is read.
    cut = pipe.features_batch(prompts[:1], 16, seeds[:1])[0][:8]
    assert not np.allclose(cut, got[0], atol=1e-4)


def test_it_trains_and_checkpoints_keep_it(tmp_path):
    from momug.stream.pipeline import tiny_stream_model

    model = length_model(opened=False).train()
    texts = [model.text_ids("a person walks forward"), model.text_ids("a person jumps")]
    g = torch.Generator().manual_seed(0)
    latents = [torch.randn(5, 8, generator=g), torch.randn(3, 8, generator=g)]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    for step in range(2):
        loss = model.training_loss(texts, latents, generator=torch.Generator().manual_seed(step))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert model.remaining.weight.abs().sum() > 0
    _, vae = tiny_stream_model()
    sckpt.save_pretrained(model, vae, tmp_path / "with")
    loaded, _ = sckpt.from_pretrained(tmp_path / "with")
    assert loaded.config.length_conditioning == MOST
    assert torch.equal(loaded.remaining.weight, model.remaining.weight)
    # A checkpoint made without it seeds everything else; the length table starts at zero.
    older, _ = tiny_stream_model(seed=1)
    sckpt.save_pretrained(older, vae, tmp_path / "without")
    fresh = length_model(seed=2, opened=False)
    assert sckpt.init_from(fresh, tmp_path / "without") == ["remaining.weight"]
    assert fresh.remaining.weight.abs().sum() == 0
