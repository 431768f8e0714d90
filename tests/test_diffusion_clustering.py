"""DiffusionSubspaceClustering and the equivalence with K-subspaces."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from subclust import DiffusionSubspaceClustering, KSubspaces  # noqa: E402
from subclust.bridge import equivalence_report  # noqa: E402
from subclust.datasets import make_molrg  # noqa: E402
from subclust.metrics import clustering_accuracy, subspace_recovery_error  # noqa: E402


@pytest.fixture(scope="module")
def molrg():
    return make_molrg(n_samples=[60, 60, 60], n_features=48, dims=6, noise=0.01, random_state=0)


@pytest.mark.parametrize("seed", range(10))
def test_equivalence_with_k_subspaces(seed):
    # Acceptance: n=48, K=3, d=6, N_k=60, noise 0.01, in 10 of 10 seeds.
    X, _, _ = make_molrg(n_samples=[60] * 3, n_features=48, dims=6, noise=0.01, random_state=seed)
    report = equivalence_report(X, 3, 6, random_state=seed)
    assert report.max_principal_angle < 0.05
    assert report.ari >= 0.99
    assert abs(report.relative_loss_gap) < 0.01
    assert report.trained_objective == pytest.approx(report.kss_objective, rel=0.01)


def test_recovers_subspaces_labels_and_orthonormal_bases(molrg):
    X, y, true_bases = molrg
    model = DiffusionSubspaceClustering(3, dims=6, random_state=0).fit(X)
    assert clustering_accuracy(y, model.labels_) == 1.0
    assert subspace_recovery_error(model.bases_, true_bases) < 0.02
    for U in model.bases_:
        np.testing.assert_allclose(U.T @ U, np.eye(6), atol=1e-10)
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    assert model.loss_history_.ndim == 1 and np.all(np.isfinite(model.loss_history_))


@pytest.mark.parametrize("units", [1e-3, 1e3])
def test_labels_and_bases_do_not_depend_on_units(molrg, units):
    """The network sees the samples at its own scale: a thousand times smaller is the same."""
    X, y, _ = molrg
    params = dict(dims=6, steps=100, n_init=2, random_state=0)
    base = DiffusionSubspaceClustering(3, **params).fit(X)
    scaled = DiffusionSubspaceClustering(3, **params).fit(units * X)
    assert clustering_accuracy(y, scaled.labels_) == 1.0
    np.testing.assert_array_equal(scaled.labels_, base.labels_)
    np.testing.assert_array_equal(scaled.predict(units * X), base.labels_)
    assert subspace_recovery_error(scaled.bases_, base.bases_) < 1e-6
    assert scaled.scale_ == pytest.approx(units * base.scale_)
    assert scaled.training_loss(units * X) == pytest.approx(base.training_loss_, rel=1e-6)


def test_dims_estimated_when_not_given():
    X, y, true_bases = make_molrg(n_samples=[50] * 3, n_features=40, dims=4, noise=0.05,
                                  random_state=0)
    model = DiffusionSubspaceClustering(3, steps=100, n_init=2, random_state=0).fit(X)
    assert [U.shape[1] for U in model.bases_] == [4, 4, 4]
    assert clustering_accuracy(y, model.labels_) == 1.0
    assert subspace_recovery_error(model.bases_, true_bases) < 0.1


def test_fewer_samples_than_features_train_in_their_span():
    """The bases of the samples' span are the answer; training there gives the same clusters."""
    X, y, true_bases = make_molrg(n_samples=[12] * 3, n_features=400, dims=2, noise=0.01,
                                  random_state=0)
    model = DiffusionSubspaceClustering(3, dims=2, random_state=0).fit(X)
    assert clustering_accuracy(y, model.labels_) == 1.0
    span = np.linalg.svd(X, full_matrices=False)[2].T  # 400 x 36
    for U in model.bases_:
        np.testing.assert_allclose(span @ (span.T @ U), U, atol=1e-10)
        np.testing.assert_allclose(U.T @ U, np.eye(2), atol=1e-10)
    assert model.training_loss(X) == pytest.approx(model.training_loss_, rel=1e-12)
    # The loss is a mean over all 400 features, as without the span.
    kss = KSubspaces(3, dims=2, random_state=0).fit(X)
    assert model.training_loss_ == pytest.approx(model.training_loss(X, kss.bases_), rel=0.05)
    assert model.loss_history_[-1] == pytest.approx(model.training_loss_, rel=0.5)


