"""Sparse self-representation: every sample written as a combination of the others.

Convention: samples are the rows of ``X`` (n_samples, n_features) and row
``i`` of the coefficient matrix ``C`` (n_samples, n_samples) represents
sample ``i``: ``X ~ C @ X`` with ``C[i, i] = 0``. (The papers write the data
as columns, ``Y = Y C``; their ``C`` is the transpose of ours.)

Solvers, all vectorized over samples:

- :func:`self_representation_admm`: Lasso SSC by ADMM (Elhamifar & Vidal,
  TPAMI 2013), all columns at once, one factorization for all iterations;
- :func:`self_representation_cvxpy`: the same problem for cvxpy, the exact
  reference at small sizes;
- :func:`self_representation_omp`: SSC by orthogonal matching pursuit (You,
  Robinson, Vidal, CVPR 2016), one batch of samples per matrix product;
- :func:`self_representation_elastic_net`: elastic-net subspace clustering
  (EnSC; You, Li, Robinson, Vidal, CVPR 2016) by an active-set method whose
  small subproblems are solved together by coordinate descent.

:func:`sparse_self_representation` dispatches to them.
"""

import functools

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from subclust._validation import check_matrix

__all__ = [
    "self_representation_admm",
    "self_representation_cvxpy",
    "self_representation_elastic_net",
    "self_representation_objective",
    "self_representation_omp",
    "sparse_self_representation",
]

_BATCH = 1024
_ALPHA_MESSAGE = "alpha must be > 1 so that every sample has a nonzero solution, got {}."


def _validate(X, min_samples=2):
    X = check_matrix(X)
    if X.shape[0] < min_samples:
        raise ValueError(
            f"Self-representation needs at least {min_samples} samples, got {X.shape[0]}: "
            "every sample is written as a combination of the others."
        )
    norms = np.linalg.norm(X, axis=1)
    if np.any(norms == 0):
        zero = np.flatnonzero(norms == 0)
        raise ValueError(
            f"X has {zero.size} all-zero sample(s) (rows {zero[:5].tolist()}); a zero sample "
            "has no meaningful representation. Remove these rows."
        )
    return X


