"""The table of methods and the normalize / PCA / cluster pipeline (subclust.pipeline)."""

import numpy as np
import pytest

from subclust import KSubspaces
from subclust.datasets import make_molrg, make_motion_trajectories
from subclust.metrics import clustering_accuracy
from subclust.pipeline import (
    DEFAULT_METHOD,
    METHODS,
    Method,
    UncenteredPCA,
    available_methods,
    get_estimator_class,
    make_estimator,
    make_pipeline,
)


def test_default_method_is_registered_and_available():
    assert DEFAULT_METHOD in METHODS
    assert DEFAULT_METHOD in available_methods()


def test_every_available_method_builds_its_estimator_with_defaults():
    for name in available_methods():
        estimator = make_estimator(name, 4, dims=2, random_state=0)
        assert estimator.get_params()["n_clusters"] == 4
        for key, value in METHODS[name].params.items():
            assert estimator.get_params()[key] == value


def test_make_estimator_sets_dims_and_seed():
    assert make_estimator("kss", 3, dims=2, random_state=1).get_params() == (
        KSubspaces(3, dims=2, random_state=1).get_params()
    )


def test_unknown_method_and_parameter_messages():
    with pytest.raises(ValueError, match=r"Unknown method 'nope'; choose one of \["):
        make_estimator("nope")
    with pytest.raises(ValueError, match=r"KSubspaces \(method 'kss'\) has no parameter 'alpha'"):
        make_estimator("kss", 3, alpha=1.0)


def test_method_without_importable_class_is_refused_clearly(monkeypatch):
    monkeypatch.setitem(METHODS, "future", Method("FutureClustering", "not written yet"))
    assert "future" not in available_methods()
    with pytest.raises(ValueError, match="needs subclust.FutureClustering, which this version"):
        get_estimator_class("future")


def test_pipeline_steps_and_recovery():
    X, y, _ = make_molrg(n_samples=[40, 40, 40], n_features=20, dims=3, random_state=1)
    # Scaling the samples does not move them off their subspaces: normalization is harmless.
    X = X * np.random.default_rng(0).uniform(0.1, 10, size=(len(X), 1))
    pipe = make_pipeline("kss", 3, dims=3, random_state=0)
    assert [name for name, _ in pipe.steps] == ["normalize", "cluster"]
    assert clustering_accuracy(y, pipe.fit_predict(X)) == 1.0
    with_pca = make_pipeline("kss", 3, dims=3, pca=10, random_state=0)
    assert [name for name, _ in with_pca.steps] == ["normalize", "pca", "renormalize", "cluster"]
    bare = make_pipeline("kss", 3, dims=3, normalize=False)
    assert [name for name, _ in bare.steps] == ["cluster"]


def test_auto_normalizes_its_candidates_itself():
    """Its affine SSC needs the trajectories as they are; the others get unit-norm rows."""
    X, y = make_motion_trajectories(3, random_state=3019)
    pipe = make_pipeline("auto", 3, candidates=["ssc-affine"], random_state=0)
    assert [name for name, _ in pipe.steps] == ["cluster"] and pipe["cluster"].normalize
    assert clustering_accuracy(y, pipe.fit_predict(X)) == 1.0
    # Unit-norm rows would have cost it a third of the trajectories.
    rescaled = clustering_accuracy(y, pipe.fit_predict(X / np.linalg.norm(X, axis=1)[:, None]))
    assert rescaled < 0.7
    assert [name for name, _ in make_pipeline("auto", 3, pca=10).steps] == [
        "normalize", "pca", "renormalize", "cluster"]


@pytest.mark.parametrize("pca", [0, -1, 2.5, True])
def test_bad_pca(pca):
    with pytest.raises(ValueError, match="pca must be a positive int"):
        make_pipeline("kss", 3, pca=pca)


def test_uncentered_pca_keeps_linear_subspaces_linear():
    X, y, _ = make_molrg(n_samples=[30, 30], n_features=40, dims=3, random_state=2)
    Z = UncenteredPCA(n_components=6).fit_transform(X)
    for k in range(2):
        # Each cluster still spans a 3-dimensional subspace of the projection...
        assert np.linalg.matrix_rank(Z[y == k], tol=1e-8) == 3
    # ...whereas centring adds the mean direction to every cluster's span.
    from sklearn.decomposition import PCA

    C = PCA(n_components=6).fit_transform(X)
    assert all(np.linalg.matrix_rank(C[y == k], tol=1e-8) == 4 for k in range(2))


@pytest.mark.parametrize("shape", [(30, 8), (8, 30)])
def test_uncentered_pca_is_an_exact_svd(shape):
    X = np.random.default_rng(0).standard_normal(shape)
    proj = UncenteredPCA(n_components=3).fit(X)
    _, s, Vt = np.linalg.svd(X, full_matrices=False)
    np.testing.assert_allclose(proj.singular_values_, s[:3])
    np.testing.assert_allclose(np.abs(proj.components_ @ Vt[:3].T), np.eye(3), atol=1e-10)
    assert proj.fit(X.astype(np.float32)).transform(X.astype(np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="n_components=9 exceeds min"):
        UncenteredPCA(n_components=9).fit(X)


def test_uncentered_pca_completes_the_basis_of_rank_deficient_samples():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 2)) @ rng.standard_normal((2, 30))  # 8 samples of rank 2
    proj = UncenteredPCA(n_components=4).fit(X)
    np.testing.assert_allclose(proj.components_ @ proj.components_.T, np.eye(4), atol=1e-10)
    Vt = np.linalg.svd(X, full_matrices=False)[2]
    np.testing.assert_allclose(np.abs(proj.components_[:2] @ Vt[:2].T), np.eye(2), atol=1e-10)
    np.testing.assert_allclose(proj.inverse_transform(proj.transform(X)), X, atol=1e-10)
