"""method="auto": label-free choice among a portfolio of clustering methods."""

import json
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.exceptions import FitFailedWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from subclust import AutoSubspaceClustering, KSubspaces
from subclust.cluster import (
    PORTFOLIO,
    modularity,
    normalized_association,
    partition_criterion,
    refereed_scores,
    subspace_consistency,
)
from subclust.datasets import make_molrg, make_motion_trajectories
from subclust.metrics import clustering_accuracy
from subclust.pipeline import DEFAULT_METHOD, make_estimator, make_pipeline

# Enough families for a consensus, few enough to keep the common checks fast.
SMALL = ["lsr", "tsc", "kmeans", "spectral"]


@pytest.fixture(scope="module")
def molrg():
    # Four 3-dimensional subspaces in R^30 with a little noise: a clear union of subspaces,
    # where k-means on the unit sphere mixes them up.
    X, y, _ = make_molrg(n_samples=[60] * 4, n_features=30, dims=3, noise=0.02, random_state=1)
    return X, y


def test_default_portfolio_chooses_a_subspace_method_on_a_clear_molrg(molrg):
    X, y = molrg
    auto = AutoSubspaceClustering(4, random_state=0).fit(X)
    assert clustering_accuracy(y, auto.labels_) >= 0.98
    assert auto.selected_.split("(")[0] not in ("kmeans", "spectral")
    names = [name for name, _ in PORTFOLIO]  # 240 samples: affine SSC among them
    assert [c["family"] for c in auto.candidates_] == names
    kmeans = next(c for c in auto.candidates_ if c["family"] == "kmeans")
    assert kmeans["criterion"] < max(c["criterion"] for c in auto.candidates_)
    # predict / transform / score from one subspace per cluster.
    assert (auto.predict(X) == auto.labels_).mean() >= 0.98
    assert auto.transform(X).shape == (len(X), 4)
    assert [U.shape[1] for U in auto.bases_] == [3, 3, 3, 3]


def test_candidate_table(molrg):
    X, _ = molrg
    auto = AutoSubspaceClustering(4, candidates=SMALL, random_state=0).fit(X)
    assert {"name", "family", "params", "criterion", "seconds", "error", "selected"} <= set(
        auto.candidates_[0]
    )
    selected = [c for c in auto.candidates_ if c["selected"]]
    assert len(selected) == 1 and selected[0]["name"] == auto.selected_
    competing = [c["criterion"] for c in auto.candidates_ if c["competes"]]
    assert selected[0]["competes"] and selected[0]["criterion"] == max(competing)
    assert max(c["consistency"] for c in auto.candidates_ if not c["competes"]) < max(
        c["consistency"] for c in auto.candidates_) - 0.01
    assert all(0 <= c["criterion"] <= 1 and c["seconds"] >= 0 for c in auto.candidates_)
    lsr = [c for c in auto.candidates_ if c["family"] == "lsr"]
    assert [c["params"] for c in lsr] == [{"regularization": r} for r in (0.01, 0.1, 1.0)]
    assert auto.n_selection_samples_ == len(X) and auto.seconds_final_ == 0.0


def test_budget_selects_on_a_subsample_then_fits_the_winner_on_all(molrg):
    X, y = molrg
    auto = AutoSubspaceClustering(4, candidates=SMALL, budget=100, random_state=0).fit(X)
    assert auto.n_selection_samples_ == 100
    assert auto.labels_.shape == (len(X),)
    assert clustering_accuracy(y, auto.labels_) >= 0.98
    again = AutoSubspaceClustering(4, candidates=SMALL, budget=100, random_state=0).fit(X)
    assert np.array_equal(again.labels_, auto.labels_) and again.selected_ == auto.selected_


