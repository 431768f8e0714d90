"""scikit-learn's common estimator checks, for every subclust estimator.

Every public estimator is listed here; an expected failure names the check
and says why it cannot pass.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from subclust import KSubspaces

ESTIMATORS = [KSubspaces()]
EXPECTED_FAILED_CHECKS = {}


@parametrize_with_checks(
    ESTIMATORS,
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS.get(type(est).__name__, {}),
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
