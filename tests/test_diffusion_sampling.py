"""Samplers: DDPM, DDIM, Euler and Heun with the exact MoLRG denoiser."""

import inspect

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from subclust.datasets import make_molrg  # noqa: E402
from subclust.diffusion import (  # noqa: E402
    EDM,
    SAMPLERS,
    VE,
    MoLRGDenoiser,
    VPCosine,
    VPLinear,
    karras_times,
    sample,
    sample_ddim,
    sample_ddpm,
    sample_heun,
    sample_quality,
    uniform_times,
)

WEIGHTS = np.array([0.5, 0.3, 0.2])
PROCESSES = [VPLinear(), VPCosine(), VE(), EDM()]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def bases():
    return make_molrg(n_features=48, n_components=3, dims=4, random_state=0)[2]


def _start(model, noise, grid):
    return model.schedule.g(grid[0]) * noise


@pytest.mark.parametrize(
    "name,schedule,grid",
    [("ddpm", VPLinear(), uniform_times(500)), ("ddim", VPLinear(), uniform_times(50)),
     ("heun", EDM(), karras_times(EDM(), 18))],
)
def test_exact_denoiser_samples_the_molrg(bases, name, schedule, grid):
    denoiser = MoLRGDenoiser(bases, WEIGHTS, schedule=schedule)
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(10_000, 48, generator=gen)
    x = sample(name, denoiser, _start(denoiser, noise, grid), grid, generator=gen, disable=True)
    assert x.shape == noise.shape and x.dtype == torch.float32
    quality = sample_quality(x, bases, WEIGHTS)
    assert quality["off_subspace_energy"] < 1e-2
    assert np.abs(quality["frequencies"] - WEIGHTS).max() < 0.03
    # the latents are N(0, I) up to discretization (Heun-18 overdisperses by ~10% in variance)
    assert quality["latent_cov_error"] < 0.15


@pytest.mark.parametrize("schedule", PROCESSES, ids=lambda s: type(s).__name__)
@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_serves_every_schedule(name, schedule):
    # One Gaussian component: the latent variance of the samples approaches 1.
    _, _, bases = make_molrg(n_features=6, n_components=1, dims=2, random_state=0)
    denoiser = MoLRGDenoiser(bases, schedule=schedule)
    gen = torch.Generator().manual_seed(1)
    noise = torch.randn(4000, 6, generator=gen, dtype=torch.float64)
    grid = karras_times(schedule, 200)
    x = sample(name, denoiser, _start(denoiser, noise, grid), grid, generator=gen, disable=True)
    quality = sample_quality(x, bases)
    assert quality["off_subspace_energy"] < 1e-12
    assert quality["latent_cov_error"] < 0.1


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_the_same_noise_levels_give_the_same_samples_on_every_process(name):
    # In x / s(t) every update depends on the noise levels sigma alone (the processes differ
    # by a rescaling of x_t), so the samplers read (s, g) from the model and agree.
    _, _, bases = make_molrg(n_features=6, n_components=2, dims=2, random_state=0)
    noise = torch.randn(50, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    runs = []
    for process in PROCESSES:
        denoiser = MoLRGDenoiser(bases, schedule=process)
        grid = karras_times(process, 12, sigma_min=0.02, sigma_max=20.0)
        runs.append(sample(name, denoiser, _start(denoiser, noise, grid), grid, disable=True,
                           generator=torch.Generator().manual_seed(1)))
    for run in runs[1:]:
        torch.testing.assert_close(run, runs[0], rtol=0, atol=1e-9)


def test_one_signature_and_callbacks(bases):
    signatures = [inspect.signature(f).parameters for f in SAMPLERS.values()]
    assert all(list(p)[:6] == ["model", "x", "grid", "generator", "callback", "disable"]
               for p in signatures)
    assert all(p["generator"].kind is inspect.Parameter.KEYWORD_ONLY for p in signatures)
    denoiser = MoLRGDenoiser(bases, WEIGHTS, schedule=EDM())
    calls = []

    def counting(x_t, t):
        calls.append(t)
        return denoiser(x_t, t)

    counting.schedule = denoiser.schedule
    infos = []
    grid = karras_times(EDM(), 18)
    noise = torch.randn(8, 48, generator=torch.Generator().manual_seed(0))
    sample_heun(counting, 80.0 * noise, grid, callback=infos.append, disable=True)
    assert len(calls) == 2 * 18 - 1  # EDM's Heun: the last step is an Euler step
    assert [info["i"] for info in infos] == list(range(18))
    assert set(infos[0]) == {"x", "i", "t", "denoised"}
    assert infos[0]["t"] == 80.0


def test_images_and_determinism(bases):
    # the same code serves (batch, c, h, w) tensors: 48 = 3 x 4 x 4
    denoiser = MoLRGDenoiser(bases, WEIGHTS)
    noise = torch.randn(16, 3, 4, 4, generator=torch.Generator().manual_seed(0),
                        dtype=torch.float64)
    grid = uniform_times(20)
    images = sample_ddim(denoiser, _start(denoiser, noise, grid), grid, disable=True)
    vectors = sample_ddim(denoiser, _start(denoiser, noise.reshape(16, 48), grid), grid,
                          disable=True)
    assert images.shape == noise.shape
    torch.testing.assert_close(images.reshape(16, 48), vectors)
    # DDPM is reproducible from its generator and leaves torch's global generator alone
    state = torch.random.get_rng_state()
    grid = uniform_times(30)
    x = _start(denoiser, noise, grid)
    a = sample_ddpm(denoiser, x, grid, generator=torch.Generator().manual_seed(3), disable=True)
    b = sample_ddpm(denoiser, x, grid, generator=torch.Generator().manual_seed(3), disable=True)
    assert torch.equal(a, b)
    assert torch.equal(torch.random.get_rng_state(), state)
    # eta = 1 injects noise; eta = 0 does not
    c = sample_ddim(denoiser, x, grid, generator=torch.Generator().manual_seed(4), disable=True,
                    eta=1.0)
    d = sample_ddim(denoiser, x, grid, generator=torch.Generator().manual_seed(4), disable=True)
    assert not torch.equal(c, d)


def test_bad_sampler_input(bases):
    denoiser = MoLRGDenoiser(bases)
    x, grid = torch.zeros(2, 48), uniform_times(10)
    with pytest.raises(ValueError, match="'x' parameter of sample_ddpm must be an instance"):
        sample_ddpm(denoiser, np.zeros((2, 48)), grid)
    with pytest.raises(ValueError, match="x must be a float tensor"):
        sample_ddpm(denoiser, torch.zeros(2, 48, dtype=torch.int64), grid)
    with pytest.raises(ValueError, match="decreasing times"):
        sample_heun(denoiser, x, [])
    with pytest.raises(ValueError, match="decreasing times"):
        sample_ddim(denoiser, x, grid.flip(0))
    with pytest.raises(ValueError, match=r"'eta' parameter of sample_ddim must be a float in"):
        sample_ddim(denoiser, x, grid, eta=2.0)
    with pytest.raises(ValueError, match="no schedule attribute"):
        sample_ddim(lambda x_t, t: x_t, x, grid)
    with pytest.raises(ValueError, match="'name' parameter of sample must be a str among"):
        sample("dpm", denoiser, x, grid)
