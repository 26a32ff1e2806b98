"""The weights' moving average (momug.train.ema): its arithmetic and the swap in and out of the
model. A run that writes, validates and resumes it: tests/backend/train/test_train.py."""

import pytest

torch = pytest.importorskip("torch")

from momug.errors import MomugError  # noqa: E402
from momug.train.ema import WeightAverage  # noqa: E402


def test_average_follows_the_formula_and_swaps_in_and_out_exactly():
    p = torch.nn.Parameter(torch.zeros(3))
    ema = WeightAverage([p], decay=0.5)
    expected = torch.zeros(3)
    for value in (1.0, 2.0, 4.0):
        with torch.no_grad():
            p.fill_(value)
        d = min(0.5, (2 + ema.updates) / (11 + ema.updates))  # the decay of the coming update
        ema.update()
        expected = d * expected + (1 - d) * value
        assert torch.allclose(ema.shadow[0], expected)
    # Warm-up: the first updates follow the weights more closely than the decay says.
    assert WeightAverage([p], decay=0.99).current_decay() == pytest.approx(0.1)
    with ema.applied():
        assert torch.allclose(p, expected)
    assert torch.equal(p.detach(), torch.full((3,), 4.0))
    state = ema.state_dict()
    other = WeightAverage([torch.nn.Parameter(torch.ones(3))], decay=0.5)
    other.load_state_dict(state)
    assert torch.equal(other.shadow[0], ema.shadow[0]) and other.updates == 3
    with pytest.raises(MomugError, match="does not match"):
        WeightAverage([torch.nn.Parameter(torch.ones(4))], decay=0.5).load_state_dict(state)
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(MomugError, match="ema_decay"):
            WeightAverage([p], decay=bad)
