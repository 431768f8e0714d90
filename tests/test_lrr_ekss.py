"""Low-rank representation (LRR) and ensembles of K-subspaces (EKSS).

What matters: the ALM converges to the optimum (the closed form when the
data are noiseless), the representation is block diagonal on independent
subspaces, labels recover the subspaces, the co-association thresholding keeps
``q`` entries per row, the presets carry the papers' parameters, results are
reproducible and bad input fails clearly. Real-data runs live in
``subclust bench lrr-ekss``.
"""

import numpy as np
import pytest
import scipy.sparse as sp

from subclust import EnsembleKSubspaces, LowRankRepresentation
from subclust.cluster import (
    coassociation_matrix,
    ensemble_k_subspaces,
    low_rank_affinity,
    low_rank_representation,
    shape_interaction_matrix,
    threshold_coassociation,
)
from subclust.cluster._low_rank import PRESETS
from subclust.metrics import clustering_accuracy
from subclust.pipeline import make_estimator



# --- LRR ----------------------------------------------------------------------------


def test_shape_interaction_matrix_is_block_diagonal_projector(draw_molrg):
    """Independent subspaces: C = V V^T links only samples of the same subspace."""
    X, y, _ = draw_molrg()
    C = shape_interaction_matrix(X)
    np.testing.assert_allclose(C, C.T, atol=1e-12)
    np.testing.assert_allclose(C @ C, C, atol=1e-10)  # a projector
    np.testing.assert_allclose(C @ X, X, atol=1e-10)  # X = C X
    assert np.abs(C[y[:, None] != y[None, :]]).max() < 1e-10
    assert round(np.trace(C)) == 9  # rank = sum of the dimensions


def test_alm_converges_and_matches_closed_form_without_noise(draw_molrg):
    """A large lambda forbids errors: the ALM returns the shape interaction matrix."""
    X, _, _ = draw_molrg(n_per=15, n_features=12, dim=2)
    result = low_rank_representation(X, 100.0, return_details=True)
    assert result.converged and result.residual < 1e-8
    np.testing.assert_allclose(result.representation, shape_interaction_matrix(X), atol=1e-6)
    np.testing.assert_allclose(result.error, 0.0, atol=1e-6)
    # ||V V^T||_* = rank, the optimum of min ||Z||_* s.t. X = Z^T X.
    assert result.objective == pytest.approx(6.0, abs=1e-5)


def test_alm_objective_and_constraint_with_noise(draw_molrg):
    """With noise: the constraint holds to tol, and the objective beats the feasible (I, 0)
    and (C_SIM, E = X - C_SIM X) points."""
    X, _, _ = draw_molrg(noise=0.1, seed=2)
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    lam = 0.5
    result = low_rank_representation(X, lam, return_details=True)
    assert result.converged
    C, E = result.representation, result.error
    assert np.abs(X - C @ X - E).max() < 1e-7
    assert result.objective == pytest.approx(
        np.linalg.norm(C, "nuc") + lam * np.linalg.norm(E, axis=1).sum(), rel=1e-6
    )
    assert result.objective < X.shape[0]  # Z = I, E = 0
    C_sim = shape_interaction_matrix(X, rank=9)
    feasible = 9 + lam * np.linalg.norm(X - C_sim @ X, axis=1).sum()
    assert result.objective < feasible
    assert 9 <= np.linalg.matrix_rank(C, tol=1e-3 * np.linalg.norm(C, 2)) < X.shape[1]


def test_alm_error_flags_corrupted_samples(draw_molrg):
    """The l21 error concentrates on grossly corrupted samples (Liu et al.'s sample outliers)."""
    X, _, _ = draw_molrg(n_per=25, n_features=30, dim=3, seed=3)
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    rng = np.random.RandomState(0)
    outliers = [4, 40, 61]
    X[outliers] = rng.standard_normal((3, 30)) / np.sqrt(30)
    E = low_rank_representation(X, 0.3, return_details=True).error
    norms = np.linalg.norm(E, axis=1)
    assert set(np.argsort(norms)[-3:]) == set(outliers)


