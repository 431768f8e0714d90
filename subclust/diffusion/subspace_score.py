"""The score network of Chen, Huang, Zhao, Wang (ICML 2023) and the exact score it approximates.

Data ``x_0 = U a`` lie on a ``d``-dimensional linear subspace of ``R^D``
(``U`` a ``D x d`` orthonormal basis, ``a`` a latent with independent
unit-variance coordinates). For the forward process ``x_t = s_t x_0 + g_t eps``
the score splits into a part on the subspace and one orthogonal to it, and the
network of Chen, Huang, Zhao, Wang ("Score approximation, estimation and
distribution recovery of diffusion models on low-dimensional data", ICML 2023)
has that form,

    score(x, t) = (V f(V^T x, t) - x) / h(t),        h(t) = g_t^2 (VP process),

with ``V`` a learned ``D x d`` matrix with orthonormal columns. In denoiser
form (``score = (s_t D(x_t) - x_t) / g_t^2``) it is
``D(x_t, t) = V phi(V^T x_t, t)`` with ``phi = f / s_t``:
:class:`SubspaceScoreNetwork`.

The exact denoiser is ``D*(x_t) = U E[a | z]``, ``z = U^T x_t = s a + g e``
with ``e ~ N(0, I_d)`` (the orthogonal part of ``x_t`` is pure noise,
independent of ``a``): :func:`exact_subspace_denoiser`. With independent
latent coordinates the posterior factorizes and ``E[a | z]`` is computed per
coordinate (:func:`latent_posterior_mean`):

- Gaussian ``a_j ~ N(0, 1)``: ``E[a_j | z_j] = s z_j / (s^2 + g^2)``;
- uniform ``a_j ~ U[-sqrt 3, sqrt 3]`` (unit variance): given ``z_j``,
  ``a_j`` is ``N(mu, tau^2)`` truncated to ``[-sqrt 3, sqrt 3]`` with
  ``mu = z_j / s``, ``tau = g / s``, whose mean is
  ``mu + tau (phi(alpha) - phi(beta)) / (Phi(beta) - Phi(alpha))``,
  ``alpha, beta = (-+sqrt 3 - mu) / tau``; it is evaluated through the scaled
  complementary error function, so that it stays accurate far outside the interval.
"""

import math
from numbers import Real

import numpy as np
import torch
from torch import nn

from subclust.diffusion._utils import as_generator
from subclust.diffusion.networks import (
    MLPDenoiser,
    Preconditioned,
    _orthonormalize,
    _tangent_projection,
    orthonormalize,
)
from subclust.utils.validation import StrOptions, check_positive_int, validate_params

__all__ = ["LATENTS", "SubspaceScoreNetwork", "exact_subspace_denoiser", "latent_posterior_mean"]

#: Latent laws with independent unit-variance coordinates (see :func:`latent_posterior_mean`).
LATENTS = ("gaussian", "uniform")

_HALF_WIDTH = math.sqrt(3.0)  # U[-sqrt 3, sqrt 3] has unit variance
_SQRT_2 = math.sqrt(2.0)
_SQRT_HALF_PI = math.sqrt(0.5 * math.pi)


# --------------------------------------------------------------------------- exact score


def _truncated_normal_mean(alpha, beta):
    """Mean of a standard normal truncated to ``[alpha, beta]`` (``alpha < beta``), elementwise.

    ``(phi(lo) - phi(hi)) / (Phi(hi) - Phi(lo))`` on the interval ``[lo, hi]``
    reflected so that ``|lo| >= |hi|`` (the mean is odd under the reflection),
    divided through by ``phi(hi)``: with ``R(x) = Phi(x) / phi(x) =
    sqrt(pi / 2) erfcx(-x / sqrt 2)`` and ``q = (hi^2 - lo^2) / 2 <= 0`` it is
    ``expm1(q) / (R(hi) - R(lo) e^q)``, accurate deep in the tails where
    ``Phi`` underflows.
    """
    flip = alpha + beta > 0
    lo = torch.where(flip, -beta, alpha)
    hi = torch.where(flip, -alpha, beta)
    q = 0.5 * (hi - lo) * (hi + lo)

    def mills(x):  # Phi(x) / phi(x)
        return _SQRT_HALF_PI * torch.special.erfcx(-x / _SQRT_2)

    mean = torch.expm1(q) / (mills(hi) - mills(lo) * torch.exp(q))
    return torch.where(flip, -mean, mean)


