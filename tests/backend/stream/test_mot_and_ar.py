import pytest
import torch

pytest.importorskip("transformers")

from momug.model.base_llm import load_base_llm  # noqa: E402
from momug.stream.ar_model import StreamConfig, StreamModel  # noqa: E402
from momug.stream.mot import MixtureOfTransformers  # noqa: E402


def tiny_llm():
    torch.manual_seed(0)
    llm, tok = load_base_llm("tiny")
    return llm.eval(), tok


def perturb(mot):
    with torch.no_grad():
        for p in mot.motion.parameters():
            p.add_(0.1 * torch.randn_like(p))


def test_text_only_sequences_give_exactly_the_base_outputs():
    llm, _ = tiny_llm()
    ids = torch.randint(0, llm.config.vocab_size, (2, 9), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = llm(input_ids=ids).logits.clone()
        mot = MixtureOfTransformers(llm)
        perturb(mot)  # even with trained (different) motion weights
        assert torch.equal(mot(input_ids=ids).logits, ref)
        assert torch.equal(mot(input_ids=ids, motion_mask=torch.zeros(2, 9, dtype=torch.bool)).logits, ref)
        assert torch.equal(mot.remove()(input_ids=ids).logits, ref)


def test_motion_positions_use_motion_weights_with_joint_attention():
    llm, _ = tiny_llm()
    ids = torch.randint(0, llm.config.vocab_size, (1, 8), generator=torch.Generator().manual_seed(1))
    mask = torch.zeros(1, 8, dtype=torch.bool)
    mask[0, 5:] = True
    with torch.no_grad():
        ref = llm(input_ids=ids).logits.clone()
        mot = MixtureOfTransformers(llm)
        # Freshly copied weights: identical to the text ones, so the output is unchanged.
        assert torch.allclose(mot(input_ids=ids, motion_mask=mask).logits, ref, atol=1e-5)
        perturb(mot)
        out = mot(input_ids=ids, motion_mask=mask).logits
    # Causal text prefix untouched (up to float rounding: its rows go through a smaller matmul).
    assert torch.allclose(out[0, :5], ref[0, :5], atol=1e-6)
    assert (out[0, 5:] - ref[0, 5:]).abs().amax() > 1e-3      # motion positions changed
    # A text position after motion ones attends to motion keys/values built with motion weights.
    mask2 = torch.zeros(1, 8, dtype=torch.bool)
    mask2[0, 3:5] = True
    with torch.no_grad():
        out2 = mot(input_ids=ids, motion_mask=mask2).logits
    assert torch.allclose(out2[0, :3], ref[0, :3], atol=1e-6) and (out2[0, 5:] - ref[0, 5:]).abs().amax() > 1e-3


def test_only_motion_weights_train():
    llm, _ = tiny_llm()
    mot = MixtureOfTransformers(llm)
    assert not any(p.requires_grad for p in llm.parameters())
    assert all(p.requires_grad for p in mot.motion.parameters())
    names = set(mot.motion.keys())
    assert {"layers__0__self_attn__q_proj", "layers__1__mlp", "layers__0__input_layernorm", "norm"} <= names
    assert set(mot.motion_state_dict()) and all(k.startswith("mot.") for k in mot.motion_state_dict())


def tiny_stream_model():
    llm, tok = tiny_llm()
    torch.manual_seed(0)
    return StreamModel(StreamConfig(base_model="tiny", latent_dim=8, flow_width=32, flow_depth=1), llm, tok)


def test_training_steps_lower_the_loss():
    model = tiny_stream_model()
    texts = [model.text_ids("a person walks forward"), model.text_ids("a person jumps")]
    g = torch.Generator().manual_seed(0)
    latents = [torch.randn(6, 8, generator=g) * 0.5 + 1.0, torch.randn(3, 8, generator=g) * 0.5 - 1.0]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=3e-3)

    def eval_loss():
        with torch.no_grad():
            return float(model.training_loss(texts, latents, generator=torch.Generator().manual_seed(123))["loss"])

    before = eval_loss()
    for step in range(25):
        out = model.training_loss(texts, latents, generator=torch.Generator().manual_seed(step))
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    assert eval_loss() < 0.6 * before
    # The frozen text weights did not move.
    assert not any(p.requires_grad for p in model.mot.llm.parameters())


def test_cached_streaming_matches_a_full_pass():
    """Hidden states from the KV-cached one-latent-at-a-time loop equal a full forward pass."""
    model = tiny_stream_model().eval()
    perturb(model.mot)
    captured = []
    real_sample = model.flow.sample

    def spy(cond, **kw):
        captured.append(cond.clone())
        return real_sample(cond, **kw)

    model.flow.sample = spy
    z = list(model.stream_latents("a person walks", max_latents=4, min_latents=4,
                                  generator=torch.Generator().manual_seed(0)))
    assert len(z) == 4 and z[0].shape == (8,)
    ids = model.text_ids("a person walks")
    with torch.no_grad():
        embeds, attn, motion, bom_at = model.build([ids], [torch.stack(z[:3])])
        h, _ = model.hidden(embeds, attn, motion)
    full = h[0, bom_at[0]:bom_at[0] + 4]
    assert torch.allclose(torch.cat(captured), full, atol=1e-5)


def test_streaming_without_cache_gives_the_same_latents():
    model = tiny_stream_model().eval()
    perturb(model.mot)
    kw = dict(max_latents=5, min_latents=5)
    cached = list(model.stream_latents("a person walks", generator=torch.Generator().manual_seed(2), **kw))
    full = list(model.stream_latents("a person walks", generator=torch.Generator().manual_seed(2), use_cache=False,
                                     **kw))
    assert torch.allclose(torch.stack(cached), torch.stack(full), atol=1e-4)
