import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import subspace_angles
from scipy.stats import ortho_group

from subclust.datasets import random_bases
from subclust.subspace import (
    held_out_residuals,
    match_subspaces,
    numerical_rank,
    orthonormal_basis,
    principal_angles,
    principal_subspace,
    project,
    residuals,
    subspace_distance,
)


def test_orthonormal_basis_spans_range_and_drops_rank():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((10, 3)) @ rng.standard_normal((3, 5))
    U = orthonormal_basis(A)
    assert U.shape == (10, 3)
    np.testing.assert_allclose(U.T @ U, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(project(A.T, U), A.T, atol=1e-10)
    assert orthonormal_basis(A, rank=2).shape == (10, 2)
    assert orthonormal_basis(np.zeros((4, 2))).shape == (4, 0)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(3, 12), p=st.integers(1, 5), seed=st.integers(0, 2**31 - 1))
def test_angles_to_rotated_copy_are_zero(n, p, seed):
    p = min(p, n - 1)
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, p))
    Q = ortho_group.rvs(p, random_state=seed) if p > 1 else np.array([[-1.0]])
    np.testing.assert_allclose(principal_angles(A, A @ Q), 0, atol=1e-7)
    assert subspace_distance(A, A @ Q) < 1e-7


def test_principal_angles_match_scipy_in_increasing_order():
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal((20, 4)), rng.standard_normal((20, 6))
    theta = principal_angles(A, B)
    assert theta.shape == (4,)
    assert np.all(np.diff(theta) >= 0)
    np.testing.assert_allclose(theta, np.sort(subspace_angles(A, B)), atol=1e-12)


def test_small_angles_are_accurate():
    # A plane tilted by 1e-10 rad: arccos of cosines alone would return 0 or ~1e-8.
    eps = 1e-10
    A = np.eye(3)[:, :2]
    B = np.array([[1.0, 0.0], [0.0, np.cos(eps)], [0.0, np.sin(eps)]])
    np.testing.assert_allclose(principal_angles(A, B), [0.0, eps], rtol=1e-6, atol=1e-20)
    np.testing.assert_allclose(subspace_distance(A, B), eps / np.sqrt(2), rtol=1e-6)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(4, 15), p=st.integers(1, 3), q=st.integers(1, 3), seed=st.integers(0, 10**6))
def test_subspace_distance_symmetric_bounded_and_equals_projector_norm(n, p, q, seed):
    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal((n, p)), rng.standard_normal((n, q))
    d_ab, d_ba = subspace_distance(A, B), subspace_distance(B, A)
    assert d_ab == pytest.approx(d_ba, abs=1e-12)
    assert 0 <= d_ab <= 1 + 1e-12
    PA, PB = (lambda U: U @ U.T)(orthonormal_basis(A)), (lambda U: U @ U.T)(orthonormal_basis(B))
    assert d_ab == pytest.approx(np.linalg.norm(PA - PB) / np.sqrt(p + q), abs=1e-9)


def test_orthogonal_subspaces_have_distance_one():
    E = np.eye(6)
    assert subspace_distance(E[:, :2], E[:, 2:4]) == pytest.approx(1.0)
    assert subspace_distance(E[:, :1], E[:, 1:4]) == pytest.approx(1.0)


def test_match_subspaces_recovers_permutation():
    bases = random_bases(30, [3, 4, 5, 2], random_state=0)
    perm = np.array([2, 0, 3, 1])
    shuffled = [bases[i] for i in np.argsort(perm)]
    found, dist = match_subspaces(bases, shuffled)
    np.testing.assert_array_equal(found, perm)
    np.testing.assert_allclose(dist, 0, atol=1e-7)


def test_match_subspaces_with_fewer_partners_marks_unmatched():
    bases = random_bases(10, [2, 2, 2], random_state=0)
    perm, dist = match_subspaces(bases, bases[:2])
    assert sorted(perm.tolist()) == [-1, 0, 1]
    assert dist[perm == -1] == 1.0


def test_residuals_linear_and_affine_match_direct_computation():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((50, 8))
    bases = random_bases(8, [2, 3], random_state=1)
    means = rng.standard_normal((2, 8))
    R = residuals(X, bases, means)
    for k, (U, mu) in enumerate(zip(bases, means)):
        D = X - mu
        np.testing.assert_allclose(R[:, k], np.sum((D - project(D, U)) ** 2, axis=1), atol=1e-10)
    np.testing.assert_allclose(residuals(X, bases, squared=False) ** 2, residuals(X, bases))


