r"""Exact posterior-mean denoisers and scores of Gaussian mixtures, and the memorizing denoiser.

For data ``x_0`` and the forward process ``x_t = s x_0 + g eps`` the optimal
denoiser (in mean squared error) is the posterior mean ``E[x_0 | x_t]``, and
Tweedie's formula gives the score of the noisy density,

    grad log p_t(x_t) = (s E[x_0 | x_t] - x_t) / g^2.

Mixture of low-rank Gaussians (MoLRG; Wang et al., arXiv:2409.02426). With
probability ``pi_k``, ``x_0 = mu_k + U_k a + sigma_0 e`` with ``U_k`` an
``n x d_k`` orthonormal basis, ``a ~ N(0, diag(lambda_k))``, ``e ~ N(0, I_n)``
(the paper's model has ``mu_k = 0``, ``lambda_k = 1``, ``sigma_0 = 0``). Given
``k``, ``x_t ~ N(s mu_k, s^2 (U_k Lambda_k U_k^T + sigma_0^2 I) + g^2 I)``,
whose covariance has eigenvalues ``v_kj = s^2 (lambda_kj + sigma_0^2) + g^2``
on ``span(U_k)`` and ``tau^2 = s^2 sigma_0^2 + g^2`` off it. With
``y_k = x_t - s mu_k`` and ``p_k = U_k^T y_k``:

    E[x_0 | x_t, k] = mu_k + U_k diag(s (lambda_kj + sigma_0^2) / v_kj) p_k
                      + (s sigma_0^2 / tau^2) (y_k - U_k p_k)
    E[x_0 | x_t]    = sum_k w_k(x_t) E[x_0 | x_t, k]
    w_k             = softmax_k(l_k)
    l_k             = log pi_k - 1/2 sum_j log v_kj - (n - d_k)/2 log tau^2
                      + 1/2 sum_j s^2 lambda_kj p_kj^2 / (tau^2 v_kj)
                      + (s x_t.mu_k - s^2 ||mu_k||^2 / 2) / tau^2
    log p_t(x_t)    = logsumexp_k(l_k) - ||x_t||^2 / (2 tau^2) - (n/2) log(2 pi)

The logits ``l_k`` drop the term ``-||x_t||^2 / (2 tau^2)`` shared by every
component, so no large numbers cancel. For the paper's model they reduce to
the formula of the paper (Wang et al., arXiv:2409.02426):
``E[x_0 | x_t] = sum_k w_k c_t U_k U_k^T x_t``, ``c_t = s / (s^2 + g^2)``,
``w_k = softmax(log pi_k - (d_k/2) log((s^2 + g^2) / g^2)
+ s^2 ||U_k^T x_t||^2 / (2 g^2 (s^2 + g^2)))``.

General Gaussian mixture (means ``mu_k``, covariances ``S_k = V_k diag(lambda_k) V_k^T``):

    E[x_0 | x_t, k] = mu_k + s S_k (s^2 S_k + g^2 I)^{-1} (x_t - s mu_k)
    w_k             = softmax_k(log pi_k + log N(x_t; s mu_k, s^2 S_k + g^2 I)),

computed in the eigenbasis of each ``S_k`` (singular covariances allowed).

Empirical (memorizing) denoiser of a training set ``x_1..x_N``, the optimum
of the training loss over all functions:

    D(x_t) = sum_i softmax_i(-||x_t - s x_i||^2 / (2 g^2)) x_i.

Every function takes per-sample ``s`` and ``g`` (scalars or shape
``(batch,)``) and rows ``x`` of shape ``(batch, n)``; float32 and float64 are
both supported (the parameters are cast to the dtype of ``x``), and every
softmax is a log-sum-exp. The module classes wrap them with a schedule into
denoisers ``D(x_t, t)`` (any trailing shape, flattened).
"""

import math
import numbers
from numbers import Integral, Real

import numpy as np
import torch
from torch import nn

from subclust.diffusion._utils import append_dims, per_sample, schedule_coefficients
from subclust.diffusion.schedules import get_schedule
from subclust.utils.validation import Interval, validate_params

__all__ = [
    "molrg_denoise",
    "molrg_score",
    "molrg_log_density",
    "molrg_responsibilities",
    "gmm_denoise",
    "gmm_score",
    "gmm_log_density",
    "gmm_responsibilities",
    "empirical_denoise",
    "score_from_denoised",
    "MoLRGDenoiser",
    "GMMDenoiser",
    "EmpiricalDenoiser",
]

_LOG_2PI = math.log(2 * math.pi)


# --------------------------------------------------------------------------- validation


def _tensor(value, name, dtype=torch.float64):
    if isinstance(value, torch.Tensor):
        value = value.detach()
    out = torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value)
    out = out.to(dtype)
    if not bool(torch.isfinite(out).all()):
        raise ValueError(f"{name} contains NaN or infinity.")
    return out


