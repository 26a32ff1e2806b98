"""The MoMug model on a tiny random base LLM: losses, gradients, sampling, captioning, checkpoints."""

import pytest
import torch

from momug.errors import MomugError
from momug.model import checkpoint as ckpt


def items(model, n_frames=(37, 21)):
    out = []
    for i, n in enumerate(n_frames):
        frames = torch.randn(n, model.config.feature_dim)
        out.append({"task": "t2m" if i % 2 == 0 else "m2t", "text_ids": model.text_ids("a person walks forward"),
                    "motion": model.to_tokens(frames), "frame_mask": model.to_tokens(torch.ones_like(frames)).bool()})
    return out


def test_loss_has_both_terms_and_only_momug_weights_get_gradients(tiny_pipeline):
    model = tiny_pipeline.model
    model.zero_grad()
    losses = model.training_loss(items(model), generator=torch.Generator().manual_seed(0))
    assert float(losses["lm"]) > 0 and float(losses["diffusion"]) > 0
    assert torch.isclose(losses["loss"], losses["lm"] + losses["diffusion"])
    losses["loss"].backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert any("lora_" in n for n in with_grad)
    assert {"special", "motion_in.weight", "motion_out.3.weight", "prompt_proj.weight"} <= with_grad
    assert not any(n.endswith("embed_tokens.weight") for n in with_grad)
    frozen = [n for n, p in model.named_parameters() if "lora_" not in n and n.startswith("llm.") and p.requires_grad]
    assert frozen == []
    model.zero_grad()