@pytest.mark.parametrize("affinity", ["angular", "symmetric"])
@pytest.mark.parametrize("regularization", [1.0, None])
def test_lrr_recovers_subspaces(affinity, regularization, draw_molrg):
    # The closed form (regularization=None) is the noiseless model: no noise for it.
    X, y, _ = draw_molrg(noise=0.01 if regularization else 0.0, seed=4)
    lrr = LowRankRepresentation(
        3, regularization=regularization, affinity=affinity, random_state=0
    ).fit(X)
    assert clustering_accuracy(y, lrr.labels_) == 1.0
    assert clustering_accuracy(y, lrr.predict(X)) == 1.0


def test_lrr_same_seed_same_result(draw_molrg):
    X, _, _ = draw_molrg(noise=0.05, seed=6)
    first, again = (LowRankRepresentation(3, random_state=3).fit(X) for _ in range(2))
    np.testing.assert_array_equal(first.affinity_matrix_, again.affinity_matrix_)
    np.testing.assert_array_equal(first.labels_, again.labels_)


def test_low_rank_affinity_follows_authors_rule():
    """W_ij = (m_i . m_j)^4 for M = U S^{1/2} (rows normalized), U, S of the skinny SVD of Z."""
    rng = np.random.RandomState(0)
    C = rng.standard_normal((8, 3)) @ rng.standard_normal((3, 8))
    U, s, _ = np.linalg.svd(C.T)
    M = U[:, :3] * np.sqrt(s[:3])
    M /= np.linalg.norm(M, axis=1, keepdims=True)
    expected = (M @ M.T) ** 4
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(low_rank_affinity(C), expected, atol=1e-12)


def test_presets_carry_the_papers_parameters():
    paper = LowRankRepresentation.from_preset("paper", n_clusters=10)
    assert (paper.regularization, paper.normalize, paper.power) == (0.18, False, 4)
    assert paper.affinity == "angular" and paper.rank_tol == 1e-4 and paper.tol == 1e-8
    assert LowRankRepresentation.from_preset("hopkins").regularization == 4.0
    assert LowRankRepresentation.from_preset("paper", power=2).power == 2
    assert set(PRESETS) == {"paper", "hopkins"}
    with pytest.raises(ValueError, match="Unknown preset 'yale'"):
        LowRankRepresentation.from_preset("yale")


def test_lrr_bad_parameters(draw_molrg):
    X, _, _ = draw_molrg()
    with pytest.raises(ValueError, match=r"'regularization' parameter of low_rank_representation "
                                         r"must be a float in the range \(0.0, inf\)"):
        low_rank_representation(X, 0.0)
    with pytest.raises(ValueError, match=r"'rho' parameter of low_rank_representation "
                                         r"must be a float in the range \(1.0, inf\)"):
        low_rank_representation(X, 1.0, rho=1.0)
    with pytest.raises(ValueError, match="regularization"):
        LowRankRepresentation(3, regularization=-1.0).fit(X)
    with pytest.raises(ValueError, match="rank_tol"):
        LowRankRepresentation(3, rank_tol=2.0).fit(X)
    with pytest.raises(ValueError, match="NaN"):
        low_rank_representation(np.full((4, 3), np.nan))


# --- EKSS ---------------------------------------------------------------------------


def test_coassociation_counts_shared_clusters():
    A = coassociation_matrix([[0, 0, 1, 1], [0, 1, 1, 0], [1, 1, 0, 0]])
    expected = np.array(
        [[0, 2, 0, 1], [2, 0, 1, 0], [0, 1, 0, 2], [1, 0, 2, 0]], dtype=float
    ) / 3
    np.testing.assert_allclose(A, expected)


def test_threshold_keeps_q_per_row_and_column():
    rng = np.random.RandomState(0)
    A = rng.rand(30, 30)
    A = (A + A.T) / 2
    np.fill_diagonal(A, 0.0)
    q = 4
    W = threshold_coassociation(A, q)
    assert sp.issparse(W)
    W = W.toarray()
    np.testing.assert_allclose(W, W.T)
    assert np.all(np.diag(W) == 0)
    top = np.argsort(-np.where(np.eye(30, dtype=bool), -1, A), axis=1)[:, :q]
    for i in range(30):
        # the q largest of row i are kept (at least half their weight from the row pass) ...
        assert np.all(W[i, top[i]] >= A[i, top[i]] / 2 - 1e-15)
        # ... and an entry is kept only if it is among the q largest of its row or column
        kept = np.flatnonzero(W[i])
        assert all(j in top[i] or i in top[j] for j in kept)
        assert q <= kept.size
    # (Z_row + Z_col) / 2: an entry in both top-q sets keeps its full weight
    both = [(i, j) for i in range(30) for j in top[i] if i in top[j]]
    assert both and all(W[i, j] == pytest.approx(A[i, j]) for i, j in both)


