"""The summary figure of a clustering: what it shows, and that it stays cheap."""

import io

import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("matplotlib")

from subclust import KSubspaces, SparseSubspaceClustering  # noqa: E402
from subclust.cli.summary_figure import _subsample, clustering_summary_figure  # noqa: E402
from subclust.cluster import laplacian_spectrum  # noqa: E402
from subclust.datasets import make_molrg  # noqa: E402


def _png(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=40)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def molrg():
    return make_molrg(n_samples=[60, 60, 60], n_features=30, dims=4, noise=0.01, random_state=0)


def test_laplacian_spectrum_has_k_zeros_then_a_gap():
    W = np.kron(np.eye(3), np.ones((5, 5))) + 1e-3
    np.fill_diagonal(W, 0.0)
    values = laplacian_spectrum(W, 6)
    np.testing.assert_allclose(values[:3], 0.0, atol=1e-2)
    assert values[3] > 0.5
    # A large sparse graph goes through ARPACK: the same three near-zero eigenvalues.
    blocks = sp.block_diag([np.ones((300, 300)) - np.eye(300)] * 3, format="csr")
    values = laplacian_spectrum(blocks, 5)
    np.testing.assert_allclose(values[:3], 0.0, atol=1e-3)
    assert values[3] > 0.5


def test_subsample_is_stratified_and_ordered_by_cluster():
    labels = np.repeat([0, 1, 2], [900, 90, 10])
    index, taken = _subsample(labels, 3, 100, np.random.default_rng(0))
    assert taken.tolist() == [90, 9, 2]
    assert np.all(np.diff(labels[index]) >= 0)
    assert len(np.unique(index)) == len(index)


def test_figure_of_k_subspaces_renders_every_panel(molrg):
    X, y, _ = molrg
    kss = KSubspaces(3, dims=4, random_state=0).fit(X)
    images = np.random.default_rng(0).random((len(X), 6, 5))
    figure = clustering_summary_figure(
        X, kss.labels_, bases=kss.bases_, y_true=y, images=images,
        objective_history=kss.objective_history_, title="kss",
    )
    titles = [ax.get_title() for ax in figure.axes]
    assert "classes x clusters (counts)" in titles
    assert "|cos| between samples, 180 samples ordered by cluster" in titles
    assert any(t.startswith("Laplacian spectrum (subsample), gap") for t in titles)
    assert "median dist(x, subspace) / |x|" in titles
    assert "assignment margin (subsample)" in titles
    assert "objective of the kept run" in titles
    assert "first 8 images of each cluster" in titles
    assert _png(figure)[:8] == b"\x89PNG\r\n\x1a\n"


def test_figure_uses_the_estimators_sparse_affinity_whole(molrg):
    X, y, _ = molrg
    ssc = SparseSubspaceClustering(3, solver="omp", random_state=0).fit(X)
    assert sp.issparse(ssc.affinity_matrix_)
    figure = clustering_summary_figure(X, ssc.labels_, bases=ssc.bases_,
                                       affinity=ssc.affinity_matrix_, max_samples=90)
    titles = [ax.get_title() for ax in figure.axes]
    assert "affinity, 90 samples ordered by cluster" in titles
    # The spectrum of the whole graph, not of the subsample's.
    values = laplacian_spectrum(ssc.affinity_matrix_, 9, tol=1e-4)
    assert f"Laplacian spectrum, gap {values[3] - values[2]:.3g} at K" in titles
    assert "subspace dimension of each cluster" in titles
    _png(figure)


def test_figure_measures_a_subsample_and_no_angles_between_bases(molrg, monkeypatch):
    """Bases only multiply samples of the subsample: no principal angles, no d x d products."""
    import scipy.linalg

    import subclust.subspace

    def forbidden(*args, **kwargs):
        raise AssertionError("the summary figure must not compare bases with each other")

    for module, name in [(subclust.subspace, "principal_angles"),
                         (subclust.subspace, "subspace_distance"),
                         (scipy.linalg, "subspace_angles")]:
        monkeypatch.setattr(module, name, forbidden)
    measured = []
    residuals = subclust.subspace.residuals

    def recording(X, bases, *args, **kwargs):
        measured.append(X.shape[0])
        return residuals(X, bases, *args, **kwargs)

    monkeypatch.setattr(subclust.subspace, "residuals", recording)
    X, _, _ = molrg
    kss = KSubspaces(3, dims=4, random_state=0).fit(X)
    _png(clustering_summary_figure(X, kss.labels_, bases=kss.bases_, max_samples=50))
    assert measured and max(measured) <= 50 + 3  # at least 2 per cluster, rounded up