def _check_bases(bases, orthonormal_tol=1e-5):
    """Bases as a list of float64 ``(n, d_k)`` tensors with orthonormal columns."""
    if isinstance(bases, (torch.Tensor, np.ndarray)) and np.ndim(bases) == 3:
        bases = list(bases)
    if isinstance(bases, (torch.Tensor, np.ndarray)) or len(bases) == 0:
        raise ValueError(
            "bases must be a non-empty list of (n_features, d_k) arrays (or one "
            "(K, n_features, d) array), one orthonormal basis per component."
        )
    out = [_tensor(U, "bases") for U in bases]
    n = out[0].shape[0]
    for k, U in enumerate(out):
        if U.ndim != 2 or U.shape[0] != n or not 1 <= U.shape[1] <= n:
            raise ValueError(
                f"bases[{k}] has shape {tuple(U.shape)}; every basis must be "
                f"(n_features={n}, d_k) with 1 <= d_k <= n_features."
            )
        gram_error = (U.T @ U - torch.eye(U.shape[1], dtype=U.dtype)).abs().max()
        if gram_error > orthonormal_tol:
            raise ValueError(
                f"bases[{k}] does not have orthonormal columns (max |U^T U - I| = "
                f"{float(gram_error):.2e}); orthonormalize it, e.g. with "
                "subclust.subspace.orthonormal_basis."
            )
    return out


def _check_log_weights(weights, n_components):
    if weights is None:
        return torch.full((n_components,), -math.log(n_components), dtype=torch.float64)
    pi = _tensor(weights, "weights").reshape(-1)
    if pi.shape != (n_components,) or bool((pi < 0).any()) or abs(float(pi.sum()) - 1) > 1e-6:
        raise ValueError(
            f"weights must be {n_components} non-negative numbers summing to 1, "
            f"got {pi.tolist()}."
        )
    return torch.log(pi)


def _check_variances(variances, dims):
    """Latent variances as one float64 vector over all basis columns."""
    total = sum(dims)
    if variances is None:
        return torch.ones(total, dtype=torch.float64)
    if isinstance(variances, numbers.Real):
        lam = torch.full((total,), float(variances), dtype=torch.float64)
    else:
        if len(variances) != len(dims):
            raise ValueError(
                f"variances has {len(variances)} entries for {len(dims)} components; give "
                "a scalar, one scalar per component, or one vector of length d_k per component."
            )
        parts = []
        for k, (v, d) in enumerate(zip(variances, dims)):
            v = _tensor(v, "variances").reshape(-1)
            if v.numel() == 1:
                v = v.expand(d)
            if v.shape != (d,):
                raise ValueError(f"variances[{k}] has {v.numel()} values for d_k={d}.")
            parts.append(v)
        lam = torch.cat(parts)
    if bool((lam <= 0).any()):
        raise ValueError(
            "variances must be positive; drop the basis directions with zero variance."
        )
    return lam


def _check_means(means, n_components, n_features):
    if means is None:
        return None
    mu = _tensor(means, "means")
    if mu.shape != (n_components, n_features):
        raise ValueError(
            f"means must have shape (n_components={n_components}, n_features={n_features}), "
            f"got {tuple(mu.shape)}."
        )
    return mu


def _check_noise(noise):
    if not isinstance(noise, numbers.Real) or not noise >= 0:
        raise ValueError(f"noise must be a non-negative number, got {noise!r}.")
    return float(noise)


def _check_x(x, n_features, ndim=2):
    if x.ndim != ndim or x.shape[-1] != n_features:
        raise ValueError(
            f"x must have shape (batch, n_features={n_features}), got {tuple(x.shape)}."
        )
    if not x.is_floating_point():
        raise ValueError(f"x must be a float32 or float64 tensor, got {x.dtype}.")


def _per_sample_column(value, x):
    return per_sample(value, x.shape[-2], x).to(x.dtype)[:, None]


# --------------------------------------------------------------------------- MoLRG


