"""The number of clusters and the subspace dimensions, estimated from the data."""

import json
import os
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from subclust.cli import main
from subclust.cluster import (
    EnsembleKSubspaces,
    KSubspaces,
    LeastSquaresSubspaceClustering,
    SparseSubspaceClustering,
    estimate_n_clusters,
    laplacian_spectrum,
    subspace_consistency,
)
from subclust.datasets import make_molrg, make_motion_trajectories
from subclust.metrics import clustering_accuracy
from subclust.pipeline import make_estimator
from subclust.subspace import estimate_rank

# The affinity-based methods of the registry, with their defaults.
METHODS = ("lsr", "ensc", "tsc", "lrr")


def _molrg(n_clusters, seed, n_per=40, n_features=30, dim=3, noise=0.05):
    X, y, bases = make_molrg(n_samples=[n_per] * n_clusters, n_features=n_features, dims=dim,
                             noise=noise, random_state=seed)  # fmt: skip
    return X, y, bases


@pytest.mark.parametrize(
    "method, n_clusters",
    [(method, k) for method in METHODS for k in (2, 3, 5, 8) if (method, k) != ("ensc", 8)]
    + [pytest.param("ensc", 8, marks=pytest.mark.slow)],
)
def test_estimators_find_the_number_of_subspaces(method, n_clusters):
    X, y, _ = _molrg(n_clusters, seed=n_clusters)
    est = make_estimator(method, None, random_state=0).fit(X)
    assert est.n_clusters_ == n_clusters
    assert clustering_accuracy(y, est.labels_) >= 0.95
    # predict and the bases follow the estimate
    assert len(est.bases_) == n_clusters
    assert est.transform(X[:3]).shape == (3, n_clusters)
    assert set(np.unique(est.predict(X))) <= set(range(n_clusters))
    # the spectrum it read: ascending, from 0, long enough to show the gap
    values = est.laplacian_eigenvalues_
    assert values[0] == pytest.approx(0, abs=1e-8)
    assert np.all(np.diff(values) >= -1e-12) and len(values) > n_clusters + 1


def test_given_n_clusters_is_reported_without_a_spectrum():
    X, _, _ = _molrg(3, seed=0)
    est = LeastSquaresSubspaceClustering(4, random_state=0).fit(X)
    assert est.n_clusters_ == 4 and est.laplacian_eigenvalues_ is None
    assert len(est.bases_) == 4


def test_angular_estimate_is_a_fixed_point():
    """The angular affinity built with the estimated K reads K again."""
    X, _, _ = _molrg(5, seed=5)
    est = SparseSubspaceClustering(None, affinity="angular", random_state=0).fit(X)
    again, _ = estimate_n_clusters(est.affinity_matrix_)
    assert est.n_clusters_ == again == 5


def test_precomputed_affinity():
    W = np.kron(np.eye(4), np.ones((6, 6))) + 0.01
    np.fill_diagonal(W, 0)
    est = LeastSquaresSubspaceClustering(None, affinity="precomputed", random_state=0).fit(W)
    assert est.n_clusters_ == 4
    assert clustering_accuracy(np.repeat(np.arange(4), 6), est.labels_) == 1.0


def test_an_estimate_at_the_largest_value_considered_warns():
    W = np.kron(np.eye(60), np.ones((4, 4)))  # 60 cliques: more than the 50 considered
    est = LeastSquaresSubspaceClustering(None, affinity="precomputed", random_state=0)
    for coupling in (0.0, 0.001):  # a flat spectrum has no gap to read below 51
        with pytest.warns(UserWarning, match="estimated at 50, the largest value considered"):
            est.fit(W + coupling)
        assert est.n_clusters_ == 50
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning where the estimate is below the limit
        est.fit(W[:120, :120])
    assert est.n_clusters_ == 30


def test_ekss_estimates_with_over_segmenting_runs():
    X, y, _ = _molrg(3, seed=3)
    est = EnsembleKSubspaces(None, n_estimators=100, random_state=0).fit(X)
    assert est.n_clusters_ == 3
    assert clustering_accuracy(y, est.labels_) >= 0.95
    with pytest.raises(ValueError, match="with n_clusters=None give one candidate dimension"):
        EnsembleKSubspaces(None, dims=[2, 2, 2], n_estimators=5).fit(X)


def test_sparse_graph_rule_beats_the_plain_eigengap():
    """Weakly linked pieces inside each cluster do not count as clusters."""
    X, _, _ = _molrg(3, seed=3)
    W = make_estimator("tsc", 3, random_state=0).fit(X).affinity_matrix_
    assert estimate_n_clusters(W)[0] == 3
    assert estimate_n_clusters(W, diffusion_time=1e-6)[0] != 3  # the plain eigengap


