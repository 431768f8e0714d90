"""Exact posterior-mean denoisers and scores: MoLRG, general Gaussian mixture, memorizing."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from subclust.datasets import make_molrg  # noqa: E402
from subclust.diffusion import (  # noqa: E402
    EDM,
    EmpiricalDenoiser,
    GMMDenoiser,
    MoLRGDenoiser,
    VPLinear,
    gmm_denoise,
    gmm_log_density,
    gmm_score,
    molrg_denoise,
    molrg_log_density,
    molrg_responsibilities,
    molrg_score,
)

WEIGHTS = [0.5, 0.3, 0.2]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def molrg():
    _, _, bases = make_molrg(n_features=8, n_components=3, dims=2, random_state=1)
    return bases


def _noisy(schedule, sigma, x0, gen):
    t = float(schedule.t_of_sigma(torch.tensor(sigma)))
    s, g = (float(v) for v in schedule.s_and_g(t))
    return t, s, g, s * x0 + g * torch.randn(x0.shape, generator=gen, dtype=x0.dtype)


@pytest.mark.parametrize("sigma", [0.3, 1.0, 3.0])
def test_molrg_denoiser_equals_monte_carlo_posterior_mean(molrg, sigma):
    # Self-normalized importance sampling from the prior: E[x0 | x_t] is the average of
    # prior draws x0_i weighted by the likelihood N(x_t; s x0_i, g^2 I).
    draws, _, _ = make_molrg(
        n_samples=400_000, n_features=8, n_components=3, dims=2, weights=WEIGHTS, random_state=1
    )
    fresh, _, _ = make_molrg(
        n_samples=5, n_features=8, n_components=3, dims=2, weights=WEIGHTS, random_state=1
    )
    assert np.allclose(make_molrg(n_features=8, n_components=3, dims=2, random_state=1)[2][0],
                       molrg[0])
    schedule = VPLinear()
    gen = torch.Generator().manual_seed(0)
    t, s, g, x_t = _noisy(schedule, sigma, torch.as_tensor(fresh), gen)
    X0 = torch.as_tensor(draws)
    log_w = -((x_t[:, None, :] - s * X0[None]) ** 2).sum(-1) / (2 * g**2)
    w = torch.softmax(log_w, dim=1)
    assert float((1 / (w**2).sum(1)).min()) > 1000  # effective sample size
    monte_carlo = w @ X0
    exact = MoLRGDenoiser(molrg, WEIGHTS, schedule=schedule)(x_t, t)
    relative = (monte_carlo - exact).norm(dim=1) / exact.norm(dim=1)
    assert float(relative.max()) < 0.02


@pytest.mark.parametrize("general", [False, True], ids=["paper", "means-variances-noise"])
def test_molrg_score_is_the_gradient_of_the_log_density(molrg, general):
    options = {}
    if general:
        rng = np.random.RandomState(0)
        options = dict(variances=[np.array([2.0, 0.5]), 1.5, 0.3], means=rng.randn(3, 8), noise=0.2)
    gen = torch.Generator().manual_seed(1)
    x = 2 * torch.randn(16, 8, generator=gen, dtype=torch.float64)
    for t in (0.002, 0.1, 0.5, 1.0):
        s, g = VPLinear().s_and_g(torch.full((16,), t, dtype=torch.float64))
        xr = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(
            molrg_log_density(xr, s, g, molrg, WEIGHTS, **options).sum(), xr
        )
        score = molrg_score(x, s, g, molrg, WEIGHTS, **options)
        assert float((score - grad).abs().max()) <= 1e-6 * max(1.0, float(grad.abs().max()))


def test_molrg_matches_the_general_gaussian_mixture(molrg):
    rng = np.random.RandomState(0)
    variances = [np.array([2.0, 0.5]), 1.5, np.array([0.3, 0.7])]
    means = rng.randn(3, 8)
    noise = 0.2
    covariances = np.stack([
        U @ np.diag(np.broadcast_to(v, (2,))) @ U.T + noise**2 * np.eye(8)
        for U, v in zip(molrg, variances)
    ])
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(32, 8, generator=gen, dtype=torch.float64)
    s, g = VPLinear().s_and_g(torch.linspace(0.01, 1.0, 32, dtype=torch.float64))
    args = dict(variances=variances, means=means, noise=noise)
    torch.testing.assert_close(
        molrg_denoise(x, s, g, molrg, WEIGHTS, **args),
        gmm_denoise(x, s, g, means, covariances, WEIGHTS), rtol=1e-9, atol=1e-10,
    )
    torch.testing.assert_close(
        molrg_log_density(x, s, g, molrg, WEIGHTS, **args),
        gmm_log_density(x, s, g, means, covariances, WEIGHTS), rtol=1e-10, atol=1e-9,
    )
    # the singular GMM (noise 0) too
    singular = np.stack([U @ U.T for U in molrg])
    torch.testing.assert_close(
        molrg_score(x, s, g, molrg, WEIGHTS),
        gmm_score(x, s, g, np.zeros((3, 8)), singular, WEIGHTS), rtol=1e-9, atol=1e-8,
    )


def test_paper_formula_and_gmm_score_gradient(molrg):
    # The paper's posterior mean, E[x0|x_t] = sum_k w_k c_t U_k U_k^T x_t, with the explicit
    # soft-max weights.
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(10, 8, generator=gen, dtype=torch.float64)
    s, g = 0.8, 0.6
    U = [torch.as_tensor(B) for B in molrg]
    logits = torch.stack([
        np.log(p) - B.shape[1] / 2 * np.log((s**2 + g**2) / g**2)
        + s**2 / (2 * g**2 * (s**2 + g**2)) * ((x @ B) ** 2).sum(1)
        for p, B in zip(WEIGHTS, U)
    ], 1)
    w = torch.softmax(logits, 1)
    c = s / (s**2 + g**2)
    expected = sum(w[:, k : k + 1] * c * (x @ U[k] @ U[k].T) for k in range(3))
    torch.testing.assert_close(molrg_denoise(x, s, g, molrg, WEIGHTS), expected)
    torch.testing.assert_close(molrg_responsibilities(x, s, g, molrg, WEIGHTS), w)
    # GMM score is the gradient of the GMM log-density too
    rng = np.random.RandomState(1)
    A = rng.randn(2, 8, 8)
    cov = A @ A.transpose(0, 2, 1) / 8
    means = rng.randn(2, 8)
    xr = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(gmm_log_density(xr, s, g, means, cov).sum(), xr)
    torch.testing.assert_close(gmm_score(x, s, g, means, cov), grad, rtol=1e-8, atol=1e-8)


def test_float32_agrees_with_float64_and_keeps_its_dtype(molrg):
    schedule = VPLinear()
    D = MoLRGDenoiser(molrg, WEIGHTS, schedule=schedule)
    gen = torch.Generator().manual_seed(4)
    x64 = torch.randn(64, 8, generator=gen, dtype=torch.float64)
    t = torch.linspace(0.01, 1.0, 64)
    out32 = D(x64.float(), t)
    assert out32.dtype == torch.float32
    torch.testing.assert_close(out32.double(), D(x64, t), rtol=1e-4, atol=1e-5)


def test_stable_at_tiny_noise_and_huge_inputs(molrg):
    D = MoLRGDenoiser(molrg, WEIGHTS, schedule=EDM())
    U = torch.as_tensor(molrg[1])
    on_subspace = torch.tensor([[3.0, -2.0]], dtype=torch.float64) @ U.T
    for dtype in (torch.float32, torch.float64):
        x = on_subspace.to(dtype)
        for scale in (1.0, 1e3):
            out = D(scale * x, 1e-4)
            assert torch.isfinite(out).all()
            # at vanishing noise the denoiser projects onto the nearest subspace
            torch.testing.assert_close(out, scale * x, rtol=1e-3, atol=1e-3 * scale)
        r = D.responsibilities(x, 1e-4)
        assert float(r[0, 1]) > 1 - 1e-6


def test_batched_time_and_images(molrg):
    D = MoLRGDenoiser(molrg, WEIGHTS)
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(6, 8, generator=gen, dtype=torch.float64)
    t = torch.linspace(0.1, 0.9, 6, dtype=torch.float64)
    batched = D(x, t)
    one_by_one = torch.cat([D(x[i : i + 1], t[i]) for i in range(6)])
    torch.testing.assert_close(batched, one_by_one)
    # trailing shapes are flattened: (batch, 2, 4) images give the same numbers
    torch.testing.assert_close(D(x.reshape(6, 2, 4), t), batched.reshape(6, 2, 4))
    score = D.score(x, t)
    s, g = VPLinear().s_and_g(t)
    torch.testing.assert_close(score, (s[:, None] * batched - x) / g[:, None] ** 2)


def test_gmm_denoiser_module_matches_functions():
    rng = np.random.RandomState(2)
    A = rng.randn(3, 5, 5)
    cov, means = A @ A.transpose(0, 2, 1) / 5, rng.randn(3, 5)
    D = GMMDenoiser(means, cov, WEIGHTS)
    x = torch.as_tensor(rng.randn(4, 5))
    s, g = VPLinear().s_and_g(torch.full((4,), 0.3, dtype=torch.float64))
    torch.testing.assert_close(D(x, 0.3), gmm_denoise(x, s, g, means, cov, WEIGHTS))
    torch.testing.assert_close(D.log_density(x, 0.3), gmm_log_density(x, s, g, means, cov, WEIGHTS))
    assert torch.allclose(D.responsibilities(x, 0.3).sum(1), torch.ones(4, dtype=torch.float64))


def test_empirical_denoiser_memorizes_and_averages():
    rng = np.random.RandomState(3)
    X = torch.as_tensor(rng.randn(50, 6))
    D = EmpiricalDenoiser(X, schedule=VPLinear(), chunk_size=7)
    s, g = (float(v) for v in VPLinear().s_and_g(0.001))
    x_t = s * X + g * 0.1 * torch.as_tensor(rng.randn(50, 6))
    torch.testing.assert_close(D(x_t, 0.001), X)  # low noise: the nearest training point
    far = D(torch.zeros(1, 6, dtype=torch.float64), 1.0)  # s ~ 0: the training mean
    torch.testing.assert_close(far[0], X.mean(0), rtol=1e-3, atol=1e-3)
    # it is the exact denoiser of the empirical distribution: a GMM with zero covariances
    zero_cov = np.zeros((50, 6, 6))
    x = torch.as_tensor(rng.randn(3, 6))
    s, g = VPLinear().s_and_g(torch.full((3,), 0.2, dtype=torch.float64))
    torch.testing.assert_close(D(x, 0.2), gmm_denoise(x, s, g, X.numpy(), zero_cov), rtol=1e-8,
                               atol=1e-10)


def test_bad_input_raises_clear_errors(molrg):
    x = torch.zeros(2, 8, dtype=torch.float64)
    with pytest.raises(ValueError, match="orthonormal"):
        molrg_denoise(x, 1.0, 1.0, [2 * molrg[0]])
    with pytest.raises(ValueError, match="summing to 1"):
        molrg_denoise(x, 1.0, 1.0, molrg, [0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="n_features=8"):
        molrg_denoise(torch.zeros(2, 7, dtype=torch.float64), 1.0, 1.0, molrg)
    with pytest.raises(ValueError, match="variances must be positive"):
        molrg_denoise(x, 1.0, 1.0, molrg, variances=0.0)
    with pytest.raises(ValueError, match="means must have shape"):
        molrg_denoise(x, 1.0, 1.0, molrg, means=np.zeros((2, 8)))
    with pytest.raises(ValueError, match="list of"):
        molrg_denoise(x, 1.0, 1.0, molrg[0])
    with pytest.raises(ValueError, match="shape"):
        MoLRGDenoiser(molrg)(x, torch.ones(3))
    with pytest.raises(ValueError, match="positive semi-definite"):
        gmm_denoise(x, 1.0, 1.0, np.zeros((1, 8)), -np.eye(8)[None])
    with pytest.raises(ValueError, match="NaN"):
        EmpiricalDenoiser(np.full((3, 2), np.nan))
