"""StreamConfig.context_dropout: in training, input latents are blanked at random so the history
cannot always tell what comes next. Off by default; targets are never blanked; sampling ignores it."""

import pytest
import torch

pytest.importorskip("transformers")

from momug.errors import MomugError  # noqa: E402
from momug.stream import checkpoint as sckpt  # noqa: E402
from momug.stream.ar_model import StreamConfig  # noqa: E402


def tiny(dropout: float):
    torch.manual_seed(0)
    return sckpt.build_stream_model(StreamConfig(base_model="tiny", latent_dim=8, mot_rank=4, flow_width=32,
                                                 flow_depth=1, flow_steps=2, latent_noise=0.0,
                                                 context_dropout=dropout))


def test_off_by_default_and_range_checked():
    assert StreamConfig().context_dropout == 0.0
    for bad in (-0.1, 1.0):
        with pytest.raises(MomugError, match="context_dropout"):
            StreamConfig.from_dict({"context_dropout": bad})


def test_blanked_latents_read_as_zeros_and_the_rest_untouched():
    model = tiny(0.5)
    z = torch.randn(200, 8) + 3.0  # no real latent is near zero
    with torch.no_grad():
        got = model._latents_in(z, 0.0, torch.Generator().manual_seed(1), dropout=0.5)
        kept = model.adapter(z)
        blank = model.adapter(torch.zeros(1, 8))[0]
    is_blank = torch.isclose(got, blank.expand_as(got), atol=1e-6).all(-1)
    is_kept = torch.isclose(got, kept, atol=1e-6).all(-1)
    assert (is_blank ^ is_kept).all()          # each latent is either blanked or exactly itself
    assert 60 < int(is_blank.sum()) < 140      # about half of 200


def test_training_uses_it_and_targets_stay_clean():
    texts_z = [torch.randn(6, 8), torch.randn(4, 8)]
    losses = {}
    for p in (0.0, 0.9):
        model = tiny(p)
        ids = [model.text_ids("a person walks"), model.text_ids("a person jumps")]
        targets = []
        real = model.flow.loss

        def spy(target, cond, **kw):
            targets.append(target.clone())
            return real(target, cond, **kw)

        model.flow.loss = spy
        losses[p] = float(model.training_loss(ids, texts_z, generator=torch.Generator().manual_seed(0))["flow"])
        # The flow head's targets are the clean latents, whatever the inputs went through.
        assert torch.equal(targets[0], torch.cat(texts_z))
    assert losses[0.0] != losses[0.9]


def test_sampling_ignores_it():
    a, b = tiny(0.0), tiny(0.9)
    za = list(a.stream_latents("a person walks", max_latents=3, min_latents=3, generator=torch.Generator().manual_seed(0)))
    zb = list(b.stream_latents("a person walks", max_latents=3, min_latents=3, generator=torch.Generator().manual_seed(0)))
    assert all(torch.equal(x, y) for x, y in zip(za, zb))