def test_estimate_n_clusters_sparse_and_dense_agree():
    X, _, _ = _molrg(4, seed=4)
    W = LeastSquaresSubspaceClustering(4, random_state=0).fit(X).affinity_matrix_
    assert estimate_n_clusters(W)[0] == estimate_n_clusters(sp.csr_matrix(W))[0] == 4


def _components_graph(n_components, size, n_isolated, seed):
    """Connected pieces (a ring with random chords each), then samples without links."""
    rng = np.random.default_rng(seed)
    blocks = []
    for _ in range(n_components):
        ring = np.roll(np.eye(size), 1, axis=1) * rng.uniform(0.5, 1.0, size)
        chords = (rng.random((size, size)) < 0.05) * rng.random((size, size))
        blocks.append(ring + chords)
    W = sp.block_diag(blocks + [sp.csr_matrix((n_isolated, n_isolated))]).tocsr()
    return W + W.T


def test_spectrum_of_a_large_graph_counts_every_component():
    # ARPACK sees one copy of a repeated eigenvalue per start vector: on a 5,000-sample
    # thresholding graph of 19 components it found 13 zeros, and K was read as 14.
    W = _components_graph(20, 40, 5, seed=0)
    assert W.shape[0] > 600  # past the dense decomposition
    degree = np.asarray(W.sum(axis=1)).ravel()
    scale = np.where(degree > 0, 1 / np.sqrt(np.maximum(degree, 1e-300)), 0.0)
    dense = 1 - np.linalg.eigvalsh(scale[:, None] * W.toarray() * scale[None, :])[::-1]
    expected = np.sort(np.clip(dense, 0, 2))[:51]
    np.testing.assert_allclose(laplacian_spectrum(W, 51), expected, atol=1e-8)
    np.testing.assert_allclose(laplacian_spectrum(W.toarray(), 51), expected, atol=1e-8)
    assert np.count_nonzero(expected < 1e-8) == 20
    assert estimate_n_clusters(W)[0] == 20
    np.testing.assert_array_equal(laplacian_spectrum(W, 8), np.zeros(8))


def test_bad_input():
    X, _, _ = _molrg(2, seed=0, n_per=5)
    with pytest.raises(ValueError, match=r"'n_clusters' parameter .* range \[1, inf\) or None"):
        LeastSquaresSubspaceClustering(0).fit(X)
    with pytest.raises(ValueError, match="n_samples=10 should be >= n_clusters=11"):
        LeastSquaresSubspaceClustering(11).fit(X)
    with pytest.raises(ValueError, match="needs at least 4 samples; give n_clusters"):
        LeastSquaresSubspaceClustering(None).fit(X[:3])
    with pytest.raises(ValueError, match="KSubspaces needs n_clusters: give it, or estimate"):
        KSubspaces(None, dims=2).fit(X)
    with pytest.raises(ValueError, match="max_clusters must lie in"):
        estimate_n_clusters(np.ones((6, 6)), max_clusters=1)
    with pytest.raises(ValueError, match="'diffusion_time' parameter of estimate_n_clusters "
                                         "must be a float"):
        estimate_n_clusters(np.ones((6, 6)), diffusion_time=0)


@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow)])
def test_dimensions_estimated_within_one(seed):
    """K=4 subspaces of dimension 8 in R^256 with noise 0.05: dims from the data."""
    X, y, _ = make_molrg(n_samples=[100] * 4, n_features=256, dims=8, noise=0.05,
                         random_state=seed)  # fmt: skip
    for k in range(4):
        points = X[y == k]
        assert abs(estimate_rank(np.linalg.svd(points, compute_uv=False), points.shape) - 8) <= 1
    kss = KSubspaces(4, dims=None, random_state=seed).fit(X)
    assert clustering_accuracy(y, kss.labels_) == 1.0
    assert all(abs(U.shape[1] - 8) <= 1 for U in kss.bases_)


def test_cli_without_n_clusters_estimates_it(tmp_path, capsys):
    X, _, _ = _molrg(4, seed=1)
    np.save(tmp_path / "x.npy", X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["cluster", str(tmp_path / "x.npy"), "--method", "lsr", "-o",
                     str(tmp_path / "out"), "--quiet"])  # fmt: skip
    out, _ = capsys.readouterr()
    assert code == 0 and "4 (estimated)" in out
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["n_clusters"] == 4
    estimate = report["n_clusters_estimate"]
    assert estimate["n_clusters"] == 4
    assert estimate["laplacian_eigenvalues"][0] == pytest.approx(0, abs=1e-6)
    assert len(estimate["laplacian_eigenvalues"]) > 5


