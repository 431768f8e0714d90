import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from subclust import KSubspaces
from subclust.cluster import k_subspaces
from subclust.datasets import make_molrg
from subclust.metrics import clustering_accuracy, subspace_recovery_error
from subclust.subspace import residuals


@pytest.fixture(scope="module")
def molrg():
    return make_molrg(n_samples=[60, 60, 60], n_features=48, dims=6, noise=0.01, random_state=0)


def test_noiseless_recovery_with_default_init_over_seeds():
    # The target: n=48, K=3, d=6, N_k=2d; every subspace recovered in >= 95 of 100 seeds.
    recovered = 0
    for seed in range(100):
        X, _, true_bases = make_molrg(n_samples=[12] * 3, n_features=48, dims=6, random_state=seed)
        kss = KSubspaces(3, dims=6, random_state=seed).fit(X)
        recovered += subspace_recovery_error(kss.bases_, true_bases) < 1e-6
    assert recovered >= 95


def test_bases_are_orthonormal_and_labels_accurate(molrg):
    X, y, true_bases = molrg
    kss = KSubspaces(3, dims=6, random_state=0).fit(X)
    for U in kss.bases_:
        np.testing.assert_allclose(U.T @ U, np.eye(6), atol=1e-10)
    assert clustering_accuracy(y, kss.labels_) == 1.0
    assert subspace_recovery_error(kss.bases_, true_bases) < 0.02


@pytest.mark.parametrize("init", ["nn", "random"])
@pytest.mark.parametrize("affine", [False, True])
def test_objective_never_increases(init, affine):
    X, _, _ = make_molrg(n_samples=600, n_features=20, n_components=4, dims=3, noise=0.3,
                         random_state=1)
    kss = KSubspaces(4, dims=3, init=init, affine=affine, n_init=3, tol=0, random_state=0)
    kss.fit(X + 0.5)
    history = np.array(kss.objective_history_)
    assert len(history) >= 2
    assert np.all(np.diff(history) <= 1e-9 * history[0])


def test_objective_is_residual_of_labels(molrg):
    X, _, _ = molrg
    kss = KSubspaces(3, dims=[6, 5, 4], random_state=0).fit(X)
    R = residuals(X, kss.bases_)
    np.testing.assert_array_equal(kss.labels_, R.argmin(axis=1))
    assert kss.objective_ == pytest.approx(R.min(axis=1).sum(), rel=1e-10)
    assert kss.score(X) == pytest.approx(-kss.objective_, rel=1e-10)
    np.testing.assert_array_equal(kss.predict(X), kss.labels_)
    np.testing.assert_allclose(kss.transform(X) ** 2, R, rtol=1e-8, atol=1e-12)
    assert [U.shape[1] for U in kss.bases_] == [6, 5, 4]


def test_same_seed_same_result_and_thread_count_does_not_matter(molrg):
    X, _, _ = molrg
    a = KSubspaces(3, dims=6, random_state=7, chunk_size=32).fit(X)
    b = KSubspaces(3, dims=6, random_state=7, chunk_size=32).fit(X)
    with threadpool_limits(1):
        c = KSubspaces(3, dims=6, random_state=7, chunk_size=32).fit(X)
    for other in (b, c):
        np.testing.assert_array_equal(a.labels_, other.labels_)
        for U, V in zip(a.bases_, other.bases_):
            np.testing.assert_allclose(U, V, atol=1e-10)


def test_chunk_size_does_not_change_the_result(molrg):
    X, _, _ = molrg
    a = KSubspaces(3, dims=6, random_state=3).fit(X)
    b = KSubspaces(3, dims=6, random_state=3, chunk_size=7).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert subspace_recovery_error(a.bases_, b.bases_) < 1e-10


def test_float32_stays_float32(molrg):
    X = molrg[0].astype(np.float32)
    kss = KSubspaces(3, dims=6, random_state=0).fit(X)
    assert all(U.dtype == np.float32 for U in kss.bases_)
    assert kss.transform(X).dtype == np.float32