def test_general_text_rows_train_only_the_adapter_through_their_own_loss(tiny_pipeline):
    from momug.model.momug import LossSettings

    model = tiny_pipeline.model
    model.zero_grad()
    text = [{"task": "text", "text_ids": model.text_ids("the old lighthouse keeper walks to the shop")}]
    losses = model.training_loss(text, LossSettings(text=0.5, text_target="ce"))
    assert float(losses["text"]) > 0 and float(losses["lm"]) == 0 and float(losses["diffusion"]) == 0
    assert torch.isclose(losses["loss"], 0.5 * losses["text"])
    losses["loss"].backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert with_grad and all("lora_" in n for n in with_grad)  # nothing motion-specific is touched
    model.zero_grad()
    # Mixed with motion examples, each loss is the same as computed alone (padding does not leak).
    motion = items(model)
    ce = LossSettings(text_target="ce")
    mixed = model.training_loss(motion + text, ce, generator=torch.Generator().manual_seed(0))
    alone = model.training_loss(motion, ce, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(mixed["diffusion"], alone["diffusion"], atol=1e-5)
    assert torch.allclose(mixed["text"], losses["text"], atol=1e-5)


def test_kl_text_loss_is_zero_for_the_base_model_and_grows_as_the_adapter_moves(tiny_pipeline):
    model = tiny_pipeline.model
    text = [{"task": "text", "text_ids": model.text_ids("the old lighthouse keeper walks to the shop")}]
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    saved = [p.detach().clone() for p in lora_b]
    try:
        with torch.no_grad():
            for p in lora_b:
                p.zero_()  # LoRA B = 0: the adapted model is the base model
        kl = model.training_loss(text + items(model)[:1], generator=torch.Generator().manual_seed(0))["text"]
        assert abs(float(kl)) < 1e-5
        with torch.no_grad():
            for p in lora_b:
                p.normal_(0, 0.5)
        model.zero_grad()
        kl = model.training_loss(text)["text"]
        assert float(kl) > 1e-3
        kl.backward()
        assert all(p.grad is not None for p in lora_b)  # the teacher pass gives no gradient itself
        assert model.special.grad is None or float(model.special.grad.abs().sum()) == 0
    finally:
        with torch.no_grad():
            for p, v in zip(lora_b, saved):
                p.copy_(v)
        model.zero_grad()


def test_root_weight_scales_only_the_root_features_error(tiny_pipeline):
    from momug.model.momug import ROOT_FEATURES, LossSettings

    model = tiny_pipeline.model
    w = model._feature_weights(10.0)
    D = model.config.feature_dim
    assert w.shape == (model.config.token_dim,)
    assert torch.equal(w[:ROOT_FEATURES], torch.full((ROOT_FEATURES,), 10.0)) and bool((w[ROOT_FEATURES:D] == 1).all())
    assert torch.equal(w[D:D + ROOT_FEATURES], torch.full((ROOT_FEATURES,), 10.0))  # every frame of the token
    batch = [items(model)[0]]
    plain = model.training_loss(batch, LossSettings(root=1.0), generator=torch.Generator().manual_seed(0))
    weighted = model.training_loss(batch, LossSettings(root=10.0), generator=torch.Generator().manual_seed(0))
    assert not torch.isclose(plain["diffusion"], weighted["diffusion"])


def test_cached_prefix_sampling_matches_full_recompute(tiny_pipeline):
    model = tiny_pipeline.model
    kwargs = dict(prompts=["a person walks", "jumps"], n_frames=[40, 23], seeds=[0, 1], guidance=2.0, steps=4)
    cached = model.sample(**kwargs, use_cache=True)
    full = model.sample(**kwargs, use_cache=False)
    for a, b in zip(cached, full):
        assert a.shape == b.shape
        assert torch.allclose(a, b, atol=1e-4)


def test_stochastic_sampling_repeats_with_its_seeds_and_each_row_draws_its_own_noise(tiny_pipeline):
    """DDIM with eta > 0 adds fresh noise at every step; it comes from each row's seed."""
    model = tiny_pipeline.model
    kwargs = dict(prompts=["a person walks", "a person walks"], n_frames=[24, 24], guidance=2.0, steps=4, eta=1.0)
    first = model.sample(seeds=[0, 1], **kwargs)
    again = model.sample(seeds=[0, 1], **kwargs)
    for a, b in zip(first, again):
        assert torch.equal(a, b)
    alone = model.sample(prompts=["a person walks"], n_frames=[24], seeds=[1], guidance=2.0, steps=4, eta=1.0)
    torch.testing.assert_close(alone[0], first[1], rtol=1e-4, atol=1e-4)  # a row's noise is its seed's alone
    assert not torch.allclose(first[0], first[1], atol=1e-3)
    deterministic = model.sample(seeds=[0, 1], **dict(kwargs, eta=0.0))
    assert not torch.allclose(first[0], deterministic[0], atol=1e-3)  # the step noise is there


def test_prompt_path_reads_the_som_state_and_keeps_cache_and_recompute_equal(tiny_pipeline):
    model = tiny_pipeline.model
    kwargs = dict(prompts=["a person walks", "jumps"], n_frames=[40, 23], seeds=[0, 1], guidance=2.0, steps=3)
    before = model.sample(**kwargs)
    saved = {k: v.clone() for k, v in model.prompt_proj.state_dict().items()}
    try:
        torch.nn.init.normal_(model.prompt_proj.weight, std=0.2)
        opened = model.sample(**kwargs)
        full = model.sample(**kwargs, use_cache=False)
    finally:
        model.prompt_proj.load_state_dict(saved)
    assert not torch.allclose(before[0], opened[0])
    for a, b in zip(opened, full):
        assert torch.allclose(a, b, atol=1e-4)


def test_configs_written_before_the_prompt_path_and_shift_load_without_them():
    from momug.model.config import MoMugConfig

    old = {k: v for k, v in MoMugConfig().__dict__.items() if k not in ("prompt_summary", "noise_shift")}
    cfg = MoMugConfig.from_dict(old)
    assert cfg.prompt_summary is False and cfg.noise_shift == 1.0
    assert MoMugConfig().prompt_summary is True and MoMugConfig().noise_shift > 1


def test_length_is_exact_and_seed_decides_the_result_whatever_the_batch(tiny_pipeline):
    model = tiny_pipeline.model
    batch = model.sample(["a person walks", "a person waves"], [41, 57], [5, 6], steps=3)
    assert [f.shape[0] for f in batch] == [41, 57]
    alone = model.sample(["a person waves"], [57], [6], steps=3)[0]
    assert torch.allclose(batch[1], alone, atol=1e-4)
    other_seed = model.sample(["a person waves"], [57], [7], steps=3)[0]
    assert not torch.allclose(alone, other_seed)


def test_prompt_changes_the_output(tiny_pipeline):
    model = tiny_pipeline.model
    a = model.sample(["a person walks"], [40], [0], steps=3)[0]
    b = model.sample(["a person jumps"], [40], [0], steps=3)[0]
    assert not torch.allclose(a, b)


def test_captioning_greedy_equals_one_beam_and_sampling_is_seeded(tiny_pipeline):
    model = tiny_pipeline.model
    x = torch.randn(33, model.config.feature_dim)
    greedy = model.describe([x], max_new_tokens=6)
    assert greedy == [model._beam_caption(x, 1, 6, None)]
    assert isinstance(model.describe([x], max_new_tokens=6, num_beams=3)[0], str)
    s1 = model.describe([x, x[:17]], max_new_tokens=6, do_sample=True, seed=4)
    s2 = model.describe([x, x[:17]], max_new_tokens=6, do_sample=True, seed=4)
    assert s1 == s2


def test_batched_greedy_caption_equals_one_at_a_time(tiny_pipeline):
    model = tiny_pipeline.model
    g = torch.Generator().manual_seed(1)
    xs = [torch.randn(n, model.config.feature_dim, generator=g) for n in (40, 13)]
    together = model.describe(xs, max_new_tokens=5)
    assert together == [model.describe([x], max_new_tokens=5)[0] for x in xs]


def test_save_and_load_round_trip(tiny_pipeline, tmp_path):
    model = tiny_pipeline.model
    ckpt.save_pretrained(model, tmp_path / "ck")
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["config.json", "momug.safetensors"]
    assert (tmp_path / "ck" / "config.json").read_text().endswith("}\n")  # a text file, ends in a newline
    loaded = ckpt.from_pretrained(tmp_path / "ck")
    a = model.sample(["a person walks"], [30], [0], steps=3)[0]
    b = loaded.sample(["a person walks"], [30], [0], steps=3)[0]
    assert torch.allclose(a, b, atol=1e-5)
    assert ckpt.checkpoint_id(tmp_path / "ck") == ckpt.checkpoint_id(tmp_path / "ck")


def test_the_same_weights_saved_again_get_the_same_id(tiny_pipeline, tmp_path):
    # safetensors writes its metadata keys in a different order from call to call; save_weights sorts them.
    ids = {ckpt.checkpoint_id(ckpt.save_pretrained(tiny_pipeline.model, tmp_path / str(i))) for i in range(8)}
    assert len(ids) == 1


def test_save_weights_sorts_the_metadata_and_reads_back(tmp_path):
    from safetensors import safe_open

    state = {"b": torch.arange(3.0), "a": torch.ones(2, 2, dtype=torch.float16)}
    metadata = {"version": "1", "format": "momug", "x": "a longer value"}
    files = [tmp_path / f"{i}.safetensors" for i in range(8)]
    for path in files:
        ckpt.save_weights(state, path, metadata)
    assert len({path.read_bytes() for path in files}) == 1
    n = int.from_bytes(files[0].read_bytes()[:8], "little")
    assert files[0].read_bytes()[8:8 + n].startswith(b'{"__metadata__":{"format":"momug","version":"1","x":')
    with safe_open(str(files[0]), "pt") as f:
        assert f.metadata() == metadata
        assert all(torch.equal(f.get_tensor(k), v) for k, v in state.items())


def test_corrupt_or_mismatched_checkpoints_are_clear_errors(tiny_pipeline, tmp_path):
    model = tiny_pipeline.model
    folder = ckpt.save_pretrained(model, tmp_path / "ck")
    weights = folder / ckpt.WEIGHTS_NAME
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(MomugError, match="corrupt"):
        ckpt.from_pretrained(folder)
    weights.write_bytes(data)
    cfg = (folder / "config.json").read_text()
    (folder / "config.json").write_text(cfg.replace('"frames_per_token": 4', '"frames_per_token": 2'))
    with pytest.raises(MomugError, match="does not match"):
        ckpt.from_pretrained(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(MomugError, match="cannot read model config"):
        ckpt.from_pretrained(folder)
    with pytest.raises(MomugError, match="not a MoMug checkpoint"):
        ckpt.from_pretrained(tmp_path / "nothing")


def test_caption_without_cache_matches_cached(tiny_pipeline):
    model = tiny_pipeline.model
    g = torch.Generator().manual_seed(2)
    xs = [torch.randn(n, model.config.feature_dim, generator=g) for n in (24, 9)]
    assert model.describe(xs, max_new_tokens=5, use_cache=False) == model.describe(xs, max_new_tokens=5)


def test_caption_vocabulary_limits_words_and_travels_with_the_checkpoint(tiny_pipeline, tmp_path):
    model = tiny_pipeline.model
    x = torch.randn(30, model.config.feature_dim, generator=torch.Generator().manual_seed(5))
    full = model.describe([x], max_new_tokens=6)
    captions = ["a person jumps twice", "someone waves with the left hand"]
    model.set_caption_vocabulary(captions)
    try:
        allowed = {model.tokenizer.eos_token_id} | {i for c in captions for i in model.text_ids(c)}
        assert set(model.caption_vocab.tolist()) == allowed
        for options in ({}, {"num_beams": 3}, {"do_sample": True, "seed": 1}):
            text = model.describe([x], max_new_tokens=6, **options)[0]
            assert set(model.text_ids(text)) <= allowed, options
        # The same scores as the full head on the allowed rows: full_vocabulary gives the old path.
        h = torch.randn(2, model.lm.config.hidden_size)
        limited, ids = model.caption_logits(h)
        assert torch.allclose(limited, model.logits(h)[:, ids], atol=1e-5)
        assert model.describe([x], max_new_tokens=6, full_vocabulary=True) == full
        folder = ckpt.save_pretrained(model, tmp_path / "ck")
        assert torch.equal(ckpt.from_pretrained(folder).caption_vocab, model.caption_vocab)
    finally:
        model.caption_vocab = model.caption_vocab.new_zeros(0)
    # A checkpoint written before the caption vocabulary existed loads with the whole vocabulary.
    folder = ckpt.save_pretrained(model, tmp_path / "old")
    from safetensors.torch import load_file, save_file

    state = load_file(str(folder / ckpt.WEIGHTS_NAME))
    del state["caption_vocab"]
    save_file(state, str(folder / ckpt.WEIGHTS_NAME))
    assert ckpt.from_pretrained(folder).caption_vocab.numel() == 0
