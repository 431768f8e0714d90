"""Label-free choice of a subspace-clustering method and its parameter: ``method="auto"``.

No method wins everywhere: on faces least-squares regression beats the
elastic net by 15 accuracy points, on digits the elastic net beats it by 14,
and on object pixels thresholding beats both. :class:`AutoSubspaceClustering`
runs a small portfolio of methods over short grids of their main parameter
on (a subsample of) the data, ranks their partitions by a criterion computed
on the data alone, and fits the winner on every sample.

The criterion asks how close each candidate's own affinity graph is to
*subspace-preserving* (no weight between samples of different subspaces,
Elhamifar and Vidal, TPAMI 35(11), 2013), with the candidate's clusters
standing in for the unknown subspaces: its partition ``P = {A_1..A_K}`` is
scored by its *normalized association* in its graph ``W`` (Shi and Malik,
"Normalized Cuts and Image Segmentation", TPAMI 22(8), 2000),

    nassoc(P, W) = (1/K) sum_k W(A_k, A_k) / W(A_k, V) = 1 - ncut(P, W) / K,

the mean share of each cluster's edge weight that stays inside it: 1 for
a graph of K components found as such, lower as weight crosses between the
clusters (one minus You, Li, Robinson and Vidal's subspace-preserving
error, CVPR 2016, averaged per cluster rather than per sample). The
normalized cut charges small clusters as much as large ones, so a
partition that splits off a few samples to cut little weight gains little.
A candidate that builds no graph (k-means) is scored in the
10-nearest-neighbour graph of the unit-norm samples, the graph of the
spectral baseline.

A graph judged by its own clusters alone favours sparsity over
correctness: on COIL-20 the elastic net's sparsest graph (``alpha=200``)
leaks the least weight, 0.9993, yet its clusters are the least accurate
of the three (0.850 against 0.925). So each partition also faces a
*referee*: the graph, among the other candidates', that its own partition
cuts best (the most self-consistent independent graph). The criterion is
the mean of the two normalized associations (:func:`refereed_scores`),
the idea of the ``BestClustering`` rule of clustering aggregation (choose
the input partition the others agree with; Gionis, Mannila, Tsaparas,
ACM TKDD 1(1), 2007) with one judge instead of a vote: averaging over
every graph lets the many graphs that are wrong in the same way (nearest
neighbours across faces under the same light) outvote the right one.

The normalized association hardly charges a partition that merges several
clusters into one giant cluster and splits others: on 10 persons of
Extended Yale B (64 faces each) embedded by a face-recognition network
(:func:`subclust.datasets.load_yaleb_embeddings`), spectral clustering's
partition, with a cluster of 191 faces, scores highest (0.968) and is 7.5
points less accurate than thresholding's (0.802 against 0.877). So the
criterion is the mean of the refereed normalized association and the
refereed :func:`modularity` (Newman, PNAS 103(23), 2006), whose null-model
term grows with the square of a cluster's volume.

A graph criterion cannot tell clusters of subspaces from clusters of
nearby samples: on the trajectories of a motion-segmentation scene, where
points close in the image belong to different motions, the nearest-neighbour
graphs cut the image into regions, agree with each other and outscore the
one least-squares graph that separates the motions. So a partition
competes only if its clusters are about as consistent with subspaces as
the most consistent candidate's: the share of samples nearer to their own
cluster's principal subspace, fitted without them, than to any other's
(:func:`subspace_consistency`, the fixed-point condition of K-subspaces),
adjusted for chance. Its inconsistent share may be at most twice the
smallest plus one in a hundred: the smallest is the noise floor of the
check on the data at hand (with 10 faces a person, each measured against
a subspace of 8 other faces, the most consistent partition reaches 0.76).
On Yale B and COIL-20 the candidates that compete reach 0.92-1.0 and the
graph criterion decides; on the trajectories the regions fall to
0.50-0.72 while the motions keep 1.0. Measured against subspaces that
were fitted to them as well, the regions of scenes with a small moving
object kept 0.98-0.99 (the object's region holds a piece of the
background, whose subspace fits it as well as the background's own) and
outscored the motions in the graphs. Every partition's subspaces have one
dimension, the median dimension of the samples' neighbourhoods: a
cluster's own estimate grows with the pieces of other subspaces it holds,
and under a pinhole camera the regions scored as the motions did.

Without K, each graph-building candidate reads its own K from its graph's
spectrum, and the same comparison picks among these partitions: those
about as consistent with subspaces as the most consistent compete, and the
refereed modularity decides (the normalized association only falls as K
grows). The modularity a partition can reach grows with its number of
clusters, and the sparse graphs of the elastic net or of thresholding fall
apart into pieces on planes in few dimensions and on motion trajectories:
alone, it picked 14 clusters for 3 planes in R^10 and 14 for 2 motions.
Pieces of one subspace leave samples nearer to another piece's subspace,
but fewer, larger clusters fit any sample better, so here the consistency
is adjusted for chance (:func:`subspace_consistency`) and measured against
subspaces fitted to all of their clusters' samples (held out, a merged
cluster's larger subspace fits new samples better: on 3 persons of Yale B,
two merged score 1.0 and the three apart 0.978), and its floor is set by
the partitions that cut their own graph at least half as well as the
best (a few large clusters that cut their graph poorly are consistent on
any data). A vote over the estimates instead (their median) is carried by
the graphs that merge clusters: on 40 well separated groups of 10 samples,
six of nine graphs said 2 to 4.
"""

