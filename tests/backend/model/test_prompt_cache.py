"""adapter_scope = "motion" training with the t2m prompts cached: each prompt runs once without
autograd or adapter and only the motion side runs with grad, reading the prompt's keys and values
from the cache. It must give the loss and gradients of the whole rows run in one graph
(cache_prompt=False) on a tiny random base LLM, with every trainable tensor made to matter."""

import pytest
import torch

from momug.model import sequence as seq

RTOL = 1e-5  # relative error of the loss and of each gradient tensor (norm of the difference / norm)


QUESTIONS = ("Q: {prompt} A:", "How fast: {prompt}?")


@pytest.fixture(scope="module", params=["plain", "reading"])
def model(live_adapter_model, request):
    """Without and with prompt questions (momug.model.prompt_reading), whose answers the motion
    side reads: caching the prompt must not change them either."""
    questions = QUESTIONS if request.param == "reading" else ()
    return live_adapter_model("motion", train=True, scale=0.3, prompt_projection=True, questions=questions)


def batch(model) -> list[dict]:
    """t2m prompts of different lengths (one repeated, one dropped), captions and general text."""
    g = torch.Generator().manual_seed(5)

    def motion(task, text, n_frames):
        x = torch.randn(n_frames, model.config.feature_dim, generator=g)
        mask = model.to_tokens(torch.ones_like(x)).bool()
        mask[-1, -model.config.feature_dim:] = False  # a padded last frame, as a real item may have
        return {"task": task, "text_ids": model.text_ids(text), "motion": model.to_tokens(x), "frame_mask": mask}

    items = [
        motion("m2t", "a person walks forward slowly", 30),
        motion("t2m", "jumps", 21),
        motion("t2m", "a person walks forward and then turns around slowly in a circle", 44),
        motion("m2t", "someone waves", 13),
        motion("t2m", "", 36),  # text dropout: the prompt is <bos> alone
        motion("t2m", "a person squats down", 17),
        motion("t2m", "a person squats down", 26),  # the same prompt again: computed once
        motion("t2m", "", 9),
        {"task": "text", "text_ids": model.text_ids("the old man walks to the shop and then sits down")},
    ]
    assert len({len(i["text_ids"]) for i in items if i["task"] == "t2m"}) == 4
    return items


def loss_and_grads(model, items, cache_prompt: bool, seed: int = 0):
    model.zero_grad(set_to_none=True)
    losses = model.training_loss(items, generator=torch.Generator().manual_seed(seed), cache_prompt=cache_prompt)
    losses["loss"].backward()
    grads = {n: torch.zeros_like(p) if p.grad is None else p.grad.detach().clone()
             for n, p in model.named_parameters() if p.requires_grad}
    model.zero_grad(set_to_none=True)
    return {k: v.detach() for k, v in losses.items()}, grads


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp(min=1e-30))


def largest_error(model, items) -> float:
    """The largest relative error, cached prompt against whole rows, over the losses and the
    gradients of every trainable tensor."""
    whole_losses, whole_grads = loss_and_grads(model, items, cache_prompt=False)
    cached_losses, cached_grads = loss_and_grads(model, items, cache_prompt=True)
    errors = [relative_error(cached_losses[k], whole_losses[k]) for k in whole_losses if float(whole_losses[k])]
    errors += [relative_error(cached_grads[n], g) for n, g in whole_grads.items()]
    return max(errors)


def test_cached_prompt_loss_and_every_gradient_equal_the_whole_rows(model):
    items = batch(model)
    whole_losses, whole_grads = loss_and_grads(model, items, cache_prompt=False)
    cached_losses, cached_grads = loss_and_grads(model, items, cache_prompt=True)
    for name in ("loss", "lm", "diffusion", "text"):
        assert float(cached_losses[name]) == pytest.approx(float(whole_losses[name]), rel=RTOL, abs=1e-9), name
    assert float(whole_losses["lm"]) > 0 and float(whole_losses["diffusion"]) > 0
    assert set(cached_grads) == set(whole_grads)
    lora = [n for n in whole_grads if "lora_" in n]
    assert lora and {"special", "motion_in.weight", "prompt_proj.weight", "timestep_mlp.0.weight"} <= set(whole_grads)
    assert ("reading_proj.weight" in whole_grads) == bool(model.config.prompt_questions)
    for name, grad in whole_grads.items():
        assert float(grad.norm()) > 0, name  # every trainable tensor takes part
        assert relative_error(cached_grads[name], grad) < RTOL, name


