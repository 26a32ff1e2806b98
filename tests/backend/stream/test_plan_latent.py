"""The streaming model's plan latent (StreamConfig.plan_latent): BOM predicts the mean of the motion's
latents before z_1, and the plan is read as an input by every later position. Off, nothing changes;
training predicts the right plan from the right state; the samplers (cached or not, guided, after a
history) read exactly what training's full pass reads; checkpoints and init_from keep it."""

import pytest
import torch

pytest.importorskip("transformers")

from momug.stream import checkpoint as sckpt  # noqa: E402
from momug.stream.ar_model import StreamConfig  # noqa: E402
from momug.stream.pipeline import move_off_initialisation  # noqa: E402

PROMPT = "a person jogs in a circle"


def plan_model(seed: int = 0, plan: bool = True, opened: bool = True, scale: float = 1.0):
    """A tiny model with a plan latent; opened: its weights moved off their initialisation, as a
    trained model's are (the plan marker non-zero)."""
    torch.manual_seed(seed)
    model = sckpt.build_stream_model(StreamConfig(base_model="tiny", latent_dim=8, mot_rank=4, flow_width=32,
                                                  flow_depth=1, flow_steps=2, latent_noise=0.0,
                                                  latent_scale=scale, plan_latent=plan)).eval()
    if opened:
        g = move_off_initialisation([*model.mot.motion.parameters(), *model.flow.parameters(),
                                     *model.adapter.parameters()], seed=seed + 100)
        if plan:
            with torch.no_grad():
                model.plan_marker.add_(torch.randn(model.plan_marker.shape, generator=g))
    return model


def latents(n: int, seed: int) -> torch.Tensor:
    return torch.randn(n, 8, generator=torch.Generator().manual_seed(seed))


def full_pass_conditions(model, ids, plan, z):
    """The head inputs at BOM, P, z_1 .. z_k from one full pass over [prompt, BOM, plan, z], as training
    builds it."""
    with torch.no_grad():
        embeds, attn, motion, bom_at = model.build([ids], [z], plans=[plan])
        h, _ = model.hidden(embeds, attn, motion)
    s = bom_at[0]
    return model.head_input(h[0, s:s + len(z) + 2], h[0, s])


def test_off_by_default_and_absent():
    assert StreamConfig().plan_latent is False
    model = plan_model(plan=False)
    assert not hasattr(model, "plan_marker") and model.plan_slots == 0
    assert "plan_marker" not in model.trainable_state_dict()


def test_the_plan_sits_between_bom_and_the_first_latent():
    model, plain = plan_model(), plan_model(plan=False)
    plain.load_trainable_state_dict({k: v for k, v in model.trainable_state_dict().items() if k != "plan_marker"})
    z = latents(5, 1)
    ids = model.text_ids(PROMPT)
    with torch.no_grad():
        with_plan = model.build([ids], [z])[0][0]
        without = plain.build([ids], [z])[0][0]
        s = len(ids)
        assert len(with_plan) == len(without) + 1
        assert torch.equal(with_plan[:s + 1], without[:s + 1])          # prompt and BOM
        assert torch.equal(with_plan[s + 2:], without[s + 1:])          # z_1 .. z_N
        want = model.adapter(z.mean(0)[None])[0] + model.plan_marker    # the mean latent, marked
        assert torch.allclose(with_plan[s + 1], want, atol=1e-6)


@pytest.mark.parametrize("first", [0, 2])
def test_training_predicts_the_plan_from_bom_and_each_latent_from_the_one_before(first):
    model = plan_model(scale=2.0)
    z = latents(6, 2)
    with torch.no_grad():
        embeds, attn, motion, bom_at = model.build([model.text_ids(PROMPT)], [z], targets_from=[first])
        h, _ = model.hidden(embeds, attn, motion)
        conds, targets, heads = model.row_conditions(h[0], bom_at[0], z, first)
    s = bom_at[0]
    assert len(heads) == len(z) + 2                     # BOM, P, z_1 .. z_N: the end head reads all
    assert torch.equal(conds[0], h[0, s])               # BOM predicts the plan ...
    assert torch.allclose(targets[0], z[first:].mean(0) / 2.0)  # ... the mean of the counted latents
    assert torch.equal(conds[1:], h[0, s + 1 + first:s + 1 + len(z)])   # P .. z_{N-1} -> z_{first+1} ..
    assert torch.allclose(targets[1:], z[first:] / 2.0)
    # A continuation row's plan summarises its own step only, and that is also what it reads.
    assert torch.allclose(embeds[0, s + 1], model.plan_in(z[first:].mean(0), len(z)), atol=1e-6)


