"""transform, predict and score of every clusterer, and the one rule on all-zero samples.

Every clusterer measures samples against its fitted subspaces as
K-subspaces does: ``transform`` gives distances, ``predict`` the nearest
subspace and ``score`` the opposite of the K-subspaces objective, so that
scikit-learn's model selection and pipelines work without a ``scoring``.
"""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer

from subclust import (
    EnsembleKSubspaces,
    KSubspaces,
    LeastSquaresSubspaceClustering,
    LowRankRepresentation,
    SparseSubspaceClustering,
    ThresholdedSubspaceClustering,
)
from subclust.datasets import make_molrg
from subclust.metrics import clustering_accuracy
from subclust.subspace import residuals

torch = pytest.importorskip("torch")

from subclust.diffusion import DiffusionSubspaceClustering  # noqa: E402

# Each clusterer, and a small grid of its main parameter.
CLUSTERERS = {
    "kss": (lambda: KSubspaces(3, dims=3, random_state=0), {"dims": [2, 3]}),
    "ssc-en": (lambda: SparseSubspaceClustering(3, random_state=0), {"alpha": [20.0, 50.0]}),
    "ssc-admm": (
        lambda: SparseSubspaceClustering(3, solver="admm", random_state=0),
        {"alpha": [10.0, 20.0]},
    ),
    "ssc-omp": (
        lambda: SparseSubspaceClustering(3, solver="omp", random_state=0),
        {"n_nonzero": [3, 5]},
    ),
    "lsr": (
        lambda: LeastSquaresSubspaceClustering(3, random_state=0),
        {"regularization": [0.01, 0.1]},
    ),
    "tsc": (lambda: ThresholdedSubspaceClustering(3, random_state=0), {"n_nearest": [3, 5]}),
    "lrr": (lambda: LowRankRepresentation(3, random_state=0), {"regularization": [0.1, 1.0]}),
    "ekss": (
        lambda: EnsembleKSubspaces(3, dims=3, n_estimators=30, random_state=0),
        {"n_estimators": [30, 60]},
    ),
    "diffusion": (
        lambda: DiffusionSubspaceClustering(3, dims=3, n_init=2, steps=40, random_state=0),
        {"dims": [2, 3]},
    ),
}
NAMES = list(CLUSTERERS)


@pytest.fixture(scope="module")
def molrg():
    return make_molrg(n_samples=[40, 40, 40], n_features=20, dims=3, random_state=0)


@pytest.fixture(scope="module")
def fitted(molrg):
    X, _, _ = molrg
    return {name: CLUSTERERS[name][0]().fit(X) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_transform_predict_score_agree(name, molrg, fitted):
    """transform is the distance to each subspace; predict its argmin; score minus the objective."""
    X, y, _ = molrg
    est = fitted[name]
    rng = np.random.default_rng(1)
    new = rng.standard_normal((15, X.shape[1]))
    D = est.transform(new)
    assert D.shape == (15, 3)
    np.testing.assert_allclose(D**2, residuals(new, est.bases_), rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(est.predict(X), est.transform(X).argmin(axis=1))
    assert est.score(new) == pytest.approx(-np.sum(D.min(axis=1) ** 2))
    # The fitted subspaces hold their own (noiseless) training samples: objective about
    # zero (the briefly trained diffusion network within 1e-4 of the data's energy).
    assert -est.score(X) <= 1e-4 * np.sum(X**2)
    assert est.score(X) > est.score(new)
    assert clustering_accuracy(y, est.predict(X)) == 1.0
    assert est.fit_transform(X).shape == (X.shape[0], 3)
    assert list(est.get_feature_names_out()) == [
        f"{type(est).__name__.lower()}{k}" for k in range(3)
    ]


@pytest.mark.parametrize("name", NAMES)
def test_transform_keeps_float32(name, molrg):
    X, _, _ = molrg
    est = CLUSTERERS[name][0]().fit(X.astype(np.float32))
    assert est.transform(X.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("name", NAMES)
def test_grid_search_without_scoring(name, molrg):
    """GridSearchCV ranks parameters by ``score`` when no ``scoring`` is given."""
    X, y, _ = molrg
    make, grid = CLUSTERERS[name]
    search = GridSearchCV(make(), grid, cv=3).fit(X)
    assert search.best_params_[next(iter(grid))] in next(iter(grid.values()))
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert np.all(search.cv_results_["mean_test_score"] <= 0)
    assert clustering_accuracy(y, search.predict(X)) == 1.0


@pytest.mark.parametrize("name", NAMES)
def test_pipeline_scores_and_transforms(name, molrg):
    X, _, _ = molrg
    pipe = make_pipeline(Normalizer(), CLUSTERERS[name][0]()).fit(X)
    # Unit samples on the subspaces: the score is the opposite of about zero.
    assert -pipe.score(X) <= 1e-4 * X.shape[0]
    assert pipe.transform(X).shape == (X.shape[0], 3)


def test_dimension_grid_prefers_the_true_dimension_on_held_out_noise():
    """Held-out score penalizes a dimension too small: d=1 loses to the true d=3."""
    X, _, _ = make_molrg(n_samples=[60, 60, 60], n_features=20, dims=3, noise=0.01,
                         random_state=2)
    search = GridSearchCV(KSubspaces(3, random_state=0), {"dims": [1, 3]}, cv=3).fit(X)
    assert search.best_params_ == {"dims": 3}


def test_precomputed_affinity_has_nothing_to_transform(molrg):
    X, _, _ = molrg
    W = np.abs(np.corrcoef(X))
    est = ThresholdedSubspaceClustering(3, affinity="precomputed", random_state=0).fit(W)
    for method in (est.predict, est.transform, est.score):
        with pytest.raises(ValueError, match="affinity='precomputed'"):
            method(X)


@pytest.mark.parametrize("name", NAMES)
def test_zero_samples_follow_one_rule(name):
    """Every estimator: a warning naming the rows, label 0 in fit and predict, the rest intact."""
    X, y, _ = make_molrg(n_samples=[40, 40, 40], n_features=20, dims=3, random_state=3)
    zero = [7, 50]
    X[zero] = 0.0
    keep = np.setdiff1d(np.arange(len(X)), zero)
    with pytest.warns(UserWarning, match=r"2 all-zero sample\(s\) \(rows \[7, 50\]\)"):
        est = CLUSTERERS[name][0]().fit(X)
    assert est.labels_.shape == (len(X),)
    assert est.labels_[zero].tolist() == [0, 0]
    assert est.predict(X[zero]).tolist() == [0, 0]
    np.testing.assert_allclose(est.transform(X[zero]), 0.0)
    assert clustering_accuracy(y[keep], est.labels_[keep]) == 1.0


def test_zero_samples_are_ordinary_for_affine_subspaces():
    """An affine subspace misses the origin: no warning, the sample is clustered."""
    import warnings

    X, _, _ = make_molrg(n_samples=[30, 30], n_features=10, dims=2, random_state=4)
    X = np.vstack([X + 5.0, np.zeros((1, 10))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = KSubspaces(2, dims=2, affine=True, random_state=0).fit(X)
    assert est.labels_[-1] == est.transform(X[-1:]).argmin()
