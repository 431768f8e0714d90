r"""Local bases of a denoiser: the singular vectors of its Jacobian ``d x_theta / d x_t``.

For the exact denoiser of a mixture of low-rank Gaussians near component
``k`` (its posterior weight close to 1) the Jacobian is
``c_t U_k U_k^T`` with ``c_t = s / (s^2 + g^2)``: rank ``d_k``, its top
singular vectors span ``U_k``. In general the Jacobian of a posterior mean
is ``(s / g^2) Cov[x_0 | x_t]``, symmetric and positive semi-definite, and
the Jacobian of a trained denoiser is found to be low-rank at moderate noise
(the rank against the noise level is U-shaped: Wang et al., arXiv:2409.02426;
Chen et al., "Exploring Low-Dimensional Subspaces in Diffusion Models for
Controllable Image Editing", NeurIPS 2024, arXiv:2409.02374),
its top singular vectors spanning the local subspace of the data.

Two ways to get the singular vectors, both from automatic differentiation
of a denoiser that treats every row of a batch on its own (MLPs, the exact
denoisers, :class:`~subclust.diffusion.unet.UNetDenoiser`; not batch norm):

- ``'full'``: the whole ``n x n`` Jacobian from ``n`` vector-Jacobian
  products ``J^T e_j`` (reverse mode, batched over copies of ``x``), then an
  SVD. Exact, and needed for the numerical rank, whose energy is a fraction
  of ``||J||_F``.
- ``'randomized'``: randomized subspace iteration (Halko, Martinsson, Tropp,
  SIAM Review 53(2), 2011, algorithms 4.4 and 5.1) with ``rank +
  oversample`` Gaussian probes: ``Y = J Omega`` by Jacobian-vector products
  (forward mode), ``n_iter`` rounds of ``Q <- qr(J qr(J^T Q))``, then the SVD
  of the small ``B = Q^T J``. About ``2 (n_iter + 1) (rank + oversample)``
  products instead of ``n``. ``||J||_F^2`` is estimated from the first
  sketch (``E ||J omega||^2 = ||J||_F^2`` for a standard Gaussian ``omega``),
  so the numerical rank is estimated too, and capped at ``rank``.
"""

import numbers
from dataclasses import dataclass, field

import numpy as np

from subclust.subspace import numerical_rank
from subclust.utils.tables import Table
from subclust.utils.validation import Interval, StrOptions, TORCH_RANDOM_STATE, validate_params

__all__ = [
    "JacobianBasis", "RankProfile", "denoise_rows", "jacobian_basis", "jacobian_matrix",
    "rank_profile",
]  # fmt: skip

METHODS = ("auto", "full", "randomized")

# Largest n for which 'auto' takes the full Jacobian when a rank is given.
_FULL_MAX_FEATURES = 1024


def _torch():
    try:
        import torch
    except ImportError as error:  # pragma: no cover - exercised without the extra
        raise ImportError(
            f"Jacobians need PyTorch ({error}). Install the extra: "
            'pip install "subclust[diffusion]"'
        ) from error
    return torch


@dataclass
class JacobianBasis:
    """Top singular triplets of a denoiser's Jacobian at one point and time.

    Attributes
    ----------
    singular_values : ndarray of shape (k,)
        Decreasing.
    right_vectors : ndarray of shape (n_features, k)
        Input directions ``v_i`` (moving ``x_t`` along ``v_i`` moves the
        output along ``s_i u_i``).
    left_vectors : ndarray of shape (n_features, k)
        Output directions ``u_i``.
    rank : int
        Numerical rank: the smallest ``r`` with
        ``sqrt(sum_{i<=r} s_i^2) > energy ||J||_F``
        (:func:`subclust.subspace.numerical_rank`); for ``'randomized'`` an
        estimate, at most ``k``.
    frobenius_norm : float
        ``||J||_F`` (exact for ``'full'``, estimated for ``'randomized'``).
    t : float
        Time at which the Jacobian was taken.
    method : str
        ``'full'`` or ``'randomized'``.
    energy : float
        Energy of the numerical rank.
    """

    singular_values: np.ndarray
    right_vectors: np.ndarray = field(repr=False)
    left_vectors: np.ndarray = field(repr=False)
    rank: int
    frobenius_norm: float
    t: float
    method: str
    energy: float = 0.99

    @property
    def basis(self):
        """The right singular vectors of the numerical rank: ``right_vectors[:, :rank]``."""
        return self.right_vectors[:, : self.rank]

    def top(self, r):
        """The top ``r`` right singular vectors, shape ``(n_features, r)``."""
        if r > self.right_vectors.shape[1]:
            raise ValueError(
                f"Only {self.right_vectors.shape[1]} singular vectors were computed; "
                f"ask jacobian_basis for rank >= {r}."
            )
        return self.right_vectors[:, :r]