def test_spectral_baseline_on_many_samples_uses_lobpcg(monkeypatch):
    # scikit-learn's default ARPACK factors the kNN graph's Laplacian: auto on 20,000 noisy
    # embeddings took 819 s and 4.8 GB with it, 91 s and 1.4 GB with LOBPCG.
    from sklearn.cluster import SpectralClustering

    solvers, fit = [], SpectralClustering.fit

    def recording(self, X, y=None):
        solvers.append((len(X), self.eigen_solver))
        return fit(self, X, y)

    monkeypatch.setattr(SpectralClustering, "fit", recording)
    X, y, _ = make_molrg(n_samples=[1500] * 3, n_features=12, dims=2, noise=0.01,
                         random_state=0)
    auto = AutoSubspaceClustering(3, candidates=["spectral"], budget=300, random_state=0).fit(X)
    assert solvers == [(300, "arpack"), (4500, "lobpcg")]
    assert clustering_accuracy(y, auto.labels_) >= 0.95


def test_an_estimator_given_as_a_pair_joins_the_portfolio(molrg):
    X, y = molrg
    auto = AutoSubspaceClustering(
        4, candidates=["lsr", ("kss3", KSubspaces(dims=3, n_clusters=2))], random_state=0
    ).fit(X)
    kss = auto.candidates_[-1]
    assert kss["name"] == "kss3" and kss["params"]["dims"] == 3
    assert kss["params"]["n_clusters"] == 4  # set to the estimator's own n_clusters
    assert clustering_accuracy(y, auto.labels_) >= 0.98


class _Failing(ClusterMixin, BaseEstimator):
    def __init__(self, n_clusters=2):
        self.n_clusters = n_clusters

    def fit(self, X, y=None):
        raise RuntimeError("no luck")


def test_a_failing_candidate_is_reported_and_left_out(molrg):
    X, y = molrg
    with pytest.warns(FitFailedWarning, match="Candidate broken failed"):
        auto = AutoSubspaceClustering(
            4, candidates=["lsr", "kmeans", ("broken", _Failing())], random_state=0
        ).fit(X)
    broken = auto.candidates_[-1]
    assert np.isnan(broken["criterion"]) and "RuntimeError: no luck" in broken["error"]
    assert not broken["selected"] and clustering_accuracy(y, auto.labels_) >= 0.98
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitFailedWarning)
        with pytest.raises(ValueError, match="Every candidate failed: broken: RuntimeError"):
            AutoSubspaceClustering(4, candidates=[("broken", _Failing())]).fit(X)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"n_clusters": 0}, "'n_clusters' parameter of AutoSubspaceClustering must be"),
        ({"n_clusters": 2.5}, "'n_clusters' parameter"),
        ({"budget": 1}, "'budget' parameter of AutoSubspaceClustering must be"),
        ({"budget": "all"}, "'budget' parameter"),
        ({"candidates": "lsr"}, "'candidates' parameter"),
        ({"candidates": []}, "candidates is empty; name at least one method"),
        ({"candidates": ["lasso"]}, "Unknown candidate 'lasso'; name a family of"),
        ({"candidates": [3]}, "must be a method family name or a \\(name, estimator\\) pair"),
        ({"candidates": ["lsr", "lsr"]}, "candidates repeat"),
        ({"n_clusters": 300}, "n_samples=240 should be >= n_clusters=300"),
    ],
)
def test_bad_input_is_a_one_line_error(molrg, params, message):
    with pytest.raises(ValueError, match=message) as error:
        AutoSubspaceClustering(**params).fit(molrg[0])
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("n_clusters", [3, None])
def test_copies_and_zeros_are_named_when_too_few_samples_differ(n_clusters):
    X = np.vstack([np.ones((20, 5)), np.zeros((20, 5)), np.eye(5)[:1]])
    with pytest.raises(ValueError, match="Only 2 of the 41 samples are distinct and non-zero"):
        AutoSubspaceClustering(n_clusters, candidates=SMALL).fit(X)