def test_residuals_keep_float32():
    X = np.ones((4, 5), dtype=np.float32)
    assert residuals(X, random_bases(5, [2], random_state=0)).dtype == np.float32


def test_numerical_rank():
    assert numerical_rank([3.0, 4.0, 0.0]) == 2
    assert numerical_rank([1.0] * 5) == 5
    assert numerical_rank([10.0, 1e-6, 1e-6], energy=0.99) == 1
    assert numerical_rank([0.0, 0.0]) == 0
    with pytest.raises(ValueError, match="energy"):
        numerical_rank([1.0], energy=1.5)


# ----------------------------------------------------------------------------- principal_subspace


def _noisy_subspace_samples(n_samples, n_features, dim, noise, seed=0):
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((n_features, dim)))[0]
    X = rng.standard_normal((n_samples, dim)) @ basis.T
    return X + noise * rng.standard_normal((n_samples, n_features)), basis


@pytest.mark.parametrize("n_samples", [30, 200], ids=["fewer-samples", "more-samples"])
def test_principal_subspace_estimates_the_dimension_noise_does_not_inflate(n_samples):
    X, basis = _noisy_subspace_samples(n_samples, 60, 4, noise=0.01)
    U = principal_subspace(X)
    assert U.shape == (60, 4)
    np.testing.assert_allclose(U.T @ U, np.eye(4), atol=1e-10)
    assert subspace_distance(U, basis) < 0.02
    # An energy share keeps noise directions too; the leading ones are the same.
    wide = principal_subspace(X, energy=0.9999)
    assert wide.shape[1] > 4
    assert subspace_distance(wide[:, :4], U) < 1e-8


def test_principal_subspace_is_the_same_by_gram_and_by_svd():
    X, _ = _noisy_subspace_samples(40, 50, 3, noise=0.05)  # 40 < 50: the Gram path
    by_gram = principal_subspace(X, 5)
    by_svd = np.linalg.svd(X.T, full_matrices=False)[0][:, :5]
    assert subspace_distance(by_gram, by_svd) < 1e-8
    assert principal_subspace(X.astype(np.float32), 5).dtype == np.float32


@pytest.mark.parametrize("n_samples, n_features", [(40, 50), (200, 20)])  # Gram, X^T X
def test_held_out_residuals_measure_each_fold_against_the_others_subspace(n_samples,
                                                                         n_features):  # fmt: skip
    X, _ = _noisy_subspace_samples(n_samples, n_features, 3, noise=0.05)
    folds = np.arange(n_samples) % 5
    expected = np.empty(n_samples)
    for fold in range(5):
        held = folds == fold
        basis = principal_subspace(X[~held], 4)
        expected[held] = residuals(X[held], [basis])[:, 0]
    np.testing.assert_allclose(held_out_residuals(X, folds, 4), expected, rtol=1e-8, atol=1e-12)
    # In-sample the fit absorbs part of each sample's noise; held out it cannot.
    assert held_out_residuals(X, folds, 4).mean() > residuals(X, [principal_subspace(X, 4)]).mean()
    single = held_out_residuals(X, np.zeros(n_samples, int), 4)  # no other fold: no subspace
    np.testing.assert_allclose(single, np.einsum("ij,ij->i", X, X))


def test_principal_subspace_completes_a_basis_the_samples_do_not_span():
    X, _ = _noisy_subspace_samples(2, 10, 2, noise=0.0)
    U = principal_subspace(np.vstack([X, X]), 4)  # 4 samples spanning 2 directions
    np.testing.assert_allclose(U.T @ U, np.eye(4), atol=1e-10)
    np.testing.assert_allclose(X @ U @ U.T, X, atol=1e-10)  # the samples lie in it
    zero = principal_subspace(np.zeros((3, 5)))
    assert zero.shape == (5, 1) and np.isclose(np.linalg.norm(zero), 1.0)


@pytest.mark.parametrize(
    "X, dim, message",
    [
        (np.zeros((0, 4)), None, r"at least one sample .* got shape \(0, 4\)"),
        (np.zeros(4), None, r"2D array, got shape \(4,\)"),
        (np.ones((3, 4)), 5, "dim=5 exceeds n_features=4"),
        (np.ones((3, 4)), 0, r"'dim' parameter of principal_subspace must be an int in the range"),
        (np.ones((3, 4)), 2.0, r"'dim' parameter of principal_subspace must be an int"),
    ],
)
def test_principal_subspace_bad_input(X, dim, message):
    with pytest.raises(ValueError, match=message):
        principal_subspace(X, dim)