class _MoLRGParams:
    """The parameters of an MoLRG in the stacked form used by one GEMM per call.

    ``W = [U_1 ... U_K]`` of shape ``(*batch, n, D)``, ``D = sum_k d_k``: the
    bases side by side, for one mixture or for a batch of mixtures (the
    trials and restarts that :class:`~subclust.diffusion.LowRankMixtureDenoiser`
    trains at once); ``column_component[j]`` is the component of column ``j``,
    ``M`` its one-hot matrix ``(D, K)``, ``lam`` the latent variance of each
    column, ``mu_proj[j] = U_k^T mu_k`` for the component ``k`` of column ``j``.
    """

    def __init__(self, W, dims, log_pi, lam, means=None, noise=0.0):
        self.W, self.log_pi, self.lam, self.means, self.noise = W, log_pi, lam, means, noise
        self.dims = torch.as_tensor(dims, device=W.device)
        self.column_component = torch.repeat_interleave(
            torch.arange(len(dims), device=W.device), self.dims
        )
        self.M = nn.functional.one_hot(self.column_component, len(dims)).to(W.dtype)
        self.mu_proj = None if means is None else (W * means[self.column_component].T).sum(-2)

    @classmethod
    def from_model(cls, bases, weights=None, variances=None, means=None, noise=0.0):
        bases = _check_bases(bases)
        dims = [U.shape[1] for U in bases]
        return cls(
            torch.cat(bases, dim=1), dims, _check_log_weights(weights, len(dims)),
            _check_variances(variances, dims), _check_means(means, len(dims), bases[0].shape[0]),
            _check_noise(noise),
        )

    def to(self, dtype, device):
        if self.W.dtype == dtype and self.W.device == device:
            return self
        cache = self.__dict__.setdefault("_casts", {})
        if (dtype, device) not in cache:
            cast = lambda v: None if v is None else v.to(dtype=dtype, device=device)  # noqa: E731
            cache[dtype, device] = _MoLRGParams(
                cast(self.W), self.dims.tolist(), cast(self.log_pi), cast(self.lam),
                cast(self.means), self.noise,
            )
        return cache[dtype, device]


def _project(x, W):
    """``x @ W`` for ``x`` of shape ``(*lead, B, n)`` and bases ``W`` of shape ``(*batch, n, D)``.

    When the mixtures of the last batch dimension (the restarts) share their
    input, one GEMM against their bases side by side gives every product:
    broadcasting ``x`` would copy it once per mixture, and the copies cost
    more than the products for small networks.
    """
    shared = W.ndim > 2 and (x.ndim < W.ndim or (x.shape[-3] == 1 and W.shape[-3] > 1))
    if not shared:
        return x @ W
    if x.ndim == W.ndim:
        x = x.squeeze(-3)
    runs, n, D = W.shape[-3:]
    side_by_side = W.transpose(-3, -2).reshape(*W.shape[:-3], n, runs * D)
    products = (x @ side_by_side).unflatten(-1, (runs, D))
    # Contiguous: strided operands would slow every elementwise op that follows.
    return products.transpose(-3, -2).contiguous()


def _molrg_terms(x, s, g, p, hard=False, need_mean=True):
    """Logits, responsibilities, and the posterior mean or the shared log-density term.

    The one implementation of the MoLRG posterior (module docstring): ``x``
    of shape ``(*lead, B, n)`` with ``*lead`` broadcasting against the batch
    dimensions of ``p.W`` (none for one mixture), ``s`` and ``g`` per sample
    (scalars or shape ``(B,)``, shared by the batch). Returns logits and
    weights of shape ``(*batch, B, K)``, the mean ``(*batch, B, n)`` and the
    shared term ``(*batch, B)``.
    """
    _check_x(x, p.W.shape[-2], ndim=max(x.ndim, 2))
    p = p.to(x.dtype, x.device)
    s, g = _per_sample_column(s, x), _per_sample_column(g, x)
    n = x.shape[-1]
    noise_sq = p.noise**2
    tau_sq = s**2 * noise_sq + g**2  # (B, 1): variance off the subspaces
    P = _project(x, p.W)  # (*batch, B, D): U_k^T x_t for every k at once
    if p.mu_proj is not None:
        P = P - s * p.mu_proj[..., None, :]
    v = s**2 * (p.lam + noise_sq) + g**2  # (B, D): variance along each basis direction
    logits = (
        p.log_pi
        - 0.5 * torch.log(v) @ p.M
        - 0.5 * (n - p.dims.to(x.dtype)) * torch.log(tau_sq)
        + 0.5 * (s**2 * p.lam / (tau_sq * v) * P**2) @ p.M
    )
    if p.means is not None:
        logits = logits + (s * (x @ p.means.T) - 0.5 * s**2 * (p.means**2).sum(1)) / tau_sq
    if hard:
        w = nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).to(x.dtype)
    else:
        w = torch.softmax(logits, dim=-1)
    mean = None
    if need_mean:
        w_col = w @ p.M.T  # (*batch, B, D): weight of each column's component
        mean = (w_col * (s * (p.lam + noise_sq) / v) * P) @ p.W.transpose(-2, -1)
        if p.means is not None:
            mean = mean + w @ p.means
        if noise_sq > 0:
            off = x - (w_col * P) @ p.W.transpose(-2, -1)
            if p.means is not None:
                off = off - s * (w @ p.means)
            mean = mean + s * noise_sq / tau_sq * off
    shared = None
    if not need_mean:  # the log-density's term common to all components
        shared = -0.5 * (x**2).sum(-1) / tau_sq[:, 0] - 0.5 * n * _LOG_2PI
    return logits, w, mean, shared