def test_budget_below_n_clusters_is_refused(molrg):
    with pytest.raises(ValueError, match="n_samples=10 should be >= n_clusters=20"):
        AutoSubspaceClustering(20, candidates=SMALL, budget=10).fit(molrg[0])


def test_normalized_association():
    W = np.kron(np.eye(2), np.ones((4, 4))) - np.eye(8)  # two cliques of 4
    right, wrong = np.repeat([0, 1], 4), np.tile([0, 1], 4)
    assert normalized_association(right, W) == 1.0
    assert normalized_association(wrong, W) < 0.5
    # Invariant to relabelling and to the scale of the graph; sparse or dense alike.
    assert normalized_association(1 - wrong, 3 * sp.csr_matrix(W)) == pytest.approx(
        normalized_association(wrong, W)
    )
    # Splitting off one sample cuts little weight but is charged per cluster.
    split = np.array([0, 0, 0, 0, 0, 0, 0, 1])
    assert normalized_association(split, W) < 0.6


def test_modularity_compares_different_numbers_of_clusters():
    W = np.kron(np.eye(4), np.ones((3, 3))) - np.eye(12)  # four triangles
    four = np.repeat([0, 1, 2, 3], 3)
    assert modularity(np.zeros(12, dtype=int), W) == pytest.approx(0.0)
    # Merging unlinked clusters, or splitting a linked one, lowers it.
    assert modularity(four, W) > modularity(np.repeat([0, 1], 6), W)
    split = four.copy()
    split[-1] = 4  # one sample of the last triangle on its own
    assert modularity(four, W) > modularity(split, W)
    # Invariant to relabelling and to the scale of the graph; sparse or dense alike.
    assert modularity(3 - four, 2 * sp.csr_matrix(W)) == pytest.approx(modularity(four, W))
    with pytest.raises(ValueError, match="'labels' parameter of modularity must be an array-like"):
        modularity(3, W)


def test_affine_ssc_joins_the_default_portfolio_on_small_samples_only():
    auto = AutoSubspaceClustering(3)
    small = [name for name, _, _, _ in auto._portfolio(1000)]
    assert "ssc-affine" in small
    assert [name for name, _, _, _ in auto._portfolio(1001)] == [
        name for name in small if name != "ssc-affine"]
    unknown_k = AutoSubspaceClustering(None)._portfolio(1000)
    assert [est.n_clusters for name, _, _, est in unknown_k if name == "ssc-affine"] == [None]
    named = AutoSubspaceClustering(3, candidates=["ssc-affine"])._portfolio(5000)
    assert [(name, est.affine, est.normalize, est.rho) for name, _, _, est in named] == [
        ("ssc-affine", True, False, 800.0)]


def test_subspace_consistency():
    X, y, _ = make_molrg(n_samples=[40, 40, 40], n_features=12, dims=2, noise=0.01,
                         random_state=0)  # fmt: skip
    assert subspace_consistency(X, y) == 1.0
    assert subspace_consistency(X, 2 - y, dims=2) == 1.0  # any labelling, given dimensions
    halves = (X[:, 0] > 0).astype(int)  # each half holds pieces of all three planes
    assert subspace_consistency(X, halves) < 0.8
    with pytest.raises(ValueError, match="'dims' parameter of subspace_consistency"):
        subspace_consistency(X, y, dims=0)


