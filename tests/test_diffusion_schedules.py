"""Noise schedules: invariants of s(t), g(t), sigma(t) and the time grids."""

import math

import pytest

torch = pytest.importorskip("torch")

from subclust.diffusion import (  # noqa: E402
    EDM,
    VE,
    VPCosine,
    VPLinear,
    append_dims,
    get_schedule,
    karras_sigmas,
    vp_cosine,
    vp_linear,
)

SCHEDULES = [VPLinear(), VPCosine(), VE(), EDM()]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
def test_sigma_is_increasing_and_inverted_by_t_of_sigma(schedule):
    t = torch.linspace(schedule.t_min, schedule.t_max, 101, dtype=torch.float64)
    sigma = schedule.sigma(t)
    assert torch.all(sigma[1:] > sigma[:-1])
    torch.testing.assert_close(schedule.t_of_sigma(sigma), t, rtol=1e-10, atol=1e-12)
    s, g = schedule.s_and_g(t)
    assert torch.all(s > 0) and torch.all(g > 0)
    assert s.dtype == torch.float64


@pytest.mark.parametrize("schedule", [VPLinear(), VPCosine()], ids=["linear", "cosine"])
def test_vp_schedules_preserve_variance(schedule):
    t = torch.linspace(0.0, schedule.t_max, 57, dtype=torch.float64)
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
def test_grids_are_decreasing_within_the_domain(schedule):
    for grid in (schedule.time_grid(25), schedule.sigma_grid(25)):
        assert grid.shape == (25,)
        assert torch.all(grid[1:] < grid[:-1])
        assert math.isclose(float(grid[0]), schedule.t_max, rel_tol=1e-9)
        assert math.isclose(float(grid[-1]), schedule.t_min, rel_tol=1e-9, abs_tol=1e-12)


def test_ddpm_time_grid_is_i_over_T():
    T = 100
    grid = VPLinear(t_min=1 / T).time_grid(T)
    torch.testing.assert_close(grid, torch.arange(T, 0, -1, dtype=torch.float64) / T)


def test_append_dims():
    assert append_dims(torch.ones(4), 4).shape == (4, 1, 1, 1)
    with pytest.raises(ValueError, match="more than target_dims"):
        append_dims(torch.ones(2, 3), 1)


def test_bad_parameters_raise_clear_errors():
    with pytest.raises(ValueError, match="t_min above 0"):
        VPLinear(t_min=0.0)
    with pytest.raises(ValueError, match="beta_min < beta_max"):
        VPLinear(beta_min=1.0, beta_max=0.5)
    with pytest.raises(ValueError, match="t_max must be < 1"):
        VPCosine(t_max=1.0)
    with pytest.raises(ValueError, match="t_min < t_max"):
        EDM(t_min=5.0, t_max=1.0)
    with pytest.raises(ValueError, match="one of"):
        get_schedule("ddpm")
    with pytest.raises(ValueError, match="positive integer"):
        VPLinear().time_grid(0)
    with pytest.raises(ValueError, match="sigma_min < sigma_max"):
        karras_sigmas(5, 1.0, 0.5)
    assert isinstance(get_schedule("edm"), EDM)
