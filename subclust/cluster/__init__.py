"""Subspace-clustering estimators with the scikit-learn API."""

from subclust.cluster._auto import (
    PORTFOLIO,
    AutoSubspaceClustering,
    modularity,
    normalized_association,
    partition_criterion,
    refereed_scores,
    subspace_consistency,
)
from subclust.cluster._ensemble import (
    EnsembleKSubspaces,
    coassociation_matrix,
    ensemble_k_subspaces,
    threshold_coassociation,
)
from subclust.cluster._k_subspaces import KSubspaces, init_subspaces, k_subspaces
from subclust.cluster._least_squares import (
    LeastSquaresSubspaceClustering,
    least_squares_representation,
)
from subclust.cluster._low_rank import (
    LowRankRepresentation,
    low_rank_affinity,
    low_rank_representation,
    shape_interaction_matrix,
)
from subclust.cluster._nearest_subspace import NearestSubspaceMixin, warn_zero_samples
from subclust.cluster._row_source import as_row_source
from subclust.cluster._self_representation import (
    lasso_lambda,
    self_representation_admm,
    self_representation_cvxpy,
    self_representation_elastic_net,
    self_representation_objective,
    self_representation_omp,
    sparse_self_representation,
)
from subclust.cluster._sparse_subspace import SparseSubspaceClustering
from subclust.cluster._spectral import (
    BaseSpectralSubspaceClustering,
    angular_affinity,
    cluster_bases,
    estimate_n_clusters,
    keep_l1_share,
    laplacian_spectrum,
    normalize_samples,
    representation_affinity,
    spectral_labels,
)
from subclust.cluster._thresholded import (
    ThresholdedSubspaceClustering,
    thresholded_representation,
)

__all__ = [
    "BaseSpectralSubspaceClustering",
    "KSubspaces",
    "k_subspaces",
    "init_subspaces",
    "LeastSquaresSubspaceClustering",
    "NearestSubspaceMixin",
    "warn_zero_samples",
    "SparseSubspaceClustering",
    "ThresholdedSubspaceClustering",
    "angular_affinity",
    "as_row_source",
    "cluster_bases",
    "estimate_n_clusters",
    "keep_l1_share",
    "lasso_lambda",
    "laplacian_spectrum",
    "least_squares_representation",
    "normalize_samples",
    "representation_affinity",
    "self_representation_admm",
    "self_representation_cvxpy",
    "self_representation_elastic_net",
    "self_representation_objective",
    "self_representation_omp",
    "sparse_self_representation",
    "spectral_labels",
    "thresholded_representation",
]
__all__ += [
    "AutoSubspaceClustering",
    "PORTFOLIO",
    "modularity",
    "normalized_association",
    "partition_criterion",
    "refereed_scores",
    "subspace_consistency",
]
__all__ += [
    "EnsembleKSubspaces",
    "LowRankRepresentation",
    "coassociation_matrix",
    "ensemble_k_subspaces",
    "low_rank_affinity",
    "low_rank_representation",
    "shape_interaction_matrix",
    "threshold_coassociation",
]