def test_auto_estimates_the_number_of_clusters_then_compares_at_it():
    X, y, _ = _molrg(4, seed=4)
    auto = make_estimator("auto", None, random_state=0).fit(X)
    assert auto.n_clusters_ == 4 and len(auto.bases_) == 4
    assert clustering_accuracy(y, auto.labels_) >= 0.95
    # Every graph-building candidate of the portfolio gave an estimate; K is the one whose
    # partition has the largest refereed modularity among those that compete.
    estimates, scores = auto.n_clusters_estimates_, auto.n_clusters_scores_
    consistency, competes = auto.n_clusters_consistency_, auto.n_clusters_competing_
    assert {"lsr(regularization=0.1)", "tsc(n_nearest=5)", "omp(n_nonzero=10)"} <= set(estimates)
    assert not any(name.startswith(("kmeans", "spectral")) for name in estimates)
    assert set(scores) == set(estimates) == set(consistency) == set(competes)
    competing = [name for name in scores if competes[name]]
    # Those that compete are the most consistent with subspaces, adjusted for chance.
    assert min(consistency[n] for n in competing) > max(
        [consistency[n] for n in scores if not competes[n]], default=-1.0)
    assert estimates[max(competing, key=scores.get)] == 4
    spectrum = auto.laplacian_eigenvalues_  # of a graph that gave 4: its gap is after the 4th
    assert spectrum[3] < 0.2 * spectrum[4]
    # The candidates were then compared at that K.
    assert all(len(np.unique(labels)) <= 4 for labels in auto.candidate_labels_)
    given = make_estimator("auto", 4, random_state=0).fit(X)
    assert given.n_clusters_ == 4 and given.n_clusters_estimates_ is None
    # The fits that estimated K = 4 are reused: the same comparison as with K given.
    assert (auto.candidate_labels_ == given.candidate_labels_).all()
    assert auto.selected_ == given.selected_