def test_affine_subspaces_recovered():
    X, y, true_bases = make_molrg(n_samples=[80, 80], n_features=10, dims=2, random_state=2)
    offsets = np.array([[3.0] * 10, [-3.0] * 10])
    X = X + offsets[y]
    kss = KSubspaces(2, dims=2, affine=True, random_state=0).fit(X)
    assert clustering_accuracy(y, kss.labels_) == 1.0
    assert subspace_recovery_error(kss.bases_, true_bases) < 1e-8
    order = kss.predict(offsets)
    np.testing.assert_allclose(kss.means_[order], offsets, atol=0.5)


def test_given_bases_init_starts_there(molrg):
    X, y, true_bases = molrg
    kss = KSubspaces(3, dims=6, init=true_bases, n_init=5).fit(X)
    assert clustering_accuracy(y, kss.labels_) == 1.0
    assert kss.n_iter_ <= 3


def test_empty_cluster_is_reseeded():
    # Two identical initial bases: one cluster starts empty and must be re-seeded.
    X, y, true_bases = make_molrg(n_samples=[50, 50], n_features=12, dims=2, random_state=4)
    kss = KSubspaces(2, dims=2, init=[true_bases[0], true_bases[0]]).fit(X)
    assert clustering_accuracy(y, kss.labels_) == 1.0
    assert np.bincount(kss.labels_).min() > 0


def test_function_matches_estimator(molrg):
    X, _, _ = molrg
    bases, means, labels, objective, n_iter, history = k_subspaces(X, 3, 6, random_state=0)
    kss = KSubspaces(3, dims=6, random_state=0).fit(X)
    np.testing.assert_array_equal(labels, kss.labels_)
    assert means is None and objective == kss.objective_ and history[-1] == objective


@pytest.mark.parametrize(
    "X, params, message",
    [
        (np.array([[0.0, np.nan, 1.0]] * 5), {}, "NaN"),
        (np.array([[0.0, np.inf, 1.0]] * 5), {}, "infinity"),
        (np.ones((2, 5)), {"n_clusters": 3}, "n_samples=2 should be >= n_clusters=3"),
        (np.ones((10, 5)), {"dims": 5}, "smaller than n_features=5"),
        (np.ones((10, 5)), {"dims": [1, 2, 3]}, "one dimension per cluster"),
        (np.ones(10), {}, "Expected 2D array"),
        (np.empty((0, 5)), {}, "0 sample"),
    ],
)
def test_bad_input_raises_clear_error(X, params, message):
    kss = KSubspaces(**{"n_clusters": 2, **params})
    with pytest.raises(ValueError, match=message):
        kss.fit(X)


def test_bad_init_raises_clear_error():
    X = np.random.default_rng(0).standard_normal((20, 5))
    with pytest.raises(ValueError, match="init basis 0 has shape"):
        KSubspaces(2, dims=2, init=[np.eye(5)[:, :3], np.eye(5)[:, :2]]).fit(X)
    with pytest.raises(ValueError, match="init has 1 bases"):
        KSubspaces(2, dims=2, init=[np.eye(5)[:, :2]]).fit(X)


def test_predict_checks_feature_count(molrg):
    kss = KSubspaces(3, dims=6, random_state=0).fit(molrg[0])
    with pytest.raises(ValueError, match="features"):
        kss.predict(np.ones((2, 5)))


