"""Denoisers built from a fitted clustering: parameters, exactness, samples, errors."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from subclust.utils.parallel import torch_threads  # noqa: E402
from subclust.cluster import (  # noqa: E402
    KSubspaces,
    LeastSquaresSubspaceClustering,
    SparseSubspaceClustering,
    ThresholdedSubspaceClustering,
)
from subclust.datasets import make_molrg  # noqa: E402
from subclust.diffusion import (  # noqa: E402
    DiffusionSubspaceClustering,
    EmpiricalDenoiser,
    GMMDenoiser,
    LowRankMixtureDenoiser,
    MoLRGDenoiser,
    SubspaceKDEDenoiser,
    VPLinear,
    copy_statistics,
    estimate_mixture,
    mixture_from_clustering,
    off_subspace_energy,
    sample_ddim,
    sliced_wasserstein1,
    uniform_times,
    wasserstein1,
)
from subclust.experiments.generation import heldout_losses  # noqa: E402
from subclust.subspace import residuals, subspace_distance  # noqa: E402
from subclust.metrics import subspace_recovery_error  # noqa: E402


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Small tensors: one thread is far faster than two fighting over a loaded machine."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def molrg():
    X, y, bases = make_molrg(n_samples=[60] * 3, n_features=48, dims=6, random_state=0)
    return X, y, bases


@pytest.fixture(scope="module")
def small():
    X, y, bases = make_molrg(n_samples=[30, 30], n_features=12, dims=2, random_state=1)
    return X, y, bases


def _noise(batch, n, seed=0, dtype=torch.float64):
    return torch.randn(batch, n, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _ddim(net, noise, steps):
    """DDIM from pure noise on DDPM's uniform grid."""
    grid = uniform_times(steps)
    return sample_ddim(net, net.schedule.g(grid[0]) * noise, grid, disable=True)


# --------------------------------------------------------------------------- estimation


def test_estimate_mixture_recovers_the_generating_model():
    X, y, bases = make_molrg(n_samples=[3000, 1000], n_features=20, dims=[3, 2], noise=0.05,
                             random_state=0)
    est = estimate_mixture(X, y, dims=[3, 2], noise="estimate", latent_covariance="diagonal")
    assert est.dims == [3, 2]
    assert subspace_recovery_error(est.bases, bases) < 0.02
    np.testing.assert_allclose(est.weights, [0.75, 0.25])
    assert est.noise == pytest.approx(0.05, rel=0.05)
    for lam in est.variances:  # unit latent variances, the noise variance taken out
        np.testing.assert_allclose(lam, 1.0, atol=0.15)
    for U in est.bases:  # orthonormal, ordered by decreasing variance
        np.testing.assert_allclose(U.T @ U, np.eye(U.shape[1]), atol=1e-10)
    for lam in est.variances:
        assert np.all(np.diff(lam) <= 0)


def test_latent_coordinates_are_decorrelated_and_variances_are_their_second_moments(small):
    X, y, _ = small
    est = estimate_mixture(X, y, dims=2, latent_covariance="diagonal")
    for A, lam in zip(est.latents, est.variances):
        C = A.T @ A / len(A)
        np.testing.assert_allclose(C, np.diag(lam), atol=1e-10)


def test_shrunk_isotropic_and_unit_variances(molrg):
    X, y, _ = molrg
    diag = estimate_mixture(X, y, dims=6, latent_covariance="diagonal").variances
    shrunk = estimate_mixture(X, y, dims=6).variances
    iso = estimate_mixture(X, y, dims=6, latent_covariance="isotropic").variances
    unit = estimate_mixture(X, y, dims=6, latent_covariance="unit").variances
    for d, s, i, u in zip(diag, shrunk, iso, unit):
        assert np.ptp(s) < np.ptp(d)  # pulled toward the mean ...
        assert s.mean() == pytest.approx(d.mean())  # ... which is kept
        np.testing.assert_allclose(i, d.mean())
        np.testing.assert_allclose(u, 1.0)


def test_energy_chooses_the_dimension_and_affine_means():
    rng = np.random.default_rng(0)
    X, y, _ = make_molrg(n_samples=[200, 200], n_features=10, dims=3, random_state=0)
    offsets = rng.standard_normal((2, 10)) * 5
    X = X + offsets[y]
    est = estimate_mixture(X, y, energy=0.99, center=True)
    assert est.dims == [3, 3]
    np.testing.assert_allclose(est.means, [X[y == 0].mean(0), X[y == 1].mean(0)])


