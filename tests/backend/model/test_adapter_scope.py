"""adapter_scope = "motion": the LoRA adapter acts at motion positions only, text goes through the
frozen base weights (tiny random base LLM, LoRA B made non-zero so the adapter matters)."""

import json

import pytest
import torch

from momug.errors import MomugError
from momug.model import checkpoint as ckpt
from momug.model import sequence as seq
from momug.model.config import MoMugConfig


@pytest.fixture(scope="module")
def models(live_adapter_model):
    """The same weights under both scopes."""
    motion, every = live_adapter_model("motion"), live_adapter_model("all")
    every.load_trainable_state_dict(motion.trainable_state_dict())
    return {"motion": motion, "all": every}


def t2m_layout(model, n_tok=5, t=500):
    frames = torch.randn(n_tok, model.config.token_dim, generator=torch.Generator().manual_seed(3))
    return seq.pack([[seq.Text(model.bos + model.text_ids("a person walks forward")), seq.Special("som"),
                      seq.Special("timestep", t), seq.Motion(frames, t)]], model.special_index)


def test_text_positions_are_the_base_models_and_motion_positions_are_adapted(models):
    model = models["motion"]
    layout = t2m_layout(model)
    text = seq.motion_side(layout.kind)[0].logical_not()
    n_text = int(text.sum())
    assert n_text > 1 and bool(text[:n_text].all())  # the prompt comes first, then the motion side
    with torch.no_grad():
        scoped, _ = model.run(layout)
        with model.llm.disable_adapter():
            base, _ = model.run(layout)
        every, _ = models["all"].run(layout)
    assert torch.allclose(scoped[0, :n_text], base[0, :n_text], atol=1e-6)
    assert torch.allclose(model.logits(scoped[0, :n_text]), model.logits(base[0, :n_text]), atol=1e-5)
    assert not torch.allclose(every[0, :n_text], base[0, :n_text], atol=1e-3)  # "all" adapts the prompt
    for pos in range(n_text, layout.kind.shape[1]):  # <som>, <timestep>, motion tokens
        assert not torch.allclose(scoped[0, pos], base[0, pos], atol=1e-3), pos


def test_general_text_loss_and_perplexity_are_the_base_models(models):
    from momug.eval.perplexity import perplexity
    from momug.model.momug import LossSettings

    model = models["motion"]
    text = [{"task": "text", "text_ids": model.text_ids("the old lighthouse keeper walks to the shop")}]
    with torch.no_grad():
        ce = model.training_loss(text, LossSettings(text_target="ce"))["text"]
        with model.llm.disable_adapter():
            base_ce = model.training_loss(text, LossSettings(text_target="ce"))["text"]
        kl = model.training_loss(text)["text"]
        every_ce = models["all"].training_loss(text, LossSettings(text_target="ce"))["text"]
    assert torch.allclose(ce, base_ce, atol=1e-6) and abs(float(kl)) < 1e-6
    assert not torch.allclose(every_ce, base_ce, atol=1e-3)
    # Plain token ids fed straight to the LLM (the perplexity evaluation) are text too.
    words = "a person walks forward and then turns around slowly"
    adapted = perplexity(model.lm, model.tokenizer, words)["perplexity"]
    with model.llm.disable_adapter():
        base = perplexity(model.lm, model.tokenizer, words)["perplexity"]
    assert adapted == pytest.approx(base, rel=1e-6)


def test_all_scope_is_the_unhooked_computation(models):
    every = models["all"]
    assert every.scope_hooks is None
    assert not any(m._forward_hooks for m in every.llm.modules())
    layout = t2m_layout(every)
    with torch.no_grad():
        hidden, _ = every.run(layout)
        # The LLM called directly, with the adapter at every position, as before the switch.
        emb = every.embed(layout)
        mask = seq.additive_mask(seq.allowed(layout), emb.dtype)
        direct = every.backbone(inputs_embeds=emb, attention_mask=mask, position_ids=layout.position)
    assert torch.equal(hidden, direct.last_hidden_state)