@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize(
    "n_per_cluster, n_features, dims, noise",
    [
        (120, 128, [2, 3, 5], 0.01),
        (120, 256, [8] * 4, 0.05),
        (120, 20, [3] * 3, 0.0),
        # Fewer samples than a neighbourhood across the data takes from one subspace.
        (25, 120, [4] * 4, 0.05),
    ],
)
def test_dims_estimated_when_not_given(n_per_cluster, n_features, dims, noise, affine):
    X, y, true_bases = make_molrg(n_samples=[n_per_cluster] * len(dims), n_features=n_features,
                                  dims=dims, noise=noise, random_state=0)
    if affine:  # subspaces through points far from the origin: an offset is no dimension
        X = X + 3.0 * np.random.default_rng(0).standard_normal((len(dims), n_features))[y]
    kss = KSubspaces(len(dims), affine=affine, random_state=0).fit(X.astype(np.float32))
    assert clustering_accuracy(y, kss.labels_) == 1.0
    found = [U.shape[1] for U in kss.bases_]
    # Each cluster's dimension is its true subspace's (matched by the labels).
    for k, U in enumerate(kss.bases_):
        assert U.shape[1] == dims[np.bincount(y[kss.labels_ == k]).argmax()], found


def test_dims_estimation_ignores_noise_energy():
    from subclust.subspace import estimate_rank, numerical_rank

    X, _, _ = make_molrg(n_samples=[400], n_features=200, dims=8, noise=0.05, random_state=1)
    s = np.linalg.svd(X, compute_uv=False)
    assert estimate_rank(s, X.shape) == 8
    assert numerical_rank(s, 0.997) > 50  # an energy share takes in the noise


def test_init_subspaces_are_the_starts_of_k_subspaces(molrg):
    from subclust.cluster import init_subspaces

    X = molrg[0]
    for init in ("nn", "random"):
        starts = init_subspaces(X, 3, 6, init=init, n_init=2, random_state=0)
        assert len(starts) == 2
        for bases, means in starts:
            assert means is None
            for U in bases:
                np.testing.assert_allclose(U.T @ U, np.eye(6), atol=1e-10)
        # K-subspaces started at each start (one iteration) equals one run with that init.
        ours = k_subspaces(X, 3, 6, init=init, n_init=1, max_iter=1, random_state=0)
        given = k_subspaces(X, 3, 6, init=starts[0][0], max_iter=1)
        for U, V in zip(ours[0], given[0]):
            np.testing.assert_allclose(U, V)
    bases, means = init_subspaces(X, 3, 6, affine=True, random_state=0)[0]
    assert means.shape == (3, 48)


def test_init_subspaces_rejects_bad_arguments():
    from subclust.cluster import init_subspaces

    X = np.random.default_rng(0).standard_normal((10, 5))
    with pytest.raises(ValueError, match="'init' parameter of init_subspaces must be a str among"):
        init_subspaces(X, 2, 1, init="kmeans")
    with pytest.raises(ValueError, match="'n_init' parameter of init_subspaces must be an int"):
        init_subspaces(X, 2, 1, n_init=0)
    with pytest.raises(ValueError, match="n_samples=10 should be >= n_clusters=11"):
        init_subspaces(X, 11, 1)
    with pytest.raises(ValueError, match="NaN"):
        init_subspaces(np.full((4, 3), np.nan), 2, 1)


@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("dims", [4, None])
def test_fewer_samples_than_features_fit_as_from_scatter_matrices(affine, dims, tmp_path):
    # In memory, clusters' subspaces then come from their samples; read by chunks from a
    # memmap, from their scatter matrices: the same fit either way.
    X, y, true_bases = make_molrg(n_samples=[40] * 3, n_features=150, dims=4, noise=0.01,
                                  random_state=5)  # fmt: skip
    X = X + 2.0 * affine
    np.save(tmp_path / "X.npy", X)
    params = dict(dims=dims, affine=affine, n_init=3, random_state=0)
    in_memory = KSubspaces(3, **params).fit(X)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    chunked = KSubspaces(3, chunk_size=30, **params).fit(mapped)
    np.testing.assert_array_equal(in_memory.labels_, chunked.labels_)
    assert subspace_recovery_error(in_memory.bases_, chunked.bases_) < 1e-8
    assert clustering_accuracy(y, in_memory.labels_) >= 0.99
    if dims is not None:
        assert subspace_recovery_error(in_memory.bases_, true_bases) < 0.05
