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
  small subproblems are solved together (Newton steps on the sign pattern,
  coordinate descent where those do not settle).

:func:`sparse_self_representation` dispatches to them.

Scale. 'omp' and 'elastic_net' solve column blocks of targets
independently, each against the whole dictionary: a block holds
``batch_size x n_samples`` correlations (in the precision of ``X``), never
the ``n_samples x n_samples`` Gram matrix, and the result is assembled as a
sparse matrix. Blocks run in parallel threads, or as Dask tasks (``backend``)
on a ``dask.distributed`` cluster that receives the dictionary once; the
result is the same either way.
"""

import functools
from numbers import Integral, Real

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from subclust.utils.parallel import blas_threads, thread_map
from subclust.utils.validation import Interval, StrOptions, check_matrix, validate_params

_BATCH = 1024
_SOLVE_BATCH = 128
_ALPHA = Interval(Real, 1, None, closed="neither")  # > 1: every sample has a nonzero solution
_POSITIVE = Interval(Real, 0, None, closed="neither")
_NON_NEGATIVE = Interval(Real, 0, None, closed="left")
_POSITIVE_INT = Interval(Integral, 1, None, closed="left")
_BACKEND = [StrOptions({"local", "dask"}), None]


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


@validate_params(
    {"X": ["array-like"], "alpha": [Interval(Real, 0, None, closed="neither")]},
    prefer_skip_nested_validation=True,
)
def lasso_lambda(X, alpha):
    """``lambda = alpha / mu`` with ``mu = min_i max_{j != i} |x_i . x_j|``.

    For ``alpha > 1`` the Lasso problem of every sample has a nonzero
    solution (Elhamifar & Vidal, TPAMI 2013, Proposition 1).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    alpha : float

    Returns
    -------
    lambda_ : float

    Examples
    --------
    >>> from subclust.cluster import lasso_lambda
    >>> lasso_lambda([[1.0, 0.0], [0.6, 0.8]], alpha=3.0)  # mu = 0.6
    5.0
    """
    return float(_lasso_lambda(_validate(X), alpha))


def _lasso_lambda(X, alpha):
    mu = _max_correlations(X).min()
    if mu <= 0:
        raise ValueError(
            "A sample is orthogonal to every other sample, so it cannot be represented "
            "by them; remove it or add samples from its subspace."
        )
    return alpha / mu


@validate_params(
    {
        "X": ["array-like"],
        "C": ["array-like", "sparse matrix"],
        "lambda_": [_NON_NEGATIVE],
        "E": ["array-like", None],
        "outlier_penalty": [_NON_NEGATIVE, None],
    },
    prefer_skip_nested_validation=True,
)
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

    Examples
    --------
    Two copies of one sample represent each other exactly; the third sample
    is left unrepresented and pays the fit term ``lambda/2 ||x_3||^2``:

    >>> import numpy as np
    >>> from subclust.cluster import self_representation_objective
    >>> X = np.array([[0.6, 0.8], [0.6, 0.8], [1.0, 0.0]])
    >>> C = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    >>> self_representation_objective(X, C, 10.0)  # ||C||_1 = 2, plus 10 / 2 * 1
    7.0
    >>> self_representation_objective(X, np.zeros((3, 3)), 10.0)  # 10 / 2 * ||X||_F^2
    15.0
    >>> # the third sample declared an outlier: ||C||_1 + 1 * ||E||_1
    >>> E = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    >>> self_representation_objective(X, C, 10.0, E=E, outlier_penalty=1.0)
    3.0
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
        with blas_threads(1):
            return func(*args, **kwargs)

    return wrapper


def _soft_threshold(A, t):
    return np.sign(A) * np.maximum(np.abs(A) - t, 0.0)


@validate_params(
    {
        "X": ["array-like"],
        "alpha": [_ALPHA],
        "affine": ["boolean"],
        "outlier_penalty": [_POSITIVE, StrOptions({"auto"}), None],
        "dense_noise": ["boolean"],
        "rho": [_POSITIVE, None],
        "tol": [_NON_NEGATIVE],
        "max_iter": [_POSITIVE_INT],
        "return_outliers": ["boolean"],
        "return_n_iter": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def self_representation_admm(
    X, *, alpha=20.0, affine=False, outlier_penalty=None, dense_noise=True, rho=None, tol=2e-4,
    max_iter=300, return_outliers=False, return_n_iter=False,
):  # fmt: skip
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
    outlier_penalty : float or 'auto', optional
        Add sparse outliers ``E`` with this l1 weight (a few corrupted
        entries per sample); None for none. For unit-norm samples a weight
        near 1 balances ``||E||_1`` against ``||C||_1``; much smaller weights
        let ``E`` absorb the data and leave ``C = 0``. 'auto' is the rule of
        Elhamifar & Vidal's code, ``alpha / max_i ||x_i||_1``.
    dense_noise : bool, default=True
        With outliers: True fits ``X ~ C X + E`` by the penalty
        ``lambda/2 ||X - C X - E||_F^2``; False solves Elhamifar & Vidal's
        program for sparse outlying entries, ``min ||C||_1 +
        outlier_penalty ||E||_1`` subject to ``X = C X + E``, by their
        augmented Lagrangian, whose penalty on the constraint is ``lambda``
        (their face experiments). Without outliers it must stay True.
    rho : float, optional
        Fixed ADMM penalty on ``C`` and its sparse copy, as in the reference
        code of Elhamifar & Vidal, which sets it to ``alpha``. By default it
        starts at ``alpha`` and is adapted by residual balancing (faster
        convergence, a slightly different point after ``max_iter``).
    tol : float, default=2e-4
        Stop when ``C`` and its copy differ, and ``C`` changes, by less than
        ``tol`` in every entry (``dense_noise=False``: when they differ, and
        the relative residual of every sample is, below ``tol``, as in the
        reference code).
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
    return _admm_representation(
        _validate(X), alpha=alpha, affine=affine, outlier_penalty=outlier_penalty,
        dense_noise=dense_noise, rho=rho, tol=tol, max_iter=max_iter,
        return_outliers=return_outliers, return_n_iter=return_n_iter,
    )  # fmt: skip


def _admm_representation(X, *, alpha=20.0, affine=False, outlier_penalty=None,
                         dense_noise=True, rho=None, tol=2e-4, max_iter=300,
                         return_outliers=False, return_n_iter=False):
    """:func:`self_representation_admm` on a validated ``X``."""
    X = X.astype(np.float64, copy=False)
    if outlier_penalty == "auto":
        outlier_penalty = alpha / np.abs(X).sum(axis=1).max()
    if not dense_noise:
        if outlier_penalty is None or affine:
            raise ValueError(
                "dense_noise=False (the constraint X = C X + E) needs outlier_penalty and no "
                "affine constraint; set dense_noise=True otherwise."
            )
        C, E, n_iter = _admm_sparse_outliers(
            X, alpha, float(outlier_penalty), float(alpha if rho is None else rho), tol, max_iter
        )
        out = [C] + [E] * return_outliers + [n_iter] * return_n_iter
        return out[0] if len(out) == 1 else tuple(out)
    # Small problems: a thread pool costs more than the products it would share.
    threads = 1 if X.shape[0] <= 1000 else None
    with blas_threads(threads):
        return _admm(
            X, alpha, affine, outlier_penalty, rho, tol, max_iter, return_outliers, return_n_iter
        )


def _admm_sparse_outliers(X, alpha, gamma, rho, tol, max_iter):
    """``min ||C||_1 + gamma ||E||_1`` s.t. ``Y = Y C + E``, ``diag(C) = 0``, by ADMM.

    Elhamifar & Vidal's augmented Lagrangian on ``Z = [C; gamma E]``, the
    coefficients over the dictionary ``P = [Y, I / gamma]`` (samples as the
    columns of ``Y``): a smooth copy ``Z`` and a sparse copy, the penalty
    ``mu = alpha / m`` on ``Y = P Z`` with ``m = min_i max_j |p_j . y_i|``
    (``j != i`` among the samples), and ``rho`` on ``Z`` against its copy.

    The smooth step solves ``(mu P^T P + rho I) Z = R`` with ``N + D``
    unknowns per sample. By the identities ``(mu P^T P + rho I)^{-1} P^T =
    P^T K^{-1}`` and ``(mu P^T P + rho I)^{-1} = (I - mu P^T K^{-1} P) / rho``
    with ``K = mu P P^T + rho I = mu Y Y^T + c I``, ``c = mu / gamma^2 + rho``,
    and Woodbury's ``K^{-1} = (I - Y S^{-1} Y^T) / c``, ``S = (c / mu) I +
    Y^T Y``, it needs one ``N x N`` factorization and four products of
    ``D x N`` by ``N x N`` matrices per iteration.
    """
    Y = X.T
    d, n = Y.shape
    gram = Y.T @ Y
    # m: the largest correlation of each sample with another atom, identity atoms included.
    off = np.abs(gram)
    off[np.diag_indices(n)] = 0.0
    m = np.maximum(off.max(axis=0), np.abs(Y).max(axis=0) / gamma).min()
    mu = alpha / m
    c = mu / gamma**2 + rho
    S = la.cho_factor((c / mu) * np.eye(n) + gram)
    diag = np.arange(n)
    threshold = 1.0 / rho
    # The multipliers of Z = its sparse copy are kept divided by rho: the soft threshold
    # of V = Z + multiplier at 1 / rho leaves V - clip(V) as the copy, and the clip itself
    # as the next multiplier.
    sparse_c, sparse_e = np.zeros((n, n)), np.zeros((d, n))
    scaled_c, scaled_e = np.zeros((n, n)), np.zeros((d, n))
    dual_fit = np.zeros((d, n))  # multiplier of Y = P Z
    mu_y = mu * Y
    for n_iter in range(1, max_iter + 1):
        W_c, W_e = sparse_c - scaled_c, sparse_e - scaled_e
        U = Y @ W_c
        U += W_e / gamma
        U *= -mu
        U += mu_y
        U += dual_fit
        A = Y.T @ U
        B = la.cho_solve(S, A)
        Z_c = W_c + (A - gram @ B) / c
        Z_c[diag, diag] = 0.0
        Z_e = U - Y @ B
        Z_e /= c * gamma
        Z_e += W_e
        clean = Y - Z_e / gamma
        residual = clean - Y @ Z_c
        dual_fit += mu * residual
        Z_c += scaled_c
        Z_e += scaled_e
        clip_c = np.clip(Z_c, -threshold, threshold)
        clip_e = np.clip(Z_e, -threshold, threshold)
        # |Z - its new copy| is the change of the scaled multiplier.
        gap = max(np.abs(clip_c - scaled_c).max(), np.abs(clip_e - scaled_e).max())
        sparse_c, sparse_e = Z_c - clip_c, Z_e - clip_e
        scaled_c, scaled_e = clip_c, clip_e
        relative = np.sqrt(
            (np.einsum("ij,ij->j", residual, residual) / np.einsum("ij,ij->j", clean, clean)).max()
        )
        if gap <= tol and relative <= tol:
            break
    C = sp.csr_matrix(sparse_c.T)
    C.eliminate_zeros()
    return C, (sparse_e / gamma).T, n_iter


def _admm(X, alpha, affine, outlier_penalty, rho, tol, max_iter, return_outliers, return_n_iter):
    n, d = X.shape
    lam = _lasso_lambda(X, alpha)
    adaptive = rho is None
    rho = float(alpha if rho is None else rho)
    n_rebalance = 0
    Y = X.T  # the papers' convention: samples as columns, Y ~ Y C
    if outlier_penalty is not None:
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


@validate_params(
    {
        "X": ["array-like"],
        "alpha": [_ALPHA],
        "affine": ["boolean"],
        "outlier_penalty": [_POSITIVE, None],
        "solver": [str, None],
        "return_outliers": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
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

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.cluster import self_representation_cvxpy
    >>> from subclust.datasets import make_molrg
    >>> X, y, _ = make_molrg(n_samples=[6, 6], n_features=5, dims=2, orthogonal=True,
    ...                      random_state=0)
    >>> C = self_representation_cvxpy(X).toarray()
    >>> C.shape, bool(np.all(np.diag(C) == 0))
    ((12, 12), True)
    >>> # orthogonal subspaces: no weight (up to the solver's accuracy) links them
    >>> bool(np.abs(C[y[:, None] != y[None, :]]).max() < 1e-4)
    True
    """
    return _cvxpy_representation(
        _validate(X), alpha=alpha, affine=affine, outlier_penalty=outlier_penalty,
        solver=solver, return_outliers=return_outliers,
    )


