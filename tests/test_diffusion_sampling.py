"""Samplers: DDPM, DDIM, Euler and Heun with the exact MoLRG denoiser."""

import inspect

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from subclust.utils.parallel import torch_threads  # noqa: E402
from subclust.datasets import make_molrg  # noqa: E402
from subclust.diffusion import (  # noqa: E402
    EDM,
    SAMPLERS,
    VE,
    MoLRGDenoiser,
    VPCosine,
    VPLinear,
    sample,
    sample_ddim,
    sample_ddpm,
    sample_heun,
    sample_quality,
)

WEIGHTS = np.array([0.5, 0.3, 0.2])


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def bases():
    return make_molrg(n_features=48, n_components=3, dims=4, random_state=0)[2]


@pytest.mark.parametrize(
    "name,schedule,steps",
    [("ddpm", VPLinear(), 500), ("ddim", VPLinear(), 50), ("heun", EDM(), 18)],
)
def test_exact_denoiser_samples_the_molrg(bases, name, schedule, steps):
    denoiser = MoLRGDenoiser(bases, WEIGHTS, schedule=schedule)
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(10_000, 48, generator=gen)
    x = sample(name, denoiser, noise, schedule, steps, generator=gen, disable=True)
    assert x.shape == noise.shape and x.dtype == torch.float32
    quality = sample_quality(x, bases, WEIGHTS)
    assert quality["off_subspace_energy"] < 1e-2
    assert np.abs(quality["frequencies"] - WEIGHTS).max() < 0.03
    # the latents are N(0, I) up to discretization (Heun-18 overdisperses by ~10% in variance)
    assert quality["latent_cov_error"] < 0.15


@pytest.mark.parametrize(
    "schedule", [VPLinear(), VPCosine(), VE(), EDM()], ids=lambda s: type(s).__name__
)
@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_serves_every_schedule(name, schedule):
    # One Gaussian component: the latent variance of the samples approaches 1.
    _, _, bases = make_molrg(n_features=6, n_components=1, dims=2, random_state=0)
    denoiser = MoLRGDenoiser(bases, schedule=schedule)
    gen = torch.Generator().manual_seed(1)
    noise = torch.randn(4000, 6, generator=gen, dtype=torch.float64)
    x = sample(name, denoiser, noise, schedule, 200, generator=gen, disable=True)
    quality = sample_quality(x, bases)
    assert quality["off_subspace_energy"] < 1e-12
    assert quality["latent_cov_error"] < 0.1


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_samplers_refuse_a_schedule_that_is_not_the_denoisers(name):
    _, _, bases = make_molrg(n_features=6, n_components=1, dims=2, random_state=0)
    noise = torch.randn(8, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with pytest.raises(ValueError, match="not the forward process of the denoiser"):
        sample(name, MoLRGDenoiser(bases, schedule=EDM()), noise, None, 20, disable=True)
    with pytest.raises(ValueError, match="not the forward process of the denoiser"):
        sample(name, MoLRGDenoiser(bases), noise, VPCosine(), 20, disable=True)
    # The same process over a narrower range (a denoiser trained on low noise) is sampled
    # on the whole default range.
    narrow = MoLRGDenoiser(bases, schedule=VPLinear(t_max=0.02))
    runs = [sample(name, net, noise, None, 20, disable=True,
                   generator=torch.Generator().manual_seed(1))
            for net in (narrow, MoLRGDenoiser(bases))]
    torch.testing.assert_close(runs[0], runs[1], rtol=0, atol=0)


def test_one_signature_and_callbacks(bases):
    parameters = [list(inspect.signature(f).parameters)[:7] for f in SAMPLERS.values()]
    assert all(p == parameters[0] for p in parameters)
    assert parameters[0] == ["denoiser", "noise", "schedule", "steps", "generator", "callback",
                             "disable"]
    denoiser = MoLRGDenoiser(bases, WEIGHTS, schedule=EDM())
    calls = []

    def counting(x_t, t):
        calls.append(t)
        return denoiser(x_t, t)

    infos = []
    noise = torch.randn(8, 48, generator=torch.Generator().manual_seed(0))
    sample_heun(counting, noise, EDM(), 18, callback=infos.append, disable=True)
    assert len(calls) == 2 * 18 - 1  # EDM's Heun: the last step is an Euler step
    assert [info["i"] for info in infos] == list(range(18))
    assert set(infos[0]) == {"x", "i", "t", "denoised"}
    assert infos[0]["t"] == 80.0


def test_images_and_determinism(bases):
    # the same code serves (batch, c, h, w) tensors: 48 = 3 x 4 x 4
    denoiser = MoLRGDenoiser(bases, WEIGHTS)
    noise = torch.randn(16, 3, 4, 4, generator=torch.Generator().manual_seed(0),
                        dtype=torch.float64)
    images = sample_ddim(denoiser, noise, None, 20, disable=True)
    vectors = sample_ddim(denoiser, noise.reshape(16, 48), None, 20, disable=True)
    assert images.shape == noise.shape
    torch.testing.assert_close(images.reshape(16, 48), vectors)
    # DDPM is reproducible from its generator and leaves torch's global generator alone
    state = torch.random.get_rng_state()
    a = sample_ddpm(denoiser, noise, None, 30, torch.Generator().manual_seed(3), disable=True)
    b = sample_ddpm(denoiser, noise, None, 30, torch.Generator().manual_seed(3), disable=True)
    assert torch.equal(a, b)
    assert torch.equal(torch.random.get_rng_state(), state)
    # eta = 1 injects noise; eta = 0 does not
    c = sample_ddim(denoiser, noise, None, 30, torch.Generator().manual_seed(4), disable=True,
                    eta=1.0)
    assert not torch.equal(c, images)


def test_bad_sampler_input(bases):
    denoiser = MoLRGDenoiser(bases)
    noise = torch.zeros(2, 48)
    with pytest.raises(ValueError, match="noise must be a float tensor"):
        sample_ddpm(denoiser, np.zeros((2, 48)), None, 10)
    with pytest.raises(ValueError, match="positive integer"):
        sample_heun(denoiser, noise, None, 0)
    with pytest.raises(ValueError, match="eta"):
        sample_ddim(denoiser, noise, None, 10, eta=2.0)
    with pytest.raises(ValueError, match="sampler must be one of"):
        sample("dpm", denoiser, noise)