def test_the_prompt_runs_without_grad_and_only_the_motion_side_with_it(model, monkeypatch):
    items = batch(model)
    calls = []
    run = type(model).run

    def spy(self, layout, context=None, cache=None, use_cache=False, readings=None):
        calls.append({"rows": layout.kind.shape[0], "width": layout.kind.shape[1], "grad": torch.is_grad_enabled(),
                      "context": None if context is None else context.kind.shape[1], "kinds": layout.kind.clone(),
                      "position": layout.position.clone()})
        return run(self, layout, context=context, cache=cache, use_cache=use_cache, readings=readings)

    monkeypatch.setattr(type(model), "run", spy)
    model.training_loss(items, generator=torch.Generator().manual_seed(0))
    # general text KL: the base model on the text row, after the three calls below
    prefix, motion_side, whole = calls[:3]
    prompts = {tuple(model.bos + i["text_ids"]) for i in items if i["task"] == "t2m"}
    longest = max(len(p) for p in prompts)
    assert prefix == dict(prefix, rows=len(prompts), width=longest, grad=False, context=None)
    assert bool((prefix["kinds"] != seq.KIND_MOTION).all() & (prefix["kinds"] != seq.KIND_SPECIAL).all())
    t2m = [i for i in items if i["task"] == "t2m"]
    assert motion_side == dict(motion_side, rows=len(t2m), grad=True, context=longest,
                               width=2 + max(i["motion"].shape[0] for i in t2m))
    assert bool(seq.motion_side(motion_side["kinds"])[:, 0].all())  # each row starts at <som>
    # each t2m row continues from its own prompt length, as in the whole row
    starts = [len(model.bos + i["text_ids"]) for i in t2m]
    assert motion_side["position"][:, 0].tolist() == starts
    assert whole == dict(whole, rows=len(items) - len(t2m), grad=True, context=None)


@pytest.mark.parametrize("mistake", ["positions off by one", "positions from the padded width"])
def test_the_comparison_catches_a_wrong_position(model, monkeypatch, mistake):
    """The equivalence above is tight enough to see the mistakes a cached prefix invites: the motion
    side's position ids one too far, or counted from the padded prompt width instead of each row's
    own prompt length (errors measured: 0.23 and 0.42 against the tolerance 1e-5)."""
    items = batch(model)
    assert largest_error(model, items) < RTOL
    pack = seq.pack

    def wrong(examples, special_index, start_positions=None, first_block=0):
        if start_positions is not None:  # only the cached path continues positions
            start_positions = torch.as_tensor(start_positions)
            start_positions = start_positions + 1 if mistake == "positions off by one" \
                else torch.full_like(start_positions, int(start_positions.max()))
        return pack(examples, special_index, start_positions=start_positions, first_block=first_block)

    monkeypatch.setattr(seq, "pack", wrong)
    assert largest_error(model, items) > 1000 * RTOL


def test_without_grad_the_validation_loss_is_the_same_too(model):
    items = batch(model)
    with torch.no_grad():
        whole = model.training_loss(items, generator=torch.Generator().manual_seed(3), cache_prompt=False)
        cached = model.training_loss(items, generator=torch.Generator().manual_seed(3))
    assert float(cached["loss"]) == pytest.approx(float(whole["loss"]), rel=RTOL)


def test_only_captions_or_only_dropped_prompts_still_work(model):
    items = batch(model)
    captions = [i for i in items if i["task"] != "t2m"]
    motions = [i for i in items if i["task"] == "t2m"]
    for part in (captions, motions, motions[2:3]):
        whole, whole_grads = loss_and_grads(model, part, cache_prompt=False)
        cached, cached_grads = loss_and_grads(model, part, cache_prompt=True)
        assert float(cached["loss"]) == pytest.approx(float(whole["loss"]), rel=RTOL)
        for name, grad in whole_grads.items():
            if float(grad.norm()) > 0:
                assert relative_error(cached_grads[name], grad) < RTOL, name


def test_all_scope_ignores_the_switch_and_runs_whole_rows(live_adapter_model):
    every = live_adapter_model("all", train=True, scale=0.3, prompt_projection=True)
    items = batch(every)
    calls = []
    run = type(every).run
    every.run = lambda *a, **k: calls.append(1) or run(every, *a, **k)
    default, default_grads = loss_and_grads(every, items, cache_prompt=True)
    assert len(calls) == 2  # one call for the batch, one for the base model's text KL
    whole, whole_grads = loss_and_grads(every, items, cache_prompt=False)
    assert all(torch.equal(default[k], whole[k]) for k in whole)
    assert all(torch.equal(default_grads[n], whole_grads[n]) for n in whole_grads)
