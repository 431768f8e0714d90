"""Sparse self-expression at scale: column blocks, Dask tasks, sparse spectral step."""

import numpy as np
import pytest
import scipy.sparse as sp
from threadpoolctl import threadpool_info

from subclust import SparseSubspaceClustering
from subclust.cluster import (
    normalize_samples,
    representation_affinity,
    sparse_self_representation,
    spectral_labels,
)
from subclust.datasets import make_molrg
from subclust.metrics import clustering_accuracy

SOLVERS = [("omp", {"n_nonzero": 4}), ("elastic_net", {"alpha": 10.0})]


@pytest.fixture(scope="module")
def data():
    X, y, _ = make_molrg(
        n_samples=600, n_features=24, n_components=4, dims=3, noise=0.05,
        dtype=np.float32, random_state=0,
    )
    return normalize_samples(X), y


@pytest.fixture(scope="module")
def reference(data):
    """In-process results, blocks of 128 targets."""
    return {
        solver: sparse_self_representation(data[0], solver=solver, batch_size=128, **params)
        for solver, params in SOLVERS
    }


def assert_same(C, D):
    assert C.shape == D.shape
    assert abs(C - D).max() <= 1e-10


@pytest.mark.parametrize("solver, params", SOLVERS)
def test_blocks_are_independent(data, reference, solver, params):
    """The targets of a block never see another block: the block size changes nothing."""
    C = sparse_self_representation(data[0], solver=solver, batch_size=50, **params)
    assert_same(C, reference[solver])
    assert sp.isspmatrix_csr(C) and np.all(C.diagonal() == 0)


def _blas_threads():
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


@pytest.mark.parametrize("solver, params", SOLVERS)
def test_dask_local_cluster_equals_in_process(data, reference, solver, params):
    distributed = pytest.importorskip("distributed")
    threads = _blas_threads()
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster, distributed.Client(cluster):
        C = sparse_self_representation(
            data[0], solver=solver, batch_size=128, backend="dask", **params
        )
    assert_same(C, reference[solver])
    # Tasks limit BLAS to one thread in turn; concurrent workers restore it in full.
    assert _blas_threads() == threads


def test_dask_array_runs_blocks_as_tasks(data, reference):
    """A dask array picks the Dask backend (here Dask's default threaded scheduler)."""
    da = pytest.importorskip("dask.array")
    X = da.from_array(data[0], chunks=(200, -1))
    C = sparse_self_representation(X, solver="omp", n_nonzero=4, batch_size=128)
    assert_same(C, reference["omp"])


def test_estimator_on_dask_cluster_gives_the_same_labels(data):
    distributed = pytest.importorskip("distributed")
    da = pytest.importorskip("dask.array")
    X, y = data
    params = dict(n_clusters=4, solver="elastic_net", alpha=10.0, random_state=0)
    local = SparseSubspaceClustering(**params).fit(X)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster, distributed.Client(cluster):
        remote = SparseSubspaceClustering(**params).fit(da.from_array(X, chunks=(150, -1)))
    np.testing.assert_array_equal(remote.labels_, local.labels_)
    assert_same(remote.representation_matrix_, local.representation_matrix_)
    assert clustering_accuracy(y, local.labels_) >= 0.95


def test_float32_elastic_net_is_optimal(data):
    """Float32 correlations only screen: the solution meets the float64 optimality conditions."""
    X = data[0][:300]
    alpha, tau = 20.0, 0.9
    C = sparse_self_representation(X, solver="elastic_net", alpha=alpha, l1_ratio=tau, tol=1e-9)
    C = C.toarray()
    X = X.astype(np.float64)
    G = np.abs(X @ X.T)
    np.fill_diagonal(G, -np.inf)
    gamma = alpha * tau / G.max(axis=1)
    grad = gamma[:, None] * ((X - C @ X) @ X.T) - (1 - tau) * C
    off = ~np.eye(len(X), dtype=bool)
    nonzero = (C != 0) & off
    np.testing.assert_allclose(grad[nonzero], tau * np.sign(C[nonzero]), atol=1e-5)
    assert np.all(np.abs(grad[~nonzero & off]) <= tau * (1 + 1e-5))