def test_threshold_bad_q():
    with pytest.raises(ValueError, match=r"n_nearest must lie in \[1, n_samples - 1\]"):
        threshold_coassociation(np.zeros((3, 3)), 3)


def test_ensemble_same_subspace_pairs_vote_together(draw_molrg):
    X, y, _ = draw_molrg(n_per=20, n_features=10, dim=2)
    A = ensemble_k_subspaces(X, 3, 2, n_estimators=100, random_state=0)
    same = y[:, None] == y[None, :]
    np.fill_diagonal(same, False)
    assert A[same].mean() > 2 * A[~same & ~np.eye(len(y), dtype=bool)].mean()
    assert np.all(np.diag(A) == 0) and A.max() <= 1.0


@pytest.mark.parametrize("n_nearest", [None, 20])
def test_ekss_recovers_subspaces(n_nearest, draw_molrg):
    X, y, _ = draw_molrg(n_per=40, n_features=15, dim=3, noise=0.02, seed=5)
    ekss = EnsembleKSubspaces(
        3, dims=3, n_estimators=100, n_nearest=n_nearest, random_state=0
    ).fit(X)
    assert clustering_accuracy(y, ekss.labels_) == 1.0
    assert clustering_accuracy(y, ekss.predict(X)) == 1.0
    assert sp.issparse(ekss.affinity_matrix_) == (n_nearest is not None)


def test_ekss_reproducible_and_independent_of_n_jobs(draw_molrg):
    X, _, _ = draw_molrg(n_per=15, n_features=8, dim=2)
    first = EnsembleKSubspaces(3, dims=2, n_estimators=30, random_state=7).fit(X)
    again = EnsembleKSubspaces(3, dims=2, n_estimators=30, random_state=7).fit(X)
    parallel = EnsembleKSubspaces(3, dims=2, n_estimators=30, random_state=7, n_jobs=2).fit(X)
    for other in (again, parallel):
        np.testing.assert_array_equal(first.coassociation_matrix_, other.coassociation_matrix_)
        np.testing.assert_array_equal(first.labels_, other.labels_)


def test_ekss_bad_parameters(draw_molrg):
    X, _, _ = draw_molrg(n_features=5)
    with pytest.raises(ValueError, match="n_estimators"):
        EnsembleKSubspaces(3, n_estimators=0).fit(X)
    with pytest.raises(ValueError, match="must be smaller than n_features=5"):
        EnsembleKSubspaces(3, dims=5).fit(X)
    with pytest.raises(ValueError, match=r"'n_estimators' parameter of ensemble_k_subspaces "
                                         r"must be an int in the range \[1, inf\)"):
        ensemble_k_subspaces(X, 3, 2, n_estimators=0)
    with pytest.raises(ValueError, match="n_samples=2 should be >= n_clusters=3"):
        EnsembleKSubspaces(3, dims=1).fit(X[:2])


def test_methods_registered():
    assert isinstance(make_estimator("lrr", n_clusters=2), LowRankRepresentation)
    assert isinstance(make_estimator("ekss", n_clusters=2), EnsembleKSubspaces)


def test_bench_tables_on_two_yaleb_subjects(data_home):
    """The benchmark's protocol at its smallest: the first 2 subjects of Extended Yale B."""
    from subclust.bench.lrr_ekss import ekss_table, lrr_table
    from subclust.datasets import get_data_home

    if not (get_data_home() / "yaleb" / "ExtendedYaleB_48x42.mat").exists():
        pytest.skip("Extended Yale B is missing from the data home")
    lrr = {(row["affinity"], row["spectral"]): row["accuracy"] for row in lrr_table(2).rows}
    assert len(lrr) == 4
    assert min(lrr.values()) >= 0.95
    ekss = ekss_table(2, n_estimators=50, dim=3, n_nearest=8, pca=20).rows
    assert [row["method"] for row in ekss] == [
        "EKSS", "K-subspaces, random init, best of B", "TSC (defaults)"
    ]
    assert ekss[0]["accuracy"] >= 0.7
