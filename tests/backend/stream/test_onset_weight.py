"""[train] onset_latents / onset_weight: the first latents each text row's flow loss counts weigh
more than the rest (StreamModel.training_loss's onset)."""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from momug.stream import checkpoint as sckpt  # noqa: E402
from momug.stream.ar_model import StreamConfig  # noqa: E402


def test_the_flow_loss_is_the_mean_weighted_toward_each_rows_first_latents():
    torch.manual_seed(0)
    model = sckpt.build_stream_model(StreamConfig(base_model="tiny", latent_dim=8, mot_rank=4, flow_width=32,
                                                  flow_depth=1, flow_steps=2, latent_noise=0.0))
    errors, real = [], model.flow.errors

    def spy(x0, cond, generator=None):
        err = real(x0, cond, generator)
        errors.append(err.clone())
        return err

    model.flow.errors = spy
    texts = [model.text_ids("a person walks."), model.text_ids("a person waves.")]
    latents = [torch.randn(6, 8), torch.randn(9, 8)]

    def flow(**kw):
        with torch.no_grad():
            return model.training_loss(texts, latents, generator=torch.Generator().manual_seed(0), **kw)["flow"]

    plain, unit, weighted = flow(), flow(onset=(3, 1.0)), flow(onset=(3, 4.0))
    continued = flow(onset=(2, 4.0), targets_from=[0, 4])
    err = errors[0]
    assert all(torch.equal(e, err) for e in errors[1:3])   # the same noise and flow times each call
    assert torch.equal(plain, unit) and torch.allclose(plain, err.mean())
    w = torch.ones(6 + 9)
    w[0:3] = w[6:9] = 4.0                                 # the first 3 targets of each row
    assert torch.allclose(weighted, (err * w).sum() / w.sum())
    assert not torch.allclose(weighted, plain)
    # A continuation row's onset is its step's first latents, where its loss starts.
    w = torch.ones(6 + 5)
    w[0:2] = w[6:8] = 4.0
    assert torch.allclose(continued, (errors[3] * w).sum() / w.sum())