def test_motion_scope_hooks_every_lora_layer_and_training_reaches_the_adapter(models):
    model = models["motion"]
    n_lora = sum(1 for n, _ in model.llm.named_modules() if n.endswith("lora_B.default"))
    assert n_lora > 0 and len(model.scope_hooks.handles) == n_lora
    model.zero_grad()
    frames = torch.randn(21, model.config.feature_dim)
    item = {"text_ids": model.text_ids("a person waves"), "motion": model.to_tokens(frames),
            "frame_mask": model.to_tokens(torch.ones_like(frames)).bool()}
    losses = model.training_loss([dict(item, task="t2m"), dict(item, task="m2t")],
                                 generator=torch.Generator().manual_seed(0))
    losses["loss"].backward()
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0
               for n, p in model.named_parameters() if "lora_" in n)
    model.zero_grad()


def test_sampling_runs_and_the_cached_prefix_matches_a_full_recompute(models):
    model = models["motion"]
    kwargs = dict(prompts=["a person walks", "jumps"], n_frames=[40, 23], seeds=[0, 1], guidance=2.0, steps=3)
    cached = model.sample(**kwargs, use_cache=True)
    full = model.sample(**kwargs, use_cache=False)
    every = models["all"].sample(**kwargs)
    for a, b, c in zip(cached, full, every):
        assert a.shape == b.shape and torch.isfinite(a).all()
        assert torch.allclose(a, b, atol=1e-4)
        assert not torch.allclose(a, c, atol=1e-3)  # the prompt's keys and values are the base model's


def test_cached_caption_decoding_equals_recompute_and_words_read_the_adapted_motion(models):
    model = models["motion"]
    g = torch.Generator().manual_seed(2)
    xs = [torch.randn(n, model.config.feature_dim, generator=g) for n in (24, 9)]
    cached = model.describe(xs, max_new_tokens=6)
    assert cached == model.describe(xs, max_new_tokens=6, use_cache=False)
    assert [model._beam_caption(x, 1, 6, None) for x in xs] == cached
    assert isinstance(model.describe(xs[:1], max_new_tokens=6, num_beams=3)[0], str)
    # A caption word goes through the base weights yet sees the motion through attention to the
    # motion positions' adapted keys and values.
    context = seq.pack([model._caption_prefix(xs[0])], model.special_index)
    word = torch.tensor([[model.text_ids("a")[0]]])
    tail = seq.pack([[seq.Text(word[0].tolist())]], model.special_index, start_positions=context.lengths)
    with torch.no_grad():
        hidden, cache = model.run(context, use_cache=True)
        full, _ = model.run(seq.concat(context, tail))
        stepped, _ = model._step(word[0], context.lengths, torch.ones(1, context.kind.shape[1] + 1, dtype=torch.bool),
                                 cache)
        with model.llm.disable_adapter():
            base_full, _ = model.run(seq.concat(context, tail))
    assert torch.allclose(stepped[0], full[0, -1], atol=1e-5)
    assert not torch.allclose(full[0, -1], base_full[0, -1], atol=1e-3)


def test_config_field_round_trips_old_configs_load_as_all_and_bad_values_are_errors(models, tmp_path):
    model = models["motion"]
    folder = ckpt.save_pretrained(model, tmp_path / "ck")
    assert json.loads((folder / "config.json").read_text())["adapter_scope"] == "motion"
    loaded = ckpt.from_pretrained(folder)
    assert loaded.config.adapter_scope == "motion" and loaded.scope_hooks is not None
    layout = t2m_layout(model)
    with torch.no_grad():
        assert torch.allclose(loaded.run(layout)[0], model.run(layout)[0], atol=1e-5)
    old = {k: v for k, v in MoMugConfig().__dict__.items() if k != "adapter_scope"}
    assert MoMugConfig.from_dict(old).adapter_scope == "all"
    with pytest.raises(MomugError, match="adapter_scope must be 'all' or 'motion'"):
        MoMugConfig.from_dict(dict(old, adapter_scope="text"))
    with pytest.raises(MomugError, match="adapter_scope"):
        MoMugConfig(adapter_scope="everything").validate()