import functools
import numbers
import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.cluster import KMeans, SpectralClustering
from sklearn.exceptions import FitFailedWarning
from sklearn.neighbors import kneighbors_graph
from sklearn.preprocessing import normalize as normalize_rows
from sklearn.utils import check_random_state

from subclust.cluster._ensemble import EnsembleKSubspaces
from subclust.cluster._k_subspaces import KSubspaces, _local_dimensions
from subclust.cluster._least_squares import LeastSquaresSubspaceClustering
from subclust.cluster._nearest_subspace import NearestSubspaceMixin
from subclust.cluster._sparse_subspace import SparseSubspaceClustering
from subclust.cluster._spectral import (
    _check_enough_samples,
    _distinct_nonzero,
    _graph_eigen_solver,
    _warn_if_largest,
    cluster_bases,
)
from subclust.cluster._thresholded import ThresholdedSubspaceClustering
from subclust.cluster.presets import make_preset
from subclust.subspace import held_out_residuals, residuals
from subclust.utils.validation import (
    Interval,
    fit_context,
    store_init_params,
    validate_data,
    validate_params,
)

__all__ = [
    "AutoSubspaceClustering", "PORTFOLIO", "modularity", "normalized_association",
    "partition_criterion", "refereed_scores", "subspace_consistency",
]


def _ensc(n_clusters, **params):
    return SparseSubspaceClustering(n_clusters, solver="elastic_net", **params)


def _omp(n_clusters, **params):
    return SparseSubspaceClustering(n_clusters, solver="omp", **params)


def _ssc_affine(n_clusters, **params):
    return make_preset("elhamifar2013-motion", n_clusters, **params)


#: Method families of the portfolio: name -> (factory of the estimator, what
#: ``normalize`` does to it): "param" passes it on, "rows" gives the estimator unit-norm
#: rows (K-subspaces, k-means, spectral clustering), "none" leaves the samples as they
#: are (affine SSC: rescaling a sample moves it off its affine subspace).
_FAMILIES = {
    "ensc": (_ensc, "param"),
    "omp": (_omp, "param"),
    "lsr": (LeastSquaresSubspaceClustering, "param"),
    "tsc": (ThresholdedSubspaceClustering, "param"),
    "ssc-affine": (_ssc_affine, "none"),
    "kss": (KSubspaces, "rows"),
    "ekss": (EnsembleKSubspaces, "param"),
    "kmeans": (KMeans, "rows"),
    "spectral": (SpectralClustering, "rows"),
}

#: The default portfolio: (family, parameters) pairs. Self-expressive methods over
#: their main parameter around the estimator's default (EnSC's fit weight ``alpha``,
#: LSR's ridge weight, TSC's number of neighbours ``q``, OMP's number of atoms), and
#: the two usual baselines: k-means on unit-norm rows and spectral clustering of a
#: 10-nearest-neighbour graph (as You et al., CVPR 2016, compare). K-subspaces and its
#: ensemble are asked for by name (``candidates``): on the faces of Extended Yale B
#: the best of 1000 runs reached 0.25 accuracy where least squares reaches 0.98. SSC
#: as Elhamifar and Vidal ran it on motion trajectories (affine, on the samples as
#: they are: the ``elhamifar2013-motion`` preset) joins when at most
#: ``_AFFINE_MAX_SAMPLES`` samples are compared.
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
    ("ssc-affine", {}),
    ("kmeans", {"n_init": 10}),
    ("spectral", {"affinity": "nearest_neighbors", "n_neighbors": 10}),
)
#: The default portfolio's affine SSC compares at most this many samples: its 200 ADMM
#: iterations of an n x n product take seconds here, 40 s on COIL-20's 1,440 samples
#: and 100 s on 2,000 faces.
_AFFINE_MAX_SAMPLES = 1000
#: Neighbours per sample of the graph in which candidates without one are scored.
_N_NEIGHBORS = 10
#: A candidate competes if its share of samples inconsistent with its subspaces is at
#: most this factor times the smallest share (the noise floor of the check on the data
#: at hand) plus the tolerance, which keeps near-ties (0.999 against 1.0 on COIL-20)
#: from deciding.
_INCONSISTENCY_FACTOR = 2.0
_CONSISTENCY_TOLERANCE = 0.01


#: Random relabelings whose mean consistency is the chance level of an adjusted one.
_N_RELABELINGS = 3
#: Folds of the consistency check: each sample against its cluster's other samples' subspace.
_N_FOLDS = 5
#: Estimates of K whose partition cuts its own graph at least this share of the best
#: modularity set the floor of their consistency check: not a partition of few large
#: clusters that cuts its graph poorly (a few clusters always fit their subspaces).
_PLAUSIBLE_MODULARITY = 0.5
#: Networks with clear community structure have modularity from about 0.3 to 0.7
#: (Newman and Girvan, Physical Review E 69, 026113, 2004): a K estimated from
#: partitions that all score less was found in graphs without such structure.
_STRUCTURED_MODULARITY = 0.3