# --------------------------------------------------------------------------- products


def _as_points(denoiser, X):
    """``X`` as a float tensor (B, n) in the dtype of the denoiser, and whether it was 1-D."""
    torch = _torch()
    single = False
    if isinstance(X, torch.Tensor):
        T = X.detach()
    else:
        T = torch.as_tensor(np.asarray(X))
    if T.ndim == 1:
        T, single = T[None], True
    if T.ndim != 2 or T.shape[0] == 0 or T.shape[1] == 0:
        raise ValueError(
            f"x must be one point (n_features,) or points as rows (n_points, n_features), "
            f"got shape {tuple(T.shape)}."
        )
    param = next(iter(getattr(denoiser, "parameters", lambda: iter(()))()), None)
    dtype = param.dtype if param is not None else (
        T.dtype if T.is_floating_point() else torch.float64
    )
    if not T.is_floating_point() or T.dtype != dtype:
        T = T.to(dtype)
    if not bool(torch.isfinite(T).all()):
        raise ValueError("x contains NaN or infinity.")
    n_features = getattr(denoiser, "n_features", None)
    if n_features is not None and T.shape[1] != n_features:
        raise ValueError(
            f"x has {T.shape[1]} features but the denoiser takes n_features={n_features}."
        )
    return T, single


@validate_params(
    {
        "denoiser": [callable],
        "X": ["array-like"],
        "t": [Interval(numbers.Real, 0, None, closed="neither")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def denoise_rows(denoiser, X, t, batch_size=256):
    """``denoiser(x_t, t)`` on the rows of ``X`` in batches, without gradients, as float64 numpy."""
    torch = _torch()
    X, _ = _as_points(denoiser, X)
    out = []
    with torch.no_grad():
        for start in range(0, X.shape[0], batch_size):
            chunk = X[start:start + batch_size]
            tt = torch.full((chunk.shape[0],), float(t), dtype=torch.float64)
            out.append(denoiser(chunk, tt).double().numpy())
    return np.concatenate(out)


class _Products:
    """Jacobian products ``J_i V_i`` and ``J_i^T V_i`` at points ``x_i``, batched over copies.

    ``V`` has shape (B, n, m): ``m`` vectors for each of ``B`` points. The
    ``B m`` copies of the points run through the denoiser in chunks of at
    most ``batch_size`` rows; rows are independent, so row ``(i, j)`` of the
    product is ``J_i v_ij``.
    """

    def __init__(self, denoiser, X, t, batch_size):
        torch = _torch()
        self.torch, self.denoiser, self.X, self.t = torch, denoiser, X, t
        self.batch_size = batch_size

    def _apply(self, V, mode):
        torch = self.torch
        B, n, m = V.shape
        rows = V.permute(0, 2, 1).reshape(B * m, n)
        points = self.X.repeat_interleave(m, dim=0)
        out = torch.empty_like(rows)
        for start in range(0, B * m, self.batch_size):
            stop = min(start + self.batch_size, B * m)
            t = torch.full((stop - start,), self.t, dtype=torch.float64)

            Z = points[start:stop]
            if mode == "jvp":
                # Forward mode through dual numbers (torch.func would import torch._dynamo).
                with torch.autograd.forward_ad.dual_level():
                    dual = torch.autograd.forward_ad.make_dual(Z, rows[start:stop])
                    tangent = torch.autograd.forward_ad.unpack_dual(self._denoise(dual, t)).tangent
                out[start:stop] = tangent if tangent is not None else 0.0
            else:
                with torch.enable_grad():
                    Z = Z.detach().requires_grad_(True)
                    (grad,) = torch.autograd.grad(self._denoise(Z, t), Z, rows[start:stop],
                                                  allow_unused=True)
                out[start:stop] = grad if grad is not None else 0.0
        return out.reshape(B, m, n).permute(0, 2, 1)

    def _denoise(self, Z, t):
        denoised = self.denoiser(Z, t)
        shape = tuple(getattr(denoised, "shape", ()))
        if shape != tuple(Z.shape):
            raise ValueError(
                f"The denoiser returned shape {shape} for inputs of shape {tuple(Z.shape)}; it "
                "must return a tensor of the inputs' shape, one denoised sample per row."
            )
        return denoised

    def J(self, V):
        return self._apply(V, "jvp")

    def JT(self, V):
        return self._apply(V, "vjp")


def _orthonormal(Y):
    return _torch().linalg.qr(Y)[0]


def _full(products, n):
    """The full Jacobians (B, n, n) from n vector-Jacobian products each: rows ``e_j^T J``."""
    torch = products.torch
    B = products.X.shape[0]
    eye = torch.eye(n, dtype=products.X.dtype).expand(B, n, n)
    return products.JT(eye).transpose(1, 2)  # column j of J^T e_j is row j of J


def _randomized(products, n, k, oversample, n_iter, generator):
    torch = products.torch
    B = products.X.shape[0]
    m = min(k + oversample, n)
    Omega = torch.randn(B, n, m, generator=generator, dtype=torch.float64).to(products.X.dtype)
    Y = products.J(Omega)
    frobenius_sq = (Y**2).sum(dim=(1, 2)) / m
    Q = _orthonormal(Y)
    for _ in range(n_iter):
        Q = _orthonormal(products.J(_orthonormal(products.JT(Q))))
    Bt = products.JT(Q)  # (B, n, m) = J^T Q = B^T
    W, S, Zh = torch.linalg.svd(Bt, full_matrices=False)  # B^T = W S Z^T, so B = Z S W^T
    left = Q @ Zh.transpose(1, 2)  # U = Q Z
    return S[:, :k], W[:, :, :k], left[:, :, :k], torch.sqrt(frobenius_sq)


@validate_params(
    {
        "denoiser": [callable],
        "x": ["array-like"],
        "t": [Interval(numbers.Real, 0, None, closed="neither")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def jacobian_matrix(denoiser, x, t, batch_size=256):
    """The full Jacobian ``d x_theta / d x_t`` at ``x`` (``n`` vector-Jacobian products).

    Parameters
    ----------
    denoiser : callable ``denoiser(x_t, t) -> x0_hat``
        A torch module or function on rows ``(batch, n_features)`` that
        treats every row on its own.
    x : array-like of shape (n_features,) or (n_points, n_features)
    t : float
    batch_size : int, default=256
        Rows per pass through the denoiser.

    Returns
    -------
    J : ndarray of shape (n_features, n_features), or (n_points, n, n)
        ``J[i, j] = d x0_hat_i / d x_t_j``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from subclust.bridge import jacobian_matrix
    >>> J = jacobian_matrix(lambda z, t: 2 * z, np.ones(3), 0.5)
    >>> np.allclose(J, 2 * np.eye(3))
    True
    """
    torch = _torch()
    X, single = _as_points(denoiser, x)
    products = _Products(denoiser, X, float(t), batch_size)
    with torch.no_grad():
        J = _full(products, X.shape[1]).double().numpy()
    return J[0] if single else J


@validate_params(
    {
        "denoiser": [callable],
        "x": ["array-like"],
        "t": [Interval(numbers.Real, 0, None, closed="neither")],
        "rank": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "method": [StrOptions(set(METHODS))],
        "energy": [Interval(numbers.Real, 0, 1, closed="right")],
        "oversample": [Interval(numbers.Integral, 0, None, closed="left")],
        "n_iter": [Interval(numbers.Integral, 0, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": TORCH_RANDOM_STATE,
    },
    prefer_skip_nested_validation=True,
)
def jacobian_basis(
    denoiser, x, t, rank=None, method="auto", energy=0.99, oversample=10, n_iter=1,
    batch_size=256, random_state=None,
):  # fmt: skip
    """Top singular vectors and values of a denoiser's Jacobian, and its numerical rank.

    Parameters
    ----------
    denoiser : callable ``denoiser(x_t, t) -> x0_hat``
        A torch module or function on rows ``(batch, n_features)`` that
        treats every row on its own (no batch normalization). Image
        denoisers taking flat rows (as :class:`~subclust.diffusion.unet.UNetDenoiser`) qualify.
    x : array-like or tensor of shape (n_features,) or (n_points, n_features)
        The noisy point(s) ``x_t``.
    t : float
        Time of the denoiser's schedule.
    rank : int, optional
        How many singular triplets to return. Default: the numerical rank
        (needs the full Jacobian).
    method : {'auto', 'full', 'randomized'}, default='auto'
        'auto' is 'full' when ``rank`` is None or ``n_features <= 1024``,
        else 'randomized' (see the module docstring).
    energy : float in (0, 1], default=0.99
        Energy of the numerical rank.
    oversample : int, default=10
        Extra probes of 'randomized'.
    n_iter : int, default=1
        Power iterations of 'randomized' (each costs one more ``J`` and ``J^T`` pass).
    batch_size : int, default=256
        Rows per pass through the denoiser.
    random_state : int, torch.Generator or None, default=None
        Randomness of the probes of 'randomized'.

    Returns
    -------
    basis : JacobianBasis, or list of JacobianBasis (one per row of ``x``)

    Examples
    --------
    >>> import numpy as np, torch
    >>> from subclust.bridge import jacobian_basis
    >>> P = torch.diag(torch.tensor([3.0, 1.0, 0.0, 0.0], dtype=torch.float64))
    >>> jb = jacobian_basis(lambda z, t: z @ P, np.ones(4), 0.5)
    >>> jb.rank, np.round(jb.singular_values, 6).tolist()
    (2, [3.0, 1.0])
    """
    torch = _torch()
    from subclust.diffusion import as_generator

    X, single = _as_points(denoiser, x)
    n = X.shape[1]
    if rank is not None and rank > n:
        raise ValueError(f"rank={rank} exceeds n_features={n}; give rank <= {n} or None.")
    if method == "auto":
        method = "full" if rank is None or n <= _FULL_MAX_FEATURES else "randomized"
    if method == "randomized" and rank is None:
        raise ValueError(
            "method='randomized' needs rank (how many singular vectors); the numerical "
            "rank over the whole spectrum needs method='full'."
        )
    t = float(t)
    products = _Products(denoiser, X, t, batch_size)
    with torch.no_grad():
        if method == "full":
            U, S, Vh = torch.linalg.svd(_full(products, n).double())
            V, frobenius = Vh.transpose(1, 2), torch.sqrt((S**2).sum(1))
        else:
            S, V, U, frobenius = _randomized(
                products, n, rank, oversample, n_iter, as_generator(random_state)
            )
    S, U, V, frobenius = (a.double().numpy() for a in (S, U, V, frobenius))
    results = []
    for i in range(X.shape[0]):
        ranks = _rank(S[i], frobenius[i], energy)
        k = ranks if rank is None else rank
        results.append(JacobianBasis(
            singular_values=S[i, :k], right_vectors=V[i, :, :k], left_vectors=U[i, :, :k],
            rank=ranks, frobenius_norm=float(frobenius[i]), t=t, method=method, energy=energy,
        ))
    return results[0] if single else results


def _rank(singular_values, frobenius, energy):
    """Numerical rank against a (possibly estimated) ``||J||_F``, capped at the values given."""
    s = np.asarray(singular_values, dtype=np.float64)
    if frobenius <= 0 or s.size == 0:
        return 0
    if frobenius**2 <= float(np.sum(s**2)) * (1 + 1e-9):  # the whole spectrum is here
        return numerical_rank(s, energy)
    above = np.nonzero(np.sqrt(np.cumsum(s**2)) > energy * frobenius)[0]
    return int(above[0] + 1) if above.size else int(s.size)


# --------------------------------------------------------------------------- rank profile


@dataclass
class RankProfile:
    """Numerical rank of the Jacobian against the noise level.

    Attributes
    ----------
    ts : ndarray of shape (T,)
    sigmas : ndarray of shape (T,)
        Noise level ``g(t) / s(t)`` of each time (NaN if the denoiser has no schedule).
    ranks : ndarray of int of shape (n_points, T)
    n_features : int
    energy : float
    """

    ts: np.ndarray
    sigmas: np.ndarray
    ranks: np.ndarray
    n_features: int
    energy: float = 0.99

    @property
    def relative_ranks(self):
        """``ranks / n_features``, shape (n_points, T)."""
        return self.ranks / self.n_features

    @property
    def minimum(self):
        """The time and noise level of the lowest mean rank: ``(t, sigma, mean rank / n)``."""
        mean = self.relative_ranks.mean(0)
        j = int(np.argmin(mean))
        return float(self.ts[j]), float(self.sigmas[j]), float(mean[j])

    @property
    def is_u_shaped(self):
        """Whether the mean rank is higher at both ends of the sweep than at its minimum."""
        mean = self.relative_ranks.mean(0)
        j = int(np.argmin(mean))
        return bool(0 < j < len(mean) - 1 and mean[0] > mean[j] and mean[-1] > mean[j])

    def table(self):
        table = Table(
            title=f"Numerical rank ({self.energy:g} energy) of the Jacobian against noise"
        )
        for j, (t, sigma) in enumerate(zip(self.ts, self.sigmas)):
            ranks = self.ranks[:, j]
            table.add_row(
                t=float(t), sigma=float(sigma), mean_rank=float(ranks.mean()),
                min_rank=int(ranks.min()), max_rank=int(ranks.max()),
                rank_over_n=float(ranks.mean() / self.n_features),
            )
        t, sigma, low = self.minimum
        table.notes.append(
            f"lowest mean rank/n = {low:.4f} at t = {t:.3g} (sigma = {sigma:.3g}); "
            f"U-shaped: {self.is_u_shaped}"
        )
        return table

    def __str__(self):
        return str(self.table())

    def plot(self, ax=None):
        """Rank / n against the noise level (log axis), mean and range over the points.

        Returns
        -------
        figure : matplotlib.figure.Figure
        """
        from matplotlib.figure import Figure

        fig = None
        if ax is None:
            fig = Figure(figsize=(5, 3.5), layout="constrained")
            ax = fig.subplots()
        x = self.sigmas if np.all(np.isfinite(self.sigmas)) else self.ts
        rel = self.relative_ranks
        ax.fill_between(x, rel.min(0), rel.max(0), alpha=0.25, label="range over points")
        ax.plot(x, rel.mean(0), "o-", label="mean")
        ax.set_xscale("log")
        ax.set(xlabel="noise level sigma = g/s" if x is self.sigmas else "t",
               ylabel="numerical rank / n", title="Jacobian rank against noise")
        ax.legend(fontsize="small")
        return fig if fig is not None else ax.figure


@validate_params(
    {
        "denoiser": [callable],
        "X": ["array-like", callable],
        "ts": ["array-like"],
        "energy": [Interval(numbers.Real, 0, 1, closed="right")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def rank_profile(denoiser, X, ts, energy=0.99, batch_size=256):
    """Numerical rank of the full Jacobian at every point of ``X`` and every time of ``ts``.

    Parameters
    ----------
    denoiser : callable ``denoiser(x_t, t)``
        See :func:`jacobian_basis`; its ``schedule`` attribute (if any) gives the noise levels.
    X : array-like of shape (n_points, n_features), or callable ``X(t) -> points``
        The points ``x_t`` at which the Jacobian is taken: the same for every
        time, or (a callable) the points for each time, e.g. clean data noised
        to that time's level, ``s(t) x_0 + g(t) eps``.
    ts : sequence of float
        Times of the denoiser's schedule.
    energy : float, default=0.99
    batch_size : int, default=256

    Returns
    -------
    profile : RankProfile

    Examples
    --------
    >>> import numpy as np, torch
    >>> from subclust.bridge import rank_profile
    >>> P = torch.diag(torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=torch.float64))
    >>> rank_profile(lambda z, t: z @ P, np.ones((2, 4)), [0.1, 0.5]).ranks.tolist()
    [[2, 2], [2, 2]]
    """
    ts = np.asarray(ts, dtype=np.float64).reshape(-1)
    if ts.size == 0:
        raise ValueError("ts must hold at least one time.")
    schedule = getattr(denoiser, "schedule", None)
    sigmas = (
        np.array([float(schedule.sigma(float(t))) for t in ts]) if schedule is not None
        else np.full(ts.shape, np.nan)
    )
    columns = []
    n_features = None
    for t in ts:
        points = X(float(t)) if callable(X) else X
        bases = jacobian_basis(denoiser, points, float(t), method="full", energy=energy,
                               batch_size=batch_size)
        bases = bases if isinstance(bases, list) else [bases]
        n_features = bases[0].right_vectors.shape[0]
        columns.append([b.rank for b in bases])
    return RankProfile(ts=ts, sigmas=sigmas, ranks=np.array(columns, dtype=int).T,
                       n_features=n_features, energy=energy)