def test_subspace_consistency_compares_subspaces_of_different_dimensions_fairly():
    # A plane and a 15-dimensional subspace of R^30: the larger leaves every sample a
    # smaller raw residual and would claim samples of the plane; per residual dimension
    # (the noise variance each implies) the true clusters are consistent.
    from subclust.cluster import cluster_bases
    from subclust.subspace import residuals

    X, y, _ = make_molrg(n_samples=[100, 100], n_features=30, dims=[2, 15], noise=0.1,
                         random_state=0)  # fmt: skip
    raw = residuals(X, cluster_bases(X, y, 2, dims=[2, 15])).argmin(axis=1)
    assert np.mean(raw == y) < 0.93
    assert subspace_consistency(X, y, dims=[2, 15]) > 0.96


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_subspace_consistency_measures_each_sample_against_a_subspace_not_fitted_to_it(seed):
    # Half of the first subspace alone, its other half with the second subspace: both
    # clusters' subspaces hold the half that moved. Against subspaces fitted to them,
    # those samples stay in their cluster (0.89 of all samples do); against subspaces
    # fitted without them (the default), about half of them go to the other cluster.
    X, y, _ = make_molrg(n_samples=[60, 30], n_features=30, dims=3, noise=0.05,
                         random_state=seed)  # fmt: skip
    piece = (y == 0) & (np.cumsum(y == 0) <= 30)
    nested = np.where(piece, 0, 1)
    assert subspace_consistency(X, nested, random_state=0) < 0.7
    assert subspace_consistency(X, nested, held_out=False) > 0.85
    assert subspace_consistency(X, nested, adjusted=True, random_state=0) < 0.4
    assert subspace_consistency(X, y, random_state=0) == 1.0
    assert subspace_consistency(X, y, adjusted=True, random_state=0) == 1.0


def test_the_consistency_allowance_grows_with_its_noise_floor():
    from subclust.cluster._auto import _competing

    assert _competing(np.array([1.0, 0.995, 0.98])).tolist() == [True, True, False]
    # Few samples a cluster: even the right partition leaves samples inconsistent.
    assert _competing(np.array([0.976, 0.963, 0.95, 0.92])).tolist() == [True, True, True, False]
    assert _competing(np.array([0.99, 0.96, np.nan])).tolist() == [True, False, False]


def test_few_faces_a_person_are_not_left_to_the_most_consistent_partition(data_home):
    """10 faces of each of 38 persons: the check is noisy, and must not overrule the graphs."""
    from subclust.datasets import load_yaleb

    faces = load_yaleb("32x32")
    rng = np.random.default_rng(2)
    index = np.concatenate([rng.choice(np.flatnonzero(faces.target == k), 10, replace=False)
                            for k in range(38)])  # fmt: skip
    auto = AutoSubspaceClustering(38, candidates=["lsr", "omp", "spectral"], random_state=0)
    auto.fit(faces.data[index])
    table = {c["name"]: c for c in auto.candidates_}
    most_consistent = max(auto.candidates_, key=lambda c: c["consistency"])
    assert most_consistent["name"] != auto.selected_ and max(
        c["criterion"] for c in auto.candidates_) == table[auto.selected_]["criterion"]
    assert clustering_accuracy(faces.target[index], auto.labels_) > 0.6


def test_motions_are_told_from_image_regions_by_their_subspaces():
    """Nearest-neighbour graphs cut a scene into regions, agree, and outscore the right graph."""
    X, y = make_motion_trajectories(2, random_state=202)
    auto = AutoSubspaceClustering(2, candidates=["lsr", "tsc", "spectral"], random_state=0).fit(X)
    table = {c["name"]: c for c in auto.candidates_}
    regions = max(auto.candidates_, key=lambda c: c["criterion"])  # a nearest-neighbour graph
    assert regions["family"] in ("tsc", "spectral")
    assert regions["consistency"] < 0.95 and not regions["competes"]
    assert auto.selected_ == "lsr(regularization=0.01)" and table[auto.selected_]["competes"]
    assert clustering_accuracy(y, auto.labels_) == 1.0
    assert clustering_accuracy(y, auto.candidate_labels_[auto.candidates_.index(regions)]) < 0.7