def _max_correlations(X):
    """``mu_i = max_{j != i} |x_i . x_j|`` for every sample, block by block."""
    n = X.shape[0]
    out = np.empty(n)
    for start in range(0, n, _BATCH):
        stop = min(start + _BATCH, n)
        G = np.abs(X[start:stop] @ X.T)
        G[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        out[start:stop] = G.max(axis=1)
    return out


def lasso_lambda(X, alpha):
    """``lambda = alpha / mu`` with ``mu = min_i max_{j != i} |x_i . x_j|``.

    For ``alpha > 1`` the Lasso problem of every sample has a nonzero
    solution (Elhamifar & Vidal, TPAMI 2013, Proposition 1).
    """
    mu = _max_correlations(X).min()
    if mu <= 0:
        raise ValueError(
            "A sample is orthogonal to every other sample, so it cannot be represented "
            "by them; remove it or add samples from its subspace."
        )
    return alpha / mu


def self_representation_objective(X, C, lambda_, *, E=None, outlier_penalty=None):
    """Objective of Lasso self-representation.

    ``||C||_1 + lambda/2 ||X - C X - E||_F^2 (+ outlier_penalty ||E||_1)``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    C : ndarray or sparse matrix of shape (n_samples, n_samples)
    lambda_ : float
    E : ndarray of shape (n_samples, n_features), optional
        Sparse outliers.
    outlier_penalty : float, optional

    Returns
    -------
    objective : float
    """
    C = C.toarray() if sp.issparse(C) else np.asarray(C)
    R = X - C @ X
    value = np.abs(C).sum()
    if E is not None:
        R = R - E
        value += outlier_penalty * np.abs(E).sum()
    return float(value + 0.5 * lambda_ * np.sum(R * R))


class _ShiftedGramSolver:
    """Solves ``(lam P^T P + rho I + rho e e^T) A = B`` for many right-hand sides.

    ``P`` is the dictionary (n_features x n_atoms, samples as columns). With
    more atoms than twice the features, the Woodbury identity
    ``(rho I + lam P^T P)^{-1} = (I - P^T (rho/lam I + P P^T)^{-1} P) / rho``
    needs one ``n_features``-square Cholesky factorization, O(D^3 + N D^2),
    and two thin products per solve; otherwise the ``n_atoms``-square matrix
    is inverted once. The rank-one affine term is added by Sherman-Morrison.
    """

    def __init__(self, P, lam, rho, e=None):
        n_features, n_atoms = P.shape
        self.rho = rho
        self.woodbury = n_atoms > 2 * n_features
        if self.woodbury:
            K = (rho / lam) * np.eye(n_features) + P @ P.T
            self.P = P
            self.W = la.cho_solve(la.cho_factor(K), P).T  # P^T K^{-1}
        else:
            M = lam * (P.T @ P)
            M[np.diag_indices_from(M)] += rho
            self.inverse = la.cho_solve(la.cho_factor(M), np.eye(n_atoms))
        self.e = e
        if e is not None:
            self.Me = self._solve_plain(e[:, None])[:, 0]
            self.scale = rho / (1.0 + rho * e @ self.Me)

    def _solve_plain(self, B):
        if self.woodbury:
            return (B - self.W @ (self.P @ B)) / self.rho
        return self.inverse @ B

    def solve(self, B):
        A = self._solve_plain(B)
        if self.e is not None:
            A -= np.outer(self.Me, self.scale * (self.e @ A))
        return A


def _single_threaded(func):
    """Run with one BLAS thread: batched small products and solves (a loop over
    tiny LAPACK calls) are many times slower when each call wakes a thread pool."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return func(*args, **kwargs)

    return wrapper


def _soft_threshold(A, t):
    return np.sign(A) * np.maximum(np.abs(A) - t, 0.0)


def self_representation_admm(
    X,
    *,
    alpha=20.0,
    affine=False,
    outlier_penalty=None,
    rho=None,
    tol=2e-4,
    max_iter=300,
    return_outliers=False,
    return_n_iter=False,
):
    """Lasso self-representation of all samples by ADMM (SSC).

    Solves ``min ||C||_1 + lambda/2 ||X - C X - E||_F^2 + outlier_penalty ||E||_1``
    subject to ``diag(C) = 0`` (and ``C 1 = 1`` if ``affine``), with
    ``lambda = alpha / mu``, ``mu = min_i max_{j != i} |x_i . x_j|``, as in
    Elhamifar & Vidal, "Sparse Subspace Clustering: Algorithm, Theory, and
    Applications", TPAMI 35(11), 2013 (without outliers, ``E = 0``).

    The iterations split ``C`` into a smooth copy ``A`` and a sparse copy;
    the smooth step solves one linear system with the same matrix for every
    sample and every iteration, factored once (see
    :class:`_ShiftedGramSolver`: O(D^3 + N D^2) when N > 2 D). Each
    iteration costs two products of N x N by N x D matrices.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    alpha : float, default=20
        Weight of the fit relative to the smallest ``lambda`` giving nonzero
        solutions; must be > 1.
    affine : bool, default=False
        Add the affine constraint (every row of ``C`` sums to one), for
        affine subspaces.
    outlier_penalty : float, optional
        Add sparse outliers ``E`` with this l1 weight (a few corrupted
        entries per sample); None for none. For unit-norm samples a weight
        near 1 balances ``||E||_1`` against ``||C||_1``; much smaller weights
        let ``E`` absorb the data and leave ``C = 0``.
    rho : float, optional
        Fixed ADMM penalty. By default it starts at ``alpha`` (as in the
        reference code) and is adapted by residual balancing.
    tol : float, default=2e-4
        Stop when ``C`` and its copy differ, and ``C`` changes, by less than
        ``tol`` in every entry.
    max_iter : int, default=300
    return_outliers : bool, default=False
        Also return ``E`` (zeros without outlier term).
    return_n_iter : bool, default=False

    Returns
    -------
    C : sparse matrix (CSR) of shape (n_samples, n_samples)
        ``X ~ C @ X``, zero diagonal.
    E : ndarray of shape (n_samples, n_features)
        Only if ``return_outliers``.
    n_iter : int
        Only if ``return_n_iter``.

    Examples
    --------
    >>> from subclust.cluster import self_representation_admm
    >>> from subclust.datasets import make_molrg
    >>> X, y, _ = make_molrg(n_samples=[20, 20], n_features=10, dims=2, random_state=0)
    >>> C = self_representation_admm(X)
    >>> bool((C.diagonal() == 0).all())
    True
    >>> # nonzero coefficients only link samples of the same subspace
    >>> rows, cols = C.nonzero()
    >>> bool((y[rows] == y[cols]).all())
    True
    """
    X = _validate(X).astype(np.float64, copy=False)
    if alpha <= 1:
        raise ValueError(_ALPHA_MESSAGE.format(alpha))
    # Small problems: a thread pool costs more than the products it would share.
    threads = 1 if X.shape[0] <= 1000 else None
    with threadpool_limits(limits=threads, user_api="blas"):
        return _admm(
            X, alpha, affine, outlier_penalty, rho, tol, max_iter, return_outliers, return_n_iter
        )


def _admm(X, alpha, affine, outlier_penalty, rho, tol, max_iter, return_outliers, return_n_iter):
    n, d = X.shape
    lam = lasso_lambda(X, alpha)
    adaptive = rho is None
    rho = float(alpha if rho is None else rho)
    n_rebalance = 0
    Y = X.T  # the papers' convention: samples as columns, Y ~ Y C
    if outlier_penalty is not None:
        if outlier_penalty <= 0:
            raise ValueError(f"outlier_penalty must be positive, got {outlier_penalty}.")
        # E = F / outlier_penalty turns the weighted l1 term into a plain l1 on F.
        P = np.hstack([Y, np.eye(d) / outlier_penalty])
    else:
        P = Y
    n_atoms = P.shape[1]
    e = np.r_[np.ones(n), np.zeros(n_atoms - n)] if affine else None
    fit_rhs = lam * (P.T @ Y)

    def factor(rho):
        """The linear solver for this penalty, and its constant part of the smooth step."""
        solver = _ShiftedGramSolver(P, lam, rho, e)
        rhs = fit_rhs + rho * np.outer(e, np.ones(n)) if affine else fit_rhs
        return solver, solver.solve(rhs)

    solver, A0 = factor(rho)
    Z = np.zeros((n_atoms, n))
    Delta = np.zeros((n_atoms, n))
    delta = np.zeros(n)
    diag = np.arange(n)
    for n_iter in range(1, max_iter + 1):
        rhs = rho * Z - Delta
        if affine:
            rhs -= np.outer(e, delta)
        A = A0 + solver.solve(rhs)
        Z_old = Z
        Z = _soft_threshold(A + Delta / rho, 1.0 / rho)
        Z[diag, diag] = 0.0
        gap = A - Z
        Delta += rho * gap
        primal = np.abs(gap).max()
        if affine:
            sums = A[:n].sum(axis=0) - 1.0
            delta += rho * sums
            primal = max(primal, np.abs(sums).max())
        change = np.abs(Z - Z_old).max()
        if primal < tol and change < tol:
            break
        # Residual balancing (Boyd et al. 2011, sec. 3.4.1): keep the primal and dual
        # residuals within a factor of 10 by refactoring with a new penalty, rarely.
        if adaptive and n_iter % 10 == 0 and n_rebalance < 20:
            r_norm, s_norm = np.linalg.norm(gap), rho * np.linalg.norm(Z - Z_old)
            if r_norm > 10 * s_norm or s_norm > 10 * r_norm:
                rho = rho * 2.0 if r_norm > s_norm else rho / 2.0
                solver, A0 = factor(rho)
                n_rebalance += 1
    C = sp.csr_matrix(Z[:n].T)
    C.eliminate_zeros()
    out = [C]
    if return_outliers:
        E = Z[n:].T / outlier_penalty if outlier_penalty is not None else np.zeros_like(X)
        out.append(E)
    if return_n_iter:
        out.append(n_iter)
    return out[0] if len(out) == 1 else tuple(out)


@functools.lru_cache(maxsize=8)
def _cvxpy_problem(n, d, affine, outliers):
    """The Lasso self-representation problem for one size, built once.

    DPP form: ``lambda/2 ||X - C X||^2 = ||S - C S||^2`` with the parameter
    ``S = sqrt(lambda/2) X``, so new data or a new ``lambda`` only set values.
    """
    import cvxpy as cp

    C = cp.Variable((n, n))
    S = cp.Parameter((n, d))
    residual = S - C @ S
    objective = cp.sum(cp.abs(C))
    params = {"S": S}
    E = None
    if outliers:
        E = cp.Variable((n, d))
        scale = cp.Parameter(nonneg=True)
        penalty = cp.Parameter(nonneg=True)
        residual = residual - scale * E
        objective = objective + penalty * cp.sum(cp.abs(E))
        params.update(scale=scale, penalty=penalty)
    constraints = [cp.diag(C) == 0]
    if affine:
        constraints.append(cp.sum(C, axis=1) == 1)
    problem = cp.Problem(cp.Minimize(objective + cp.sum_squares(residual)), constraints)
    return problem, C, E, params


def self_representation_cvxpy(
    X, *, alpha=20.0, affine=False, outlier_penalty=None, solver=None, return_outliers=False
):
    """Lasso self-representation solved by cvxpy: the exact reference.

    The problem of :func:`self_representation_admm`, written once per size
    with cvxpy Parameters and handed to a conic solver. It has ``N^2``
    variables: use it to check the fast solvers on a few hundred samples.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    alpha, affine, outlier_penalty
        As in :func:`self_representation_admm`.
    solver : str, optional
        A cvxpy solver name (default: cvxpy's choice).
    return_outliers : bool, default=False

    Returns
    -------
    C : sparse matrix (CSR) of shape (n_samples, n_samples)
        Entries below ``1e-8`` times the largest magnitude are set to zero.
    E : ndarray, only if ``return_outliers``.
    """
    try:
        import cvxpy  # noqa: F401
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "solver='cvxpy' needs cvxpy: pip install 'subclust[cvx]'."
        ) from error
    X = _validate(X).astype(np.float64, copy=False)
    if alpha <= 1:
        raise ValueError(_ALPHA_MESSAGE.format(alpha))
    n, d = X.shape
    lam = lasso_lambda(X, alpha)
    problem, C, E, params = _cvxpy_problem(n, d, bool(affine), outlier_penalty is not None)
    params["S"].value = np.sqrt(lam / 2) * X
    if outlier_penalty is not None:
        params["scale"].value = np.sqrt(lam / 2)
        params["penalty"].value = float(outlier_penalty)
    problem.solve(solver=solver)
    if C.value is None:
        raise RuntimeError(f"cvxpy did not solve the problem (status {problem.status}).")
    value = np.array(C.value)
    np.fill_diagonal(value, 0.0)
    value[np.abs(value) < 1e-8 * np.abs(value).max()] = 0.0
    result = sp.csr_matrix(value)
    if return_outliers:
        return result, (np.array(E.value) if E is not None else np.zeros_like(X))
    return result


def self_representation_omp(X, *, n_nonzero=10, tol=1e-6, batch_size=None, return_n_iter=False):
    """Sparse self-representation by orthogonal matching pursuit (SSC-OMP).

    For every sample, atoms (other samples) are chosen greedily by their
    absolute correlation with the residual, and the coefficients are the
    least-squares fit on the chosen atoms; it stops after ``n_nonzero``
    atoms or when the residual norm falls below ``tol`` times the sample's
    norm (You, Robinson, Vidal, "Scalable Sparse Subspace Clustering by
    Orthogonal Matching Pursuit", CVPR 2016). A batch of samples advances one
    step per matrix product ``R X^T`` and one batched small solve.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_nonzero : int, default=10
        Maximum number of nonzero coefficients per sample.
    tol : float, default=1e-6
        Relative residual at which a sample stops.
    batch_size : int, optional
        Samples advanced together (default 1024); bounds the memory to
        ``batch_size * (n_samples + n_nonzero * n_features)`` numbers.
    return_n_iter : bool, default=False
        Also return the largest number of greedy steps taken.

    Returns
    -------
    C : sparse matrix (CSR) of shape (n_samples, n_samples)
    n_iter : int
        Only if ``return_n_iter``.

    Examples
    --------
    >>> from subclust.cluster import self_representation_omp
    >>> from subclust.datasets import make_molrg
    >>> X, y, _ = make_molrg(n_samples=[20, 20], n_features=10, dims=2, random_state=0)
    >>> C = self_representation_omp(X, n_nonzero=2)
    >>> rows, cols = C.nonzero()
    >>> bool((y[rows] == y[cols]).all())
    True
    """
    X = _validate(X)
    n = X.shape[0]
    k = int(min(n_nonzero, n - 1))
    if k < 1:
        raise ValueError(f"n_nonzero must be >= 1, got {n_nonzero}.")
    batch = batch_size or _BATCH
    rows, cols, vals = [], [], []
    n_iter = 0
    for start in range(0, n, batch):
        index = np.arange(start, min(start + batch, n))
        support, coef, steps = _omp_batch(X, index, k, tol)
        n_iter = max(n_iter, steps)
        keep = coef != 0
        rows.append(np.repeat(index, k)[keep.ravel()])
        cols.append(support[keep])
        vals.append(coef[keep])
    C = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
    return (C, n_iter) if return_n_iter else C


def _omp_batch(X, index, k, tol):
    """OMP for the samples ``index``: supports and coefficients of shape (B, k)."""
    b = index.size
    targets = X[index].astype(np.float64)
    target_norms = np.linalg.norm(targets, axis=1)
    support = np.zeros((b, k), dtype=np.intp)
    coef = np.zeros((b, k))
    active = np.arange(b)  # samples still growing their support
    R = targets.copy()
    for t in range(k):
        corr = np.abs(R[active] @ X.T)
        corr[np.arange(active.size), index[active]] = -1.0  # a sample never represents itself
        if t:
            np.put_along_axis(corr, support[active, :t], -1.0, axis=1)
        support[active, t] = corr.argmax(axis=1)
        atoms = X[support[active, : t + 1]].astype(np.float64)  # (B, t+1, D)
        c = _small_least_squares(atoms, targets[active])
        coef[active, : t + 1] = c
        R[active] = targets[active] - np.einsum("bt,btd->bd", c, atoms)
        done = np.linalg.norm(R[active], axis=1) <= tol * target_norms[active]
        active = active[~done]
        if active.size == 0:
            break
    return support, coef, t + 1


@_single_threaded
def _small_least_squares(atoms, targets):
    """Least-squares coefficients of each target on its own few atoms (batched normal equations)."""
    G = np.einsum("btd,bsd->bts", atoms, atoms, optimize=True)
    q = np.einsum("btd,bd->bt", atoms, targets)
    # A tiny ridge keeps duplicated atoms solvable; it is far below any data scale.
    G += 1e-12 * np.trace(G, axis1=1, axis2=2)[:, None, None] * np.eye(G.shape[1])
    return np.linalg.solve(G, q[..., None])[..., 0]


def self_representation_elastic_net(
    X,
    *,
    alpha=50.0,
    l1_ratio=0.9,
    n_init_support=10,
    max_support=100,
    tol=1e-6,
    max_outer=20,
    max_sweeps=200,
    batch_size=None,
    return_n_iter=False,
):
    """Elastic-net self-representation by an active-set method (EnSC).

    Every sample ``x_i`` solves
    ``min_c  tau ||c||_1 + (1 - tau)/2 ||c||^2 + gamma_i/2 ||x_i - sum_j c_j x_j||^2``,
    ``c_i = 0``, with ``tau = l1_ratio`` and
    ``gamma_i = alpha * tau / max_{j != i} |x_i . x_j|``, so ``alpha > 1``
    guarantees a nonzero solution for every sample (You, Li, Robinson, Vidal,
    "Oracle Based Active Set Algorithm for Scalable Elastic Net Subspace
    Clustering", CVPR 2016). The active-set method (their ORGEN) solves the
    problem restricted to a small support, then adds the samples violating
    optimality, ``gamma_i |x_j . r_i| > tau`` for the residual ``r_i``,
    until there is none: the solution is exact while only
    ``O(n_samples * max_support)`` coefficients are ever stored.

    The restricted problems of a batch of samples are solved together by
    coordinate descent on their small Gram matrices, one coordinate of every
    sample per vector operation.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    alpha : float, default=50
        Fit weight relative to the smallest giving a nonzero solution (> 1).
    l1_ratio : float in (0, 1], default=0.9
        ``tau``: 1 is the Lasso (SSC); smaller values connect more samples
        of the same subspace.
    n_init_support : int, default=10
        Initial support: the most correlated samples.
    max_support : int, default=100
        Largest support kept per sample; violators beyond it are dropped
        (the solution is then approximate for that sample).
    tol : float, default=1e-6
        Tolerance of the coordinate descent and of the optimality check.
    max_outer : int, default=20
        Maximum active-set iterations.
    max_sweeps : int, default=200
        Maximum coordinate-descent sweeps per subproblem.
    batch_size : int, optional
        Samples solved together (default: up to 1024, fewer when
        ``max_support * n_features`` is large).
    return_n_iter : bool, default=False
        Also return the largest number of active-set iterations.

    Returns
    -------
    C : sparse matrix (CSR) of shape (n_samples, n_samples)
    n_iter : int
        Only if ``return_n_iter``.

    Examples
    --------
    >>> from subclust.cluster import self_representation_elastic_net
    >>> from subclust.datasets import make_molrg
    >>> X, y, _ = make_molrg(n_samples=[30, 30], n_features=10, dims=2, random_state=0)
    >>> C = self_representation_elastic_net(X)
    >>> rows, cols = C.nonzero()
    >>> bool((y[rows] == y[cols]).all())
    True
    """
    X = _validate(X).astype(np.float64, copy=False)
    if alpha <= 1:
        raise ValueError(_ALPHA_MESSAGE.format(alpha))
    if not 0 < l1_ratio <= 1:
        raise ValueError(f"l1_ratio must lie in (0, 1], got {l1_ratio}.")
    n = X.shape[0]
    m = int(min(max_support, n - 1))
    m0 = int(min(n_init_support, m))
    gamma = alpha * l1_ratio / _max_correlations(X)
    # Each sample of a batch holds its (max_support x n_features) atoms: cap that memory.
    batch = batch_size or int(np.clip(2**25 // (m * X.shape[1]), 16, _BATCH))
    rows, cols, vals = [], [], []
    n_iter = 0
    for start in range(0, n, batch):
        index = np.arange(start, min(start + batch, n))
        support, coef, outer = _elastic_net_batch(
            X, index, gamma[index], l1_ratio, m0, m, tol, max_outer, max_sweeps
        )
        n_iter = max(n_iter, outer)
        keep = (coef != 0) & (support >= 0)
        rows.append(np.repeat(index, support.shape[1])[keep.ravel()])
        cols.append(support[keep])
        vals.append(coef[keep])
    C = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
    return (C, n_iter) if return_n_iter else C


def _elastic_net_batch(X, index, gamma, tau, m0, m, tol, max_outer, max_sweeps):
    """Active-set elastic net for the samples ``index``; supports padded with -1."""
    b = index.size
    targets = X[index]
    corr = targets @ X.T
    corr[np.arange(b), index] = 0.0
    support = np.full((b, m), -1, dtype=np.intp)
    support[:, :m0] = np.argpartition(-np.abs(corr), m0 - 1, axis=1)[:, :m0]
    coef = np.zeros((b, m))
    active = np.arange(b)
    for outer in range(1, max_outer + 1):
        coef[active] = _cd_batch(
            X, targets[active], support[active], gamma[active], tau, coef[active], tol, max_sweeps
        )
        # Optimality of the unrestricted problem: gamma |x_j . r| <= tau for every j.
        valid = support[active] >= 0
        atoms = X[np.where(valid, support[active], 0)]
        residual = targets[active] - np.einsum("bt,btd->bd", coef[active] * valid, atoms)
        score = gamma[active, None] * np.abs(residual @ X.T)
        score[np.arange(active.size), index[active]] = 0.0
        np.put_along_axis(score, np.where(valid, support[active], index[active, None]), 0.0, axis=1)
        violating = score > tau * (1 + tol) + 1e-12
        n_violating = violating.sum(axis=1)
        grow = n_violating > 0
        if not grow.any():
            break
        # New support: the current nonzeros, then the worst violators in the free slots.
        for row in np.flatnonzero(grow):
            i = active[row]
            kept = support[i][(support[i] >= 0) & (coef[i] != 0)]
            free = m - kept.size
            n_add = min(free, int(n_violating[row]))
            if n_add <= 0:
                grow[row] = False
                continue
            candidates = np.argpartition(-score[row], n_add - 1)[:n_add]
            new = np.r_[kept, candidates]
            new_coef = np.r_[coef[i][(support[i] >= 0) & (coef[i] != 0)], np.zeros(n_add)]
            support[i] = -1
            coef[i] = 0.0
            support[i, : new.size] = new
            coef[i, : new.size] = new_coef
        active = active[grow]
        if active.size == 0:
            break
    return support, coef, outer


@_single_threaded
def _cd_batch(X, targets, support, gamma, tau, coef, tol, max_sweeps, polish_every=5):
    """Exact solutions of the restricted elastic nets of a batch, solved together.

    Sample ``b`` minimizes ``tau |c|_1 + (1-tau)/2 |c|^2 + gamma_b/2 (c'Gc - 2 q'c)``
    over the slots of its support (padding slots are pinned at zero).
    Coordinate descent, one coordinate of every sample per vector operation,
    finds the signs; every few sweeps a polishing step solves the optimality
    equations ``(gamma G_AA + (1-tau) I) c_A = gamma q_A - tau sign(c_A)`` on
    the nonzero set ``A`` and keeps the result of every sample where it
    satisfies all optimality conditions: such samples are solved exactly
    and leave the batch.
    """
    # Supports are packed to the left: work on the used width only.
    width = max(1, int((support >= 0).sum(axis=1).max()))
    support = support[:, :width]
    valid = support >= 0
    atoms = X[np.where(valid, support, 0)] * valid[..., None]  # (B, m, D), zero rows as padding
    G = np.einsum("bmd,bnd->bmn", atoms, atoms, optimize=True)
    q = np.einsum("bmd,bd->bm", atoms, targets)
    out = np.zeros_like(coef)
    out[:, :width] = coef[:, :width] * valid
    rows = np.arange(len(targets))
    c, g, v = out[:, :width].copy(), gamma.copy(), valid
    done_sweeps, step = 0, polish_every
    while done_sweeps < max_sweeps:
        c = _cd_sweeps(G, q, g, tau, c, v, step, tol)
        done_sweeps += step
        step *= 2  # polish after 5, 15, 35, ... sweeps: few solves once signs are settled
        polished, ok = _polish(G, q, g, tau, c, v, tol)
        out[rows[ok], :width] = polished[ok]
        out[rows[~ok], :width] = c[~ok]
        keep = ~ok
        if not keep.any():
            break
        rows, G, q, g, c, v = rows[keep], G[keep], q[keep], g[keep], c[keep], v[keep]
    return out


def _cd_sweeps(G, q, gamma, tau, c, valid, n_sweeps, tol):
    """Cyclic coordinate descent, all samples of the batch at once."""
    Gt = np.ascontiguousarray(G.transpose(2, 0, 1))  # Gt[j] = G[:, :, j], contiguous
    Gc = np.einsum("bij,bj->bi", G, c)
    diag = np.einsum("bii->bi", G)
    denom = gamma[:, None] * diag + (1 - tau)
    denom[~valid] = 1.0  # padding: the numerator is zero, keep the division defined
    denom = np.maximum(denom, 1e-300)
    width = int(valid.sum(axis=1).max()) if valid.size else 0
    for _ in range(n_sweeps):
        largest = 0.0
        for j in range(width):
            old = c[:, j]
            z = gamma * (q[:, j] - Gc[:, j] + diag[:, j] * old)
            new = np.sign(z) * np.maximum(np.abs(z) - tau, 0.0) / denom[:, j]
            change = new - old
            Gc += Gt[j] * change[:, None]
            c[:, j] = new
            largest = max(largest, float(np.abs(change).max()))
        if largest < tol:
            break
    return c


def _polish(G, q, gamma, tau, c, valid, tol, n_steps=5):
    """Solve the optimality equations on a guessed nonzero set; report where they hold.

    Starting from the nonzeros and signs of ``c``, a few primal-dual
    active-set steps (solve on the set, drop coefficients whose sign flipped,
    add violators with the sign of their gradient) fix the last coordinates
    that coordinate descent is slow to settle.
    """
    m = G.shape[1]
    diag = np.arange(m)
    active = (c != 0) & valid
    signs = np.sign(c)
    H = gamma[:, None, None] * G
    H[:, diag, diag] += 1 - tau
    solved, ok = c, np.zeros(len(c), dtype=bool)
    for _ in range(n_steps):
        both = active[:, :, None] & active[:, None, :]
        A = np.where(both, H, 0.0)
        A[:, diag, diag] += ~active  # identity on the inactive slots
        rhs = np.where(active, gamma[:, None] * q - tau * signs, 0.0)
        try:
            solved = np.linalg.solve(A, rhs[..., None])[..., 0]
        except np.linalg.LinAlgError:
            return c, np.zeros(len(c), dtype=bool)
        # Optimality: signs kept on the active set, |gamma (q - G c)_j| <= tau off it.
        flipped = active & (np.sign(solved) != signs)
        gradient = gamma[:, None] * (q - np.einsum("bij,bj->bi", G, solved))
        violated = ~active & valid & (np.abs(gradient) > tau * (1 + tol) + 1e-12)
        ok = ~flipped.any(axis=1) & ~violated.any(axis=1)
        if ok.all():
            break
        active = (active & ~flipped) | violated
        signs = np.where(violated, np.sign(gradient), signs)
    return solved, ok


def sparse_self_representation(X, *, solver="elastic_net", **params):
    """Sparse self-representation ``X ~ C X`` with ``diag(C) = 0``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    solver : {'admm', 'cvxpy', 'omp', 'elastic_net'}, default='elastic_net'
        'admm' and 'cvxpy' solve the Lasso problem of SSC (N x N memory),
        'omp' the greedy l0 problem, 'elastic_net' EnSC with an active set
        (memory linear in the number of samples).
    **params
        Passed to :func:`self_representation_admm`,
        :func:`self_representation_cvxpy`, :func:`self_representation_omp` or
        :func:`self_representation_elastic_net`.

    Returns
    -------
    C : sparse matrix (CSR) of shape (n_samples, n_samples)

    Examples
    --------
    >>> from subclust.cluster import sparse_self_representation
    >>> from subclust.datasets import make_molrg
    >>> X, y, _ = make_molrg(n_samples=[20, 20], n_features=10, dims=2, random_state=0)
    >>> C = sparse_self_representation(X, solver="omp", n_nonzero=2)
    >>> C.shape
    (40, 40)
    """
    solvers = {
        "admm": self_representation_admm,
        "cvxpy": self_representation_cvxpy,
        "omp": self_representation_omp,
        "elastic_net": self_representation_elastic_net,
    }
    if solver not in solvers:
        raise ValueError(f"solver must be one of {sorted(solvers)}, got {solver!r}.")
    return solvers[solver](X, **params)
