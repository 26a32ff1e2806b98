"""scripts/stream_prompt_reliance.py: paired flow errors per latent and their position buckets."""

import pytest
import torch

pytest.importorskip("transformers")

from momug.stream.pipeline import move_off_initialisation, tiny_stream_model  # noqa: E402


def test_errors_are_per_latent_paired_and_depend_on_the_prompt(load_script):
    script = load_script("stream_prompt_reliance")
    model, _ = tiny_stream_model()
    g = move_off_initialisation([*model.mot.motion.parameters(), *model.flow.parameters(),
                                 *model.adapter.parameters()], seed=0)
    latents = [torch.randn(6, 8, generator=g), torch.randn(3, 8, generator=g)]
    own = [model.text_ids("a person walks forward"), model.text_ids("a person jumps")]
    a = script.flow_errors(model, own, latents, seed=1)
    assert [e.shape for e in a] == [(6,), (3,)] and all(torch.isfinite(e).all() for e in a)
    # Same seed, same inputs: the same noise and flow times, so the same errors.
    assert all(torch.equal(x, y) for x, y in zip(a, script.flow_errors(model, own, latents, seed=1)))
    swapped = script.flow_errors(model, own[::-1], latents, seed=1)
    assert any(not torch.allclose(x, y) for x, y in zip(a, swapped))


def test_buckets_group_errors_by_latent_position(load_script):
    script = load_script("stream_prompt_reliance")
    errors = [torch.arange(1.0, 15.0), torch.tensor([100.0, 200.0])]   # positions 1..14 and 1..2
    first, early, middle, late = script.by_bucket(errors)
    assert first == pytest.approx((1 + 100) / 2)
    assert early == pytest.approx((2 + 3 + 4 + 200) / 4)
    assert middle == pytest.approx(sum(range(5, 13)) / 8)
    assert late == pytest.approx((13 + 14) / 2)


def test_a_plan_model_reports_its_plan_first_and_reads_a_swapped_plan(load_script):
    from momug.stream import checkpoint as sckpt
    from momug.stream.ar_model import StreamConfig

    script = load_script("stream_prompt_reliance")
    torch.manual_seed(0)
    model = sckpt.build_stream_model(StreamConfig(base_model="tiny", latent_dim=8, mot_rank=4, flow_width=32,
                                                  flow_depth=1, flow_steps=2, plan_latent=True)).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in [*model.mot.motion.parameters(), *model.flow.parameters(), *model.adapter.parameters()]:
            p.add_(0.2 * torch.randn(p.shape, generator=g))
    latents = [torch.randn(6, 8, generator=g), torch.randn(3, 8, generator=g)]
    texts = [model.text_ids("a person walks forward"), model.text_ids("a person jumps")]
    own = script.flow_errors(model, texts, latents, seed=1)
    assert [e.shape for e in own] == [(7,), (4,)]      # the plan, then each latent
    plans = [model.plan_of(z) for z in latents]
    assert all(torch.equal(x, y) for x, y in zip(own, script.flow_errors(model, texts, latents, 1, plans)))
    swapped = script.flow_errors(model, texts, latents, 1, plans[::-1])
    for x, y in zip(own, swapped):
        assert torch.equal(x[0], y[0])                 # BOM does not see the plan it predicts
        assert not torch.allclose(x[1:], y[1:])        # every latent after it reads the plan
    assert script.by_bucket(own, skip=1)[0] == pytest.approx(float((own[0][1] + own[1][1]) / 2))