@validate_params(
    {
        "z": [torch.Tensor],
        "s": [torch.Tensor, "array-like", Real],
        "g": [torch.Tensor, "array-like", Real],
        "latent": [StrOptions(set(LATENTS))],
    },
    prefer_skip_nested_validation=True,
)
def latent_posterior_mean(z, s, g, latent):
    """``E[a | s a + g e = z]`` for independent unit-variance latent coordinates ``a``.

    ``e ~ N(0, I)``. Coordinates are independent a priori and given ``z``, so
    the posterior mean is computed per coordinate (see the module docstring).

    Parameters
    ----------
    z : tensor of shape (batch, d)
        Observed latents ``U^T x_t``.
    s, g : float or tensor of shape (batch,)
        Signal scale and noise level (``g > 0``).
    latent : {'gaussian', 'uniform'}
        ``N(0, 1)`` or ``U[-sqrt 3, sqrt 3]`` coordinates.

    Returns
    -------
    mean : tensor of the shape and dtype of ``z``

    Examples
    --------
    At low noise the posterior mean is ``z / s`` inside the support of the
    uniform law and its nearest end outside:

    >>> import torch
    >>> z = torch.tensor([[0.5, 3.0]], dtype=torch.float64)
    >>> latent_posterior_mean(z, 1.0, 1e-3, "uniform")
    tensor([[0.5000, 1.7321]], dtype=torch.float64)
    >>> latent_posterior_mean(z, 1.0, 1.0, "gaussian")  # s z / (s^2 + g^2)
    tensor([[0.2500, 1.5000]], dtype=torch.float64)
    """
    dtype = z.dtype
    z = z.to(torch.float64)
    s = torch.as_tensor(s, dtype=torch.float64, device=z.device).reshape(-1, 1)
    g = torch.as_tensor(g, dtype=torch.float64, device=z.device).reshape(-1, 1)
    if latent == "gaussian":
        return (s * z / (s**2 + g**2)).to(dtype)
    mu, tau = z / s, g / s
    alpha, beta = (-_HALF_WIDTH - mu) / tau, (_HALF_WIDTH - mu) / tau
    return (mu + tau * _truncated_normal_mean(alpha, beta)).to(dtype)


@validate_params(
    {
        "x_t": [torch.Tensor],
        "s": [torch.Tensor, "array-like", Real],
        "g": [torch.Tensor, "array-like", Real],
        "basis": [torch.Tensor],
        "latent": [StrOptions(set(LATENTS))],
    },
    prefer_skip_nested_validation=True,
)
def exact_subspace_denoiser(x_t, s, g, basis, latent):
    """The optimal denoiser ``E[x_0 | x_t] = U E[a | U^T x_t]`` for data ``x_0 = U a``.

    The score is ``(s E[x_0 | x_t] - x_t) / g^2``
    (:func:`~subclust.diffusion.score_from_denoised`).

    Parameters
    ----------
    x_t : tensor of shape (batch, D)
    s, g : float or tensor of shape (batch,)
    basis : tensor of shape (D, d)
        Orthonormal basis ``U`` of the data subspace.
    latent : {'gaussian', 'uniform'}

    Returns
    -------
    x0_hat : tensor of shape (batch, D)

    Examples
    --------
    For Gaussian latents it is the exact MoLRG denoiser with one component:

    >>> import torch
    >>> from subclust.diffusion import molrg_denoise
    >>> U = torch.linalg.qr(torch.randn(6, 2, generator=torch.Generator().manual_seed(0),
    ...                                 dtype=torch.float64))[0]
    >>> x = torch.randn(5, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    >>> exact = exact_subspace_denoiser(x, 0.8, 0.6, U, "gaussian")
    >>> bool(torch.allclose(exact, molrg_denoise(x, 0.8, 0.6, [U])))
    True
    """
    return latent_posterior_mean(x_t @ basis, s, g, latent) @ basis.T


# --------------------------------------------------------------------------- network


