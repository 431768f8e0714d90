"""Sparse, least-squares and thresholding subspace clustering on synthetic MoLRG data.

What matters: the solvers agree with the exact reference, the representation
links only samples of the same subspace, labels recover the subspaces,
predict assigns new samples to them, and bad input fails clearly.
Real-data accuracy runs are marked slow (and live in ``subclust bench ssc``).
"""

import numpy as np
import pytest
import scipy.sparse as sp

from subclust import (
    LeastSquaresSubspaceClustering,
    SparseSubspaceClustering,
    ThresholdedSubspaceClustering,
)
from subclust.cluster import (
    angular_affinity,
    cluster_bases,
    lasso_lambda,
    least_squares_representation,
    normalize_samples,
    representation_affinity,
    self_representation_admm,
    self_representation_elastic_net,
    self_representation_objective,
    self_representation_omp,
    sparse_self_representation,
    spectral_labels,
    thresholded_representation,
)
from subclust.datasets import make_molrg
from subclust.metrics import clustering_accuracy, subspace_recovery_error
from subclust.pipeline import make_estimator
from subclust.utils.validation import InvalidParameterError



def _same_subspace_fraction(C, y):
    rows, cols = sp.coo_matrix(C).nonzero()
    return float(np.mean(y[rows] == y[cols]))


# --- the solvers -----------------------------------------------------------------


@pytest.mark.parametrize("affine", [False, True])
def test_admm_matches_cvxpy(affine, draw_molrg):
    """ADMM reaches the exact optimum of the Lasso problem (cvxpy/Clarabel)."""
    pytest.importorskip("cvxpy")  # an optional extra
    from subclust.cluster import self_representation_cvxpy

    X, y, _ = draw_molrg(n_per=25, n_features=15, dim=3, noise=0.01, seed=1)
    X = normalize_samples(X)
    lam = lasso_lambda(X, 20.0)
    C_admm = self_representation_admm(X, affine=affine, tol=1e-6, max_iter=3000)
    C_ref = self_representation_cvxpy(X, affine=affine, solver="CLARABEL")
    f_admm = self_representation_objective(X, C_admm, lam)
    f_ref = self_representation_objective(X, C_ref, lam)
    assert abs(f_admm - f_ref) <= 1e-4 * f_ref
    assert np.all(C_admm.diagonal() == 0)
    if affine:
        np.testing.assert_allclose(np.asarray(C_admm.sum(axis=1)).ravel(), 1.0, atol=1e-4)
    labels = [
        SparseSubspaceClustering(3, solver=s, affine=affine, tol=1e-6, random_state=0)
        .fit(X)
        .labels_
        for s in ("admm", "cvxpy")
    ]
    assert clustering_accuracy(labels[0], labels[1]) == 1.0
    assert clustering_accuracy(y, labels[0]) == 1.0


def test_admm_woodbury_and_direct_agree(draw_molrg):
    """N > 2D takes the Woodbury path; the result must not depend on it."""
    X, _, _ = draw_molrg(n_per=20, n_features=8, dim=2, noise=0.01, seed=2)  # N=60 > 2*8
    X = normalize_samples(X)
    C_wood = self_representation_admm(X, tol=1e-7, max_iter=5000)
    X_wide = np.hstack([X, np.zeros((X.shape[0], 30))])  # same problem, N < 2D: direct path
    C_direct = self_representation_admm(X_wide, tol=1e-7, max_iter=5000)
    np.testing.assert_allclose(C_wood.toarray(), C_direct.toarray(), atol=1e-4)


def test_admm_outliers_recovers_corrupted_entries(draw_molrg):
    X, y, _ = draw_molrg(n_per=30, n_features=30, dim=3, seed=3)
    X = normalize_samples(X)
    corrupted = X.copy()
    rng = np.random.default_rng(0)
    rows = rng.choice(X.shape[0], 10, replace=False)
    cols = rng.choice(X.shape[1], 10)
    corrupted[rows, cols] += 2.0
    C, E = self_representation_admm(
        normalize_samples(corrupted), outlier_penalty=1.0, return_outliers=True, max_iter=2000
    )
    assert np.all(C.diagonal() == 0)
    # The largest outlier entries are the corrupted ones.
    top = np.argsort(np.abs(E).ravel())[::-1][:10]
    assert set(top) == set(np.ravel_multi_index((rows, cols), X.shape))
    labels = SparseSubspaceClustering(3, solver="admm", outlier_penalty=1.0, random_state=0)
    assert clustering_accuracy(y, labels.fit(corrupted).labels_) == 1.0