def _cvxpy_representation(X, *, alpha=20.0, affine=False, outlier_penalty=None, solver=None,
                          return_outliers=False):
    """:func:`self_representation_cvxpy` on a validated ``X``."""
    try:
        import cvxpy  # noqa: F401
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "solver='cvxpy' needs cvxpy: pip install 'subclust[cvx]'."
        ) from error
    X = X.astype(np.float64, copy=False)
    n, d = X.shape
    lam = _lasso_lambda(X, alpha)
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


def _is_dask_array(X):
    return type(X).__module__.startswith("dask.array")


def _resolve_backend(backend, X):
    """'local' or 'dask': None picks Dask for a dask array, the local threads otherwise."""
    if backend is None:
        return "dask" if _is_dask_array(X) else "local"
    return backend


def _dictionary(X, min_samples=2):
    """The validated dictionary as an ndarray (float32 kept).

    A dask array is computed first: every column block is solved against
    all samples, so each task needs the whole dictionary (N x D numbers, not
    N x N).
    """
    if _is_dask_array(X):
        X = X.compute()
    return _validate(X, min_samples)


def _block_bounds(n, block):
    return [(start, min(start + block, n)) for start in range(0, n, block)]


def _run_blocks(func, X, bounds, backend, **params):
    """``func(X, start, stop, **params)`` for every block of targets, in order.

    'local': blocks shared by threads, each with its share of the BLAS
    threads (:func:`subclust.utils.parallel.thread_map`), so that the arg-max and
    threshold passes over the correlations (not GEMMs) run in parallel too.
    'dask': one task per block (single-threaded BLAS, as Dask runs one task
    per worker thread) on the active ``dask.distributed`` client (``X``
    scattered to every worker once), or on Dask's default scheduler with
    ``X`` one key of the graph.
    """
    if backend == "dask":
        return _run_blocks_dask(func, X, bounds, params)
    return thread_map(lambda b: func(X, b[0], b[1], **params), bounds)