class SubspaceScoreNetwork(nn.Module):
    """``D(x_t, t) = V phi(V^T x_t, t)``: a learned subspace and a network on it.

    The score of this denoiser, ``(s_t D(x_t, t) - x_t) / g_t^2``, is the
    network of Chen, Huang, Zhao, Wang (ICML 2023),
    ``(V f(V^T x_t, t) - x_t) / h(t)`` with ``f = s_t phi`` and ``h = g_t^2``.
    ``phi`` is a preconditioned :class:`~subclust.diffusion.MLPDenoiser` on ``R^d``; ``V``
    starts as a random orthonormal basis and stays orthonormal:
    :func:`~subclust.diffusion.train_denoiser` projects its gradient on the
    tangent space of the Stiefel manifold (:meth:`project_gradients_`) and
    retracts it by QR after every step (:meth:`retract_`).

    Parameters
    ----------
    n_features : int
        Ambient dimension ``D``.
    dim : int
        Subspace dimension ``d`` (< ``n_features``).
    schedule : Schedule or str, default=VPLinear()
    hidden, depth, embedding_dim : int, default=128, 3, 32
        Of the MLP ``phi`` on ``R^d``.
    sigma_data : float, default=1.0
        Scale of the latent coordinates (1 for unit-variance latents).
    basis_rate : float, default=20.0
        How fast ``V`` turns under Adam, whatever ``D``: ``V`` is stored as the
        parameter ``P = (sqrt(D) / basis_rate) V``, so that a step of about
        ``lr`` per coordinate of ``P`` turns each column of ``V`` by about
        ``lr * basis_rate`` radians. Stored as ``V`` itself, its columns, whose
        coordinates are of size ``1 / sqrt(D)``, would turn ``sqrt(D)`` times
        faster in ``R^1024`` than in ``R^1``, and the noise of Adam's steps
        would set an angle floor that grows with ``D``.
    init_basis : array-like of shape (n_features, dim), optional
        Initial ``V`` (orthonormalized by QR); a random orthonormal basis drawn
        from ``random_state`` by default.
    random_state : int, torch.Generator or None, default=None
        Randomness of ``V`` and of the MLP's weights: a seed, a generator drawn
        from, or None for fresh OS entropy.
    dtype : torch.dtype, default=torch.float32
    device : torch.device or str, optional

    Examples
    --------
    >>> import torch
    >>> from subclust.diffusion.subspace_score import SubspaceScoreNetwork
    >>> net = SubspaceScoreNetwork(32, 4, hidden=16, depth=2, random_state=0)
    >>> x = torch.randn(3, 32, generator=torch.Generator().manual_seed(0))
    >>> net(x, torch.full((3,), 0.5)).shape
    torch.Size([3, 32])
    >>> V = net.basis
    >>> bool(torch.allclose(V.T @ V, torch.eye(4), atol=1e-6))
    True
    """

    def __init__(self, n_features, dim, schedule=None, hidden=128, depth=3, embedding_dim=32,
                 sigma_data=1.0, basis_rate=20.0, init_basis=None, random_state=None,
                 dtype=torch.float32, device=None):
        super().__init__()
        n_features = check_positive_int(n_features, "n_features")
        dim = check_positive_int(dim, "dim")
        if dim >= n_features:
            raise ValueError(f"dim={dim} must be smaller than n_features={n_features}.")
        if not basis_rate > 0:
            raise ValueError(f"basis_rate must be positive, got {basis_rate!r}.")
        gen = as_generator(random_state)
        self.scale = math.sqrt(n_features) / basis_rate
        if init_basis is None:
            V = torch.randn(n_features, dim, generator=gen, dtype=torch.float64)
        else:
            V = torch.as_tensor(np.asarray(init_basis, dtype=np.float64))
            if tuple(V.shape) != (n_features, dim) or not bool(torch.isfinite(V).all()):
                raise ValueError(
                    f"init_basis must be a finite array of shape (n_features={n_features}, "
                    f"dim={dim}), got shape {tuple(V.shape)}."
                )
        V = orthonormalize(V)
        self.P = nn.Parameter((self.scale * V).to(dtype=dtype, device=device))
        network = MLPDenoiser(dim, hidden=hidden, depth=depth, embedding_dim=embedding_dim,
                              random_state=gen, dtype=dtype, device=device)
        self.latent = Preconditioned(network, schedule=schedule, sigma_data=sigma_data)
        self.schedule = self.latent.schedule
        self.n_features, self.dim = int(n_features), int(dim)

    @property
    def basis(self):
        """The learned orthonormal basis ``V``, a detached tensor of shape (D, d)."""
        return (self.P / self.scale).detach().clone()

    def forward(self, x_t, t):
        """The denoised estimate ``x0_hat`` of shape ``(batch, D)``, in the span of ``V``."""
        V = self.P / self.scale
        return self.latent(x_t @ V, t) @ V.T

    def stiefel_parameters(self):
        """The parameter with (scaled) orthonormal columns: ``[P]``, ``P / scale = V``."""
        return [self.P]

    @torch.no_grad()
    def project_gradients_(self):
        """Replace the gradient of ``P`` by its Riemannian gradient (tangent space at ``V``)."""
        if self.P.grad is not None:
            self.P.grad.copy_(_tangent_projection(self.P / self.scale, self.P.grad))
        return self

    @torch.no_grad()
    def retract_(self):
        """Map ``V`` back to orthonormal columns (QR retraction), in place."""
        self.P.copy_(self.scale * _orthonormalize(self.P / self.scale))
        return self
