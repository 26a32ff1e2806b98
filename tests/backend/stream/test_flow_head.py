import pytest
import torch

from momug.stream.flow_head import EndHead, FlowHead


def toy_batch(n, g):
    """Condition 0: a two-mode mixture at -2 and +2; condition 1: a narrow bump at 0.5."""
    c = torch.randint(0, 2, (n,), generator=g)
    sign = torch.randint(0, 2, (n,), generator=g).float() * 2 - 1
    x = torch.where(c == 0, 2.0 * sign, torch.full((n,), 0.5)) + 0.1 * torch.randn(n, generator=g)
    return x[:, None], torch.nn.functional.one_hot(c, 2).float()


def test_flow_head_learns_a_conditional_1d_distribution():
    torch.manual_seed(0)
    head = FlowHead(latent_dim=1, cond_dim=2, width=64, depth=2)
    opt = torch.optim.Adam(head.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(1500):
        x, c = toy_batch(256, g)
        loss = head.loss(x, c, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    g = torch.Generator().manual_seed(1)
    bump = head.sample(torch.tensor([[0.0, 1.0]]).expand(2000, 2), steps=20, generator=g)[:, 0]
    assert abs(float(bump.mean()) - 0.5) < 0.15 and float(bump.std()) < 0.4
    modes = head.sample(torch.tensor([[1.0, 0.0]]).expand(2000, 2), steps=20, generator=g)[:, 0]
    near = (modes - 2).abs().lt(0.6) | (modes + 2).abs().lt(0.6)
    assert float(near.float().mean()) > 0.8                       # samples land on the modes
    assert 0.3 < float((modes > 0).float().mean()) < 0.7          # and both modes are used


def test_sampling_shapes_and_steps():
    head = FlowHead(latent_dim=4, cond_dim=8, width=16, depth=1)
    cond = torch.randn(3, 5, 8)
    assert head.sample(cond, steps=1).shape == (3, 5, 4)
    a = head.sample(cond, steps=4, generator=torch.Generator().manual_seed(0))
    b = head.sample(cond, steps=4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    with pytest.raises(ValueError):
        head.sample(cond, steps=0)
    assert EndHead(8)(cond).shape == (3, 5)


def test_masked_loss_ignores_masked_targets():
    head = FlowHead(latent_dim=2, cond_dim=3, width=8, depth=1)
    x, c = torch.randn(4, 2), torch.randn(4, 3)
    mask = torch.tensor([True, True, False, False])
    a = head.loss(x, c, mask, generator=torch.Generator().manual_seed(0))
    x2 = x.clone()
    x2[2:] += 100.0
    b = head.loss(x2, c, mask, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(a, b)
