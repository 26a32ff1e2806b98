"""The streaming model's prompt summary (StreamConfig.prompt_summary): the flow and end heads read
BOM's hidden state at every latent through a zero-initialised projection. Off, nothing changes;
on, it starts as a no-op, the cached and guided samplers feed the heads exactly what a full pass
gives, it trains, and it round-trips through checkpoints and init_from."""

import pytest
import torch

pytest.importorskip("transformers")

from momug.stream import checkpoint as sckpt  # noqa: E402
from momug.stream.ar_model import StreamConfig  # noqa: E402
from momug.stream.pipeline import move_off_initialisation  # noqa: E402

PROMPT = "a person walks forward slowly"


def summary_model(seed: int = 0, opened: bool = True):
    """A tiny model with the summary path; opened: the projection and motion weights moved off
    their initialisation, as a trained model's are."""
    torch.manual_seed(seed)
    model = sckpt.build_stream_model(StreamConfig(base_model="tiny", latent_dim=8, mot_rank=4, flow_width=32,
                                                  flow_depth=1, flow_steps=2, prompt_summary=True)).eval()
    if opened:
        move_off_initialisation([*model.mot.motion.parameters(), *model.flow.parameters(),
                                 *model.adapter.parameters(), *model.prompt_proj.parameters()], seed=seed + 100)
    return model


def full_pass_head_inputs(model, ids, z, n):
    """head_input at BOM .. z_{n-1} from one uncached pass over the prompt and the latents z."""
    with torch.no_grad():
        embeds, attn, motion, bom_at = model.build([ids], [z])
        h, _ = model.hidden(embeds, attn, motion)
        s = bom_at[0]
        return model.head_input(h[0, s:s + n], h[0, s])


def test_off_by_default_and_a_no_op_when_new():
    assert StreamConfig().prompt_summary is False
    model = summary_model(opened=False)
    h, bom = torch.randn(5, model.bom.shape[-1]), torch.randn(model.bom.shape[-1])
    assert torch.equal(model.head_input(h, bom), h)
    # The summary is one vector per sequence, added to every position.
    with torch.no_grad():
        model.prompt_proj.bias.fill_(0.5)
    assert torch.allclose(model.head_input(h, bom) - h, torch.full_like(h, 0.5))


@pytest.mark.parametrize("use_cache", [True, False])
def test_the_sampler_feeds_the_heads_what_a_full_pass_gives(use_cache, flow_conditions):
    model = summary_model()
    seen = flow_conditions(model)
    z = list(model.stream_latents(PROMPT, max_latents=4, min_latents=4, use_cache=use_cache,
                                  generator=torch.Generator().manual_seed(0)))
    want = full_pass_head_inputs(model, model.text_ids(PROMPT), torch.stack(z[:3]), 4)
    assert torch.allclose(torch.cat(seen), want, atol=1e-5)
    # and that is not the bare hidden states: the summary reached the head.
    with torch.no_grad():
        embeds, attn, motion, bom_at = model.build([model.text_ids(PROMPT)], [torch.stack(z[:3])])
        h, _ = model.hidden(embeds, attn, motion)
    assert (want - h[0, bom_at[0]:bom_at[0] + 4]).abs().amax() > 1e-3


def test_guided_rows_each_get_their_own_prompts_summary(flow_conditions):
    model = summary_model()
    seen = flow_conditions(model, guided=True)
    with torch.no_grad():
        model.end.proj.bias.fill_(-1e4)   # never stops
    z = torch.stack(list(model.stream_latents(PROMPT, max_latents=3, min_latents=1, guidance=3.0,
                                              generator=torch.Generator().manual_seed(1))))
    for row, ids in enumerate((model.text_ids(PROMPT), model.empty_text_ids)):
        want = full_pass_head_inputs(model, ids, z[:2], 3)
        assert torch.allclose(torch.cat([pair[row] for pair in seen]), want, atol=1e-5), row
    # The two rows' summaries differ (the prompt against the empty prompt).
    assert (seen[0][0] - seen[0][1]).abs().amax() > 1e-3


def test_training_opens_the_path():
    model = summary_model(opened=False).train()
    texts = [model.text_ids("a person walks forward"), model.text_ids("a person jumps")]
    g = torch.Generator().manual_seed(0)
    latents = [torch.randn(5, 8, generator=g) + 1.0, torch.randn(3, 8, generator=g) - 1.0]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    for step in range(3):
        loss = model.training_loss(texts, latents, generator=torch.Generator().manual_seed(step))["loss"]
        opt.zero_grad()
        loss.backward()
        assert model.prompt_proj.weight.grad is not None
        opt.step()
    assert model.prompt_proj.weight.abs().sum() > 0


def test_checkpoints_keep_it_and_init_from_an_older_model_leaves_it_fresh(tmp_path):
    from momug.stream.pipeline import tiny_stream_model

    model = summary_model()
    _, vae = tiny_stream_model()
    sckpt.save_pretrained(model, vae, tmp_path / "with")
    loaded, _ = sckpt.from_pretrained(tmp_path / "with")
    assert loaded.config.prompt_summary
    assert torch.equal(loaded.prompt_proj.weight, model.prompt_proj.weight)
    # A checkpoint made without the summary seeds everything else; the projection stays at zero.
    older, _ = tiny_stream_model(seed=1)
    sckpt.save_pretrained(older, vae, tmp_path / "without")
    fresh = summary_model(seed=2, opened=False)
    assert set(sckpt.init_from(fresh, tmp_path / "without")) == {"prompt_proj.weight", "prompt_proj.bias"}
    assert not fresh.prompt_proj.weight.any()
    assert torch.equal(fresh.flow.out.weight, older.flow.out.weight)
