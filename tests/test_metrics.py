import numpy as np
import pytest

from subclust.datasets import random_bases
from subclust.metrics import clustering_accuracy, subspace_recovery_error


def test_accuracy_invariant_to_label_permutation():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 200)
    relabel = rng.permutation(5)
    assert clustering_accuracy(y, relabel[y]) == 1.0


def test_accuracy_with_different_numbers_of_clusters():
    y_true = np.array([0, 0, 0, 1, 1, 1])
    assert clustering_accuracy(y_true, np.array([0, 0, 1, 2, 2, 2])) == pytest.approx(5 / 6)
    assert clustering_accuracy(y_true, np.zeros(6, dtype=int)) == pytest.approx(0.5)


def test_accuracy_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same length"):
        clustering_accuracy([0, 1], [0, 1, 1])


def test_recovery_error_is_worst_matched_distance():
    true = random_bases(20, [3, 3], random_state=0)
    assert subspace_recovery_error(true[::-1], true) < 1e-7
    other = random_bases(20, [3], random_state=5)
    err = subspace_recovery_error([true[0], other[0]], true)
    assert 0.5 < err <= 1
    assert subspace_recovery_error(true[:1], true) == 1.0
