"""DiffusionSubspaceClustering and the equivalence with K-subspaces."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from subclust import DiffusionSubspaceClustering, KSubspaces  # noqa: E402
from subclust.bridge import equivalence_report  # noqa: E402
from subclust.datasets import make_molrg  # noqa: E402
from subclust.diffusion import LowRankMixtureDenoiser, VPLinear  # noqa: E402
from subclust.diffusion.clustering import (  # noqa: E402
    CLUSTERING_NOISE_LEVELS,
    _StackedMixtures,
)
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


def test_stacked_network_equals_the_low_rank_mixture_denoiser():
    # The batched training network must compute exactly the paper's network.
    X, _, bases = make_molrg(n_samples=[5, 5], n_features=10, dims=[2, 3], random_state=0)
    schedule = VPLinear()
    x_t = torch.as_tensor(X)
    t = torch.full((10,), 0.01, dtype=torch.float64)
    s, g = (v[:, None] for v in schedule.s_and_g(t))
    for weighting in ("soft", "hard"):
        net = LowRankMixtureDenoiser(10, 2, [2, 3], schedule=schedule, weighting=weighting,
                                     init_bases=bases, dtype=torch.float64)
        stacked = _StackedMixtures([[bases]], [2, 3], schedule, weighting == "hard",
                                   torch.float64, "cpu")
        with torch.no_grad():
            np.testing.assert_allclose(stacked(x_t[None], s, g)[0, 0], net(x_t, t), atol=1e-12)


def test_fit_bases_many_matches_separate_fits(molrg):
    X = molrg[0]
    model = DiffusionSubspaceClustering(3, dims=6, steps=60, n_init=2)
    together = model.fit_bases_many([X[:90], X[90:]], [0, 1])
    alone = model.set_params(random_state=0).fit(X[:90]).bases_
    assert subspace_recovery_error(together[0], alone) < 1e-12


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


def test_loss_in_basis_coordinates_equals_loss_of_the_output():
    X, _, bases = make_molrg(n_samples=[6, 6], n_features=10, dims=[2, 3], random_state=1)
    schedule = VPLinear()
    gen = torch.Generator().manual_seed(0)
    t = CLUSTERING_NOISE_LEVELS.sample_times(schedule, 12, gen)
    eps = torch.randn(12, 10, generator=gen, dtype=torch.float64)
    x0 = torch.as_tensor(X)
    stacked = _StackedMixtures([[bases]], [2, 3], schedule, False, torch.float64, "cpu")
    s, g = (v[:, None] for v in schedule.s_and_g(t))
    with torch.no_grad():
        direct = ((stacked(s * x0[None] + g * eps, s, g) - x0) ** 2).mean()
        loss = float(stacked.losses(x0[None], t, eps)[0, 0])
        assert loss == pytest.approx(float(direct), rel=1e-10)


# --- training many data sets of any sizes at once (phase-transition grid) ---
def _fit_ragged(data_sets, dims, runs, **kwargs):
    from subclust.utils.parallel import torch_threads
    from subclust.diffusion.clustering import fit_low_rank_mixtures_ragged

    with torch_threads(1):  # tiny networks: more threads only synchronize
        return fit_low_rank_mixtures_ragged(
            data_sets, dims, runs, generator=torch.Generator().manual_seed(0), **kwargs)


def _nn_runs(X, dims, n_runs, seed):
    model = DiffusionSubspaceClustering(len(dims), dims=dims)
    rng = np.random.RandomState(seed)
    return [model._initial_bases(X, dims, rng) for _ in range(n_runs)]


def test_ragged_training_gives_each_data_set_its_training_alone():
    # Data sets of different sizes share one network; each must follow the
    # training it would have alone with the same noise draws.
    draws = [make_molrg(n_samples=[n, n], n_features=12, dims=2, random_state=n)
             for n in (3, 8, 13)]
    data_sets = [X for X, _, _ in draws]
    runs = [_nn_runs(X, [2, 2], 4, seed) for seed, X in enumerate(data_sets)]
    kwargs = dict(steps=40, lr=0.1, prune={10: 2}, slots=32, dtype=torch.float64)
    together, losses = _fit_ragged(data_sets, [2, 2], runs, **kwargs)
    for j in range(3):
        alone, loss = _fit_ragged([data_sets[j]], [2, 2], [runs[j]], **kwargs)
        assert subspace_recovery_error(together[j], alone[0]) < 1e-10
        assert losses[j] == pytest.approx(loss[0], rel=1e-10)


def test_every_sample_counts_equally_at_every_step():
    from subclust.diffusion.clustering import _AllSamples

    sizes = [1, 3, 7, 10]
    data_sets = [np.arange(n * 2, dtype=float).reshape(n, 2) + 1 for n in sizes]
    batches = _AllSamples(data_sets, slots=8, dtype=torch.float64, device="cpu")
    for step in range(5):
        x0, weights = batches(step)
        assert x0.shape == (4, 10, 2)
        for j, X in enumerate(data_sets):
            # the weight of each sample over its slots: 1 / N_j, and every sample is there
            per_sample = {}
            for row, w in zip(x0[j].numpy(), weights[j].numpy()):
                per_sample[row[0]] = per_sample.get(row[0], 0) + w
            assert sorted(per_sample) == sorted(X[:, 0])
            np.testing.assert_allclose(list(per_sample.values()), 1 / len(X))


def test_pruning_keeps_the_best_run_with_its_optimizer_state():
    X, _, truth = make_molrg(n_samples=[12, 12], n_features=16, dims=3, random_state=4)
    rng = np.random.RandomState(0)
    random_runs = [[np.linalg.qr(rng.standard_normal((16, 3)))[0] for _ in range(2)]
                   for _ in range(5)]
    kwargs = dict(steps=60, lr=0.05, dtype=torch.float64)
    # Keeping every run reorders them by loss and carries Adam's state over:
    # the training must go on exactly as without pruning.
    plain, plain_loss = _fit_ragged([X], [3, 3], [random_runs], **kwargs)
    kept, kept_loss = _fit_ragged([X], [3, 3], [random_runs], prune={20: 5}, **kwargs)
    assert subspace_recovery_error(plain[0], kept[0]) < 1e-10
    assert kept_loss[0] == pytest.approx(plain_loss[0], rel=1e-10)
    # Pruning to one run keeps the one started at the truth.
    runs = random_runs[:2] + [list(truth)] + random_runs[2:]
    best, _ = _fit_ragged([X], [3, 3], [runs], prune={5: 1}, **kwargs)
    assert subspace_recovery_error(best[0], truth) < 0.02


def test_fit_bases_ragged_recovers_subspaces_of_every_size():
    draws = [make_molrg(n_samples=[n] * 3, n_features=20, dims=3, random_state=n)
             for n in (6, 15, 30)]
    model = DiffusionSubspaceClustering(3, dims=3, n_init=20, steps=150, lr=0.2)
    fitted = model.fit_bases_ragged([X for X, _, _ in draws], [0, 1, 2], prune=[(10, 4)])
    for bases, (_, _, truth) in zip(fitted, draws):
        assert subspace_recovery_error(bases, truth) < 0.05
        for U in bases:
            assert U.dtype == np.float64
            np.testing.assert_allclose(U.T @ U, np.eye(3), atol=1e-5)


@pytest.mark.parametrize(
    "prune, message",
    [
        ([(0, 2)], r"prune steps must increase strictly within \(0, steps=20\)"),
        ([(5, 2), (5, 1)], "prune steps must increase strictly"),
        ([(20, 2)], "prune steps must increase strictly"),
        ([(5, 4)], r"prune must keep between 1 and the runs left \(3\)"),
        ([(5, 2), (8, 3)], r"prune must keep between 1 and the runs left \(2\)"),
    ],
)
def test_fit_bases_ragged_rejects_bad_prune(prune, message):
    X = np.random.RandomState(0).standard_normal((10, 5))
    model = DiffusionSubspaceClustering(2, dims=1, n_init=3, steps=20)
    with pytest.raises(ValueError, match=message):
        model.fit_bases_ragged([X], [0], prune=prune)


def test_fit_bases_ragged_rejects_bad_data_sets():
    rng = np.random.RandomState(0)
    model = DiffusionSubspaceClustering(2, dims=1, n_init=2, steps=5)
    with pytest.raises(ValueError, match="one per data set"):
        model.fit_bases_ragged([rng.standard_normal((10, 5))] * 2, [0])
    with pytest.raises(ValueError, match="fewer than n_clusters=2"):
        model.fit_bases_ragged([rng.standard_normal((10, 5)), rng.standard_normal((1, 5))], [0, 1])


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