def test_one_component_is_pca():
    X, _, _ = make_molrg(n_samples=[40], n_features=20, dims=3, noise=0.05, random_state=1)
    model = DiffusionSubspaceClustering(1, dims=3, init="random", random_state=0).fit(X)
    pca = np.linalg.svd(X, full_matrices=False)[2][:3].T
    assert subspace_recovery_error(model.bases_, [pca]) < 5e-3


def test_same_seed_same_result(molrg):
    X = molrg[0][:90]
    a = DiffusionSubspaceClustering(3, dims=6, steps=50, n_init=2, random_state=3).fit(X)
    b = DiffusionSubspaceClustering(3, dims=6, steps=50, n_init=2, random_state=3).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    for U, V in zip(a.bases_, b.bases_):
        np.testing.assert_array_equal(U, V)


def test_kept_run_has_the_lowest_training_loss(molrg):
    X = molrg[0]
    model = DiffusionSubspaceClustering(3, dims=6, steps=100, n_init=4, random_state=2).fit(X)
    assert model.training_loss(X) == pytest.approx(model.training_loss_, rel=1e-12)
    kss = KSubspaces(3, dims=6, random_state=0).fit(X)
    # K-subspaces is the optimum of the hard-assignment objective: no better than it by more
    # than noise.
    assert model.training_loss_ >= model.training_loss(X, kss.bases_) * (1 - 1e-3)


def test_float32_is_kept():
    X, _, _ = make_molrg(n_samples=[30, 30], n_features=8, dims=2, dtype=np.float32, random_state=0)
    model = DiffusionSubspaceClustering(2, dims=2, steps=30, random_state=0).fit(X)
    assert model.bases_[0].dtype == np.float32


@pytest.mark.parametrize(
    "X, params, message",
    [
        (np.full((6, 4), np.nan), {}, "NaN"),
        (np.ones((2, 4)), {"n_clusters": 3}, "n_samples=2 should be >= n_clusters=3"),
        (np.ones((10, 4)), {"dims": 4}, "smaller than n_features=4"),
        (np.ones((10, 4)), {"device": "gpu"}, "device 'gpu' cannot be used here"),
        (np.ones((10, 4)), {"device": "cuda:99"}, "device 'cuda:99' cannot be used here"),
    ],
)
def test_bad_input(X, params, message):
    with pytest.raises(ValueError, match=message):
        DiffusionSubspaceClustering(**{"n_clusters": 2, "steps": 5, **params}).fit(X)


def test_report_table_and_plot(molrg):
    pytest.importorskip("matplotlib")
    X = molrg[0][:120]
    report = equivalence_report(X, 3, 6, diffusion_params={"steps": 100, "n_init": 3})
    assert "largest principal angle" in str(report)
    assert len(report.principal_angles) == 3
    assert len(report.plot().axes) == 2


def test_made_denoiser_samples_the_mixture_with_the_default_sampler():
    """The training range (t <= 0.02) is not the denoiser's: a sampler walks the whole process."""
    from subclust.diffusion import sample_ddim, sample_quality, uniform_times

    _, _, bases = make_molrg(n_features=10, n_components=2, dims=2, random_state=0)
    net = DiffusionSubspaceClustering(2, dims=2).make_denoiser(bases=bases)
    noise = torch.randn(2000, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    grid = uniform_times(100)
    samples = sample_ddim(net, net.schedule.g(grid[0]) * noise, grid, disable=True)
    quality = sample_quality(samples, bases)
    assert quality["off_subspace_energy"] < 1e-6
    assert quality["latent_cov_error"] < 0.2
