"""Label-free choice of a subspace-clustering method and its parameter: ``method="auto"``.

No method wins everywhere: on faces least-squares regression beats the
elastic net by 15 accuracy points, on digits the elastic net beats it by 14,
and on object pixels thresholding beats both. :class:`AutoSubspaceClustering`
runs a small portfolio of methods over short grids of their main parameter
on (a subsample of) the data, ranks their partitions by a criterion computed
on the data alone, and fits the winner on every sample.

The criterion is the *consensus* of the portfolio's affinity graphs. A
partition that follows the true subspaces keeps most of the edge weight of
any graph whose edges mostly link samples of one subspace, whichever method
built it; a wrong partition keeps much weight only in the graph that
produced it. So every partition ``P = {A_1..A_K}`` is scored by its
*normalized association* (Shi and Malik, "Normalized Cuts and Image
Segmentation", TPAMI 22(8), 2000) in the graph ``W`` of every candidate that
builds one,

    nassoc(P, W) = (1/K) sum_k W(A_k, A_k) / W(A_k, V) = 1 - ncut(P, W) / K,

in [0, 1] (1: no edge leaves a cluster), divided by the best value any
candidate's partition reaches in that graph (so that dense and sparse graphs
vote on one scale), and averaged over graphs with each method family
weighted once (a family's parameter grid is one voter). The normalized cut
charges small clusters as much as large ones, so a degenerate partition
(one giant cluster) scores low. Choosing the input partition that agrees
best with the others is the ``BestClustering`` rule of clustering
aggregation (Gionis, Mannila, Tsaparas, "Clustering Aggregation", ACM TKDD
1(1), 2007), here with agreement measured on the graphs rather than on the
labels.
"""

import numbers
import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.cluster import KMeans, SpectralClustering
from sklearn.exceptions import FitFailedWarning
from sklearn.preprocessing import normalize as normalize_rows
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval

from subclust.cluster._ensemble import EnsembleKSubspaces
from subclust.cluster._k_subspaces import KSubspaces
from subclust.cluster._least_squares import LeastSquaresSubspaceClustering
from subclust.cluster._nearest_subspace import NearestSubspaceMixin
from subclust.cluster._sparse_subspace import SparseSubspaceClustering
from subclust.cluster._spectral import _check_enough_samples, cluster_bases
from subclust.cluster._thresholded import ThresholdedSubspaceClustering
from subclust.utils.validation import fit_context, validate_data

__all__ = ["AutoSubspaceClustering", "PORTFOLIO", "consensus_scores", "normalized_association"]


def _ensc(n_clusters, **params):
    return SparseSubspaceClustering(n_clusters, solver="elastic_net", **params)


def _omp(n_clusters, **params):
    return SparseSubspaceClustering(n_clusters, solver="omp", **params)


#: Method families of the portfolio: name -> (factory of the estimator, whether it
#: takes ``normalize``). K-subspaces, k-means and spectral clustering get unit-norm
#: rows from :class:`AutoSubspaceClustering` instead.
_FAMILIES = {
    "ensc": (_ensc, True),
    "omp": (_omp, True),
    "lsr": (LeastSquaresSubspaceClustering, True),
    "tsc": (ThresholdedSubspaceClustering, True),
    "kss": (KSubspaces, False),
    "ekss": (EnsembleKSubspaces, True),
    "kmeans": (KMeans, False),
    "spectral": (SpectralClustering, False),
}

#: The default portfolio: (family, parameters) pairs. Self-expressive methods over
#: their main parameter around the estimator's default (EnSC's fit weight ``alpha``,
#: LSR's ridge weight, TSC's number of neighbours ``q``, OMP's number of atoms), one
#: K-subspaces, and the two usual baselines: k-means on unit-norm rows and spectral
#: clustering of a 10-nearest-neighbour graph (as You et al., CVPR 2016, compare).
PORTFOLIO = (
    ("ensc", {"alpha": 10.0}),
    ("ensc", {"alpha": 50.0}),
    ("ensc", {"alpha": 200.0}),
    ("omp", {"n_nonzero": 10}),
    ("lsr", {"regularization": 0.01}),
    ("lsr", {"regularization": 0.1}),
    ("lsr", {"regularization": 1.0}),
    ("tsc", {"n_nearest": 5}),
    ("tsc", {"n_nearest": 20}),
    ("kss", {}),
    ("kmeans", {"n_init": 10}),
    ("spectral", {"affinity": "nearest_neighbors", "n_neighbors": 10}),
)


def _candidate_name(family, params):
    shown = ", ".join(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
                      for key, value in params.items() if key not in ("affinity", "n_init"))
    return f"{family}({shown})" if shown else family