def test_it_trains_end_to_end():
    model = plan_model(opened=False).train()
    texts = [model.text_ids("a person walks forward"), model.text_ids("a person jumps")]
    batch = [latents(5, 3), latents(3, 4)]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    for step in range(2):
        losses = model.training_loss(texts, batch, generator=torch.Generator().manual_seed(step),
                                     targets_from=[0, 1])
        opt.zero_grad()
        losses["loss"].backward()
        opt.step()
    assert torch.isfinite(losses["loss"]) and model.plan_marker.abs().sum() > 0


def record_plans(model) -> list:
    """The plans the sampler feeds back from now on (as plan_in receives them: latent units)."""
    plans, real = [], model.plan_in

    def spy(plan, total, *args, **kw):
        plans.append(plan.clone())
        return real(plan, total, *args, **kw)

    model.plan_in = spy
    return plans


@pytest.mark.parametrize("use_cache", [True, False])
def test_the_sampler_reads_what_training_reads(use_cache, flow_conditions):
    model = plan_model(scale=1.5)
    seen, plans = flow_conditions(model), record_plans(model)
    z = list(model.stream_latents(PROMPT, max_latents=3, min_latents=3, use_cache=use_cache,
                                  generator=torch.Generator().manual_seed(0)))
    assert len(z) == 3 and len(seen) == 4 and len(plans) == 1  # the plan is sampled first, and not yielded
    want = full_pass_conditions(model, model.text_ids(PROMPT), plans[0], torch.stack(z))
    assert torch.allclose(torch.cat(seen), want[:4], atol=1e-5)


def test_guided_rows_read_the_same_plan_and_history(flow_conditions):
    model = plan_model()
    history = latents(2, 5)
    seen, plans = flow_conditions(model, guided=True), record_plans(model)
    z = torch.stack(list(model.stream_latents(PROMPT, max_latents=2, min_latents=2, guidance=3.0, history=history,
                                              generator=torch.Generator().manual_seed(1))))
    assert len(plans) == 1 and len(seen) == 3           # the plan, then two latents after the history
    made = torch.cat([history, z[:1]])
    for row, ids in enumerate((model.text_ids(PROMPT), model.empty_text_ids)):
        full = full_pass_conditions(model, ids, plans[0], made)
        # BOM (the plan), then the states after the last history latent and after the first new one.
        want = torch.stack([full[0], full[1 + len(history)], full[2 + len(history)]])
        assert torch.allclose(torch.stack([pair[row][0] for pair in seen]), want, atol=1e-5), row


def test_checkpoints_keep_it_and_older_ones_seed_it(tmp_path):
    from momug.stream.pipeline import tiny_stream_model

    model = plan_model()
    _, vae = tiny_stream_model()
    sckpt.save_pretrained(model, vae, tmp_path / "with")
    loaded, _ = sckpt.from_pretrained(tmp_path / "with")
    assert loaded.config.plan_latent and torch.equal(loaded.plan_marker, model.plan_marker)
    older, _ = tiny_stream_model(seed=1)
    sckpt.save_pretrained(older, vae, tmp_path / "without")
    fresh = plan_model(seed=2, opened=False)
    assert sckpt.init_from(fresh, tmp_path / "without") == ["plan_marker"]
    assert fresh.plan_marker.abs().sum() == 0


def test_the_pipeline_streams_a_plan_model():
    from momug.stream.pipeline import StreamPipeline, tiny_stream_model

    _, vae = tiny_stream_model()
    pipe = StreamPipeline(plan_model(), vae, "tiny", "test", "cpu")
    frames = sum(len(chunk) for chunk in pipe.stream("a person walks forward then waves", 2.0, raw=True))
    assert frames == 40