def _model_terms(x, s, g, bases, weights, variances, means, noise, **options):
    """:func:`_molrg_terms` of the mixture given as the public functions take it."""
    params = _MoLRGParams.from_model(bases, weights, variances, means, noise)
    return _molrg_terms(x, s, g, params, **options)


#: Constraints of the parameters of the ``molrg_*`` functions.
_MOLRG_CONSTRAINTS = {
    "x": [torch.Tensor],
    "s": [torch.Tensor, "array-like", Real],
    "g": [torch.Tensor, "array-like", Real],
    "bases": ["array-like"],
    "weights": ["array-like", None],
    "variances": [Real, "array-like", None],
    "means": ["array-like", None],
    "noise": [Interval(Real, 0, None, closed="left")],
}


@validate_params(
    {
        **_MOLRG_CONSTRAINTS,
        "hard": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def molrg_denoise(x, s, g, bases, weights=None, variances=None, means=None, noise=0.0, hard=False):
    """Exact posterior mean ``E[x_0 | x_t]`` of a mixture of low-rank Gaussians.

    See the module docstring for the formula.

    Parameters
    ----------
    x : tensor of shape (batch, n_features)
        Noisy samples ``x_t = s x_0 + g eps``.
    s, g : float or tensor of shape (batch,)
        Signal scale and noise level of each sample (``g > 0`` unless ``noise > 0``).
    bases : list of array-like of shape (n_features, d_k)
        Orthonormal bases ``U_k``.
    weights : array-like of shape (K,), optional
        Mixture weights ``pi_k`` (uniform by default).
    variances : float, or list of float or of array-like of shape (d_k,), optional
        Latent variances ``lambda_k`` (1 by default).
    means : array-like of shape (K, n_features), optional
        Component means ``mu_k`` (0 by default).
    noise : float, default=0.0
        Standard deviation ``sigma_0`` of isotropic noise around the subspaces.
    hard : bool, default=False
        Put all weight on the most likely component (the hard-max network of
        the paper) instead of the posterior weights.

    Returns
    -------
    x0_hat : tensor of shape (batch, n_features)

    Examples
    --------
    >>> import torch
    >>> U = torch.eye(3, dtype=torch.float64)[:, :1]
    >>> x = torch.tensor([[2.0, 1.0, 0.0]], dtype=torch.float64)
    >>> molrg_denoise(x, 1.0, 1.0, [U])  # c_t U U^T x with c_t = 1/2
    tensor([[1., 0., 0.]], dtype=torch.float64)
    """
    return _model_terms(x, s, g, bases, weights, variances, means, noise, hard=hard)[2]


@validate_params(_MOLRG_CONSTRAINTS, prefer_skip_nested_validation=True)
def molrg_responsibilities(x, s, g, bases, weights=None, variances=None, means=None, noise=0.0):
    """Posterior probabilities ``P(k | x_t)`` of the components, shape ``(batch, K)``.

    Parameters are those of :func:`molrg_denoise`.

    Examples
    --------
    Two lines in the plane: at low noise a point belongs to the line it lies
    on; at high noise the posterior returns to the prior ``weights``.

    >>> import torch
    >>> E = torch.eye(2, dtype=torch.float64)
    >>> x = torch.tensor([[3.0, 0.0], [0.0, 3.0]], dtype=torch.float64)
    >>> molrg_responsibilities(x, 1.0, 0.1, [E[:, :1], E[:, 1:]]).round(decimals=6)
    tensor([[1., 0.],
            [0., 1.]], dtype=torch.float64)
    >>> w = molrg_responsibilities(x, 1e-3, 1.0, [E[:, :1], E[:, 1:]], weights=[0.3, 0.7])
    >>> w.round(decimals=3)
    tensor([[0.3000, 0.7000],
            [0.3000, 0.7000]], dtype=torch.float64)
    """
    return _model_terms(x, s, g, bases, weights, variances, means, noise, need_mean=False)[1]


@validate_params(_MOLRG_CONSTRAINTS, prefer_skip_nested_validation=True)
def molrg_log_density(x, s, g, bases, weights=None, variances=None, means=None, noise=0.0):
    """Log-density ``log p_t(x_t)`` of the noisy MoLRG, shape ``(batch,)``.

    Parameters are those of :func:`molrg_denoise`.

    Returns
    -------
    log_density : torch.Tensor of shape (batch,)
        Natural logarithm of the density of ``x_t = s x_0 + g eps`` at ``x``,
        the dimension of ``x`` counted in full (no constant dropped).

    Examples
    --------
    One line in the plane: ``x_t`` is Gaussian with variance ``s^2 + g^2``
    along the line and ``g^2`` across it.

    >>> import torch
    >>> U = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    >>> x = torch.tensor([[1.0, 0.5], [-2.0, 0.0]], dtype=torch.float64)
    >>> s, g = 0.8, 0.6
    >>> along = torch.distributions.Normal(0.0, (s**2 + g**2) ** 0.5).log_prob(x[:, 0])
    >>> across = torch.distributions.Normal(0.0, g).log_prob(x[:, 1])
    >>> bool(torch.allclose(molrg_log_density(x, s, g, [U]), along + across))
    True
    """
    logits, _, _, shared = _model_terms(
        x, s, g, bases, weights, variances, means, noise, need_mean=False
    )
    return torch.logsumexp(logits, dim=1) + shared


@validate_params(_MOLRG_CONSTRAINTS, prefer_skip_nested_validation=True)
def molrg_score(x, s, g, bases, weights=None, variances=None, means=None, noise=0.0):
    """Score ``grad log p_t(x_t) = (s E[x_0 | x_t] - x_t) / g^2`` of the noisy MoLRG.

    Parameters are those of :func:`molrg_denoise`.

    Examples
    --------
    Tweedie's formula agrees with the gradient of :func:`molrg_log_density`:

    >>> import torch
    >>> from subclust.datasets import make_molrg
    >>> _, _, bases = make_molrg(n_features=5, n_components=2, dims=2, random_state=0)
    >>> gen = torch.Generator().manual_seed(0)
    >>> x = torch.randn(4, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    >>> (grad,) = torch.autograd.grad(molrg_log_density(x, 0.8, 0.6, bases).sum(), x)
    >>> bool(torch.allclose(molrg_score(x.detach(), 0.8, 0.6, bases), grad))
    True
    """
    x0_hat = _model_terms(x, s, g, bases, weights, variances, means, noise)[2]
    return score_from_denoised(x, x0_hat, s, g)


@validate_params(
    {
        "x": [torch.Tensor],
        "x0_hat": [torch.Tensor],
        "s": [torch.Tensor, "array-like", Real],
        "g": [torch.Tensor, "array-like", Real],
    },
    prefer_skip_nested_validation=True,
)
def score_from_denoised(x, x0_hat, s, g):
    """Tweedie's formula: the score ``(s x0_hat - x_t) / g^2`` from a denoiser's output.

    ``x`` and ``x0_hat`` may have any trailing shape; ``s`` and ``g`` are
    scalars or of shape ``(batch,)``.

    Examples
    --------
    For standard normal data the posterior mean is ``s x_t / (s^2 + g^2)``
    and the score of ``x_t ~ N(0, (s^2 + g^2) I)`` is ``-x_t / (s^2 + g^2)``;
    images work as vectors do:

    >>> import torch
    >>> x = torch.randn(2, 1, 3, 3, generator=torch.Generator().manual_seed(0))
    >>> s, g = 0.6, 0.8  # s^2 + g^2 = 1
    >>> bool(torch.allclose(score_from_denoised(x, s * x, s, g), -x))
    True
    """
    s = append_dims(per_sample(s, x.shape[0], x).to(x.dtype), x.ndim)
    g = append_dims(per_sample(g, x.shape[0], x).to(x.dtype), x.ndim)
    return (s * x0_hat - x) / g**2


# --------------------------------------------------------------------------- general GMM


class _GMMParams:
    def __init__(self, means, evals, evecs, log_pi):
        self.means, self.evals, self.evecs, self.log_pi = means, evals, evecs, log_pi

    @classmethod
    def from_model(cls, means, covariances, weights=None):
        mu = _tensor(means, "means")
        if mu.ndim != 2:
            raise ValueError(f"means must have shape (K, n_features), got {tuple(mu.shape)}.")
        K, n = mu.shape
        S = _tensor(covariances, "covariances")
        if S.shape != (K, n, n):
            raise ValueError(
                f"covariances must have shape (K={K}, n={n}, n={n}), got {tuple(S.shape)}."
            )
        if float((S - S.transpose(1, 2)).abs().max()) > 1e-8 * max(1.0, float(S.abs().max())):
            raise ValueError("covariances must be symmetric.")
        evals, evecs = torch.linalg.eigh(S)
        if float(evals.min()) < -1e-8 * max(1.0, float(evals.abs().max())):
            raise ValueError("covariances must be positive semi-definite.")
        return cls(mu, evals.clamp(min=0.0), evecs, _check_log_weights(weights, K))

    def to(self, dtype, device):
        if self.means.dtype == dtype and self.means.device == device:
            return self
        cache = self.__dict__.setdefault("_casts", {})
        if (dtype, device) not in cache:
            cache[dtype, device] = _GMMParams(
                *(v.to(dtype=dtype, device=device)
                  for v in (self.means, self.evals, self.evecs, self.log_pi))
            )
        return cache[dtype, device]


def _gmm_terms(x, s, g, p, need_mean=True):
    _check_x(x, p.means.shape[1])
    p = p.to(x.dtype, x.device)
    s, g = _per_sample_column(s, x)[:, :, None], _per_sample_column(g, x)[:, :, None]  # (B, 1, 1)
    y = x[:, None, :] - s * p.means  # (B, K, n)
    P = torch.einsum("bkn,knm->bkm", y, p.evecs)  # coordinates in each eigenbasis
    v = s**2 * p.evals + g**2  # (B, K, n): eigenvalues of s^2 S_k + g^2 I
    logits = p.log_pi - 0.5 * torch.log(v).sum(2) - 0.5 * (P**2 / v).sum(2)
    w = torch.softmax(logits, dim=1)
    mean = None
    if need_mean:
        per_component = p.means + torch.einsum("bkm,knm->bkn", s * p.evals / v * P, p.evecs)
        mean = torch.einsum("bk,bkn->bn", w, per_component)
    shared = torch.full_like(logits[:, 0], -0.5 * x.shape[1] * _LOG_2PI)
    return logits, w, mean, shared


#: Constraints of the parameters of the ``gmm_*`` functions.
_GMM_CONSTRAINTS = {
    "x": [torch.Tensor],
    "s": [torch.Tensor, "array-like", Real],
    "g": [torch.Tensor, "array-like", Real],
    "means": ["array-like"],
    "covariances": ["array-like"],
    "weights": ["array-like", None],
}


@validate_params(_GMM_CONSTRAINTS, prefer_skip_nested_validation=True)
def gmm_denoise(x, s, g, means, covariances, weights=None):
    """Exact posterior mean ``E[x_0 | x_t]`` of a Gaussian mixture.

    Parameters
    ----------
    x : tensor of shape (batch, n_features)
    s, g : float or tensor of shape (batch,)
    means : array-like of shape (K, n_features)
    covariances : array-like of shape (K, n_features, n_features)
        Symmetric positive semi-definite (singular allowed when ``g > 0``).
    weights : array-like of shape (K,), optional

    Returns
    -------
    x0_hat : tensor of shape (batch, n_features)

    Examples
    --------
    A Gaussian mixture with covariances ``U_k U_k^T`` is a mixture of
    low-rank Gaussians: both denoisers agree.

    >>> import torch
    >>> from subclust.datasets import make_molrg
    >>> _, _, bases = make_molrg(n_features=5, n_components=2, dims=2, random_state=0)
    >>> covariances = [U @ U.T for U in bases]
    >>> x = torch.randn(4, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> x0_hat = gmm_denoise(x, 0.8, 0.6, torch.zeros(2, 5), covariances)
    >>> bool(torch.allclose(x0_hat, molrg_denoise(x, 0.8, 0.6, bases)))
    True
    """
    return _gmm_terms(x, s, g, _GMMParams.from_model(means, covariances, weights))[2]


@validate_params(_GMM_CONSTRAINTS, prefer_skip_nested_validation=True)
def gmm_responsibilities(x, s, g, means, covariances, weights=None):
    """Posterior probabilities ``P(k | x_t)`` of the components, shape ``(batch, K)``.

    Parameters are those of :func:`gmm_denoise`.

    Examples
    --------
    Two unit Gaussians at ``-2`` and ``+2`` on a line: by symmetry ``x_t = 0``
    is shared equally, and ``x_t = s mu_k`` leans toward component ``k``.

    >>> import torch
    >>> means, covariances = [[-2.0], [2.0]], torch.ones(2, 1, 1)
    >>> x = torch.tensor([[0.0], [1.6]], dtype=torch.float64)
    >>> w = gmm_responsibilities(x, 0.8, 0.6, means, covariances)
    >>> w[0].tolist(), bool(w[1, 1] > 0.9)
    ([0.5, 0.5], True)
    """
    return _gmm_terms(x, s, g, _GMMParams.from_model(means, covariances, weights), False)[1]


@validate_params(_GMM_CONSTRAINTS, prefer_skip_nested_validation=True)
def gmm_log_density(x, s, g, means, covariances, weights=None):
    """Log-density ``log p_t(x_t)`` of the noisy Gaussian mixture, shape ``(batch,)``.

    Parameters are those of :func:`gmm_denoise`.

    Examples
    --------
    One component: ``x_t ~ N(s mu, s^2 S + g^2 I)``.

    >>> import torch
    >>> mu = torch.tensor([1.0, -1.0], dtype=torch.float64)
    >>> S = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    >>> x = torch.randn(3, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> s, g = 0.8, 0.6
    >>> normal = torch.distributions.MultivariateNormal(s * mu, s**2 * S + g**2 * torch.eye(2))
    >>> bool(torch.allclose(gmm_log_density(x, s, g, mu[None], S[None]), normal.log_prob(x)))
    True
    """
    logits, _, _, shared = _gmm_terms(
        x, s, g, _GMMParams.from_model(means, covariances, weights), False
    )
    return torch.logsumexp(logits, dim=1) + shared


@validate_params(_GMM_CONSTRAINTS, prefer_skip_nested_validation=True)
def gmm_score(x, s, g, means, covariances, weights=None):
    """Score ``(s E[x_0 | x_t] - x_t) / g^2`` of the noisy Gaussian mixture.

    Parameters are those of :func:`gmm_denoise`.

    Examples
    --------
    One component: the score is ``-(s^2 S + g^2 I)^{-1} (x_t - s mu)``.

    >>> import torch
    >>> mu = torch.tensor([1.0, -1.0], dtype=torch.float64)
    >>> S = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    >>> x = torch.randn(3, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> s, g = 0.8, 0.6
    >>> cov = s**2 * S + g**2 * torch.eye(2, dtype=torch.float64)
    >>> expected = -torch.linalg.solve(cov, (x - s * mu).T).T
    >>> bool(torch.allclose(gmm_score(x, s, g, mu[None], S[None]), expected))
    True
    """
    return score_from_denoised(x, gmm_denoise(x, s, g, means, covariances, weights), s, g)


# --------------------------------------------------------------------------- empirical


@validate_params(
    {
        "x": [torch.Tensor],
        "s": [torch.Tensor, "array-like", Real],
        "g": [torch.Tensor, "array-like", Real],
        "X_train": [torch.Tensor],
        "chunk_size": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def empirical_denoise(x, s, g, X_train, chunk_size=4096):
    """The memorizing denoiser ``sum_i softmax_i(-||x_t - s x_i||^2 / (2 g^2)) x_i``.

    The posterior mean when the data distribution is the empirical one: the
    minimizer of the training loss over all functions, whose samples copy
    training points.

    Parameters
    ----------
    x : tensor of shape (batch, n_features)
    s, g : float or tensor of shape (batch,)
    X_train : tensor of shape (N, n_features)
    chunk_size : int, default=4096
        Rows of ``x`` processed at once (the logits take ``chunk_size x N`` memory).

    Returns
    -------
    x0_hat : tensor of shape (batch, n_features)

    Examples
    --------
    At low noise it returns the nearest training point, at high noise
    (almost) the training mean:

    >>> import torch
    >>> X_train = torch.tensor([[0.0, 0.0], [2.0, 0.0]], dtype=torch.float64)
    >>> x = torch.tensor([[1.9, 0.1]], dtype=torch.float64)
    >>> empirical_denoise(x, 1.0, 0.05, X_train).round(decimals=4)
    tensor([[2., 0.]], dtype=torch.float64)
    >>> empirical_denoise(x, 1.0, 100.0, X_train).round(decimals=3)
    tensor([[1., 0.]], dtype=torch.float64)
    """
    _check_x(x, X_train.shape[1])
    X_train = X_train.to(dtype=x.dtype, device=x.device)
    s, g = _per_sample_column(s, x), _per_sample_column(g, x)
    sq_train = (X_train**2).sum(1)
    out = torch.empty_like(x)
    for start in range(0, x.shape[0], chunk_size):
        sl = slice(start, start + chunk_size)
        # -||x - s x_i||^2 / (2 g^2) up to a term constant in i
        logits = (s[sl] * (x[sl] @ X_train.T) - 0.5 * s[sl] ** 2 * sq_train) / g[sl] ** 2
        out[sl] = torch.softmax(logits, dim=1) @ X_train
    return out


# --------------------------------------------------------------------------- modules


class _ExactDenoiser(nn.Module):
    """A denoiser ``D(x_t, t)`` from a function of ``(x, s, g)`` and a schedule."""

    def __init__(self, schedule):
        super().__init__()
        self.schedule = get_schedule(schedule)

    def _flat(self, x_t, t):
        x = x_t.reshape(x_t.shape[0], -1)
        s, g = schedule_coefficients(self.schedule, t, x)
        return x, s, g

    def score(self, x_t, t):
        """Score ``grad log p_t(x_t) = (s(t) D(x_t, t) - x_t) / g(t)^2``."""
        s, g = schedule_coefficients(self.schedule, t, x_t)
        return score_from_denoised(x_t, self(x_t, t), s, g)


class _MixtureDenoiser(_ExactDenoiser):
    """An exact denoiser of a mixture, from its ``_terms(x, s, g, params, need_mean)``."""

    def forward(self, x_t, t):
        x, s, g = self._flat(x_t, t)
        return self._terms(x, s, g, self._params)[2].reshape(x_t.shape)

    def responsibilities(self, x_t, t):
        """Posterior probabilities ``P(k | x_t)``, shape ``(batch, K)``."""
        x, s, g = self._flat(x_t, t)
        return self._terms(x, s, g, self._params, need_mean=False)[1]

    def log_density(self, x_t, t):
        """``log p_t(x_t)``, shape ``(batch,)``."""
        x, s, g = self._flat(x_t, t)
        logits, _, _, shared = self._terms(x, s, g, self._params, need_mean=False)
        return torch.logsumexp(logits, dim=1) + shared


class MoLRGDenoiser(_MixtureDenoiser):
    """The exact (optimal) denoiser of a mixture of low-rank Gaussians.

    Calls :func:`molrg_denoise` with ``s = s(t)``, ``g = g(t)`` of the schedule.

    Parameters
    ----------
    bases : list of array-like of shape (n_features, d_k)
        Orthonormal bases of the components.
    weights : array-like of shape (K,), optional
    schedule : Schedule or str, default=VPLinear()
    variances, means, noise : optional
        See :func:`molrg_denoise`.

    Examples
    --------
    >>> import torch
    >>> from subclust.datasets import make_molrg
    >>> from subclust.diffusion import MoLRGDenoiser
    >>> _, _, bases = make_molrg(n_features=8, n_components=2, dims=2, random_state=0)
    >>> D = MoLRGDenoiser(bases)
    >>> D(torch.zeros(5, 8, dtype=torch.float64), torch.full((5,), 0.5)).shape
    torch.Size([5, 8])
    """

    _terms = staticmethod(_molrg_terms)

    def __init__(self, bases, weights=None, schedule=None, variances=None, means=None, noise=0.0):
        super().__init__(schedule)
        self._params = _MoLRGParams.from_model(bases, weights, variances, means, noise)
        self.n_features = self._params.W.shape[0]

    @property
    def bases(self):
        """The bases ``U_k`` as a list of float64 tensors of shape (n_features, d_k)."""
        return list(torch.split(self._params.W, self._params.dims.tolist(), dim=1))


class GMMDenoiser(_MixtureDenoiser):
    """The exact denoiser of a general Gaussian mixture (:func:`gmm_denoise`).

    The eigendecompositions of the covariances are computed once, here.

    Parameters
    ----------
    means : array-like of shape (K, n_features)
    covariances : array-like of shape (K, n_features, n_features)
    weights : array-like of shape (K,), optional
    schedule : Schedule or str, default=VPLinear()

    Examples
    --------
    Components with zero covariance are point masses: the mixture of the
    training points is the memorizing denoiser.

    >>> import torch
    >>> from subclust.diffusion import EmpiricalDenoiser, GMMDenoiser
    >>> X = torch.randn(6, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> D = GMMDenoiser(X, torch.zeros(6, 3, 3), schedule="edm")
    >>> x_t = torch.randn(4, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    >>> t = torch.tensor([0.1, 0.5, 1.0, 5.0])
    >>> bool(torch.allclose(D(x_t, t), EmpiricalDenoiser(X, schedule="edm")(x_t, t)))
    True
    >>> D.responsibilities(x_t, t).shape
    torch.Size([4, 6])
    """

    _terms = staticmethod(_gmm_terms)

    def __init__(self, means, covariances, weights=None, schedule=None):
        super().__init__(schedule)
        self._params = _GMMParams.from_model(means, covariances, weights)
        self.n_features = self._params.means.shape[1]


class EmpiricalDenoiser(_ExactDenoiser):
    """The memorizing denoiser of a training set (:func:`empirical_denoise`).

    Parameters
    ----------
    X : array-like of shape (N, ...)
        Training samples (rows; trailing dimensions are flattened).
    schedule : Schedule or str, default=VPLinear()
    chunk_size : int, default=4096

    Examples
    --------
    >>> import torch
    >>> X = torch.eye(3, dtype=torch.float64)
    >>> D = EmpiricalDenoiser(X)
    >>> bool(torch.allclose(D(X, 1e-3), X, atol=1e-6))  # at low noise it returns the nearest point
    True
    """

    def __init__(self, X, schedule=None, chunk_size=4096):
        super().__init__(schedule)
        X = X if isinstance(X, torch.Tensor) else torch.as_tensor(np.asarray(X))
        if not X.is_floating_point():
            X = X.to(torch.float64)
        if X.ndim < 2 or X.shape[0] == 0:
            raise ValueError(
                f"X must hold at least one sample as rows, got shape {tuple(X.shape)}."
            )
        if not bool(torch.isfinite(X).all()):
            raise ValueError("X contains NaN or infinity.")
        self.register_buffer("X", X.reshape(X.shape[0], -1).clone())
        self.chunk_size = chunk_size

    def forward(self, x_t, t):
        x, s, g = self._flat(x_t, t)
        return empirical_denoise(x, s, g, self.X, self.chunk_size).reshape(x_t.shape)