def normalized_association(labels, affinity, n_clusters=None):
    """Normalized association of a partition in a graph: ``1 - ncut / K``.

    ``(1/K) sum_k W(A_k, A_k) / W(A_k, V)``: the mean share of each
    cluster's edge weight that stays inside it (Shi and Malik, "Normalized
    Cuts and Image Segmentation", TPAMI 22(8), 2000). An empty cluster, or
    one without edges, keeps nothing.

    Parameters
    ----------
    labels : ndarray of int of shape (n_samples,)
        Cluster of each sample, in ``0..n_clusters - 1``.
    affinity : ndarray or sparse matrix of shape (n_samples, n_samples)
        Symmetric non-negative weights.
    n_clusters : int, optional
        K; default ``labels.max() + 1``.

    Returns
    -------
    score : float in [0, 1]
        1 when no edge leaves a cluster.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.cluster import normalized_association
    >>> W = np.kron(np.eye(2), np.ones((3, 3))) - np.eye(6)  # two triangles
    >>> normalized_association(np.array([0, 0, 0, 1, 1, 1]), W)
    1.0
    >>> round(normalized_association(np.array([0, 0, 1, 1, 0, 1]), W), 4)  # cuts both
    0.3333
    """
    labels = np.asarray(labels)
    if n_clusters is None:
        n_clusters = int(labels.max()) + 1
    n = labels.shape[0]
    onehot = sp.csr_matrix((np.ones(n), (np.arange(n), labels)), shape=(n, n_clusters))
    W = sp.csr_matrix(affinity, dtype=np.float64) if sp.issparse(affinity) else affinity
    # Weight between clusters, K x K: within on the diagonal, volume as row sums.
    between = onehot.T @ (W @ onehot)
    between = between.toarray() if sp.issparse(between) else np.asarray(between)
    volume = between.sum(axis=1)
    within = np.diag(between)
    kept = np.divide(within, volume, out=np.zeros(n_clusters), where=volume > 0)
    return float(kept.sum() / n_clusters)


def consensus_scores(partitions, graphs, families, n_clusters):
    """Score of every partition: its normalized association in every graph, on one scale.

    Parameters
    ----------
    partitions : list of (ndarray of int or None)
        Labels of each candidate (None: it failed and scores NaN).
    graphs : list of (ndarray, sparse matrix or None)
        Affinity of each candidate, None if it builds none.
    families : list of str
        Method family of each candidate: the graphs of a family share one vote.
    n_clusters : int

    Returns
    -------
    scores : ndarray of shape (n_candidates,)
        In [0, 1]; NaN for a failed candidate, and for every candidate if no
        graph was built.
    """
    valid = [i for i, labels in enumerate(partitions) if labels is not None]
    votes = {}  # family -> list of per-graph relative associations
    for W, family in zip(graphs, families):
        if W is None:
            continue
        association = np.array(
            [normalized_association(partitions[i], W, n_clusters) for i in valid]
        )
        best = association.max()
        if best > 0:
            votes.setdefault(family, []).append(association / best)
    scores = np.full(len(partitions), np.nan)
    if votes:
        per_family = [np.mean(family_votes, axis=0) for family_votes in votes.values()]
        scores[valid] = np.mean(per_family, axis=0)
    return scores


