"""K-subspaces beyond memory: chunked (memmap, HDF5), Dask, and partial_fit."""

import numpy as np
import pytest

from subclust import KSubspaces
from subclust.datasets import make_molrg
from subclust.metrics import clustering_accuracy, subspace_recovery_error

PARAMS = dict(n_clusters=4, dims=3, n_init=2, random_state=0)


@pytest.fixture(scope="module")
def data():
    X, y, bases = make_molrg(
        n_samples=2000, n_features=16, n_components=4, dims=3, noise=0.05,
        dtype=np.float32, random_state=0,
    )
    return X, y, bases


@pytest.fixture(scope="module")
def reference(data):
    return KSubspaces(**PARAMS, chunk_size=256).fit(data[0])


def assert_same_model(a, b):
    np.testing.assert_array_equal(a.labels_, b.labels_)
    for U, V in zip(a.bases_, b.bases_):
        np.testing.assert_allclose(U @ U.T, V @ V.T, atol=1e-6)


def test_memmap_equals_in_memory(data, reference, tmp_path):
    X = data[0]
    mm = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=X.dtype, shape=X.shape)
    mm[:] = X
    mm.flush()
    mm = np.load(tmp_path / "X.npy", mmap_mode="r")
    kss = KSubspaces(**PARAMS, chunk_size=256).fit(mm)
    assert_same_model(kss, reference)
    assert kss.bases_[0].dtype == np.float32
    np.testing.assert_array_equal(kss.predict(mm), reference.labels_)


def test_hdf5_equals_in_memory(data, reference, tmp_path):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "X.h5", "w") as f:
        f.create_dataset("X", data=data[0], chunks=(256, data[0].shape[1]))
    with h5py.File(tmp_path / "X.h5", "r") as f:
        kss = KSubspaces(**PARAMS, chunk_size=256).fit(f["X"])
    assert_same_model(kss, reference)


def test_dask_array_equals_in_memory(data, reference):
    da = pytest.importorskip("dask.array")
    X = da.from_array(data[0], chunks=(256, -1))
    kss = KSubspaces(**PARAMS).fit(X)
    assert_same_model(kss, reference)
    np.testing.assert_array_equal(kss.predict(X), reference.labels_)


def test_dask_distributed_local_cluster_equals_in_memory(data, reference):
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster):
        kss = KSubspaces(**PARAMS).fit(da.from_array(data[0], chunks=(256, -1)))
    assert_same_model(kss, reference)


def test_nan_in_a_chunk_is_reported_with_its_rows(data, tmp_path):
    X = data[0].copy()
    X[700, 3] = np.nan
    np.save(tmp_path / "X.npy", X)
    mm = np.load(tmp_path / "X.npy", mmap_mode="r")
    with pytest.raises(ValueError, match="NaN or infinity .*rows 512 to 767"):
        KSubspaces(**PARAMS, chunk_size=256).fit(mm)


def test_out_of_core_empty_or_wrong_shape_is_rejected(tmp_path):
    np.save(tmp_path / "X.npy", np.ones((0, 4)))
    with pytest.raises(ValueError, match="non-empty 2D"):
        KSubspaces(2).fit(np.load(tmp_path / "X.npy", mmap_mode="r"))


def test_partial_fit_over_batches_recovers_subspaces(data):
    X, y, true_bases = data
    kss = KSubspaces(**PARAMS)
    for batch in np.array_split(np.arange(len(X)), 10):
        kss.partial_fit(X[batch])
    assert kss.n_steps_ == 10
    assert clustering_accuracy(y, kss.predict(X)) > 0.99
    assert subspace_recovery_error(kss.bases_, true_bases) < 0.05
    for U in kss.bases_:
        np.testing.assert_allclose(U.T @ U, np.eye(3), atol=1e-5)


def test_partial_fit_after_fit_continues_from_fitted_subspaces(data, reference):
    X = data[0]
    kss = KSubspaces(**PARAMS, chunk_size=256).fit(X)
    kss.partial_fit(X)
    assert subspace_recovery_error(kss.bases_, reference.bases_) < 1e-5
    with pytest.raises(ValueError, match="features"):
        kss.partial_fit(X[:, :5])
