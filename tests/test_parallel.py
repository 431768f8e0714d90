"""The threading policy: BLAS shares inside parallel regions, the caller's limits, n_jobs."""

import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from subclust import KSubspaces
from subclust.utils.parallel import (
    blas_threads,
    cpu_budget,
    effective_n_jobs,
    openmp_threads,
    process_map,
    thread_map,
    torch_threads,
)
from subclust.cli import main
from subclust.cluster import _k_subspaces
from subclust.datasets import make_molrg


def _blas_limits():
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def _blas_now(_=None):
    return max(_blas_limits())


def _openmp_limits():
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "openmp"]


def _record_regions(monkeypatch):
    """Record (thread, BLAS threads) at every eigendecomposition of K-subspaces."""
    seen = []
    top_basis = _k_subspaces._top_basis

    def recording(scatter, dim):
        seen.append((threading.get_ident(), _blas_now()))
        return top_basis(scatter, dim)

    monkeypatch.setattr(_k_subspaces, "_top_basis", recording)
    return seen


@pytest.fixture(scope="module")
def molrg():
    X, y, _ = make_molrg(n_samples=[40] * 4, n_features=30, dims=3, noise=0.01,
                         dtype=np.float32, random_state=0)
    return X


def test_blas_threads_limits_inside_and_restores():
    before = _blas_limits()
    with blas_threads(1) as limit:
        assert limit == 1 and max(_blas_limits()) == 1
        with blas_threads(4) as inner:  # never raises a limit in force
            assert inner == 1 and max(_blas_limits()) == 1
        assert max(_blas_limits()) == 1
    assert _blas_limits() == before