def test_float32_omp_matches_float64_selection(data):
    """The float32 products pick the same atoms as float64 on well-separated data."""
    X = data[0]
    C32 = sparse_self_representation(X, solver="omp", n_nonzero=4)
    C64 = sparse_self_representation(X.astype(np.float64), solver="omp", n_nonzero=4)
    assert (C32 != 0).toarray().tolist() == (C64 != 0).toarray().tolist()
    assert abs(C32 - C64).max() < 1e-5


def test_bad_backend_raises(data):
    with pytest.raises(ValueError,
                       match="'backend' parameter of sparse_self_representation must be a str"):
        sparse_self_representation(data[0], solver="omp", backend="spark")
    with pytest.raises(ValueError, match="backend"):
        SparseSubspaceClustering(4, solver="omp", backend="spark").fit(data[0])


def _block_graph(n_per, n_blocks, n_neighbors, seed):
    """A sparse kNN-like graph of ``n_blocks`` communities with a few links between them."""
    rng = np.random.default_rng(seed)
    n = n_per * n_blocks
    labels = np.repeat(np.arange(n_blocks), n_per)
    rows = np.repeat(np.arange(n), n_neighbors)
    cols = (rows // n_per) * n_per + rng.integers(0, n_per, rows.size)
    noise = rng.integers(0, n, n // 20)
    rows, cols = np.r_[rows, noise], np.r_[cols, rng.integers(0, n, noise.size)]
    W = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))
    W = W + W.T
    W.setdiag(0)
    W.eliminate_zeros()
    return W, labels


def test_large_sparse_affinity_is_never_densified():
    """Above 4000 samples the spectral step runs on sparse products only."""
    W, labels = _block_graph(n_per=1000, n_blocks=5, n_neighbors=8, seed=0)

    def forbidden(*args, **kwargs):
        raise AssertionError("the affinity was densified")

    with pytest.MonkeyPatch.context() as patch:
        for cls in (sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array, sp.coo_array):
            patch.setattr(cls, "toarray", forbidden)
            patch.setattr(cls, "todense", forbidden)
        predicted = spectral_labels(W, 5, random_state=0)
    assert clustering_accuracy(labels, predicted) >= 0.99


@pytest.mark.filterwarnings("ignore:Exited:UserWarning")
def test_amg_eigensolver_when_pyamg_is_installed():
    pytest.importorskip("pyamg")
    W, labels = _block_graph(n_per=1000, n_blocks=5, n_neighbors=8, seed=1)
    predicted = spectral_labels(W, 5, random_state=0, eigen_solver="amg")
    assert clustering_accuracy(labels, predicted) >= 0.99


def test_bad_eigen_solver_raises():
    with pytest.raises(ValueError, match="'eigen_solver' parameter of spectral_labels must be"):
        spectral_labels(sp.eye(10, format="csr"), 2, eigen_solver="dense")


def test_symmetric_affinity_of_blocked_representation_stays_sparse(data, reference):
    W = representation_affinity(reference["omp"])
    assert sp.issparse(W)
    assert W.nnz <= 2 * reference["omp"].nnz
    assert abs(W - W.T).max() == 0


def test_ssc_scale_benchmark_runs_small(tmp_path):
    """The benchmark's data (K=10, d=8, n=128, noise 0.05) at 2,000 points, every method."""
    from subclust.bench.ssc_scale import scale_table

    table = scale_table(
        tmp_path, n_samples=2000, n_features=128, n_clusters=10, dim=8, noise=0.05,
        methods=["omp", "elastic_net"],
    )
    assert table.column("method") == ["omp", "elastic_net"]
    assert min(table.column("accuracy")) >= 0.95
    for name in ("self_expression_s", "spectral_s", "total_s", "peak_rss_mb", "nmi"):
        assert all(value > 0 for value in table.column(name))
