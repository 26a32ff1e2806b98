import pytest
import torch

from momug.errors import MomugError
from momug.model.diffusion import NoiseSchedule, ddim_step, ddim_timesteps


@pytest.mark.parametrize("prediction", ["sample", "epsilon", "v_prediction"])
@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_target_and_split_are_inverse(prediction, schedule):
    s = NoiseSchedule(schedule, 1000, prediction)
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(4, 6, generator=g), torch.randn(4, 6, generator=g)
    t = torch.tensor([0, 10, 500, 999])
    x_t = s.add_noise(x0, noise, t)
    x0_hat, eps_hat = s.split(s.target(x0, noise, t), x_t, t)
    assert torch.allclose(x0_hat[:3], x0[:3], atol=1e-3)
    assert torch.allclose(eps_hat[1:], noise[1:], atol=1e-3)


def test_alpha_bar_decreases_from_one_to_near_zero():
    ab = NoiseSchedule().alpha_bar
    assert ab[0] > 0.99 and ab[-1] < 1e-3 and bool((ab[1:] <= ab[:-1]).all())


def test_ddim_with_a_perfect_denoiser_recovers_the_sample():
    s = NoiseSchedule()
    x0 = torch.randn(5, 3)
    x = torch.randn(5, 3)
    times = ddim_timesteps(1000, 10)
    assert times[0] == 999 and len(times) == 10 and times == sorted(times, reverse=True)
    for k, t in enumerate(times):
        _, eps = s.split(x0, x, torch.tensor([t]))
        x = ddim_step(s, x0, eps, t, times[k + 1] if k + 1 < len(times) else None)
    assert torch.allclose(x, x0)


def test_bad_settings_are_clear_errors():
    with pytest.raises(MomugError, match="prediction type"):
        NoiseSchedule(prediction_type="x")
    with pytest.raises(MomugError, match="noise schedule"):
        NoiseSchedule(schedule="sigmoid")
    with pytest.raises(MomugError, match="sampling steps"):
        ddim_timesteps(1000, 0)


def test_shift_divides_the_signal_to_noise_ratio_by_its_square():
    plain, shifted = NoiseSchedule(shift=1.0).alpha_bar, NoiseSchedule(shift=4.0).alpha_bar
    inner = slice(1, -1)  # the end points are 1 and 0 up to rounding, where SNR is not finite
    snr = lambda ab: ab / (1 - ab)  # noqa: E731
    assert torch.allclose(snr(shifted[inner]) * 16, snr(plain[inner]), rtol=1e-6)
    assert bool((shifted[1:] <= shifted[:-1]).all()) and shifted[-1] < 1e-3
    with pytest.raises(MomugError, match="shift"):
        NoiseSchedule(shift=0.0)