def test_mixture_estimate_sample_round_trip():
    X, y, bases = make_molrg(n_samples=[100, 100], n_features=10, dims=2, random_state=0)
    est = estimate_mixture(X, y, dims=2)
    Z, labels = est.sample(20000, random_state=0)
    again = estimate_mixture(Z, labels, dims=2, latent_covariance="diagonal")
    assert subspace_recovery_error(again.bases, est.bases) < 1e-8
    for a, b in zip(again.variances, est.variances):
        np.testing.assert_allclose(a, b, rtol=0.08)


# --------------------------------------------------------------------------- factory


def test_from_k_subspaces_matches_its_bases_and_weights(molrg):
    X, y, bases = molrg
    kss = KSubspaces(3, dims=6, random_state=0).fit(X)
    net = LowRankMixtureDenoiser.from_clustering(kss, X)
    assert net.dims == [6, 6, 6] and net.cluster_ids == [0, 1, 2]
    for U_net, U_kss in zip(net.bases, kss.bases_):
        assert subspace_distance(U_net.double().numpy(), U_kss) < 1e-6
    counts = np.bincount(kss.labels_, minlength=3)
    np.testing.assert_allclose(net.mixture_weights.numpy(), counts / counts.sum(), rtol=1e-6)
    assert net.means is None and net.noise == 0.0


def test_affine_k_subspaces_gives_its_means():
    rng = np.random.default_rng(0)
    X, y, _ = make_molrg(n_samples=[80, 80], n_features=10, dims=2, random_state=0)
    X = X + (rng.standard_normal((2, 10)) * 4)[y]
    kss = KSubspaces(2, dims=2, affine=True, random_state=0).fit(X)
    net = LowRankMixtureDenoiser.from_clustering(kss, X, dtype=torch.float64)
    np.testing.assert_allclose(net.means.numpy(), kss.means_, atol=1e-8)


@pytest.mark.parametrize("make", [
    lambda: KSubspaces(2, dims=2, random_state=0),
    lambda: SparseSubspaceClustering(2, random_state=0),
    lambda: LeastSquaresSubspaceClustering(2, random_state=0),
    lambda: ThresholdedSubspaceClustering(2, random_state=0),
    lambda: DiffusionSubspaceClustering(2, dims=2, n_init=2, steps=60, random_state=0),
], ids=["kss", "ssc", "lsr", "tsc", "diffusion"])
def test_every_clusterer_gives_a_denoiser_on_the_true_subspaces(small, make):
    X, _, bases = small
    estimator = make().fit(X)
    net = LowRankMixtureDenoiser.from_clustering(estimator, X, dims=2, dtype=torch.float64)
    assert subspace_recovery_error([U.numpy() for U in net.bases], bases) < 1e-6
    samples = _ddim(net, _noise(200, 12), 30)
    assert off_subspace_energy(samples.numpy(), bases) < 1e-2


def test_unit_variances_equal_the_exact_molrg_denoiser(small):
    X, y, _ = small
    kss = KSubspaces(2, dims=2, random_state=0).fit(X)
    net = LowRankMixtureDenoiser.from_clustering(kss, X, latent_covariance="unit",
                                                 dtype=torch.float64)
    exact = MoLRGDenoiser([U for U in net.bases], weights=net.mixture_weights)
    x = _noise(50, 12, seed=3)
    for t in (0.01, 0.3, 0.9):
        torch.testing.assert_close(net(x, t).detach(), exact(x, t))


def test_heldout_loss_matches_the_true_model_within_one_percent(molrg):
    # The acceptance without SGD in the loop: the clustering-built
    # denoiser is within 1 % of the exact denoiser of the true model.
    X, _, bases = molrg
    X_test, _, _ = make_molrg(n_samples=2000, bases=bases, random_state=5)
    kss = KSubspaces(3, dims=6, random_state=0).fit(X)
    nets = {
        "built": LowRankMixtureDenoiser.from_clustering(kss, X, dtype=torch.float64),
        "oracle": MoLRGDenoiser(bases),
    }
    losses = heldout_losses(nets, X_test, sigmas=(0.05, 0.2, 0.5, 1.0, 2.0, 5.0))
    assert np.all(np.abs(losses["built"] / losses["oracle"] - 1) < 0.01)