def _run_blocks_dask(func, X, bounds, params):
    try:
        import dask
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "backend='dask' needs dask: pip install 'subclust[distributed]'."
        ) from error
    client = _active_client()
    if client is not None:
        # A fresh key (hash=False): a key shared with an earlier call may be in release.
        [X_remote] = client.scatter([X], broadcast=True, hash=False)
        futures = [
            client.submit(_task, func, X_remote, start, stop, params, pure=False)
            for start, stop in bounds
        ]
        return client.gather(futures)
    X_node = dask.delayed(X, pure=True)
    tasks = [dask.delayed(_task, pure=True)(func, X_node, a, b, params) for a, b in bounds]
    return list(dask.compute(*tasks))


def _task(func, X, start, stop, params):
    """One block as a Dask task, with one BLAS thread: Dask runs a task per worker thread."""
    with blas_threads(1):
        return func(X, start, stop, **params)


def _active_client():
    """The default ``dask.distributed`` client, or None."""
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


def _assemble(blocks, n):
    """CSR matrix from per-block ``(rows, cols, values, n_iter)``, and the largest n_iter."""
    rows, cols, vals, n_iter = zip(*blocks)
    C = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
    return C, max(n_iter)


@validate_params(
    {
        "X": ["array-like"],
        "n_nonzero": [_POSITIVE_INT],
        "tol": [_NON_NEGATIVE],
        "batch_size": [_POSITIVE_INT, None],
        "backend": _BACKEND,
        "return_n_iter": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def self_representation_omp(
    X, *, n_nonzero=10, tol=1e-6, batch_size=None, backend=None, return_n_iter=False
):
    """Sparse self-representation by orthogonal matching pursuit (SSC-OMP).

    For every sample, atoms (other samples) are chosen greedily by their
    absolute correlation with the residual, and the coefficients are the
    least-squares fit on the chosen atoms; it stops after ``n_nonzero``
    atoms or when the residual norm falls below ``tol`` times the sample's
    norm (You, Robinson, Vidal, "Scalable Sparse Subspace Clustering by
    Orthogonal Matching Pursuit", CVPR 2016).

    The samples are solved in column blocks of ``batch_size`` targets, each
    against the whole dictionary: a block advances one greedy step per
    matrix product ``R X^T`` (in the precision of ``X``: float32 stays
    float32) and one batched small least-squares solve (float64). Memory is
    ``batch_size * n_samples`` correlations per block in flight, never
    ``n_samples^2``; blocks run in parallel threads or as Dask tasks.

    Parameters
    ----------
    X : array-like or dask array of shape (n_samples, n_features)
    n_nonzero : int, default=10
        Maximum number of nonzero coefficients per sample.
    tol : float, default=1e-6
        Relative residual at which a sample stops.
    batch_size : int, optional
        Targets per column block (default 1024).
    backend : {'local', 'dask'}, optional
        Where the blocks run: 'local' threads, or one Dask task per block
        (on the active ``dask.distributed`` client if there is one, which
        receives ``X`` once). Default: 'dask' for a dask array, else 'local'.
        The result does not depend on it.
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
    backend = _resolve_backend(backend, X)
    return _omp_representation(_dictionary(X), n_nonzero=n_nonzero, tol=tol,
                               batch_size=batch_size, backend=backend,
                               return_n_iter=return_n_iter)


def _omp_representation(X, *, n_nonzero=10, tol=1e-6, batch_size=None, backend="local",
                        return_n_iter=False):
    """:func:`self_representation_omp` on a validated ``X``."""
    n = X.shape[0]
    k = int(min(n_nonzero, n - 1))
    bounds = _block_bounds(n, batch_size or _BATCH)
    C, n_iter = _assemble(_run_blocks(_omp_block, X, bounds, backend, k=k, tol=tol), n)
    return (C, n_iter) if return_n_iter else C


def _omp_block(X, start, stop, *, k, tol):
    """OMP for the targets ``start:stop``: their nonzeros as (rows, cols, values, steps)."""
    n = X.shape[0]
    index = np.arange(start, stop)
    b = index.size
    targets = X[start:stop].astype(np.float64)
    target_norms = np.linalg.norm(targets, axis=1)
    support = np.zeros((b, k), dtype=np.intp)
    coef = np.zeros((b, k))
    n_atoms = np.zeros(b, dtype=np.intp)
    corr = np.empty((b, n), dtype=X.dtype)  # reused: fresh pages cost as much as the product
    R = targets.copy()
    active = np.arange(b)  # targets still growing their support
    steps = 0
    for t in range(k):
        a = active.size
        G = corr[:a]
        np.matmul(R[active].astype(X.dtype), X.T, out=G)
        rows = np.arange(a)
        G[rows, index[active]] = 0.0  # a sample never represents itself,
        G[rows[:, None], support[active, :t]] = 0.0  # nor uses an atom twice
        # arg max |G| from the arg max and arg min: two reads, no |G| written.
        high, low = G.argmax(axis=1), G.argmin(axis=1)
        pick = np.where(G[rows, high] >= -G[rows, low], high, low)
        # A residual orthogonal to every atom cannot improve: the target stops.
        useful = G[rows, pick] != 0
        active = active[useful]
        if active.size == 0:
            break
        support[active, t] = pick[useful]
        n_atoms[active] = t + 1
        steps = t + 1
        atoms = X[support[active, : t + 1]].astype(np.float64)  # (B, t+1, D)
        c = _small_least_squares(atoms, targets[active])
        coef[active, : t + 1] = c
        R[active] = targets[active] - np.einsum("bt,btd->bd", c, atoms)
        done = np.linalg.norm(R[active], axis=1) <= tol * target_norms[active]
        active = active[~done]
        if active.size == 0:
            break
    keep = (np.arange(k) < n_atoms[:, None]) & (coef != 0)
    return np.repeat(index, k)[keep.ravel()], support[keep], coef[keep], steps


@_single_threaded
def _small_least_squares(atoms, targets):
    """Least-squares coefficients of each target on its own few atoms (batched normal equations)."""
    G = np.einsum("btd,bsd->bts", atoms, atoms, optimize=True)
    q = np.einsum("btd,bd->bt", atoms, targets)
    # A tiny ridge keeps duplicated atoms solvable; it is far below any data scale.
    G += 1e-12 * np.trace(G, axis1=1, axis2=2)[:, None, None] * np.eye(G.shape[1])
    return np.linalg.solve(G, q[..., None])[..., 0]


@validate_params(
    {
        "X": ["array-like"],
        "alpha": [_ALPHA],
        "l1_ratio": [Interval(Real, 0, 1, closed="right")],
        "n_init_support": [_POSITIVE_INT],
        "max_support": [_POSITIVE_INT],
        "tol": [_NON_NEGATIVE],
        "max_outer": [_POSITIVE_INT],
        "max_sweeps": [_POSITIVE_INT],
        "batch_size": [_POSITIVE_INT, None],
        "backend": _BACKEND,
        "return_n_iter": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def self_representation_elastic_net(
    X, *, alpha=50.0, l1_ratio=0.9, n_init_support=40, max_support=100, tol=1e-6, max_outer=20,
    max_sweeps=200, batch_size=None, backend=None, return_n_iter=False,
):  # fmt: skip
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

    The samples are solved in column blocks of targets, each against the
    whole dictionary (blocks run in parallel threads or as Dask tasks). The
    optimality check of a block is one matrix product ``R X^T`` in the
    precision of ``X`` (float32 stays float32; the few correlations within
    rounding distance of the threshold are recomputed in float64), and the
    worst violators are found from a threshold, never by sorting ``n_samples``
    values. The restricted problems of a block are solved together: a
    primal-dual active-set (Newton) step from the previous solution, which
    settles most of them in a few small solves, and batched coordinate
    descent for the rest.

    Parameters
    ----------
    X : array-like or dask array of shape (n_samples, n_features)
    alpha : float, default=50
        Fit weight relative to the smallest giving a nonzero solution (> 1).
    l1_ratio : float in (0, 1], default=0.9
        ``tau``: 1 is the Lasso (SSC); smaller values connect more samples
        of the same subspace.
    n_init_support : int, default=40
        Initial support: the most correlated samples. The solution does not
        depend on it; a support close to the final one saves passes over the
        dictionary (at 100,000 points, 40 took a fifth less time than 10).
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
        Targets per column block (default: up to 1024, fewer when
        ``max_support * n_features`` is large).
    backend : {'local', 'dask'}, optional
        As in :func:`self_representation_omp`.
    return_n_iter : bool, default=False
        Also return the largest number of active-set iterations.

    Returns
    -------
    C, n_iter
        As in :func:`self_representation_omp`.

    Examples
    --------
    >>> from subclust.cluster import self_representation_elastic_net
    >>> from subclust.datasets import make_molrg
    >>> X, y, _ = make_molrg(n_samples=[30, 30], n_features=10, dims=2, random_state=0)
    >>> C, n_iter = self_representation_elastic_net(X, return_n_iter=True)
    >>> links_within_subspaces = y[C.nonzero()[0]] == y[C.nonzero()[1]]
    >>> bool(links_within_subspaces.all()), 1 <= n_iter <= 20
    (True, True)
    """
    backend = _resolve_backend(backend, X)
    return _elastic_net_representation(
        _dictionary(X), alpha=alpha, l1_ratio=l1_ratio, n_init_support=n_init_support,
        max_support=max_support, tol=tol, max_outer=max_outer, max_sweeps=max_sweeps,
        batch_size=batch_size, backend=backend, return_n_iter=return_n_iter,
    )


def _elastic_net_representation(X, *, alpha=50.0, l1_ratio=0.9, n_init_support=40,
                                max_support=100, tol=1e-6, max_outer=20, max_sweeps=200,
                                batch_size=None, backend="local", return_n_iter=False):
    """:func:`self_representation_elastic_net` on a validated ``X``."""
    n = X.shape[0]
    m = int(min(max_support, n - 1))
    m0 = int(min(n_init_support, m))
    # Each target of a block holds its (max_support x n_features) atoms: cap that memory.
    batch = batch_size or int(np.clip(2**25 // (m * X.shape[1]), 16, _BATCH))
    params = dict(
        alpha=float(alpha), tau=float(l1_ratio), m0=m0, m=m, tol=tol,
        max_outer=max_outer, max_sweeps=max_sweeps,
        x_norm=float(np.sqrt(np.einsum("ij,ij->i", X, X).max())),
    )
    blocks = _run_blocks(_elastic_net_block, X, _block_bounds(n, batch), backend, **params)
    C, n_iter = _assemble(blocks, n)
    return (C, n_iter) if return_n_iter else C


def _elastic_net_block(
    X, start, stop, *, alpha, tau, m0, m, tol, max_outer, max_sweeps, x_norm
):
    """Active-set elastic net for the targets ``start:stop``: (rows, cols, values, outer)."""
    n = X.shape[0]
    index = np.arange(start, stop)
    b = index.size
    targets = X[start:stop].astype(np.float64)
    corr = np.empty((b, n), dtype=X.dtype)  # reused by every pass of the block:
    mask = np.empty((b, n), dtype=bool)  # fresh pages cost as much as the product
    np.matmul(X[start:stop], X.T, out=corr)
    corr[np.arange(b), index] = 0.0
    gamma = alpha * tau / _block_max_correlations(X, targets, corr)
    support = np.full((b, m), -1, dtype=np.intp)
    coef = np.zeros((b, m))
    R = targets.copy()
    active = np.arange(b)
    outer = 0
    while True:
        # Optimality of the unrestricted problem: gamma |x_j . r| <= tau for every j.
        room = m0 if outer == 0 else m - (coef[active] != 0).sum(axis=1)
        new, n_new = _worst_violators(
            X, corr[: active.size], mask, R[active], gamma[active], tau, tol, room, x_norm
        )
        # Exact (no violator), or no room left for one (approximate): done.
        grow = n_new > 0
        if not grow.any() or outer == max_outer:
            break
        active, new, n_new = active[grow], new[grow], n_new[grow]
        support[active], coef[active] = _grow_support(support[active], coef[active], new, n_new)
        outer += 1
        # Small chunks: their (B, m, m) Gram matrices stay in cache and reuse memory.
        for chunk in np.array_split(active, -(-active.size // _SOLVE_BATCH)):
            coef[chunk] = _cd_batch(
                X, targets[chunk], support[chunk], gamma[chunk], tau, coef[chunk], tol, max_sweeps
            )
        R[active] = targets[active] - _combine(X, support[active], coef[active])
        valid = support[active] >= 0
        a = active.size
        np.matmul(R[active].astype(X.dtype), X.T, out=corr[:a])
        rows = np.arange(a)
        corr[rows, index[active]] = 0.0
        # Support atoms satisfy optimality through the restricted solve.
        corr[rows[:, None], np.where(valid, support[active], index[active, None])] = 0.0
    keep = (support >= 0) & (coef != 0)
    return np.repeat(index, m)[keep.ravel()], support[keep], coef[keep], outer


def _combine(X, support, coef):
    """``sum_s coef[:, s] x_{support[:, s]}`` in float64, one slot at a time (no (B, m, D) copy)."""
    out = np.zeros((support.shape[0], X.shape[1]))
    for s in range(support.shape[1]):
        used = np.flatnonzero((support[:, s] >= 0) & (coef[:, s] != 0))
        if used.size:
            out[used] += coef[used, s, None] * X[support[used, s]]
    return out


def _block_max_correlations(X, targets, corr):
    """``max_{j != i} |x_i . x_j|`` of a block: located in ``corr``, valued in float64."""
    rows = np.arange(len(targets))
    high, low = corr.argmax(axis=1), corr.argmin(axis=1)
    best = np.where(corr[rows, high] >= -corr[rows, low], high, low)
    mu = np.abs(np.einsum("bd,bd->b", targets, X[best].astype(np.float64)))
    if np.any(mu <= 0):
        raise ValueError(
            "A sample is orthogonal to every other sample, so it cannot be represented "
            "by them; remove it or add samples from its subspace."
        )
    return mu


def _rounding_bound(X, x_norm, R):
    """Bound on ``|fl(x_j . r_i) - x_j . r_i|`` for the products in the precision of ``X``.

    Rounding ``r_i`` to that precision and a dot product of ``D`` terms in
    any order err by at most ``(D + 1) u ||x_j|| ||r_i||`` (unit roundoff
    ``u``; Higham, "Accuracy and Stability of Numerical Algorithms", 2002,
    sec. 3.1); twice that, to be safe. Float64 products are taken as exact.
    """
    if X.dtype == np.float64:
        return np.zeros(len(R))
    u = np.finfo(X.dtype).eps / 2
    return 2 * (X.shape[1] + 1) * u * x_norm * np.linalg.norm(R, axis=1)


def _worst_violators(X, corr, mask, R, gamma, tau, tol, room, x_norm):
    """The worst violators of optimality of each target, up to ``room`` of them.

    ``corr`` holds ``x_j . r_i`` (excluded atoms set to zero) and is
    overwritten by its absolute value; ``mask`` is a boolean buffer of its
    size. Candidates are the entries above ``max(threshold, t_i)`` where
    ``t_i``, read from a strided sample of the row, is near its
    ``3 room``-th largest value: the candidates stay few without sorting
    ``n_samples`` values per target. Float32 products within rounding
    distance of the threshold are recomputed in float64, so the decision
    is that of exact products.

    Returns
    -------
    new : ndarray of shape (n_targets, max room)
        New atoms, worst first, padded with -1.
    n_new : ndarray of shape (n_targets,)
    """
    a, n = corr.shape
    room = np.broadcast_to(np.asarray(room, dtype=np.intp), (a,))
    width = int(room.max(initial=0))
    np.abs(corr, out=corr)
    exact = (tau * (1 + tol) + 1e-12) / gamma  # violation: |x_j . r_i| > exact_i
    slack = _rounding_bound(X, x_norm, R)
    threshold = exact - slack
    if width > 0:
        # The k-th largest entry of every s-th column is about the (k s)-th largest of
        # the row: with k s = 3 room and k up to 16, a row has fewer than ``room``
        # entries above it only if k of its top ``room`` fall in the sample (rare),
        # and never none.
        kth = min(width, 16)
        stride = max(1, 3 * width // kth)
        sample = corr[:, ::stride]
        kth = min(kth, sample.shape[1])
        top = np.partition(sample, sample.shape[1] - kth, axis=1)[:, -kth]
        threshold = np.maximum(threshold, top)
    mask = mask[:a]
    np.greater_equal(corr, threshold[:, None], out=mask)
    hits = np.flatnonzero(mask)
    rows, cols = np.divmod(hits, n)
    values = corr.ravel()[hits].astype(np.float64)
    # Near the threshold, rounding decides: recompute those in float64.
    doubt = values <= exact[rows] + slack[rows]
    if doubt.any():
        values[doubt] = np.abs(
            np.einsum("bd,bd->b", R[rows[doubt]], X[cols[doubt]].astype(np.float64))
        )
    real = values > exact[rows]
    rows, cols, values = rows[real], cols[real], values[real]
    # Rank within each row, worst first; keep up to the row's room.
    order = np.lexsort((-values, rows))
    rows, cols = rows[order], cols[order]
    first = np.searchsorted(rows, np.arange(a))
    rank = np.arange(rows.size) - first[rows]
    take = rank < room[rows]
    new = np.full((a, max(width, 1)), -1, dtype=np.intp)
    new[rows[take], rank[take]] = cols[take]
    return new, np.bincount(rows[take], minlength=a).astype(np.intp)


def _grow_support(support, coef, new, n_new):
    """Keep the nonzero coefficients (packed left), then append the new atoms with zeros."""
    m = support.shape[1]
    keep = (support >= 0) & (coef != 0)
    order = np.argsort(~keep, axis=1, kind="stable")
    support = np.take_along_axis(support, order, axis=1)
    coef = np.take_along_axis(coef, order, axis=1)
    kept = keep.sum(axis=1)
    slots = np.arange(m)
    support[slots >= kept[:, None]] = -1
    coef[slots >= kept[:, None]] = 0.0
    rows, rank = np.nonzero(np.arange(new.shape[1]) < n_new[:, None])
    support[rows, kept[rows] + rank] = new[rows, rank]
    return support, coef


@_single_threaded
def _cd_batch(X, targets, support, gamma, tau, coef, tol, max_sweeps, polish_every=5):
    """Exact solutions of the restricted elastic nets of a batch, solved together.

    Sample ``b`` minimizes ``tau |c|_1 + (1-tau)/2 |c|^2 + gamma_b/2 (c'Gc - 2 q'c)``
    over the slots of its support (padding slots are pinned at zero).
    A polishing step first solves the optimality equations
    ``(gamma G_AA + (1-tau) I) c_A = gamma q_A - tau sign(c_A)`` from the
    nonzero set ``A`` of the warm start, adjusting ``A`` while that makes
    progress, and keeps the result of every sample where it satisfies all
    optimality conditions: such samples are solved exactly and leave the batch.
    Coordinate descent, one coordinate of every remaining sample per vector
    operation, then finds their signs, polished again every few sweeps.
    """
    # Supports are packed to the left: work on the used width only.
    width = max(1, int((support >= 0).sum(axis=1).max()))
    support = support[:, :width]
    valid = support >= 0
    atoms = X[np.where(valid, support, 0)].astype(np.float64)
    atoms[~valid] = 0.0  # zero rows as padding
    G = np.matmul(atoms, atoms.transpose(0, 2, 1))  # (B, m, m)
    q = np.einsum("bmd,bd->bm", atoms, targets)
    out = np.zeros_like(coef)
    out[:, :width] = coef[:, :width] * valid
    rows = np.arange(len(targets))
    c, g, v = out[:, :width].copy(), gamma.copy(), valid
    done_sweeps, step = 0, polish_every
    while True:
        polished, ok = _polish(G, q, g, tau, c, v, tol)
        out[rows[ok], :width] = polished[ok]
        keep = ~ok
        if not keep.any() or done_sweeps >= max_sweeps:
            out[rows[keep], :width] = c[keep]
            break
        rows, G, q, g, c, v = rows[keep], G[keep], q[keep], g[keep], c[keep], v[keep]
        c = _cd_sweeps(G, q, g, tau, c, v, step, tol)
        done_sweeps += step
        step *= 2  # polish after 5, 15, 35, ... sweeps: few solves once signs are settled
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


def _polish(G, q, gamma, tau, c, valid, tol, patience=3, max_halvings=30):
    """Solve the optimality equations on a guessed nonzero set; report where they hold.

    Primal-dual active-set steps from ``c``: the set and signs read from the
    gradient at the iterate ``z``, the equations solved on that set (``x``),
    which is optimal where no sign flipped and no coordinate off the set
    violates optimality. The step ``z -> x`` is the semismooth Newton step of
    the dual, which is concave in ``z``; it is shortened (Armijo) until the
    dual does not fall, since full steps can cycle where a support holds more
    atoms than the data have dimensions. A sample leaves as soon as ``x`` is
    optimal, or once ``patience`` steps in a row have not lowered its fewest
    violated conditions (the guard of block principal pivoting, Kim and
    Park, SIAM J. Sci. Comput. 33, 2011); coordinate descent takes the rest.
    On the 8x8 digits at alpha=200 the elastic net took 39-46 s with at most
    10 full steps before, 7-8 s now.
    """
    solved, ok = c.copy(), np.zeros(len(c), dtype=bool)
    todo = np.arange(len(c))
    z = c * valid
    Gz = np.matmul(G, z[..., None])[..., 0]  # the products follow z's steps: no new ones
    fewest = np.full(len(c), np.iinfo(np.intp).max)
    stalled = np.zeros(len(c), dtype=np.intp)
    while todo.size:
        g = gamma[:, None]
        v = g * (q - Gz)
        active = (np.abs(v) > tau) & valid
        signs = np.sign(v)
        rhs = np.where(active, g * q - tau * signs, 0.0)
        try:
            x = _solve_on_sets(G, gamma, tau, rhs, active)
        except np.linalg.LinAlgError:
            break
        solved[todo] = x
        # Optimality: signs kept on the active set, |gamma (q - G c)_j| <= tau off it.
        flipped = active & (np.sign(x) != signs)
        Gx = np.matmul(G, x[..., None])[..., 0]
        gradient = g * (q - Gx)
        violated = ~active & valid & (np.abs(gradient) > tau * (1 + tol) + 1e-12)
        n_wrong = (flipped | violated).sum(axis=1)
        ok[todo[n_wrong == 0]] = True
        stalled = np.where(n_wrong < fewest, 0, stalled + 1)
        fewest = np.minimum(fewest, n_wrong)
        go_on = (n_wrong > 0) & (stalled < patience)
        t = _damped_step(q, gamma, tau, z, Gz, x, Gx, go_on, max_halvings)[:, None]
        z, Gz = z + t * (x - z), Gz + t * (Gx - Gz)
        G, q, gamma, valid = G[go_on], q[go_on], gamma[go_on], valid[go_on]
        todo, z, Gz = todo[go_on], z[go_on], Gz[go_on]
        fewest, stalled = fewest[go_on], stalled[go_on]
    return solved, ok


def _dual_objective(q, gamma, tau, z, Gz):
    """The elastic-net dual at ``u = gamma (x - A z)``, up to a constant of each sample."""
    v = gamma[:, None] * (q - Gz)
    s = np.maximum(np.abs(v) - tau, 0.0)
    return -0.5 * gamma * np.einsum("bi,bi->b", z, Gz) - np.einsum("bi,bi->b", s, s) / (2 - 2 * tau)


def _damped_step(q, gamma, tau, z, Gz, x, Gx, moving, max_halvings):
    """Step ``t`` toward ``x``, halved from 1 where the dual would fall (samples ``moving``)."""
    start = _dual_objective(q, gamma, tau, z, Gz)
    t = np.ones(len(z))
    value = _dual_objective(q, gamma, tau, x, Gx)
    for _ in range(max_halvings):
        short = moving & (value < start - 1e-14 * np.abs(start))
        if not short.any():
            break
        t[short] /= 2
        ts = t[short, None]
        value[short] = _dual_objective(
            q[short], gamma[short], tau,
            z[short] + ts * (x[short] - z[short]), Gz[short] + ts * (Gx[short] - Gz[short]),
        )
    return t


def _solve_on_sets(G, gamma, tau, rhs, active):
    """Solve ``(gamma G_AA + (1 - tau) I) x_A = rhs_A`` on the set ``A`` of each sample.

    The active slots are packed to the left, to the largest set size of the
    batch, so the batched solve costs (set size)^3, not (support width)^3;
    ``x`` is zero off the set.
    """
    counts = active.sum(axis=1)
    w = max(1, int(counts.max(initial=0)))
    order = np.argsort(~active, axis=1, kind="stable")[:, :w]
    inside = np.arange(w) < counts[:, None]
    A = G[np.arange(len(G))[:, None, None], order[:, :, None], order[:, None, :]]
    A *= gamma[:, None, None] * (inside[:, :, None] & inside[:, None, :])
    diag = np.arange(w)
    A[:, diag, diag] += np.where(inside, 1 - tau, 1.0)  # identity on the padding
    b = np.take_along_axis(rhs, order, axis=1) * inside
    x = np.linalg.solve(A, b[..., None])[..., 0]
    out = np.zeros_like(rhs)
    np.put_along_axis(out, order, x * inside, axis=1)
    return out


@validate_params(
    {
        "X": ["array-like"],
        "solver": [StrOptions({"admm", "cvxpy", "omp", "elastic_net"})],
    },
    # The solver validates ``params``.
    prefer_skip_nested_validation=False,
)
def sparse_self_representation(X, *, solver="elastic_net", **params):
    """Sparse self-representation ``X ~ C X`` with ``diag(C) = 0``.

    Parameters
    ----------
    X : array-like or dask array of shape (n_samples, n_features)
    solver : {'admm', 'cvxpy', 'omp', 'elastic_net'}, default='elastic_net'
        'admm' and 'cvxpy' solve the Lasso problem of SSC (N x N memory),
        'omp' the greedy l0 problem, 'elastic_net' EnSC with an active set
        (memory linear in the number of samples). 'omp' and 'elastic_net'
        solve column blocks of targets independently, in threads or as Dask
        tasks (``backend``, 'dask' by default for a dask array).
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
    return solvers[solver](X, **params)


#: The solvers' kernels, for callers whose ``X`` is validated already (an estimator's fit).
_KERNELS = {
    "admm": _admm_representation,
    "cvxpy": _cvxpy_representation,
    "omp": _omp_representation,
    "elastic_net": _elastic_net_representation,
}