@pytest.mark.parametrize(
    "solver, params",
    [("admm", {}), ("omp", {"n_nonzero": 3}), ("elastic_net", {})],
)
def test_representation_links_only_same_subspace(solver, params, draw_molrg):
    """Independent noiseless subspaces: every nonzero coefficient stays within a subspace."""
    X, y, _ = draw_molrg(n_per=30, n_features=30, dim=3, seed=4)
    C = sparse_self_representation(normalize_samples(X), solver=solver, **params)
    assert sp.issparse(C) and C.shape == (90, 90)
    assert np.all(C.diagonal() == 0)
    assert _same_subspace_fraction(C, y) == 1.0
    # Every sample is represented (no empty row).
    assert np.all(np.diff(sp.csr_matrix(C).indptr) > 0)


def test_omp_reconstructs_each_sample(draw_molrg):
    X, _, _ = draw_molrg(n_per=20, n_features=20, dim=3, seed=5)
    X = normalize_samples(X)
    C = self_representation_omp(X, n_nonzero=3)
    np.testing.assert_allclose(C @ X, X, atol=1e-8)
    assert np.diff(C.indptr).max() <= 3


@pytest.mark.parametrize(
    "n_per, n_features, noise, alpha, seed, tol",
    # The second: supports hold more atoms than there are dimensions (ill-posed restrictions).
    [(30, 15, 0.05, 50.0, 6, 1e-9), (60, 10, 0.1, 200.0, 0, 1e-6)],
)
def test_elastic_net_is_optimal(draw_molrg, n_per, n_features, noise, alpha, seed, tol):
    """The active-set result satisfies the elastic-net optimality conditions of every sample."""
    X, _, _ = draw_molrg(n_per=n_per, n_features=n_features, dim=4, noise=noise, seed=seed)
    X = normalize_samples(X)
    tau = 0.9
    C = self_representation_elastic_net(X, alpha=alpha, l1_ratio=tau, tol=tol).toarray()
    G = np.abs(X @ X.T)
    np.fill_diagonal(G, -np.inf)
    gamma = alpha * tau / G.max(axis=1)
    R = X - C @ X
    grad = gamma[:, None] * (R @ X.T) - (1 - tau) * C  # minus the smooth gradient
    off = ~np.eye(len(X), dtype=bool)
    nonzero = (C != 0) & off
    # On the support: grad = tau * sign(c); elsewhere |grad| <= tau.
    np.testing.assert_allclose(grad[nonzero], tau * np.sign(C[nonzero]), atol=1e-5)
    assert np.all(np.abs(grad[~nonzero & off]) <= tau * (1 + 1e-5))


def test_elastic_net_matches_cvxpy_per_sample(draw_molrg):
    cp = pytest.importorskip("cvxpy")
    X, _, _ = draw_molrg(n_per=15, n_features=10, dim=3, noise=0.05, seed=7)
    X = normalize_samples(X)
    tau, alpha = 0.7, 30.0
    C = self_representation_elastic_net(X, alpha=alpha, l1_ratio=tau, tol=1e-10).toarray()
    i = 4
    others = np.delete(np.arange(len(X)), i)
    gamma = alpha * tau / np.abs(X[others] @ X[i]).max()
    c = cp.Variable(len(others))
    cost = tau * cp.norm1(c) + (1 - tau) / 2 * cp.sum_squares(c)
    cost += gamma / 2 * cp.sum_squares(X[i] - X[others].T @ c)
    cp.Problem(cp.Minimize(cost)).solve(solver="CLARABEL")
    np.testing.assert_allclose(C[i, others], c.value, atol=1e-5)


