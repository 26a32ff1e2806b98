"""StreamModel.stream_latents(history=...): new latents continue latents already made, under a new
prompt (how a sequence's next step is streamed). The heads must see exactly what one full pass over
the new prompt, BOM, the earlier latents and the new ones gives, cached or not, guided or not."""

import pytest
import torch

pytest.importorskip("transformers")

from momug.stream import checkpoint as sckpt  # noqa: E402
from momug.stream.ar_model import StreamConfig  # noqa: E402
from momug.stream.pipeline import move_off_initialisation  # noqa: E402

PROMPT = "a person waves"


def opened_model(length_conditioning: int = 6):
    torch.manual_seed(0)
    model = sckpt.build_stream_model(StreamConfig(base_model="tiny", latent_dim=8, mot_rank=4, flow_width=32,
                                                  flow_depth=1, flow_steps=2, latent_scale=0.7,
                                                  length_conditioning=length_conditioning)).eval()
    move_off_initialisation([p for p in model.parameters() if p.requires_grad], seed=100)
    return model


def full_pass(model, ids, latents, first, n, total):
    """Hidden states at motion positions first .. first+n-1 (0: BOM) of one pass over ids and the latents,
    padded with zeros to `total` (later latents do not reach these positions)."""
    padded = torch.cat([latents, torch.zeros(total - len(latents), latents.shape[-1])])
    with torch.no_grad():
        embeds, attn, motion, bom_at = model.build([ids], [padded])
        h, _ = model.hidden(embeds, attn, motion)
    s = bom_at[0]
    return h[0, s + first:s + first + n]


@pytest.mark.parametrize("use_cache", [True, False])
@pytest.mark.parametrize("length_conditioning", [0, 6])
def test_new_latents_continue_the_history(use_cache, length_conditioning, flow_conditions):
    model = opened_model(length_conditioning)
    history = torch.randn(3, 8, generator=torch.Generator().manual_seed(5))
    seen = flow_conditions(model)
    new = list(model.stream_latents(PROMPT, max_latents=3, min_latents=3, total=6, history=history,
                                    use_cache=use_cache, generator=torch.Generator().manual_seed(0)))
    assert len(new) == 3   # only the new ones come out
    # The positions after history latents 3, then new 1 and 2, predict the new latents.
    want = full_pass(model, model.text_ids(PROMPT), torch.cat([history, torch.stack(new[:2])]), 3, 3, total=6)
    assert torch.allclose(torch.cat(seen), want, atol=1e-5)


def test_guided_rows_both_read_the_history(flow_conditions):
    model = opened_model()
    history = torch.randn(2, 8, generator=torch.Generator().manual_seed(6))
    seen = flow_conditions(model, guided=True)
    with torch.no_grad():
        model.end.proj.bias.fill_(-1e4)   # never stops
    new = torch.stack(list(model.stream_latents(PROMPT, max_latents=2, min_latents=1, guidance=3.0, total=4,
                                                history=history, generator=torch.Generator().manual_seed(1))))
    for row, ids in enumerate((model.text_ids(PROMPT), model.empty_text_ids)):
        want = full_pass(model, ids, torch.cat([history, new[:1]]), 2, 2, total=4)
        assert torch.allclose(torch.cat([pair[row] for pair in seen]), want, atol=1e-5), row


def test_an_empty_history_is_no_history():
    model = opened_model()
    a = list(model.stream_latents(PROMPT, max_latents=2, min_latents=2, total=2,
                                  generator=torch.Generator().manual_seed(0)))
    b = list(model.stream_latents(PROMPT, max_latents=2, min_latents=2, total=2, history=torch.zeros(0, 8),
                                  generator=torch.Generator().manual_seed(0)))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