def test_samples_lie_on_the_true_subspaces(molrg):
    X, _, bases = molrg
    kss = KSubspaces(3, dims=6, random_state=0).fit(X)
    net = LowRankMixtureDenoiser.from_clustering(kss, X)  # float32, the default
    samples = _ddim(net, _noise(300, 48, dtype=torch.float32), 40)
    assert off_subspace_energy(samples.numpy(), bases) < 1e-2


def test_noise_estimate_and_noisy_samples():
    X, y, bases = make_molrg(n_samples=[400, 400], n_features=30, dims=3, noise=0.1,
                             random_state=0)
    kss = KSubspaces(2, dims=3, random_state=0).fit(X)
    net = LowRankMixtureDenoiser.from_clustering(kss, X, noise="estimate", dtype=torch.float64)
    assert net.noise == pytest.approx(0.1, rel=0.05)


def test_select_components_generates_from_one_cluster(molrg):
    X, _, bases = molrg
    kss = KSubspaces(3, dims=6, random_state=0).fit(X)
    net = LowRankMixtureDenoiser.from_clustering(kss, X, dtype=torch.float64)
    one = net.select_components([2])
    assert one.n_components == 1 and one.cluster_ids == [2]
    assert float(one.mixture_weights[0]) == pytest.approx(1.0)
    torch.testing.assert_close(one.variances, net.variances[12:18])
    samples = _ddim(one, _noise(100, 48), 30).numpy()
    nearest = residuals(samples, bases).argmin(1)
    cluster_points = X[kss.labels_ == 2]
    assert np.all(nearest == residuals(cluster_points, bases).argmin(1)[0])
    with pytest.raises(ValueError, match="indices in 0..2"):
        net.select_components([3])
    with pytest.raises(ValueError, match="non-empty"):
        net.select_components([])


def test_clusters_argument_restricts_the_mixture(small):
    X, _, _ = small
    kss = KSubspaces(2, dims=2, random_state=0).fit(X)
    net = LowRankMixtureDenoiser.from_clustering(kss, X, clusters=[1])
    assert net.cluster_ids == [1] and net.n_components == 1


def test_empty_clusters_are_dropped(small):
    X, y, _ = small
    labels = np.where(y == 0, 0, 2)  # cluster 1 empty
    est = estimate_mixture(X, labels, n_clusters=3, dims=2)
    assert est.clusters.tolist() == [0, 2] and len(est.bases) == 2


def test_clusterer_fitted_on_other_features_needs_dims_or_energy(small):
    X, _, bases = small
    features = X @ np.random.default_rng(0).standard_normal((12, 6))
    kss = KSubspaces(2, dims=2, random_state=0).fit(features)
    with pytest.raises(ValueError, match="give dims= or energy="):
        LowRankMixtureDenoiser.from_clustering(kss, X)
    net = LowRankMixtureDenoiser.from_clustering(kss, X, dims=2, dtype=torch.float64)
    assert subspace_recovery_error([U.numpy() for U in net.bases], bases) < 1e-6


def test_new_rows_are_labelled_by_predict(small):
    X, _, bases = small
    kss = KSubspaces(2, dims=2, random_state=0).fit(X[:40])
    net = LowRankMixtureDenoiser.from_clustering(kss, X, dtype=torch.float64)
    assert sum(net.mixture_weights.numpy()) == pytest.approx(1.0)
    assert subspace_recovery_error([U.numpy() for U in net.bases], bases) < 1e-6


@pytest.mark.parametrize("kwargs, match", [
    ({"latent_covariance": "full"}, "'latent_covariance' parameter of mixture_from_clustering"),
    ({"noise": -1.0}, "'noise' parameter of mixture_from_clustering"),
    ({"clusters": [5]}, "must name non-empty clusters"),
    ({"dims": [2, 2, 2]}, "one per cluster"),
    ({"energy": 1.5}, "'energy' parameter of mixture_from_clustering"),
])
def test_bad_arguments_are_refused_clearly(small, kwargs, match):
    X, _, _ = small
    kss = KSubspaces(2, dims=2, random_state=0).fit(X)
    with pytest.raises(ValueError, match=match):
        mixture_from_clustering(kss, X, **kwargs)


def test_unfitted_estimator_and_bad_data_are_refused(small):
    X, y, _ = small
    with pytest.raises(ValueError, match="not a fitted clusterer|Fit it first|Could not label"):
        LowRankMixtureDenoiser.from_clustering(KSubspaces(2, dims=2), X)
    with pytest.raises(ValueError, match="2-D array"):
        estimate_mixture(X[0], y[:1])
    with pytest.raises(ValueError, match="NaN"):
        estimate_mixture(np.full_like(X, np.nan), y)
    with pytest.raises(ValueError, match="labels must be 60 integers"):
        estimate_mixture(X, y[:10])