@pytest.mark.parametrize("n_features", [12, 40])  # more samples than features, and fewer
def test_least_squares_closed_forms(draw_molrg, n_features):
    X, _, _ = draw_molrg(n_per=10, n_features=n_features, dim=2, noise=0.1, seed=8)
    lam = 0.3
    C2, (values, vectors) = least_squares_representation(X, lam, return_eigenpairs=True)
    G = X @ X.T
    np.testing.assert_allclose(C2, np.linalg.solve(G + lam * np.eye(len(X)), G), atol=1e-10)
    np.testing.assert_allclose(least_squares_representation(X, lam), C2, atol=1e-10)
    np.testing.assert_allclose((vectors * values) @ vectors.T, C2, atol=1e-10)
    C1 = least_squares_representation(X, lam, zero_diagonal=True)
    assert np.all(np.diag(C1) == 0)
    i = 3  # row i is the ridge regression of x_i on the other samples
    others = np.delete(np.arange(len(X)), i)
    A = X[others]
    ridge = np.linalg.solve(A @ A.T + lam * np.eye(len(others)), A @ X[i])
    np.testing.assert_allclose(C1[i, others], ridge, atol=1e-8)


@pytest.mark.parametrize("n_clusters", [3, None])
def test_large_least_squares_fit_never_forms_the_n_by_n_representation(
    draw_molrg, monkeypatch, n_clusters
):
    """Above the dense limit LSR builds its affinity from the eigenpairs alone, identically."""
    import subclust.cluster._least_squares as least_squares

    X, y, _ = draw_molrg(n_per=30, n_features=15, dim=2, noise=0.01, seed=3)
    X = np.vstack([X, X[:2], np.zeros((1, 15))])  # copies and a zero sample: the kept rows
    with pytest.warns(UserWarning, match="zero"):
        small = LeastSquaresSubspaceClustering(n_clusters, random_state=0).fit(X)
    monkeypatch.setattr(least_squares, "_DENSE_LIMIT", 10)
    with pytest.warns(UserWarning, match="zero"):
        large = LeastSquaresSubspaceClustering(n_clusters, random_state=0).fit(X)
    assert small.representation_matrix_.shape == (93, 93)
    assert large.representation_matrix_ is None
    np.testing.assert_allclose(large.affinity_matrix_, small.affinity_matrix_, atol=1e-12)
    np.testing.assert_array_equal(large.labels_, small.labels_)
    assert large.n_clusters_ == 3 and clustering_accuracy(y, large.labels_[:90]) == 1.0


def test_thresholded_representation_keeps_q_neighbours(draw_molrg):
    X, y, _ = draw_molrg(n_per=20, n_features=20, dim=2, seed=9)
    X = normalize_samples(X)
    C = thresholded_representation(X, 4)
    assert np.all(np.diff(C.indptr) == 4)
    assert np.all(C.diagonal() == 0)
    assert np.all((C.data > 0) & (C.data <= 1))


# --- affinities ------------------------------------------------------------------


def test_thresholded_representation_is_the_same_block_by_block(draw_molrg, monkeypatch):
    import subclust.cluster._thresholded as thresholded

    X = normalize_samples(draw_molrg(n_per=20, n_features=20, dim=2, seed=9)[0])
    whole = thresholded_representation(X, 4)
    monkeypatch.setattr(thresholded, "_BLOCK_ENTRIES", 7 * len(X))  # blocks of 7 rows
    blocks = thresholded_representation(X, 4)
    np.testing.assert_array_equal(blocks.toarray() > 0, whole.toarray() > 0)  # same neighbours
    np.testing.assert_allclose(blocks.toarray(), whole.toarray(), rtol=1e-12)


def test_representation_affinity_is_symmetric_and_scaled():
    rng = np.random.default_rng(0)
    C = rng.standard_normal((12, 12))
    W = representation_affinity(C)
    np.testing.assert_allclose(W, W.T)
    assert np.all(np.diag(W) == 0) and W.min() >= 0
    Ws = representation_affinity(sp.csr_matrix(C))
    np.testing.assert_allclose(Ws.toarray(), W)
    Wk = representation_affinity(C, n_neighbors=3)
    assert (Wk != Wk.T).nnz == 0
    assert np.all(np.diff(sp.csr_matrix(representation_affinity(C, n_neighbors=3)).indptr) >= 3)
    # A sparse representation keeps the same neighbours as the dense one.
    np.testing.assert_allclose(representation_affinity(sp.csr_matrix(C), n_neighbors=3).toarray(),
                               Wk.toarray())


