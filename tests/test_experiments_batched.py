"""Many fits of the low-rank mixture denoiser at once (the phase-transition grid)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from subclust.cluster import init_subspaces  # noqa: E402
from subclust.datasets import make_molrg  # noqa: E402
from subclust.experiments._batched import _AllSamples, fit_mixtures  # noqa: E402
from subclust.metrics import subspace_recovery_error  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _restarts(X, dims, n_init, seed):
    starts = init_subspaces(X, len(dims), dims, n_init=n_init, random_state=seed)
    return [bases for bases, _ in starts]


def test_data_sets_of_any_sizes_each_get_their_training_alone():
    # Data sets of different sizes share one network; each must follow the
    # training it would have alone with the same noise draws.
    draws = [make_molrg(n_samples=[n, n], n_features=12, dims=2, random_state=n)
             for n in (3, 8, 13)]
    data_sets = [X for X, _, _ in draws]
    runs = [_restarts(X, [2, 2], 4, seed) for seed, X in enumerate(data_sets)]
    kwargs = dict(steps=40, lr=0.1, prune=[(10, 2)], slots=32, dtype=torch.float64, random_state=0)
    together, losses = fit_mixtures(data_sets, runs, **kwargs)
    for j in range(3):
        alone, loss = fit_mixtures([data_sets[j]], [runs[j]], **kwargs)
        assert subspace_recovery_error(together[j], alone[0]) < 1e-10
        assert losses[j] == pytest.approx(loss[0], rel=1e-10)


def test_every_sample_counts_equally_at_every_step():
    sizes = [1, 3, 7, 10]
    data_sets = [np.arange(n * 2, dtype=float).reshape(n, 2) + 1 for n in sizes]
    batches = _AllSamples(data_sets, slots=8, dtype=torch.float64, device="cpu")
    for step in range(5):
        x0, weights = batches(step)
        assert x0.shape == (4, 1, 10, 2) and weights.shape == (4, 1, 10)
        for j, X in enumerate(data_sets):
            # the weight of each sample over its slots: 1 / N_j, and every sample is there
            per_sample = {}
            for row, w in zip(x0[j, 0].numpy(), weights[j, 0].numpy()):
                per_sample[row[0]] = per_sample.get(row[0], 0) + w
            assert sorted(per_sample) == sorted(X[:, 0])
            np.testing.assert_allclose(list(per_sample.values()), 1 / len(X))


def test_pruning_keeps_the_best_run_with_its_optimizer_state():
    X, _, truth = make_molrg(n_samples=[12, 12], n_features=16, dims=3, random_state=4)
    rng = np.random.RandomState(0)
    random_runs = [[np.linalg.qr(rng.standard_normal((16, 3)))[0] for _ in range(2)]
                   for _ in range(5)]
    kwargs = dict(steps=60, lr=0.05, dtype=torch.float64, random_state=0)
    # Keeping every run reorders them by loss and carries Adam's state over:
    # the training must go on exactly as without pruning.
    plain, plain_loss = fit_mixtures([X], [random_runs], **kwargs)
    kept, kept_loss = fit_mixtures([X], [random_runs], prune=[(20, 5)], **kwargs)
    assert subspace_recovery_error(plain[0], kept[0]) < 1e-10
    assert kept_loss[0] == pytest.approx(plain_loss[0], rel=1e-10)
    # Pruning to one run keeps the one started at the truth.
    runs = random_runs[:2] + [list(truth)] + random_runs[2:]
    best, _ = fit_mixtures([X], [runs], prune=[(5, 1)], **kwargs)
    assert subspace_recovery_error(best[0], truth) < 0.02


def test_recovers_subspaces_of_every_size():
    draws = [make_molrg(n_samples=[n] * 3, n_features=20, dims=3, random_state=n)
             for n in (6, 15, 30)]
    data_sets = [X for X, _, _ in draws]
    runs = [_restarts(X, [3] * 3, 20, seed) for seed, X in enumerate(data_sets)]
    fitted, _ = fit_mixtures(data_sets, runs, steps=150, lr=0.2, prune=[(10, 4)], random_state=0)
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
def test_rejects_bad_prune(prune, message):
    X = np.random.RandomState(0).standard_normal((10, 5))
    with pytest.raises(ValueError, match=message):
        fit_mixtures([X], [_restarts(X, [1, 1], 3, 0)], steps=20, prune=prune)


def test_rejects_bad_data_sets():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((10, 5))
    runs = [_restarts(X, [1, 1], 2, 0)]
    with pytest.raises(ValueError, match="one list of restarts per data set"):
        fit_mixtures([X, X], runs, steps=5)
    with pytest.raises(ValueError, match="fewer than n_clusters=2"):
        fit_mixtures([X[:1]], runs, steps=5)
    with pytest.raises(ValueError, match="same number of features"):
        fit_mixtures([X, X[:, :4]], runs * 2, steps=5)