class AutoSubspaceClustering(NearestSubspaceMixin, ClusterMixin, BaseEstimator):
    """Choose the method and its parameter on the data alone, then cluster with it.

    Every candidate of a portfolio (self-expressive methods over short
    grids of their main parameter, K-subspaces, k-means and spectral
    clustering of a nearest-neighbour graph) clusters the same ``budget``
    samples; their partitions are ranked by the consensus of the candidates'
    affinity graphs (:func:`consensus_scores`, below), and the winner is fitted on
    all samples. ``predict``, ``transform`` and ``score`` measure samples
    against one subspace per cluster of the winner's partition.

    The criterion: a partition ``P`` is scored in the graph ``W`` of every
    candidate that builds one by its normalized association
    ``(1/K) sum_k W(A_k, A_k) / W(A_k, V)`` (Shi and Malik, TPAMI 2000),
    divided by the largest value a candidate reaches in that graph, and
    averaged over graphs, each method family weighing once. A partition that
    follows the subspaces keeps most of the weight of every graph that
    mostly links samples of one subspace; a wrong one keeps it only in its
    own graph. Choosing the candidate that agrees best with the others is the
    ``BestClustering`` rule of Gionis, Mannila and Tsaparas (Clustering
    Aggregation, ACM TKDD 2007).

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters.
    candidates : list of str or (str, estimator) pairs, optional
        The portfolio. A string names a method family and brings its grid
        from :data:`PORTFOLIO`: 'ensc', 'omp', 'lsr', 'tsc', 'kss',
        'kmeans', 'spectral', or 'ekss' (an ensemble of K-subspaces, not in
        the default portfolio: 1000 runs cost more than the rest together).
        A pair ``(name, estimator)`` adds any clusterer with ``labels_`` after
        ``fit``; its ``n_clusters`` and ``random_state`` are set, and its
        ``affinity_matrix_``, if any, votes. None: every family of
        :data:`PORTFOLIO`.
    budget : int or None, default=2000
        Number of samples the candidates are compared on: a random subsample
        when there are more, so that the selection costs the same at any N
        and only the winner's final fit grows with it. None compares them on
        all samples (no final fit).
    normalize : bool, default=True
        Scale samples to unit norm (every candidate; k-means and spectral
        clustering get unit-norm rows).
    subspace_dims : int or list of int, optional
        Dimension of the subspace of each cluster (``bases_``), and the
        dimension K-subspaces fits; default: estimated from each cluster's
        singular values (:func:`subclust.cluster.cluster_bases`).
    verbose : int, default=0
        Print one line per candidate (name, criterion, seconds).
    random_state : int, RandomState instance or None, default=None
        Seed of the subsample and of every candidate (they share one seed).

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Clusters of the winner fitted on all samples.
    bases_ : list of ndarray of shape (n_features, d_k)
        Orthonormal basis of each cluster's subspace.
    affinity_matrix_ : ndarray, sparse matrix or None
        The winner's affinity on all samples (None if it builds none).
    candidates_ : list of dict
        One per candidate, in portfolio order: ``name``, ``family``,
        ``params`` (those the grid sets), ``criterion`` (NaN if it failed),
        ``seconds`` (its fit on the compared samples), ``error`` (None, or
        why it failed), ``selected`` (bool).
    selected_ : str
        Name of the winner.
    n_selection_samples_ : int
        Number of samples the candidates were compared on.
    seconds_selection_, seconds_final_ : float
        Time of the comparison and of the winner's fit on all samples (0
        when the comparison used them all).
    n_features_in_ : int

    See Also
    --------
    subclust.pipeline.make_pipeline : normalize, project, cluster (``method="auto"``).

    Examples
    --------
    >>> from subclust import AutoSubspaceClustering
    >>> from subclust.datasets import make_molrg
    >>> from subclust.metrics import clustering_accuracy
    >>> X, y, _ = make_molrg(n_samples=[40, 40, 40], n_features=20, dims=3, random_state=0)
    >>> auto = AutoSubspaceClustering(3, candidates=["lsr", "kmeans"], random_state=0).fit(X)
    >>> [c["name"] for c in auto.candidates_]
    ['lsr(regularization=0.01)', 'lsr(regularization=0.1)', 'lsr(regularization=1)', 'kmeans']
    >>> auto.selected_.startswith("lsr"), clustering_accuracy(y, auto.labels_)
    (True, 1.0)
    >>> clustering_accuracy(y[:5], auto.predict(X[:5]))
    1.0
    """

    _parameter_constraints = {
        "n_clusters": [Interval(numbers.Integral, 1, None, closed="left")],
        "candidates": [list, tuple, None],
        "budget": [Interval(numbers.Integral, 2, None, closed="left"), None],
        "normalize": ["boolean"],
        "subspace_dims": [Interval(numbers.Integral, 1, None, closed="left"), "array-like", None],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        candidates=None,
        budget=2000,
        normalize=True,
        subspace_dims=None,
        verbose=0,
        random_state=None,
    ):
        self.n_clusters = n_clusters
        self.candidates = candidates
        self.budget = budget
        self.normalize = normalize
        self.subspace_dims = subspace_dims
        self.verbose = verbose
        self.random_state = random_state

    def _portfolio(self):
        """The candidates as (name, family, parameters, unfitted estimator); checks ``candidates``."""
        if self.candidates is None:
            entries = list(PORTFOLIO)
        else:
            if len(self.candidates) == 0:
                raise ValueError("candidates is empty; name at least one method, or pass None.")
            entries = []
            for item in self.candidates:
                if isinstance(item, str):
                    grid = [entry for entry in PORTFOLIO if entry[0] == item]
                    if item == "ekss":
                        grid = [("ekss", {})]
                    if not grid:
                        raise ValueError(
                            f"Unknown candidate {item!r}; name a family of "
                            f"{sorted(_FAMILIES)} or give a (name, estimator) pair."
                        )
                    entries.extend(grid)
                elif (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
                      and hasattr(item[1], "fit")):
                    entries.append(item)
                else:
                    raise ValueError(
                        f"Each candidate must be a method family name or a (name, estimator) "
                        f"pair, got {item!r}."
                    )
        portfolio = []
        for family, spec in entries:
            if isinstance(spec, dict):
                name, params = _candidate_name(family, spec), spec
                estimator = self._make(family, spec)
            else:  # a (name, estimator) pair: its own family, with its own vote
                name, estimator = family, clone(spec)
                if "n_clusters" in estimator.get_params(deep=False):
                    estimator.set_params(n_clusters=self.n_clusters)
                params = {key: value for key, value in estimator.get_params(deep=False).items()
                          if value is None or isinstance(value, (bool, int, float, str))}
            portfolio.append((name, family, dict(params), estimator))
        names = [name for name, _, _, _ in portfolio]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"candidates repeat {repeated}; give each candidate once.")
        return portfolio

    def _make(self, family, params):
        factory, normalizes = _FAMILIES[family]
        settings = dict(params)
        if normalizes:
            settings["normalize"] = self.normalize
        if family == "kss":
            settings["dims"] = self.subspace_dims
        elif family not in ("kmeans", "spectral"):
            settings["subspace_dims"] = self.subspace_dims
        return factory(self.n_clusters, **settings)

    def _fit_one(self, estimator, family, X, seed):
        """Fit one candidate; its labels, its graph (or None) and its bases (or None)."""
        if "random_state" in estimator.get_params(deep=False):
            estimator.set_params(random_state=seed)
        if self.normalize and family in _FAMILIES and not _FAMILIES[family][1]:
            X = normalize_rows(X)
        with warnings.catch_warnings():
            # A graph of exactly K components is what a good affinity looks like.
            warnings.filterwarnings("ignore", message="Graph is not fully connected")
            estimator.fit(X)
        labels = np.asarray(estimator.labels_, dtype=np.intp)
        graph = getattr(estimator, "affinity_matrix_", None)
        return labels, graph, getattr(estimator, "bases_", None)

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Compare the candidates on (a subsample of) ``X``, then fit the winner on all of it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Present for API consistency.

        Returns
        -------
        self
            The fitted estimator.
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        portfolio = self._portfolio()
        _check_enough_samples(X.shape[0], self.n_clusters)
        rng = check_random_state(self.random_state)
        n_samples = X.shape[0]
        subsample = None
        if self.budget is not None and n_samples > self.budget:
            subsample = np.sort(rng.choice(n_samples, self.budget, replace=False))
            _check_enough_samples(self.budget, self.n_clusters)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        X_compared = X if subsample is None else X[subsample]

        start = time.perf_counter()
        results, self.candidates_ = [], []
        for name, family, params, estimator in portfolio:
            tic = time.perf_counter()
            error = None
            try:
                result = self._fit_one(estimator, family, X_compared, seed)
            except Exception as failure:  # one failed candidate leaves the others to compare
                result, error = (None, None, None), f"{type(failure).__name__}: {failure}"
                warnings.warn(f"Candidate {name} failed and is left out: {error}",
                              FitFailedWarning, stacklevel=2)
            results.append(result)
            self.candidates_.append({
                "name": name, "family": family, "params": params, "criterion": np.nan,
                "seconds": time.perf_counter() - tic, "error": error, "selected": False,
            })
        partitions = [labels for labels, _, _ in results]
        if all(labels is None for labels in partitions):
            raise ValueError(
                "Every candidate failed: " + "; ".join(
                    f"{c['name']}: {c['error']}" for c in self.candidates_)
            )
        scores = consensus_scores(
            partitions, [graph for _, graph, _ in results],
            [c["family"] for c in self.candidates_], self.n_clusters,
        )
        if np.all(np.isnan(scores)):
            # No candidate built a graph: fall back on portfolio order.
            scores = np.array([0.0 if labels is not None else np.nan for labels in partitions])
        winner = int(np.nanargmax(scores))
        for candidate, score in zip(self.candidates_, scores):
            candidate["criterion"] = float(score)
        self.candidates_[winner]["selected"] = True
        self.selected_ = self.candidates_[winner]["name"]
        self.n_selection_samples_ = X_compared.shape[0]
        self.seconds_selection_ = time.perf_counter() - start
        if self.verbose:
            for c in self.candidates_:
                mark = "*" if c["selected"] else " "
                print(f"{mark} {c['name']:32s} criterion {c['criterion']:.4f} "
                      f"{c['seconds']:8.2f} s{'' if c['error'] is None else '  ' + c['error']}")

        start = time.perf_counter()
        _, family, _, estimator = portfolio[winner]
        if subsample is None:
            labels, graph, bases = results[winner]
            self.seconds_final_ = 0.0
        else:
            labels, graph, bases = self._fit_one(clone(estimator), family, X, seed)
            self.seconds_final_ = time.perf_counter() - start
        self.labels_, self.affinity_matrix_ = labels, graph
        if bases is None:
            bases = cluster_bases(X, labels, self.n_clusters, dims=self.subspace_dims)
        self.bases_ = list(bases)
        self._n_features_out = self.n_clusters
        return self