def test_angular_affinity_block_diagonal_and_sparse_version():
    C = np.kron(np.eye(3), np.ones((5, 5)))
    W = angular_affinity(C, 3, dim_per_cluster=1)
    blocks = np.kron(np.eye(3), np.ones((5, 5))) - np.eye(15)
    np.testing.assert_allclose(W, blocks, atol=1e-10)
    Wk = angular_affinity(C, 3, dim_per_cluster=1, n_neighbors=4)
    np.testing.assert_allclose(Wk.toarray(), blocks, atol=1e-10)


# --- estimators ------------------------------------------------------------------

ESTIMATORS = {
    "ssc-en": lambda k: SparseSubspaceClustering(k, random_state=0),
    "ssc-admm": lambda k: SparseSubspaceClustering(k, solver="admm", random_state=0),
    "ssc-omp": lambda k: SparseSubspaceClustering(
        k, solver="omp", n_nonzero=4, random_state=0
    ),
    "ssc-symmetric": lambda k: SparseSubspaceClustering(k, affinity="symmetric", random_state=0),
    "ssc-omp-angular": lambda k: SparseSubspaceClustering(
        k, solver="omp", n_nonzero=4, affinity="angular", random_state=0
    ),
    "lsr": lambda k: LeastSquaresSubspaceClustering(k, random_state=0),
    "lsr1": lambda k: LeastSquaresSubspaceClustering(k, zero_diagonal=True, random_state=0),
    "lsr-symmetric": lambda k: LeastSquaresSubspaceClustering(
        k, affinity="symmetric", random_state=0
    ),
    "tsc": lambda k: ThresholdedSubspaceClustering(k, random_state=0),
}


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_estimators_recover_subspaces(name, draw_molrg):
    X, y, bases = draw_molrg(n_per=40, n_features=20, dim=3, noise=0.01, seed=10)
    est = ESTIMATORS[name](3).fit(X)
    assert clustering_accuracy(y, est.labels_) == 1.0
    assert est.representation_matrix_.shape == (120, 120)
    assert est.affinity_matrix_.shape == (120, 120)
    # Per-cluster subspaces: the true ones, with their dimension estimated from the data.
    assert [U.shape[1] for U in est.bases_] == [3, 3, 3]
    assert subspace_recovery_error(est.bases_, bases) < 0.05


@pytest.mark.parametrize("name", ["ssc-en", "lsr", "tsc"])
def test_predict_held_out(name, draw_molrg):
    X, y, _ = draw_molrg(n_per=60, n_features=20, dim=3, noise=0.01, seed=11)
    est = ESTIMATORS[name](3).fit(X[:120])
    assert clustering_accuracy(y[:120], est.labels_) == 1.0
    # New samples go to the cluster of their subspace: same mapping as in training.
    train_map = {c: np.bincount(y[:120][est.labels_ == c]).argmax() for c in range(3)}
    predicted = np.array([train_map[c] for c in est.predict(X[120:])])
    assert np.mean(predicted == y[120:]) == 1.0
    np.testing.assert_array_equal(est.predict(X[:120]), est.labels_)


def test_predict_is_scale_invariant_and_uses_given_dims(draw_molrg):
    X, _, _ = draw_molrg(n_per=30, n_features=15, dim=2, seed=12)
    est = LeastSquaresSubspaceClustering(3, subspace_dims=2, random_state=0).fit(X)
    assert [U.shape[1] for U in est.bases_] == [2, 2, 2]
    np.testing.assert_array_equal(est.predict(X), est.predict(7.5 * X))


def test_precomputed_affinity(draw_molrg):
    X, y, _ = draw_molrg(n_per=30, n_features=20, dim=3, seed=13)
    W = LeastSquaresSubspaceClustering(3).fit(X).affinity_matrix_
    est = SparseSubspaceClustering(3, affinity="precomputed", random_state=0).fit(W)
    assert clustering_accuracy(y, est.labels_) == 1.0
    assert est.representation_matrix_ is None
    with pytest.raises(ValueError, match="precomputed"):
        est.predict(X)
    with pytest.raises(ValueError, match="square"):
        SparseSubspaceClustering(3, affinity="precomputed").fit(X)
    with pytest.raises(ValueError, match="non-negative"):
        SparseSubspaceClustering(3, affinity="precomputed").fit(-W)