# --------------------------------------------------------------------------- KDE denoiser


def test_kde_with_zero_bandwidth_is_the_empirical_denoiser(small):
    X, y, _ = small
    kss = KSubspaces(2, dims=2, random_state=0).fit(X)
    kde = SubspaceKDEDenoiser.from_clustering(kss, X, bandwidth=0.0)
    empirical = EmpiricalDenoiser(X)
    x = _noise(40, 12, seed=1) * 0.7
    for t in (0.05, 0.3, 0.8):
        torch.testing.assert_close(kde(x, t), empirical(x, t), atol=1e-9, rtol=1e-7)


def test_kde_posterior_mean_equals_the_gaussian_mixture_formula():
    # One cluster, three atoms, bandwidth h: a Gaussian mixture with means mu + U a_i
    # and singular covariances h^2 U U^T.
    rng = np.random.default_rng(0)
    U = np.linalg.qr(rng.standard_normal((5, 2)))[0]
    A = rng.standard_normal((3, 2))
    mu = rng.standard_normal(5)
    h = 0.4
    kde = SubspaceKDEDenoiser([U], [A], h, means=[mu])
    gmm = GMMDenoiser(mu + A @ U.T, np.stack([h**2 * U @ U.T] * 3))
    x = _noise(20, 5, seed=2)
    for t in (0.1, 0.5):
        torch.testing.assert_close(kde(x, t), gmm(x, t), atol=1e-8, rtol=1e-6)


def test_kde_samples_are_on_the_subspaces_and_new(molrg):
    X, _, bases = molrg
    kss = KSubspaces(3, dims=6, random_state=0).fit(X)
    kde = SubspaceKDEDenoiser.from_clustering(kss, X)
    samples = _ddim(kde, _noise(200, 48), 40).numpy()
    assert off_subspace_energy(samples, bases) < 1e-2
    fresh, _, _ = make_molrg(n_samples=200, bases=bases, random_state=9)
    stats = copy_statistics(samples, X, fresh)
    # The bandwidth shrinks like N_k^(-1/d): new samples, though nearer the data than fresh ones.
    assert stats["ratio"] > 0.3 and stats["copy_share"] < 0.2


def test_kde_refuses_bad_input():
    U = np.eye(4)[:, :2]
    with pytest.raises(ValueError, match="bandwidth must be non-negative"):
        SubspaceKDEDenoiser([U], [np.zeros((3, 2))], -1.0)
    with pytest.raises(ValueError, match="one latent array per basis"):
        SubspaceKDEDenoiser([U], [], 0.1)
    with pytest.raises(ValueError, match="expected"):
        SubspaceKDEDenoiser([U], [np.zeros((3, 3))], 0.1)


# --------------------------------------------------------------------------- distances


def test_wasserstein1_exact_values():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3))
    assert wasserstein1(X, X[rng.permutation(50)]) == pytest.approx(0.0)
    assert wasserstein1(X, X + [3.0, 0.0, 4.0]) == pytest.approx(5.0)
    from scipy.stats import wasserstein_distance

    a, b = rng.standard_normal((40, 1)), rng.uniform(size=(40, 1))
    assert wasserstein1(a, b) == pytest.approx(wasserstein_distance(a[:, 0], b[:, 0]))
    assert sliced_wasserstein1(X, X + 1.0, random_state=0) <= wasserstein1(X, X + 1.0)
    with pytest.raises(ValueError, match="same shape"):
        wasserstein1(X, X[:10])


def test_copy_statistics_flags_copies():
    rng = np.random.default_rng(0)
    train, heldout = rng.standard_normal((100, 5)), rng.standard_normal((100, 5))
    copies = copy_statistics(train[:30] + 1e-6, train, heldout)
    assert copies["copy_share"] == 1.0 and copies["ratio"] < 1e-3
    new = copy_statistics(rng.standard_normal((100, 5)), train, heldout)
    assert new["copy_share"] < 0.1 and 0.7 < new["ratio"] < 1.4


def test_schedules_other_than_the_default(small):
    X, _, bases = small
    kss = KSubspaces(2, dims=2, random_state=0).fit(X)
    net = LowRankMixtureDenoiser.from_clustering(kss, X, schedule=VPLinear(beta_max=10.0),
                                                 dtype=torch.float64)
    assert net.schedule.beta_max == 10.0