def test_partitions_are_checked_against_subspaces_of_the_data_s_dimension():
    """Under a pinhole camera, image regions fit subspaces of the dimensions they set.

    Perspective bends each motion's trajectories off its subspace, so the
    estimate of each cluster's dimension grows, for the motions' clusters and
    for regions that mix them alike; at their own dimensions the regions were
    about as consistent as the motions (0.90 against 0.95) and won on their graphs.
    """
    from subclust.bench.motion import draw_scene

    X, y = draw_scene(2, 1000.0, [0, 2, 6])  # a background of 277 points, an object of 31
    auto = AutoSubspaceClustering(2, candidates=["ssc-affine", "tsc", "spectral"],
                                  random_state=0).fit(X)  # fmt: skip
    assert auto.consistency_dims_ <= 6  # the scene's subspaces: 4 dimensions, bent
    motions, *regions = auto.candidates_
    assert motions["consistency"] > 0.98 and all(c["consistency"] < 0.9 for c in regions)
    assert auto.selected_ == "ssc-affine" and clustering_accuracy(y, auto.labels_) > 0.99
    given = AutoSubspaceClustering(2, candidates=["lsr"], subspace_dims=3, random_state=0)
    assert given.fit(X).consistency_dims_ == 3


def test_a_referee_overrules_a_graph_that_fits_its_own_wrong_partition():
    W = np.kron(np.eye(2), np.ones((4, 4))) - np.eye(8)  # the right graph: two cliques of 4
    noisy = W + 0.05 - 0.05 * np.eye(8)
    right, wrong = np.repeat([0, 1], 4), np.tile([0, 1], 4)
    # A graph built wrongly, that its own partition cuts well; and a failed candidate.
    crooked = (wrong[:, None] == wrong[None, :]) + 0.1 - 1.1 * np.eye(8)
    scores = refereed_scores([right, right, wrong, None], [noisy, W, crooked, None], 2)
    assert normalized_association(wrong, crooked) > 0.8
    assert scores[2] < 0.4 < 0.7 < min(scores[0], scores[1]) and np.isnan(scores[3])
    # The referee of the wrong partition is the most self-consistent graph, the right one,
    # for both criteria: the mean of each in its own graph and the referee's.
    assert scores[2] == pytest.approx(0.25 * (
        normalized_association(wrong, crooked) + normalized_association(wrong, W)
        + modularity(wrong, crooked) + modularity(wrong, W)
    ))  # fmt: skip


def test_the_criterion_charges_a_partition_that_merges_clusters():
    # Five cliques of 6: three of them faintly linked to each other (persons alike), two
    # made of halves that are barely linked (persons under two lights). Merging the three
    # and splitting the two in halves keeps more weight inside the clusters on average, so
    # normalized association prefers it; modularity charges the giant cluster, and so
    # does the criterion.
    labels = np.repeat(np.arange(5), 6)
    W = np.where(labels[:, None] == labels[None, :], 1.0, 0.01)
    W[:18, :18] = np.where(W[:18, :18] == 1.0, 1.0, 0.15)
    halves = np.arange(30) // 3
    for start in (18, 24):
        block = slice(start, start + 6)
        W[block, block] = np.where(halves[block, None] == halves[None, block], 1.0, 0.05)
    np.fill_diagonal(W, 0)
    merged = np.concatenate([np.zeros(18, dtype=int), np.repeat([1, 2, 3, 4], 3)])
    assert normalized_association(merged, W) > normalized_association(labels, W) + 0.05
    assert modularity(merged, W) < modularity(labels, W) - 0.2
    scores = refereed_scores([labels, merged], [W, W], 5)
    assert scores[0] > scores[1] + 0.05


def test_partition_criterion_scores_a_partition_alone(molrg):
    X, y = molrg
    W = np.kron(np.eye(2), np.ones((4, 4))) - np.eye(8)
    right, wrong = np.repeat([0, 1], 4), np.tile([0, 1], 4)
    # In a given graph: the mean of the two criteria, as refereed_scores gives a lone candidate.
    assert partition_criterion(np.zeros((8, 3)), right, W) == pytest.approx(
        0.5 * (normalized_association(right, W) + modularity(right, W)))
    assert partition_criterion(np.zeros((8, 3)), wrong, W) < 0.1
    # Without one, in the nearest-neighbour graph of the samples: the subspaces, not halves.
    halves = (X[:, 0] > 0).astype(int)
    assert partition_criterion(X, y) > partition_criterion(X, halves, n_clusters=4) + 0.2
    with pytest.raises(ValueError, match="affinity"):
        partition_criterion(X, y, affinity="knn")


