"""Noise: invariants of the forward processes, the training noise levels and the grids."""

import pytest

torch = pytest.importorskip("torch")

from subclust.diffusion import (  # noqa: E402
    EDM,
    VE,
    LogNormalSigma,
    UniformTime,
    VPCosine,
    VPLinear,
    append_dims,
    get_schedule,
    karras_sigmas,
    karras_times,
    uniform_times,
    vp_cosine,
    vp_linear,
)

SCHEDULES = [VPLinear(), VPCosine(), VE(), EDM()]
# Times where each process is defined and its noise is positive.
RANGES = {VPLinear: (1e-3, 1.0), VPCosine: (1e-3, 0.995), VE: (0.0, 1.0), EDM: (0.002, 80.0)}


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
def test_sigma_is_increasing_and_inverted_by_t_of_sigma(schedule):
    t = torch.linspace(*RANGES[type(schedule)], 101, dtype=torch.float64)
    sigma = schedule.sigma(t)
    assert torch.all(sigma[1:] > sigma[:-1])
    torch.testing.assert_close(schedule.t_of_sigma(sigma), t, rtol=1e-10, atol=1e-12)
    s, g = schedule.s_and_g(t)
    assert torch.all(s > 0) and torch.all(g > 0)
    assert s.dtype == torch.float64


@pytest.mark.parametrize("schedule", [VPLinear(), VPCosine()], ids=["linear", "cosine"])
def test_vp_schedules_preserve_variance(schedule):
    t = torch.linspace(0.0, 0.995, 57, dtype=torch.float64)
    s, g = schedule.s_and_g(t)
    torch.testing.assert_close(s**2 + g**2, torch.ones_like(t), rtol=0, atol=1e-12)


def test_vp_linear_matches_ddpm_betas():
    # DDPM: beta_i linear from 1e-4 to 0.02 over T = 1000 steps, abar_T = prod(1 - beta_i).
    T = 1000
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    abar = torch.cumprod(1 - betas, 0)
    s, _ = vp_linear(torch.arange(1, T + 1, dtype=torch.float64) / T)
    # the continuous limit agrees to 2% in log(abar) past the first 50 steps
    rel = (torch.log(s**2) - torch.log(abar)).abs() / torch.log(abar).abs()
    assert float(rel[50:].max()) < 0.02


def test_cosine_is_accurate_at_small_t():
    t = torch.tensor([1e-9, 1e-6], dtype=torch.float64)
    _, g = vp_cosine(t)
    # g^2 ~ t * derivative at 0, no cancellation to zero
    assert torch.all(g > 0)
    ratio = (g[1] / g[0]) ** 2
    assert abs(float(ratio) - 1e3) < 1e-3 * 1e3


def test_karras_sigmas_endpoints_and_order():
    sig = karras_sigmas(18, 0.002, 80.0)
    assert sig.shape == (18,)
    assert float(sig[0]) == 80.0 and float(sig[-1]) == 0.002
    assert torch.all(sig[1:] < sig[:-1])
    assert karras_sigmas(1, 0.002, 80.0).tolist() == [80.0]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
def test_karras_times_visit_the_karras_noise_levels_of_every_process(schedule):
    grid = karras_times(schedule, 25, sigma_min=0.01, sigma_max=50.0)
    assert grid.shape == (25,) and grid.dtype == torch.float64
    assert torch.all(grid[1:] < grid[:-1])
    torch.testing.assert_close(schedule.sigma(grid), karras_sigmas(25, 0.01, 50.0),
                               rtol=1e-10, atol=0)


def test_ddpm_time_grid_is_i_over_T():
    T = 100
    grid = uniform_times(T, t_min=1 / T)
    torch.testing.assert_close(grid, torch.arange(T, 0, -1, dtype=torch.float64) / T)
    assert uniform_times(1).tolist() == [1.0]


def test_uniform_training_times_cover_their_range_and_follow_the_generator():
    levels = UniformTime(t_min=0.2, t_max=0.6)
    t = levels.sample_times(VPLinear(), 20000, torch.Generator().manual_seed(0))
    assert t.dtype == torch.float64 and t.shape == (20000,)
    assert 0.2 <= float(t.min()) < 0.201 and 0.599 < float(t.max()) <= 0.6
    assert abs(float(t.mean()) - 0.4) < 0.005
    again = levels.sample_times(EDM(), 20000, torch.Generator().manual_seed(0))
    assert torch.equal(t, again)  # times, whatever the process


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
def test_log_normal_levels_are_log_normal_in_sigma_on_every_process(schedule):
    levels = LogNormalSigma(sigma_min=1e-3, sigma_max=1e3)  # clipping 7 standard deviations out
    t = levels.sample_times(schedule, 20000, torch.Generator().manual_seed(0))
    log_sigma = torch.log(schedule.sigma(t))
    assert abs(float(log_sigma.mean()) + 1.2) < 0.03
    assert abs(float(log_sigma.std()) - 1.2) < 0.03
    # EDM's defaults clip the noise levels to its sampling range [0.002, 80]
    sigma = EDM().sigma(LogNormalSigma(p_std=5.0).sample_times(EDM(), 1000))
    assert float(sigma.min()) == 0.002 and float(sigma.max()) == 80.0


def test_append_dims():
    assert append_dims(torch.ones(4), 4).shape == (4, 1, 1, 1)
    with pytest.raises(ValueError, match="more than target_dims"):
        append_dims(torch.ones(2, 3), 1)


def test_bad_parameters_raise_clear_errors():
    with pytest.raises(ValueError, match="beta_min < beta_max"):
        VPLinear(beta_min=1.0, beta_max=0.5)
    with pytest.raises(ValueError, match="sigma_min < sigma_max"):
        VE(sigma_min=1.0, sigma_max=0.5)
    with pytest.raises(ValueError, match="'schedule' parameter of get_schedule must be"):
        get_schedule("ddpm")
    with pytest.raises(ValueError, match=r"'steps' parameter of uniform_times must be an int"):
        uniform_times(0)
    with pytest.raises(ValueError, match="t_min < t_max"):
        uniform_times(5, t_min=1.0, t_max=0.5)
    with pytest.raises(ValueError, match="sigma_min < sigma_max"):
        karras_sigmas(5, 1.0, 0.5)
    with pytest.raises(ValueError, match="t_min < t_max"):
        UniformTime(t_min=0.5, t_max=0.1)
    with pytest.raises(ValueError, match="p_std"):
        LogNormalSigma(p_std=0.0)
    with pytest.raises(ValueError, match=r"'n' parameter must be an int in the range \[1, inf\)"):
        UniformTime().sample_times(VPLinear(), 0)
    assert isinstance(get_schedule("edm"), EDM)