def test_auto_warns_where_no_graph_has_clear_clusters():
    X, _, _ = _molrg(4, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # clear clusters: nothing to say
        make_estimator("auto", None, random_state=0).fit(X)
    noise = np.random.default_rng(0).standard_normal((100, 10))  # no clusters at all
    with pytest.warns(UserWarning, match=r"graphs without clear clusters \(modularity 0\.[0-2]"):
        auto = make_estimator("auto", None, random_state=0).fit(noise)
    assert max(auto.n_clusters_scores_.values()) < 0.3


@pytest.mark.parametrize(
    "make, n_clusters",
    [(lambda: make_molrg(n_samples=[40] * 3, n_features=10, dims=2, random_state=0)[:2], 3),
     (lambda: make_molrg(n_samples=[50] * 6, n_features=12, dims=2, noise=0.02,
                         random_state=0)[:2], 6),
     (lambda: make_motion_trajectories(2, random_state=4040), 2),
     (lambda: make_motion_trajectories(3, random_state=4041), 3)],
    ids=["3-planes-in-R10", "6-planes-in-R12", "2-motions", "3-motions"],
)
def test_auto_estimate_is_not_a_sparse_graph_in_pieces(make, n_clusters):
    """Sparse graphs fall apart on planes in few dimensions and on motions: 14 to 21 pieces.

    Their pieces cut the graph well (the more clusters, the larger the
    modularity) but are less consistent with subspaces, adjusted for chance,
    than the partitions into the true number.
    """
    X, y = make()
    auto = make_estimator("auto", None, random_state=0).fit(X)
    assert max(auto.n_clusters_estimates_.values()) > 2 * n_clusters  # some graphs fell apart
    assert auto.n_clusters_ == n_clusters
    assert clustering_accuracy(y, auto.labels_) >= 0.95


def test_adjusted_consistency_is_near_zero_for_chance_partitions():
    X, y, _ = _molrg(3, seed=0, dim=2, n_features=10)
    rng = np.random.default_rng(0)
    for n_clusters in (2, 3, 8):  # unadjusted, a random partition into few clusters scores high
        labels = rng.integers(0, n_clusters, len(y))
        assert abs(subspace_consistency(X, labels, n_clusters, adjusted=True,
                                        random_state=0)) < 0.3  # fmt: skip
    assert subspace_consistency(X, rng.integers(0, 2, len(y)), 2) > 0.5
    assert subspace_consistency(X, y, adjusted=True, random_state=0) == 1.0


def test_auto_without_a_graph_building_candidate_needs_n_clusters():
    X, _, _ = _molrg(2, seed=0)
    with pytest.raises(ValueError, match="No candidate could estimate the number of clusters"):
        make_estimator("auto", None, candidates=["kmeans", "spectral"], random_state=0).fit(X)


def test_cli_default_method_without_n_clusters(tmp_path, capsys):
    X, _, _ = _molrg(3, seed=3)
    np.save(tmp_path / "x.npy", X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["cluster", str(tmp_path / "x.npy"), "-o", str(tmp_path / "out"), "--quiet"])
    capsys.readouterr()
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert code == 0 and report["method"] == "auto" and report["n_clusters"] == 3
    estimate = report["n_clusters_estimate"]
    assert estimate["n_clusters"] == 3 and "modularity" in estimate["rule"]
    assert all(isinstance(k, int) for k in estimate["candidates"].values())
    assert set(estimate["modularity"]) == set(estimate["candidates"])
    assert set(estimate["adjusted_consistency"]) == set(estimate["candidates"])
    assert set(estimate["competes"]) == set(estimate["candidates"])
    assert any(estimate["competes"].values())


def test_bench_table_counts_the_sets_found(capsys):
    from subclust.bench.n_clusters import n_clusters_table

    table = n_clusters_table(["molrg"], ["lsr", "tsc"])
    capsys.readouterr()
    assert table.column("true_k") == [6] and table.column("lsr") == [6]
    assert table.column("rule_chosen_on") == ["yes"]
    assert "lsr 1/1" in table.notes[0]


def test_bench_describes_the_clusters_against_the_classes():
    from subclust.bench.n_clusters import cluster_composition

    # Classes 0 and 1 split in two pure clusters each; a third cluster mixes every class.
    y = np.repeat([0, 1, 2], 20)
    labels = np.repeat([0, 1, 4, 2, 3, 4, 4], [10, 8, 2, 9, 9, 2, 20])
    assert cluster_composition(y, labels) == "4 pure, covering 2 of 3 classes; 24 mixing 3"
    assert cluster_composition(y, y) == "3 pure, covering 3 of 3 classes"
    many = np.arange(60) % 5  # five clusters, each of all three classes
    assert cluster_composition(y, many, most_mixed=2) == (
        "0 pure, covering 0 of 3 classes; 12 mixing 3, 12 mixing 3, ..."
    )


def test_bench_data_sets_load_by_name():
    from subclust.bench._common import DATASETS, load_dataset

    X, y = load_dataset("molrg", random_state=1)
    assert X.shape == (300, 40) and len(np.unique(y)) == 6
    with pytest.raises(ValueError, match="unknown data set 'nope'; choose among molrg"):
        load_dataset("nope")
    X, y = load_dataset("groups40")
    assert X.shape == (400, 128) and np.allclose(np.linalg.norm(X, axis=1), 1)
    assert np.bincount(y).tolist() == [10] * 40
    X, y = load_dataset("motion3", random_state=2)
    assert X.shape[1] == 60 and np.unique(y).tolist() == [0, 1, 2]
    if not os.environ.get("SUBCLUST_DATA"):
        pytest.skip("SUBCLUST_DATA is not set: no benchmark data")
    pixels, labels = load_dataset("fashion-pixels")
    features, same_labels = load_dataset("fashion")  # the same images, on scattering
    assert pixels.shape == (900, 784) and features.shape[0] == 900
    assert features.shape[1] != 784 and (labels == same_labels).all()
    assert {"yaleb38", "coil20", "coil20-pixels", "mnist", "digits"} <= set(DATASETS)
    few, persons = load_dataset("yaleb-few", random_state=3)
    assert few.shape == (380, 1024) and np.bincount(persons).tolist() == [10] * 38

    from subclust.bench._common import load_images

    images, same_persons = load_images("yaleb-few", random_state=3)  # the same draw, as images
    assert np.array_equal(images.reshape(380, -1), few) and (persons == same_persons).all()
    images, digits = load_images("mnist300", random_state=0)
    assert images.shape == (300, 28, 28) and len(digits) == 300
    with pytest.raises(ValueError, match="unknown image set 'nope'"):
        load_images("nope")


def test_auto_estimate_is_not_outvoted_by_graphs_that_merge_clusters():
    """24 tight groups of 6 unit vectors (as embeddings of 24 persons): most graphs say 2-4."""
    rng = np.random.default_rng(0)
    centers = normalize(rng.standard_normal((24, 32)))
    noise = 0.8 / np.sqrt(32) * rng.standard_normal((144, 32))
    X = normalize(np.repeat(centers, 6, axis=0) + noise)
    y = np.repeat(np.arange(24), 6)
    auto = make_estimator("auto", None, candidates=["ensc", "tsc"], random_state=0).fit(X)
    estimates = sorted(auto.n_clusters_estimates_.values())
    assert estimates[len(estimates) // 2] <= 4  # a vote would merge the groups
    assert auto.n_clusters_ == 24 and clustering_accuracy(y, auto.labels_) == 1.0