def test_auto_is_the_default_method(molrg):
    X, y = molrg
    assert DEFAULT_METHOD == "auto"
    assert isinstance(make_estimator(n_clusters=4), AutoSubspaceClustering)
    pipe = make_pipeline(n_clusters=4, candidates=SMALL, random_state=0)
    assert clustering_accuracy(y, pipe.fit_predict(X)) >= 0.98


def test_report_and_summary_figure_show_the_candidates(tmp_path, molrg):
    from subclust.cli.main import main

    X, y = molrg
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    code = main([
        "cluster", str(tmp_path / "X.npy"), "--labels", str(tmp_path / "y.npy"), "--quiet",
        "--param", 'candidates=["lsr", "kmeans"]', "-o", str(tmp_path / "out"),
    ])
    assert code == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["method"] == "auto" and report["selected"].startswith("lsr")
    assert abs(report["consistency_dims"] - 3) <= 1  # that of the subspaces, estimated
    assert [c["name"] for c in report["candidates"]][-1] == "kmeans"
    assert report["metrics"]["accuracy"] >= 0.98


def test_summary_figure_panel(molrg):
    from subclust.cli.summary_figure import clustering_summary_figure

    X, _ = molrg
    auto = AutoSubspaceClustering(4, candidates=["lsr", "kmeans"], random_state=0).fit(X)
    figure = clustering_summary_figure(X, auto.labels_, bases=auto.bases_,
                                       candidates=auto.candidates_)
    panel = figure.axes[-1]
    assert panel.get_title().startswith("candidates compared by method 'auto'")
    assert [t.get_text() for t in panel.get_yticklabels()] == [
        c["name"] for c in auto.candidates_
    ]
    notes = [t.get_text() for t in panel.texts]
    assert all("consistency" in note for note in notes)
    assert sum("left out" in note for note in notes) == sum(
        not c["competes"] for c in auto.candidates_)


@parametrize_with_checks([AutoSubspaceClustering(candidates=SMALL)])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_model_file_round_trip(tmp_path, molrg):
    from subclust.io import load_model, save_model

    X, _ = molrg
    auto = AutoSubspaceClustering(4, candidates=["lsr", "kmeans"], random_state=0).fit(X)
    loaded = load_model(save_model(auto, tmp_path / "auto.npz"))
    assert loaded.selected_ == auto.selected_ and loaded.candidates_ == auto.candidates_
    assert np.array_equal(loaded.predict(X), auto.predict(X))


def test_bench_motion_reports_the_errors_over_its_scenes(capsys):
    from subclust.bench.motion import draw_scene
    from subclust.cli import main

    X, y = draw_scene(3, 1000.0, [0, 3, 1])
    again, same = draw_scene(3, 1000.0, [0, 3, 1])
    assert np.array_equal(X, again) and np.array_equal(y, same)  # the seed fixes the scene
    assert 30 <= X.shape[1] <= 100 and all(15 <= n <= 120 for n in np.bincount(y)[1:])
    assert main(["bench", "motion", "--scenes", "1", "--motions", "2",
                 "--camera-distances", "inf"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    row = next(line.split() for line in out.splitlines() if line.startswith("affine "))
    auto_mean, ssc_mean, kmeans_mean = float(row[3]), float(row[5]), float(row[7])
    assert auto_mean <= kmeans_mean and ssc_mean <= kmeans_mean
    assert main(["bench", "motion", "--scenes", "0"]) == 2
    assert "--scenes must be >= 1" in capsys.readouterr().err