def test_cluster_bases_energy_rule(draw_molrg):
    X, y, bases = draw_molrg(n_per=30, n_features=20, dim=4, seed=14)
    found = cluster_bases(X, y, 3, energy=0.999)
    assert [U.shape[1] for U in found] == [4, 4, 4]
    assert subspace_recovery_error(found, bases) < 1e-8
    # An empty cluster gets a zero basis: no sample is ever assigned to it.
    found = cluster_bases(X, y, 4)
    assert np.all(found[3] == 0)


# --- bad input -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ssc-en", "ssc-admm", "lsr", "tsc"])
def test_nan_input_raises(name, draw_molrg):
    X, _, _ = draw_molrg(n_per=10, n_features=10, dim=2, seed=15)
    X[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ESTIMATORS[name](3).fit(X)


@pytest.mark.parametrize("name", ["ssc-en", "lsr", "tsc"])
def test_fewer_samples_than_clusters_raises(name, draw_molrg):
    X, _, _ = draw_molrg(n_per=2, n_features=10, dim=2, seed=16)
    with pytest.raises(ValueError, match="n_clusters=8"):
        ESTIMATORS[name](8).fit(X)


@pytest.mark.parametrize("name", ["ssc-en", "lsr", "tsc"])
def test_copies_of_too_few_samples_are_named(name):
    X = np.repeat(np.eye(4)[:2], 10, axis=0)
    with pytest.raises(ValueError, match="Only 2 of the 20 samples are distinct and non-zero"):
        ESTIMATORS[name](3).fit(X)


@pytest.mark.parametrize("name", ["ssc-en", "ssc-omp", "lsr", "tsc"])
def test_zero_rows_are_left_out_with_a_warning(name, draw_molrg):
    """Documented: an all-zero sample is clustered without, gets label 0, and a warning."""
    X, y, _ = draw_molrg(n_per=30, n_features=20, dim=3, seed=17)
    X[[5, 40]] = 0.0
    keep = np.ones(len(X), dtype=bool)
    keep[[5, 40]] = False
    with pytest.warns(UserWarning, match="all-zero"):
        est = ESTIMATORS[name](3).fit(X)
    assert est.labels_[5] == 0 and est.labels_[40] == 0
    assert clustering_accuracy(y[keep], est.labels_[keep]) == 1.0
    C = sp.csr_matrix(est.representation_matrix_)
    assert C[5].nnz == 0 and C[:, 40].nnz == 0


def test_zero_rows_in_solver_functions_raise(draw_molrg):
    X, _, _ = draw_molrg(n_per=10, n_features=10, dim=2, seed=18)
    X[0] = 0.0
    for solver in ("admm", "omp", "elastic_net"):
        with pytest.raises(ValueError, match="all-zero"):
            sparse_self_representation(X, solver=solver)
    with pytest.raises(ValueError, match="all-zero"):
        normalize_samples(X)


@pytest.mark.parametrize("name", ["ssc-en", "ssc-admm", "ssc-omp", "lsr", "tsc"])
def test_duplicated_points_share_a_cluster(name, draw_molrg):
    """Documented: a duplicate represents its twin, so twins always share a label."""
    X, y, _ = draw_molrg(n_per=30, n_features=20, dim=3, noise=0.01, seed=19)
    X = np.vstack([X, X[:10]])
    y = np.r_[y, y[:10]]
    est = ESTIMATORS[name](3).fit(X)
    np.testing.assert_array_equal(est.labels_[:10], est.labels_[-10:])
    assert clustering_accuracy(y, est.labels_) == 1.0


def test_bad_solver_parameters(draw_molrg):
    X, _, _ = draw_molrg(n_per=10, n_features=10, dim=2, seed=20)
    with pytest.raises(InvalidParameterError,
                       match="'solver' parameter of sparse_self_representation must be"):
        sparse_self_representation(X, solver="lars")
    with pytest.raises(InvalidParameterError, match=r"'alpha' parameter .* range \(1.0, inf\)"):
        self_representation_admm(X, alpha=0.5)
    with pytest.raises(ValueError, match="affine"):
        SparseSubspaceClustering(3, solver="omp", affine=True).fit(X)
    with pytest.raises(ValueError, match="at least 2 samples"):
        self_representation_omp(X[:1])
    with pytest.raises(ValueError, match="orthogonal to every other"):
        self_representation_admm(np.eye(4))


def test_normalized_kmeans_reads_sparse_omp_graphs_better():
    """OMP's few links per sample: unit-length embedding rows beat cluster_qr (the 'auto' rule)."""
    gains = []
    for seed in range(4):
        X, y, _ = make_molrg(n_samples=[25] * 8, n_features=30, dims=5, noise=0.2,
                             random_state=seed)
        auto = SparseSubspaceClustering(8, solver="omp", n_nonzero=5, random_state=0).fit(X)
        njw = SparseSubspaceClustering(8, solver="omp", n_nonzero=5, random_state=0,
                                       assign_labels="normalized_kmeans").fit(X)
        qr = SparseSubspaceClustering(8, solver="omp", n_nonzero=5, random_state=0,
                                      assign_labels="cluster_qr").fit(X)
        np.testing.assert_array_equal(auto.labels_, njw.labels_)  # 'auto' is NJW for OMP
        gains.append(clustering_accuracy(y, njw.labels_) - clustering_accuracy(y, qr.labels_))
    assert np.mean(gains) >= 0.1


def test_normalized_kmeans_spectral_labels():
    W = sp.csr_matrix(np.kron(np.eye(3), np.ones((4, 4))) + 0.01)
    first = spectral_labels(W, 3, random_state=0, assign_labels="normalized_kmeans")
    assert clustering_accuracy(np.repeat(np.arange(3), 4), first) == 1.0
    again = spectral_labels(W, 3, random_state=0, assign_labels="normalized_kmeans")
    np.testing.assert_array_equal(first, again)
    # the other solvers keep cluster_qr under 'auto'
    X, y, _ = make_molrg(n_samples=[20, 20], n_features=10, dims=2, random_state=0)
    auto = SparseSubspaceClustering(2, random_state=0).fit(X)
    qr = SparseSubspaceClustering(2, random_state=0, assign_labels="cluster_qr").fit(X)
    np.testing.assert_array_equal(auto.labels_, qr.labels_)
    with pytest.raises(ValueError, match="assign_labels"):
        LeastSquaresSubspaceClustering(2, assign_labels="auto").fit(X)


def test_lobpcg_early_stop_is_one_short_warning(monkeypatch):
    # SciPy's LOBPCG warns twice when it stops short, each time with every eigenpair's
    # residual: on 30,000 embeddings the command line printed two lines of 400 characters.
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from subclust.cluster import _spectral

    def stopping_early(affinity, n_clusters, **kwargs):
        residuals = np.full(n_clusters + 1, 1e-3)
        warnings.warn(f"Exited at iteration 9 with accuracies \n{residuals}\n"
                      "not reaching the requested tolerance 1e-4.", UserWarning)
        warnings.warn(f"Exited postprocessing with accuracies \n{residuals}\n"
                      "not reaching the requested tolerance 1e-4.", UserWarning)
        warnings.warn("something else", RuntimeWarning)
        return np.arange(affinity.shape[0]) % n_clusters

    monkeypatch.setattr(_spectral, "spectral_clustering", stopping_early)
    W = sp.csr_matrix(np.kron(np.eye(2), np.ones((3, 3))))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        labels = spectral_labels(W, 2, random_state=0, assign_labels="kmeans")
    assert labels.tolist() == [0, 1, 0, 1, 0, 1]
    shown = [(w.category, str(w.message)) for w in caught]
    assert len(shown) == 2
    assert shown[0] == (RuntimeWarning, "something else")  # other warnings pass unchanged
    category, message = shown[1]
    assert category is ConvergenceWarning and "\n" not in message
    assert message.startswith("LOBPCG stopped short of its tolerance") and "6 samples" in message


@pytest.mark.parametrize("method", ["omp", "tsc", "lsr"])
def test_as_many_clusters_as_samples(method):
    """K = N puts every sample in its own cluster, also where the graph is sparse."""
    X = np.random.default_rng(0).standard_normal((12, 20))
    labels = make_estimator(method, 12, random_state=0).fit_predict(X)
    assert len(np.unique(labels)) == 12
    W = sp.csr_matrix(np.ones((5, 5)))
    for assign_labels in ("cluster_qr", "normalized_kmeans"):
        assert spectral_labels(W, 5, random_state=0, assign_labels=assign_labels).tolist() == [
            0, 1, 2, 3, 4]


# --- real data (slow) ------------------------------------------------------------

@pytest.mark.slow
def test_yaleb_10_subjects_lsr_defaults(data_home):
    from subclust.datasets import load_yaleb

    faces = load_yaleb(subjects=10)
    est = LeastSquaresSubspaceClustering(10, random_state=0).fit(faces.data)
    assert clustering_accuracy(faces.target, est.labels_) >= 0.97


@pytest.mark.slow
def test_yaleb_38_subjects_lsr_defaults_and_held_out_predict(data_home):
    from sklearn.model_selection import train_test_split

    from subclust.datasets import load_yaleb

    faces = load_yaleb()
    est = LeastSquaresSubspaceClustering(38, random_state=0).fit(faces.data)
    in_sample = clustering_accuracy(faces.target, est.labels_)
    assert in_sample >= 0.95
    X_train, X_test, y_train, y_test = train_test_split(
        faces.data, faces.target, test_size=0.2, stratify=faces.target, random_state=0
    )
    est = LeastSquaresSubspaceClustering(38, random_state=0).fit(X_train)
    train_acc = clustering_accuracy(y_train, est.labels_)
    # Held-out accuracy under the label matching found on the training set.
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics.cluster import contingency_matrix

    table = contingency_matrix(y_train, est.labels_)
    rows, cols = linear_sum_assignment(table, maximize=True)
    mapping = dict(zip(cols, rows))
    predicted = np.array([mapping[c] for c in est.predict(X_test)])
    held_out = float(np.mean(predicted == y_test))
    assert held_out >= 0.95 * train_acc


def test_subspace_dims_must_be_smaller_than_n_features():
    X, _, _ = make_molrg(n_samples=[20, 20], n_features=6, dims=2, random_state=0)
    for estimator in (SparseSubspaceClustering(2, subspace_dims=6, random_state=0),
                      LeastSquaresSubspaceClustering(2, subspace_dims=[2, 7], random_state=0)):
        with pytest.raises(ValueError, match="Subspace dimension .* smaller than n_features=6"):
            estimator.fit(X)


def test_yaleb_10_subjects_omp_defaults(data_home):
    from subclust.datasets import load_yaleb

    faces = load_yaleb(subjects=10)
    est = SparseSubspaceClustering(10, solver="omp", random_state=0).fit(faces.data)
    assert clustering_accuracy(faces.target, est.labels_) >= 0.78  # 0.74 with cluster_qr


@pytest.mark.parametrize("n_clusters", [2, 3, 5])
def test_estimate_n_clusters_from_dense_affinity(n_clusters, draw_molrg):
    from subclust.cluster import estimate_n_clusters

    X, _, _ = draw_molrg(n_per=40, n_features=30, dim=3, k=n_clusters, noise=0.01, seed=n_clusters)
    est = LeastSquaresSubspaceClustering(n_clusters, random_state=0).fit(X)
    found, eigenvalues = estimate_n_clusters(est.affinity_matrix_, max_clusters=10)
    assert found == n_clusters
    assert eigenvalues.shape == (11,)
    assert np.all(np.diff(eigenvalues) >= 0) and eigenvalues[0] == pytest.approx(0, abs=1e-8)
    sparse_found, _ = estimate_n_clusters(sp.csr_matrix(est.affinity_matrix_), max_clusters=10)
    assert sparse_found == n_clusters


def test_estimate_n_clusters_rejects_bad_max_clusters():
    from subclust.cluster import estimate_n_clusters

    with pytest.raises(ValueError, match="max_clusters must lie in"):
        estimate_n_clusters(np.ones((5, 5)), max_clusters=4)