def _competing(consistency, sets_floor=None):
    """Which candidates are about as consistent with subspaces as the most consistent one.

    ``sets_floor``, a boolean mask, restricts the candidates whose consistency
    sets the floor (default: all).
    """
    best = np.nanmax(consistency if sets_floor is None else consistency[sets_floor])
    return 1.0 - consistency <= _INCONSISTENCY_FACTOR * (1.0 - best) + _CONSISTENCY_TOLERANCE


def _candidate_name(family, params):
    shown = ", ".join(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
                      for key, value in params.items() if key not in ("affinity", "n_init"))
    return f"{family}({shown})" if shown else family


@validate_params(
    {
        "labels": ["array-like"],
        "affinity": ["array-like", "sparse matrix"],
        "n_clusters": [Interval(numbers.Integral, 1, None, closed="left"), None],
    },
    prefer_skip_nested_validation=True,
)
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
    return _association(*_cluster_weights(labels, affinity, n_clusters))


@validate_params(
    {"labels": ["array-like"], "affinity": ["array-like", "sparse matrix"]},
    prefer_skip_nested_validation=True,
)
def modularity(labels, affinity):
    """Modularity of a partition in a weighted graph: kept weight minus its chance share.

    ``sum_k W(A_k, A_k) / W(V, V) - (W(A_k, V) / W(V, V))^2`` (Newman,
    "Modularity and community structure in networks", PNAS 103(23), 2006):
    the share of the graph's weight that stays inside the clusters, minus
    the share a random graph with the same degrees would keep there. Unlike
    the normalized association, which only falls as K grows, it compares
    partitions into different numbers of clusters: splitting a cluster
    pays only when the parts are linked less than chance, merging two
    unlinked clusters always costs.

    Parameters
    ----------
    labels : ndarray of int of shape (n_samples,)
        Cluster of each sample, in ``0..K - 1``.
    affinity : ndarray or sparse matrix of shape (n_samples, n_samples)
        Symmetric non-negative weights.

    Returns
    -------
    score : float in [-1/2, 1)
        0 for a single cluster; ``1 - 1/K`` for K unlinked clusters of equal
        volume, found as such.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.cluster import modularity
    >>> W = np.kron(np.eye(4), np.ones((3, 3))) - np.eye(12)  # four triangles
    >>> modularity(np.repeat([0, 1, 2, 3], 3), W)  # the four
    0.75
    >>> modularity(np.repeat([0, 1], 6), W)  # pairs of them merged
    0.5
    """
    return _modularity(*_cluster_weights(labels, affinity))


def _association(within, volume):
    """Normalized association from :func:`_cluster_weights`."""
    kept = np.divide(within, volume, out=np.zeros(len(volume)), where=volume > 0)
    return float(kept.mean())


def _modularity(within, volume):
    """Modularity from :func:`_cluster_weights`."""
    total = volume.sum()
    if total <= 0:
        return 0.0
    return float(np.sum(within / total - (volume / total) ** 2))


def _cluster_weights(labels, affinity, n_clusters=None):
    """Weight inside each cluster, ``W(A_k, A_k)``, and its volume, ``W(A_k, V)``."""
    labels = np.asarray(labels)
    if n_clusters is None:
        n_clusters = int(labels.max()) + 1
    n = labels.shape[0]
    onehot = sp.csr_matrix((np.ones(n), (np.arange(n), labels)), shape=(n, n_clusters))
    W = sp.csr_matrix(affinity, dtype=np.float64) if sp.issparse(affinity) else affinity
    # Weight between clusters, K x K: within on the diagonal, volume as row sums.
    between = onehot.T @ (W @ onehot)
    between = between.toarray() if sp.issparse(between) else np.asarray(between)
    return np.diag(between), between.sum(axis=1)


