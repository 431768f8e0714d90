"""scikit-learn's common estimator checks, for every subclust estimator.

Every public estimator is listed here; an expected failure names the check
and says why it cannot pass.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from subclust import KSubspaces
from subclust import EnsembleKSubspaces, LowRankRepresentation
from subclust import (
    LeastSquaresSubspaceClustering,
    SparseSubspaceClustering,
    ThresholdedSubspaceClustering,
)
from subclust.preprocessing import UncenteredPCA

ESTIMATORS = [KSubspaces(), UncenteredPCA()]
ESTIMATORS += [
    SparseSubspaceClustering(),
    SparseSubspaceClustering(solver="admm"),
    SparseSubspaceClustering(solver="omp"),
    LeastSquaresSubspaceClustering(),
    ThresholdedSubspaceClustering(),
]
ESTIMATORS += [
    LowRankRepresentation(),
    LowRankRepresentation(affinity="symmetric", regularization=None),
    EnsembleKSubspaces(dims=1, n_estimators=20),
]
try:  # the diffusion extra (torch); a short training keeps the checks fast
    from subclust.diffusion import DiffusionSubspaceClustering
except ImportError:
    pass
else:
    ESTIMATORS.append(DiffusionSubspaceClustering(n_init=2, steps=30))
EXPECTED_FAILED_CHECKS = {}
_OMP_ON_BLOBS = (
    "blobs in 2-D are not subspaces: any two samples represent a third exactly, so the "
    "greedy l0 representation of SSC-OMP links samples arbitrarily (l1/l2 solvers pass)"
)
EXPECTED_FAILED_CHECKS["SparseSubspaceClustering(solver='omp')"] = {
    "check_clustering": _OMP_ON_BLOBS,
    "check_clustering(readonly_memmap=True)": _OMP_ON_BLOBS,
}


@parametrize_with_checks(
    ESTIMATORS,
    # Keys are class names, or an instance's repr for a failure of one configuration.
    expected_failed_checks=lambda est: {
        **EXPECTED_FAILED_CHECKS.get(type(est).__name__, {}),
        **EXPECTED_FAILED_CHECKS.get(repr(est), {}),
    },
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