def test_overlapping_regions_in_threads_restore_the_callers_limits():
    before = _blas_limits()
    barrier = threading.Barrier(2)
    limits = []

    def region(n_threads):
        with blas_threads(n_threads):
            barrier.wait(timeout=30)  # both inside at once
            limits.append(_blas_now())
            barrier.wait(timeout=30)

    threads = [threading.Thread(target=region, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert limits == [1, 1]  # the lowest limit in force holds for both
    assert _blas_limits() == before


def test_caller_limit_is_the_budget():
    with threadpool_limits(1):
        assert cpu_budget() == 1
        assert effective_n_jobs(-1) == 1
        idents = thread_map(lambda _: threading.get_ident(), range(6))
        assert set(idents) == {threading.get_ident()}  # no threads beyond the limit


def test_thread_map_workers_times_blas_threads_within_budget():
    budget = cpu_budget()
    seen = thread_map(lambda _: (threading.get_ident(), _blas_now()), range(8))
    workers = {ident for ident, _ in seen}
    assert len(workers) <= budget
    assert all(len(workers) * blas <= max(budget, len(workers)) for _, blas in seen)
    assert thread_map(lambda x: x + 1, range(5), n_workers=2) == [1, 2, 3, 4, 5]


def test_effective_n_jobs():
    assert effective_n_jobs(None) == 1
    assert effective_n_jobs(3) == 3
    assert effective_n_jobs(-1) == cpu_budget()
    assert effective_n_jobs(-1000) == 1
    with pytest.raises(ValueError, match="n_jobs == 0"):
        effective_n_jobs(0)


def test_process_map_gives_each_worker_its_share():
    limits = list(process_map(_blas_now, range(2), n_jobs=2))
    assert all(limit <= max(1, cpu_budget() // 2) for limit in limits)
    assert list(process_map(abs, [-1, -2], n_jobs=1)) == [1, 2]


def test_k_subspaces_under_a_caller_limit_uses_one_thread(molrg, monkeypatch):
    seen = _record_regions(monkeypatch)
    before = _blas_limits()
    with threadpool_limits(1):
        KSubspaces(4, dims=3, n_init=3, random_state=0).fit(molrg)
    assert seen and {blas for _, blas in seen} == {1}
    assert {ident for ident, _ in seen} == {threading.get_ident()}
    assert _blas_limits() == before


def test_k_subspaces_regions_stay_within_budget_and_restore(molrg, monkeypatch):
    seen = _record_regions(monkeypatch)
    before = _blas_limits()
    KSubspaces(4, dims=3, n_init=3, random_state=0).fit(molrg)
    workers = {ident for ident, _ in seen}
    assert all(len(workers) * blas <= cpu_budget() for _, blas in seen)
    assert _blas_limits() == before


def test_k_subspaces_labels_do_not_depend_on_threads(molrg):
    threaded = KSubspaces(4, dims=3, n_init=4, random_state=0).fit(molrg)
    with threadpool_limits(1):
        serial = KSubspaces(4, dims=3, n_init=4, random_state=0).fit(molrg)
    np.testing.assert_array_equal(threaded.labels_, serial.labels_)
    assert threaded.objective_ == pytest.approx(serial.objective_, rel=1e-6)


def test_torch_threads_follow_the_budget_and_restore():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    with torch_threads(1) as n:
        assert n == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with threadpool_limits(1), torch_threads() as n:
        assert n == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def _record_eigh(monkeypatch):
    """Record the BLAS threads in force at every ``np.linalg.eigh``."""
    seen, eigh = [], np.linalg.eigh

    def recording(a):
        seen.append(_blas_now())
        return eigh(a)

    monkeypatch.setattr(np.linalg, "eigh", recording)
    return seen


@pytest.mark.parametrize("n_features", [5, 60])  # fewer features than samples, and more
def test_held_out_residuals_decompose_on_one_blas_thread(monkeypatch, n_features):
    # Beside a BLAS-busy process, threads waiting on each other made these small
    # eigendecompositions (five per cluster and candidate in auto) 15 times slower.
    from subclust.subspace import held_out_residuals

    seen = _record_eigh(monkeypatch)
    X = np.random.default_rng(0).standard_normal((40, n_features))
    held_out_residuals(X, np.arange(40) % 5, dim=2)
    assert seen == [1] * 5


def test_angular_affinity_decomposes_on_one_blas_thread(monkeypatch):
    # Beside a BLAS-busy process its dense eigendecomposition at N = 2000 took 20 s on two
    # BLAS threads, 2.4 s on one.
    from subclust.cluster import angular_affinity

    seen = _record_eigh(monkeypatch)
    angular_affinity(np.random.default_rng(0).standard_normal((30, 30)), 3, dim_per_cluster=2)
    assert seen == [1]


def test_openmp_threads_limits_this_thread_and_restores():
    import sklearn.cluster  # noqa: F401  (loads scikit-learn's OpenMP runtime)

    with threadpool_limits(2, user_api="openmp"):
        with openmp_threads(1) as limit:
            assert limit == 1 and _openmp_limits() == [1] * len(_openmp_limits())
            with openmp_threads(4) as inner:  # never raises a limit in force
                assert inner == 1
            # another thread keeps its own count
            assert thread_map(lambda _: max(_openmp_limits()), range(2), n_workers=2) == [2, 2]
        assert max(_openmp_limits()) == 2


@pytest.mark.parametrize("assign_labels", ["kmeans", "normalized_kmeans"])
def test_spectral_k_means_runs_on_one_openmp_thread(monkeypatch, assign_labels):
    # Beside a BLAS-busy process, scikit-learn's k-means of 10,000 points in R^10 took
    # 0.2-2 s on two OpenMP threads and 0.1 s on one.
    from sklearn.cluster import KMeans

    from subclust.cluster import spectral_labels

    seen, fit = [], KMeans.fit

    def recording(self, *args, **kwargs):
        seen.append(max(_openmp_limits()))
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(KMeans, "fit", recording)
    X, y, _ = make_molrg(n_samples=[20] * 3, n_features=10, dims=2, noise=0.0, random_state=0)
    affinity = np.abs(X @ X.T) ** 4
    with threadpool_limits(2, user_api="openmp"):
        labels = spectral_labels(affinity, 3, assign_labels=assign_labels, random_state=0)
        assert max(_openmp_limits()) == 2
    assert seen == [1]
    assert len(np.unique(labels)) == 3


def test_threads_benchmark_small_prints_ratios(capsys):
    assert main(["bench", "threads", "--jobs", "kss-embeddings", "--small"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("job"))
    for column in ("idle_s", "loaded_s", "ratio", "load_idle", "load_loaded"):
        assert column in header
    rows = [line for line in out.splitlines() if line.startswith("kss-embeddings ")]
    assert len(rows) == 1
    ratio = float(rows[0].split()[4])
    assert ratio > 0


def test_threads_benchmark_rejects_unknown_jobs(capsys):
    assert main(["bench", "threads", "--jobs", "kss,lsr-yaleb"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown jobs ['kss']" in err
