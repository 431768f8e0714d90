"""Jacobian bases of denoisers: exact low-rank structure, full against randomized, bad input."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from subclust.bridge import jacobian_basis, jacobian_matrix, rank_profile  # noqa: E402
from subclust.datasets import make_molrg  # noqa: E402
from subclust.diffusion import MoLRGDenoiser  # noqa: E402
from subclust.subspace import numerical_rank, subspace_distance  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def molrg():
    X, y, bases = make_molrg(n_samples=[8, 8, 8], n_features=64, dims=4, random_state=0)
    return X, y, bases, MoLRGDenoiser(bases)


def _noisy(denoiser, X, t, seed=0):
    s, g = (float(v) for v in denoiser.schedule.s_and_g(t))
    return s * X + g * np.random.default_rng(seed).standard_normal(X.shape)


@pytest.mark.parametrize("method", ["full", "randomized"])
def test_exact_molrg_jacobian_spans_the_active_subspace(molrg, method):
    X, y, bases, D = molrg
    t = 0.05  # sigma = g / s = 0.17 against unit latent variances: moderate noise
    X_t = _noisy(D, X, t)
    weights = D.responsibilities(torch.as_tensor(X_t), torch.full((len(X),), t)).numpy()
    confident = weights.max(1) > 1 - 1e-6  # the component is active (not the ambiguous origin)
    assert confident.sum() >= 15
    rank = None if method == "full" else 4
    found = jacobian_basis(D, X_t[confident], t, rank=rank, method=method, random_state=0)
    for jb, k in zip(found, y[confident]):
        assert jb.rank == 4
        assert subspace_distance(jb.right_vectors[:, :4], bases[k]) < 1e-3
        assert subspace_distance(jb.left_vectors[:, :4], bases[k]) < 1e-3
        if method == "full":
            assert numerical_rank(jb.singular_values, 0.99) == 4
            # J = c_t U U^T (+ the weights' tiny gradient): singular values c_t = s / (s^2 + g^2).
            s, g = (float(v) for v in D.schedule.s_and_g(t))
            np.testing.assert_allclose(jb.singular_values, s / (s**2 + g**2), rtol=1e-3)


def test_full_and_randomized_agree_on_a_general_map():
    rng = np.random.default_rng(0)
    n = 30
    A = rng.standard_normal((n, 3)) @ rng.standard_normal((3, n))  # rank 3, not symmetric
    A_t = torch.as_tensor(A)

    def linear(z, t):
        return z @ A_t.T

    np.testing.assert_allclose(jacobian_matrix(linear, np.zeros(n), 0.5), A, atol=1e-12)
    full = jacobian_basis(linear, np.zeros(n), 0.5)
    randomized = jacobian_basis(linear, np.zeros(n), 0.5, rank=3, method="randomized",
                                random_state=0, oversample=2)
    expected = np.linalg.svd(A, compute_uv=False)[:3]
    np.testing.assert_allclose(full.singular_values[:3], expected, rtol=1e-10)
    np.testing.assert_allclose(randomized.singular_values, expected, rtol=1e-8)
    assert subspace_distance(full.right_vectors[:, :3], randomized.right_vectors) < 1e-8
    assert subspace_distance(full.left_vectors[:, :3], randomized.left_vectors) < 1e-8
    assert randomized.rank == full.rank == numerical_rank(expected)
    # J v_i = s_i u_i
    np.testing.assert_allclose(
        A @ randomized.right_vectors, randomized.left_vectors * randomized.singular_values,
        atol=1e-9,
    )


def test_batched_points_match_one_at_a_time(molrg):
    X, _, _, D = molrg
    X_t = _noisy(D, X[:3], 0.1)
    together = jacobian_basis(D, X_t, 0.1, rank=4, method="randomized", random_state=3)
    for i in range(3):
        alone = jacobian_basis(D, X_t[i], 0.1, method="full")
        assert subspace_distance(together[i].right_vectors, alone.right_vectors[:, :4]) < 1e-6


def test_rank_profile_of_a_noisy_molrg_is_u_shaped():
    # Off-subspace noise sigma_0: at low noise the denoiser keeps it (rank near n); at
    # moderate noise it projects on one subspace (rank d); at high noise on all (rank K d).
    _, _, bases = make_molrg(n_features=40, n_components=3, dims=2, random_state=1)
    D = MoLRGDenoiser(bases, noise=0.05)
    X, _, _ = make_molrg(n_samples=[2, 2, 2], n_features=40, dims=2, random_state=1)
    ts = [0.002, 0.1, 0.9]
    profile = rank_profile(D, lambda t: _noisy(D, X, t, seed=2), ts)
    assert profile.ranks.shape == (6, 3)
    assert profile.n_features == 40
    mean = profile.ranks.mean(0)
    assert mean[0] > 35 and mean[1] < 5 and mean[2] == 6
    assert profile.is_u_shaped
    t, sigma, low = profile.minimum
    assert t == 0.1 and low == pytest.approx(mean[1] / 40)
    assert "U-shaped: True" in str(profile)


def test_bad_input_gets_clear_errors(molrg):
    X, _, _, D = molrg
    with pytest.raises(ValueError, match="'method' parameter of jacobian_basis must be a str"):
        jacobian_basis(D, X[0], 0.1, method="exact")
    with pytest.raises(ValueError, match="needs rank"):
        jacobian_basis(D, X[0], 0.1, method="randomized")
    with pytest.raises(ValueError, match=r"'rank' parameter of jacobian_basis .* \[1, inf\)"):
        jacobian_basis(D, X[0], 0.1, rank=0)
    with pytest.raises(ValueError, match="rank=65 exceeds n_features=64"):
        jacobian_basis(D, X[0], 0.1, rank=65)
    with pytest.raises(ValueError, match="n_features=64"):
        jacobian_basis(D, X[0, :10], 0.1)
    with pytest.raises(ValueError, match="'t' parameter of jacobian_basis must be a float"):
        jacobian_basis(D, X[0], -1.0)
    with pytest.raises(ValueError, match="NaN"):
        jacobian_basis(D, np.full(64, np.nan), 0.1)
    with pytest.raises(ValueError, match="ts must hold"):
        rank_profile(D, X[:2], [])
    for method in ("full", "randomized"):  # through reverse and forward mode
        with pytest.raises(ValueError, match=r"returned shape \(\d+, 3\) for inputs of shape"):
            jacobian_basis(lambda x, t: x[:, :3], X[0], 0.1, rank=2, method=method)