@validate_params(
    {
        "X": ["array-like"],
        "labels": ["array-like"],
        "n_clusters": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "dims": [Interval(numbers.Integral, 1, None, closed="left"), "array-like", None],
        "adjusted": ["boolean"],
        "held_out": ["boolean"],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def subspace_consistency(X, labels, n_clusters=None, *, dims=None, adjusted=False,
                         held_out=True, random_state=None):  # fmt: skip
    """Share of the samples nearer to their own cluster's subspace than to any other's.

    Each cluster gets the principal subspace of its samples
    (:func:`subclust.cluster.cluster_bases`: of dimension ``dims``, or
    estimated by a threshold that noise does not inflate), and each sample
    is assigned to the nearest of them, its squared distance to a subspace
    of dimension ``d`` in ``D`` features divided by ``D - d``: the noise
    variance that subspace implies (a subspace of more dimensions leaves a
    smaller residual to any sample). A partition into subspaces is a
    fixed point of this step, the assignment step of K-subspaces (Bradley
    and Mangasarian, "k-Plane Clustering", J. Global Optim. 16(1), 2000),
    and scores 1; a partition that groups samples by something else (their
    proximity, say), so that a cluster holds pieces of several subspaces,
    loses the samples that another cluster's subspace fits better.

    A subspace fitted to a sample fits it better than it would a new
    sample of its cluster, and the other clusters' subspaces were not
    fitted to it: measured against all of them, a sample favours its own
    cluster. Where one cluster holds a piece of a subspace and another the
    rest of it with a second subspace, both fit the piece equally well, and
    that bias alone keeps its samples in their clusters. So each sample is
    measured against its own cluster's subspace fitted without it
    (``held_out``): the samples are split into five folds, and those of
    each fold against the subspace (of the same dimension) of the other
    folds' samples of their cluster
    (:func:`subclust.subspace.held_out_residuals`), as cross-validation
    measures a model on data it was not fitted to.

    Fewer, larger clusters get larger subspaces, which fit any sample
    better: even a random partition into a few clusters scores high. To
    compare partitions into different numbers of clusters, or partitions
    with one giant cluster, ``adjusted`` corrects the share for chance, as
    the adjusted Rand index corrects the Rand index (Hubert and Arabie,
    J. Classification 2(1), 1985): ``(c - c0) / (1 - c0)``, where ``c0`` is
    the mean share of random relabelings with the same cluster sizes. It is
    1 for a perfectly consistent partition and near 0 for one no better
    than chance.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    labels : ndarray of int of shape (n_samples,)
        Cluster of each sample, in ``0..n_clusters - 1``.
    n_clusters : int, optional
        K; default ``labels.max() + 1``.
    dims : int or list of int, optional
        Dimension of each cluster's subspace; default: estimated.
    adjusted : bool, default=False
        Correct the share for chance (above).
    held_out : bool, default=True
        Measure each sample against its own cluster's subspace fitted
        without it (above); False: fitted to all of the cluster's samples.
    random_state : int, RandomState instance or None, default=None
        Seed of the folds and of the random relabelings of ``adjusted``.

    Returns
    -------
    score : float
        In [0, 1]; adjusted, at most 1 (negative when worse than chance).

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.cluster import subspace_consistency
    >>> from subclust.datasets import make_molrg
    >>> X, y, _ = make_molrg(n_samples=[40, 40], n_features=10, dims=2, random_state=0)
    >>> subspace_consistency(X, y)
    1.0
    >>> mixed = (X[:, 0] > 0).astype(int)  # halves of the space, each with both planes
    >>> subspace_consistency(X, mixed) < 0.9
    True
    >>> bool(subspace_consistency(X, mixed, adjusted=True, random_state=0) < 0.5)
    True
    """
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels)
    if n_clusters is None:
        n_clusters = int(labels.max()) + 1
    rng = check_random_state(random_state)
    folds = rng.permutation(len(labels)) % _N_FOLDS if held_out else None
    share = _consistent_share(X, labels, n_clusters, dims, folds)
    if not adjusted:
        return share
    chance = np.mean([_consistent_share(X, rng.permutation(labels), n_clusters, dims, folds)
                      for _ in range(_N_RELABELINGS)])  # fmt: skip
    return float((share - chance) / (1.0 - chance)) if chance < 1.0 else 0.0


def _consistent_share(X, labels, n_clusters, dims, folds):
    bases = cluster_bases(X, labels, n_clusters, dims=dims)
    free = np.array([max(X.shape[1] - U.shape[1], 1) for U in bases])
    R = residuals(X, bases)
    if folds is not None:  # each sample against its own cluster's other folds' subspace
        for k, U in enumerate(bases):
            members = labels == k
            R[members, k] = held_out_residuals(X[members], folds[members], U.shape[1])
    nearest = (R / free).argmin(axis=1)
    return float(np.mean(nearest == labels))


@validate_params(
    {
        "partitions": [list],
        "graphs": [list],
        "n_clusters": [Interval(numbers.Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def refereed_scores(partitions, graphs, n_clusters):
    """Score of every partition: how well it cuts its own graph and a referee's.

    A partition is measured in a graph by two cut criteria: its normalized
    association (:func:`normalized_association`), the quantity spectral
    clustering maximizes, and its :func:`modularity`, whose null-model term
    grows with the square of a cluster's volume and so charges a partition
    that merges clusters into one giant cluster, which the normalized
    association hardly does. For each criterion, the referee of a candidate
    is the graph, among the other candidates', whose own partition scores
    highest: the most self-consistent independent graph; the partition's
    criterion is its mean in its own graph and in the referee's (the own
    graph alone favours graphs that are sparse rather than right: they leak
    little weight whatever their clusters). The score is the mean of the two
    refereed criteria.

    Parameters
    ----------
    partitions : list of (ndarray of int or None)
        Labels of each candidate (None: it failed and scores NaN).
    graphs : list of (ndarray, sparse matrix or None)
        The graph of each candidate (None where it failed).
    n_clusters : int

    Returns
    -------
    scores : ndarray of shape (n_candidates,)
        At most 1; NaN for a failed candidate.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.cluster import refereed_scores
    >>> W = np.kron(np.eye(2), np.ones((4, 4))) - np.eye(8)  # two cliques of 4
    >>> right, wrong = np.repeat([0, 1], 4), np.tile([0, 1], 4)
    >>> refereed_scores([right, wrong], [W, W], 2).round(3).tolist()
    [0.75, 0.083]
    """
    # Both criteria read the same cluster weights: one product per partition and graph.
    weights = functools.cache(
        lambda i, j: _cluster_weights(partitions[i], graphs[j], n_clusters)
    )  # fmt: skip
    return 0.5 * sum(
        _refereed(partitions, lambda i, j, criterion=criterion: criterion(*weights(i, j)))
        for criterion in (_association, _modularity)
    )  # fmt: skip


def _refereed(partitions, score):
    """Mean of ``score(i, j)`` (partition i in graph j) in its own graph and its referee's."""
    valid = [i for i, labels in enumerate(partitions) if labels is not None]
    own = {i: score(i, i) for i in valid}
    scores = np.full(len(partitions), np.nan)
    for i in valid:
        others = [j for j in valid if j != i]
        if not others:
            scores[i] = own[i]
            continue
        referee = max(others, key=lambda j: own[j])  # the first of equals
        scores[i] = 0.5 * (own[i] + score(i, referee))
    return scores


@validate_params(
    {
        "X": ["array-like"],
        "labels": ["array-like"],
        "affinity": ["array-like", "sparse matrix", None],
        "n_clusters": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "normalize": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def partition_criterion(X, labels, affinity=None, *, n_clusters=None, normalize=True):
    """The criterion of :func:`refereed_scores` for one partition, with no referee.

    The mean of the partition's :func:`normalized_association` and
    :func:`modularity` in ``affinity``, the graph its method built, or where
    the method builds none (k-means, K-subspaces) in the 10-nearest-neighbour
    graph of the (unit-norm) samples: the score :class:`AutoSubspaceClustering`
    gives a candidate alone. It compares one method's partitions of the same
    samples in different features (``subclust cluster --features auto``).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The samples the partition was made from.
    labels : ndarray of int of shape (n_samples,)
    affinity : ndarray or sparse matrix of shape (n_samples, n_samples), optional
        The partition's graph; default: the nearest-neighbour graph of ``X``.
    n_clusters : int, optional
        K; default ``labels.max() + 1``.
    normalize : bool, default=True
        Scale the samples to unit norm before finding their neighbours.

    Returns
    -------
    score : float
        At most 1.

    Examples
    --------
    >>> from subclust.cluster import partition_criterion
    >>> from subclust.datasets import make_molrg
    >>> X, y, _ = make_molrg(n_samples=[40, 40], n_features=10, dims=2, random_state=0)
    >>> bool(partition_criterion(X, y) > partition_criterion(X, (X[:, 0] > 0).astype(int)))
    True
    """
    labels = np.asarray(labels)
    if n_clusters is None:
        n_clusters = int(labels.max()) + 1
    if affinity is None:
        affinity = _neighbour_graph(np.asarray(X), normalize)
    return float(refereed_scores([labels], [affinity], n_clusters)[0])


def _neighbour_graph(X, normalize):
    """The graph of a candidate that builds none: spectral clustering's kNN graph."""
    X = normalize_rows(X) if normalize else X
    A = kneighbors_graph(X, min(_N_NEIGHBORS, X.shape[0] - 1), include_self=True)
    return 0.5 * (A + A.T)


class AutoSubspaceClustering(NearestSubspaceMixin, ClusterMixin, BaseEstimator):
    """Choose the method and its parameter on the data alone, then cluster with it.

    Every candidate of a portfolio (self-expressive methods over short
    grids of their main parameter, k-means and spectral clustering of a
    nearest-neighbour graph) clusters the same ``budget`` samples. Each
    partition is scored by its normalized association
    ``(1/K) sum_k W(A_k, A_k) / W(A_k, V)`` (Shi and Malik, TPAMI 2000) and
    its :func:`modularity` in its own affinity graph and in a referee's, the
    other candidates' graph that its own partition cuts best
    (:func:`refereed_scores`). The best scoring candidate among those whose
    partition is about as consistent with subspaces as the most consistent
    one (:func:`subspace_consistency`, adjusted for chance: at most twice
    its share of inconsistent samples, plus 0.01; every partition's
    subspaces of one dimension, the median dimension of the samples'
    neighbourhoods) wins and is fitted on all samples. A graph that links
    only samples of one subspace (subspace-preserving), cut along its
    clusters, scores 1 in normalized association. ``predict``,
    ``transform`` and ``score`` measure samples against one subspace per
    cluster of the winner's partition.

    Parameters
    ----------
    n_clusters : int or None, default=8
        Number of clusters. None estimates it first: every candidate that
        builds a graph reads K from its graph's spectrum
        (:func:`subclust.cluster.estimate_n_clusters`) and clusters at it;
        these partitions, each into its own number of clusters, are scored
        as the candidates are, by :func:`modularity` alone (which, unlike the
        normalized association, compares different K). The best one's K is
        the estimate, and the
        candidates are then compared at that K.
    candidates : list of str or (str, estimator) pairs, optional
        The portfolio. A string names a method family and brings its grid
        from :data:`PORTFOLIO`: 'ensc', 'omp', 'lsr', 'tsc', 'ssc-affine'
        (SSC as its paper ran it on motion trajectories), 'kmeans',
        'spectral'; or 'kss' (K-subspaces) and 'ekss' (its ensemble), which
        the default portfolio leaves out for their cost.
        A pair ``(name, estimator)`` adds any clusterer with ``labels_`` after
        ``fit``; its ``n_clusters`` and ``random_state`` are set, and its
        ``affinity_matrix_``, if any, is its graph. None: every family of
        :data:`PORTFOLIO`, 'ssc-affine' only where at most 1,000 samples
        are compared (its ADMM takes 100 s on 2,000 faces).
    budget : int or None, default=2000
        Number of samples the candidates are compared on: a random subsample
        when there are more, so that the selection costs the same at any N
        and only the winner's final fit grows with it. None compares them on
        all samples (no final fit).
    normalize : bool, default=True
        Scale samples to unit norm (every candidate; k-means and spectral
        clustering get unit-norm rows).
    subspace_dims : int or list of int, optional
        Dimension of the subspace of each cluster (``bases_``), the
        dimension K-subspaces fits and that of the consistency check;
        default: estimated from each cluster's singular values
        (:func:`subclust.cluster.cluster_bases`), and for the check, where
        the candidates' clusters differ, one dimension for all of them from
        the data (``consistency_dims_``).
    verbose : int, default=0
        Print one line per candidate (name, criterion, seconds).
    random_state : int, RandomState instance or None, default=None
        Seed of the subsample and of every candidate (they share one seed).

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Clusters of the winner fitted on all samples.
    n_clusters_ : int
        The number of clusters: ``n_clusters``, or its estimate.
    n_clusters_estimates_ : dict or None
        With ``n_clusters=None``, each graph-building candidate's estimate
        of K, by name (None otherwise).
    n_clusters_scores_ : dict or None
        With ``n_clusters=None``, the refereed modularity of each estimate's
        partition, by name: the largest among those that compete picks K
        (None otherwise).
    n_clusters_consistency_ : dict or None
        With ``n_clusters=None``, the :func:`subspace_consistency` of each
        estimate's partition adjusted for chance, by name (None otherwise).
    n_clusters_competing_ : dict or None
        With ``n_clusters=None``, whether each estimate's partition
        competed, by name: not those much less consistent than the most
        consistent plausible partition (None otherwise).
    laplacian_eigenvalues_ : ndarray or None
        With ``n_clusters=None``, the smallest eigenvalues of the normalized
        Laplacian of the candidate whose estimate was picked: the spectrum
        the estimate reads (None otherwise).
    bases_ : list of ndarray of shape (n_features, d_k)
        Orthonormal basis of each cluster's subspace.
    consistency_dims_ : int or list of int
        The dimension of the subspaces every candidate's partition was
        checked against: ``subspace_dims``, or the median dimension of the
        compared samples' neighbourhoods (as
        :class:`subclust.cluster.KSubspaces` estimates it), which no
        partition shapes. A cluster's own estimate would grow with the
        pieces of other subspaces it holds, and forgive them.
    affinity_matrix_ : ndarray, sparse matrix or None
        The winner's affinity on all samples (None if it builds none).
    candidates_ : list of dict
        One per candidate, in portfolio order: ``name``, ``family``,
        ``params`` (those the grid sets), ``criterion`` (NaN if it failed),
        ``consistency`` (its :func:`subspace_consistency`, adjusted for
        chance, NaN if it failed), ``competes`` (whether it is about as
        large as the largest),
        ``seconds`` (its fit on the compared samples), ``error`` (None, or
        why it failed), ``selected`` (bool).
    selected_ : str
        Name of the winner.
    criterion_ : float
        The winner's criterion: how cleanly its partition cuts its own graph
        and its referee's. Partitions of the same samples in other features
        compare by it (``subclust cluster --features auto``).
    selection_indices_ : ndarray of shape (n_selection_samples_,)
        The samples the candidates were compared on (all, or a subsample).
    candidate_labels_ : ndarray of shape (n_candidates, n_selection_samples_)
        Every candidate's labels of those samples (-1 where it failed).
    n_selection_samples_ : int
        Number of samples the candidates were compared on.
    seconds_selection_, seconds_final_ : float
        Time of the comparison (with the estimation of K, if any) and of the
        winner's fit on all samples (0 when the comparison used them all).
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
        "n_clusters": [Interval(numbers.Integral, 1, None, closed="left"), None],
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
        store_init_params(self, locals())

    def _portfolio(self, n_compared):
        """The candidates as (name, family, parameters, estimator); checks ``candidates``."""
        if self.candidates is None:
            entries = [entry for entry in PORTFOLIO
                       if entry[0] != "ssc-affine" or n_compared <= _AFFINE_MAX_SAMPLES]
        else:
            if len(self.candidates) == 0:
                raise ValueError("candidates is empty; name at least one method, or pass None.")
            entries = []
            for item in self.candidates:
                if isinstance(item, str):
                    grid = [entry for entry in PORTFOLIO if entry[0] == item]
                    if item in ("kss", "ekss"):  # not in the default portfolio
                        grid = [(item, {})]
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
        factory, scaling = _FAMILIES[family]
        settings = dict(params)
        if scaling == "param":
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
        if self.normalize and family in _FAMILIES and _FAMILIES[family][1] == "rows":
            X = normalize_rows(X)
        if family == "spectral" and estimator.get_params(deep=False).get("eigen_solver") is None:
            # The kNN graph is sparse, and scikit-learn's default ARPACK factors it. A copy:
            # the portfolio's estimator leaves the solver to the number of samples.
            solver = _graph_eigen_solver(X.shape[0], sparse=True)
            estimator = clone(estimator).set_params(eigen_solver=solver)
        with warnings.catch_warnings():
            # A graph of exactly K components is what a good affinity looks like.
            warnings.filterwarnings("ignore", message="Graph is not fully connected")
            # Only the estimate of K that is kept counts (fit warns about it).
            warnings.filterwarnings("ignore", message="The number of clusters was estimated")
            estimator.fit(X)
        labels = np.asarray(estimator.labels_, dtype=np.intp)
        graph = getattr(estimator, "affinity_matrix_", None)
        return labels, graph, getattr(estimator, "bases_", None)

    def _estimate_n_clusters(self, portfolio, X, X_seen, seed):
        """The graph-building candidates' estimates of K, and the one that is picked.

        As the candidates are compared at a given K, the estimates'
        partitions compete if they are about as consistent with subspaces
        as the most consistent, here adjusted for chance (more clusters
        have smaller subspaces); the floor is set by the partitions that
        cut their own graph at least half as well as the best (a few large
        clusters that cut their graph poorly are consistent whatever the
        data). Of those that compete, the largest refereed modularity picks.
        It warns where K is the largest value considered, or where even that
        modularity is low: no graph has clear clusters.

        Returns ``(n_clusters, estimates, scores, consistency, competing,
        spectrum, fits)``: ``scores`` the refereed modularity of each
        estimate's partition, ``consistency`` its adjusted subspace
        consistency, ``competing`` whether it competed, ``spectrum`` the
        winner's, and ``fits`` the ``(labels, graph, bases, seconds)`` of
        the candidates whose estimate is K (their comparison needs no
        second fit). A candidate that cannot estimate K (k-means,
        K-subspaces, spectral clustering: no graph of their own to read it
        from) or fails is left out.
        """
        estimates, spectra, fits = {}, {}, {}
        for name, family, _, estimator in portfolio:
            if family in ("kmeans", "spectral", "kss") or (
                "n_clusters" not in estimator.get_params(deep=False)
            ):
                continue
            probe = clone(estimator).set_params(n_clusters=None)
            tic = time.perf_counter()
            try:
                fits[name] = (*self._fit_one(probe, family, X, seed), time.perf_counter() - tic)
            except Exception as failure:  # as in the comparison: the others decide
                warnings.warn(f"Candidate {name} could not estimate the number of clusters "
                              f"and is left out: {type(failure).__name__}: {failure}",
                              FitFailedWarning, stacklevel=3)  # fmt: skip
                continue
            estimates[name] = int(probe.n_clusters_)
            spectra[name] = getattr(probe, "laplacian_eigenvalues_", None)
            if self.verbose:
                print(f"{name:32s} estimates K = {estimates[name]}")
        if not estimates:
            raise ValueError(
                "No candidate could estimate the number of clusters (only those that build a "
                "graph can: ensc, omp, lsr, tsc, ssc-affine, ekss); give n_clusters."
            )
        names = list(estimates)
        modularity_in = functools.cache(
            lambda i, j: modularity(fits[names[i]][0], fits[names[j]][1]))  # fmt: skip
        scores = _refereed(names, modularity_in)
        own = np.array([modularity_in(i, i) for i in range(len(names))])
        consistency = np.array([
            # Across K, samples held out favour merged clusters, whose larger subspaces
            # fit any sample better: two persons of three merged are consistent held out.
            subspace_consistency(X_seen, fits[name][0], estimates[name], dims=self.subspace_dims,
                                 adjusted=True, held_out=False, random_state=seed)
            for name in names
        ])  # fmt: skip
        competes = _competing(consistency, sets_floor=own >= _PLAUSIBLE_MODULARITY * own.max())
        # Ties go to the first in portfolio order.
        best = int(np.nanargmax(np.where(competes, scores, np.nan)))
        n_clusters = estimates[names[best]]
        _warn_if_largest(n_clusters, len(X))
        if scores[best] < _STRUCTURED_MODULARITY:
            warnings.warn(
                f"The number of clusters was estimated at {n_clusters}, but in graphs without "
                f"clear clusters (modularity {scores[best]:.2f}, below "
                f"{_STRUCTURED_MODULARITY}): the data may hold more clusters than considered, "
                "or none; give n_clusters.", UserWarning, stacklevel=3,
            )  # fmt: skip
        agreeing = {name: fits[name] for name, k in estimates.items() if k == n_clusters}
        return (n_clusters, estimates, dict(zip(names, scores.tolist())),
                dict(zip(names, consistency.tolist())), dict(zip(names, competes.tolist())),
                spectra[names[best]], agreeing)  # fmt: skip

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
        self : AutoSubspaceClustering
            Fitted on all of ``X`` with the winning candidate.
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        n_samples = X.shape[0]
        portfolio = self._portfolio(min(n_samples, self.budget or n_samples))
        _check_enough_samples(n_samples, self.n_clusters)
        rng = check_random_state(self.random_state)
        subsample = None
        if self.budget is not None and n_samples > self.budget:
            subsample = np.sort(rng.choice(n_samples, self.budget, replace=False))
        seed = int(rng.randint(np.iinfo(np.int32).max))
        X_compared = X if subsample is None else X[subsample]
        # Once here rather than once per candidate: copies and zeros are not clustered.
        _check_enough_samples(int(_distinct_nonzero(X_compared).sum()), self.n_clusters,
                              n_given=len(X_compared))  # fmt: skip

        start = time.perf_counter()
        # As the candidates saw it, in float64 once rather than once per candidate.
        X_seen = np.asarray(normalize_rows(X_compared) if self.normalize else X_compared,
                            dtype=np.float64)  # fmt: skip
        n_clusters, fitted = self.n_clusters, {}
        self.n_clusters_estimates_ = self.n_clusters_scores_ = None
        self.n_clusters_consistency_ = self.n_clusters_competing_ = None
        self.laplacian_eigenvalues_ = None
        if n_clusters is None:
            (n_clusters, self.n_clusters_estimates_, self.n_clusters_scores_,
             self.n_clusters_consistency_, self.n_clusters_competing_,
             self.laplacian_eigenvalues_,
             fitted) = self._estimate_n_clusters(portfolio, X_compared, X_seen, seed)
            for _, _, _, estimator in portfolio:
                if "n_clusters" in estimator.get_params(deep=False):
                    estimator.set_params(n_clusters=n_clusters)
        self.n_clusters_ = n_clusters
        # Every partition is judged against subspaces of one dimension, read from the
        # samples' neighbourhoods, which no partition shapes: a cluster's own estimate
        # grows with the pieces of other subspaces it holds, and forgives them.
        self.consistency_dims_ = self.subspace_dims
        if self.subspace_dims is None:
            local, _ = _local_dimensions(X_seen, n_clusters, X_compared.dtype)
            self.consistency_dims_ = int(np.median(local))

        self.candidates_, partitions, graphs, all_bases = [], [], [], []
        neighbour_graph = None
        for name, family, params, estimator in portfolio:
            tic = time.perf_counter()
            error = labels = graph = bases = None
            try:
                if name in fitted:  # its estimate of K was K: that fit is the one at K
                    labels, graph, bases, seconds = fitted[name]
                    tic -= seconds
                else:
                    labels, graph, bases = self._fit_one(estimator, family, X_compared, seed)
            except Exception as failure:  # one failed candidate leaves the others to compare
                error = f"{type(failure).__name__}: {failure}"
                warnings.warn(f"Candidate {name} failed and is left out: {error}",
                              FitFailedWarning, stacklevel=2)
            else:
                if graph is None:
                    if neighbour_graph is None:
                        neighbour_graph = _neighbour_graph(X_compared, self.normalize)
                    graph = neighbour_graph
            partitions.append(labels)
            graphs.append(graph)
            all_bases.append(bases)
            self.candidates_.append({
                "name": name, "family": family, "params": params, "criterion": np.nan,
                "consistency": np.nan, "competes": False, "seconds": time.perf_counter() - tic,
                "error": error, "selected": False,
            })
            if self.verbose:
                print(f"{name:32s} {error or 'fitted'}  {self.candidates_[-1]['seconds']:.2f} s")
        if all(labels is None for labels in partitions):
            raise ValueError(
                "Every candidate failed: " + "; ".join(
                    f"{c['name']}: {c['error']}" for c in self.candidates_)
            )
        scores = refereed_scores(partitions, graphs, n_clusters)
        consistency = np.array([
            np.nan if labels is None else
            subspace_consistency(X_seen, labels, n_clusters, dims=self.consistency_dims_,
                                 adjusted=True, random_state=seed)
            for labels in partitions
        ])  # fmt: skip
        # Only the partitions about as consistent with subspaces as the best one compete.
        competes = _competing(consistency)
        for candidate, score, share, eligible in zip(self.candidates_, scores, consistency,
                                                     competes):  # fmt: skip
            candidate.update(criterion=float(score), consistency=float(share),
                             competes=bool(eligible))  # fmt: skip
        # Ties go to the first in portfolio order.
        winner = int(np.nanargmax(np.where(competes, scores, np.nan)))
        self.candidates_[winner]["selected"] = True
        self.selected_ = self.candidates_[winner]["name"]
        self.criterion_ = self.candidates_[winner]["criterion"]
        self.selection_indices_ = np.arange(n_samples) if subsample is None else subsample
        self.candidate_labels_ = np.array(
            [np.full(len(X_compared), -1) if labels is None else labels for labels in partitions]
        )
        self.n_selection_samples_ = X_compared.shape[0]
        self.seconds_selection_ = time.perf_counter() - start
        if self.verbose:
            for c in self.candidates_:
                print(f"{'*' if c['selected'] else ' '} {c['name']:32s} {c['criterion']:.4f}  "
                      f"consistency {c['consistency']:.4f}{'' if c['competes'] else ' (out)'}")

        start = time.perf_counter()
        _, family, _, estimator = portfolio[winner]
        if subsample is None:
            labels, graph, bases = partitions[winner], graphs[winner], all_bases[winner]
            if graph is neighbour_graph:
                graph = None  # the winner built no graph of its own
            self.seconds_final_ = 0.0
        else:
            labels, graph, bases = self._fit_one(clone(estimator), family, X, seed)
            self.seconds_final_ = time.perf_counter() - start
        self.labels_, self.affinity_matrix_ = labels, graph
        if bases is None:
            bases = cluster_bases(X, labels, n_clusters, dims=self.subspace_dims)
        self.bases_ = list(bases)
        self._n_features_out = n_clusters
        return self

