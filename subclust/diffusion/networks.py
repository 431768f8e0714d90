"""Trainable denoisers ``D(x_t, t) -> x0_hat``: the paper's low-rank mixture network and an MLP.

:class:`LowRankMixtureDenoiser` is the parameterization of Wang et al.
(arXiv:2409.02426): the exact MoLRG posterior mean (see
:mod:`subclust.diffusion.exact`) with learnable orthonormal bases
``theta = {U_k}``,

    x_theta(x_t, t) = sum_k w_k(x_t) c_t U_k U_k^T x_t,       c_t = s / (s^2 + g^2),
    w_k = softmax_k(log pi_k - (d_k/2) log((s^2 + g^2) / g^2)
                    + s^2 ||U_k^T x_t||^2 / (2 g^2 (s^2 + g^2)))      (soft), or
    w   = one-hot of the largest logit, argmax_k ||U_k^T x_t|| for equal pi_k, d_k (hard).

Training it by denoising score matching is PCA for one component and
K-subspaces for several. With leading batch dimensions the same module holds
many mixtures at once (the trials of an experiment, the restarts of a fit),
each trained on its own: one batched GEMM per step instead of many small
ones. The bases stay on the Stiefel
manifold: after every optimizer step :meth:`LowRankMixtureDenoiser.retract_`
maps each ``U_k`` back to the nearest-in-QR-sense orthonormal basis (the QR
retraction, with the signs of ``R``'s diagonal fixed so that it is the
identity on orthonormal input).

:class:`Preconditioned` turns a raw network ``F(x, c_noise)`` into a denoiser
by the preconditioning of EDM (Karras et al., NeurIPS 2022) written in
``(s, g)``; :class:`MLPDenoiser` is such a raw network for vectors.
"""

import math
import numbers

import numpy as np
import torch
from torch import nn

from subclust.diffusion._utils import (
    _append_dims,
    as_generator,
    per_sample,
    reset_layer_,
    schedule_coefficients,
)
from subclust.diffusion.exact import (
    _check_log_weights,
    _check_means,
    _check_noise,
    _check_variances,
    _molrg_terms,
    _MoLRGParams,
)
from subclust.diffusion.schedules import get_schedule
from subclust.utils.validation import check_positive_int, validate_params

__all__ = [
    "LowRankMixtureDenoiser",
    "MLPDenoiser",
    "Preconditioned",
    "orthonormalize",
    "tangent_projection",
]


def _orthonormalize(U):
    """Unchecked :func:`orthonormalize`, for the optimizers' steps."""
    Q, R = torch.linalg.qr(U)
    signs = torch.sign(torch.diagonal(R, dim1=-2, dim2=-1))
    signs = torch.where(signs == 0, torch.ones_like(signs), signs)
    return Q * signs.unsqueeze(-2)


def _tangent_projection(U, G):
    """Unchecked :func:`tangent_projection`, for the optimizers' steps."""
    A = U.transpose(-2, -1) @ G
    return G - U @ (0.5 * (A + A.transpose(-2, -1)))


@validate_params(
    {
        "U": [torch.Tensor],
    },
    prefer_skip_nested_validation=True,
)
def orthonormalize(U):
    """The QR retraction: ``Q`` of ``U = QR`` with ``diag(R) >= 0``.

    The sign fix makes it continuous and the identity on matrices that are
    already orthonormal, so applying it after every step does not flip bases.
    Works on a batch ``(..., n, d)``.

    Examples
    --------
    >>> import torch
    >>> A = torch.randn(3, 6, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> Q = orthonormalize(A)  # a batch of three bases
    >>> eye = torch.eye(2, dtype=torch.float64)
    >>> bool(torch.allclose(Q.transpose(-2, -1) @ Q, eye.expand(3, 2, 2)))
    True
    >>> bool(torch.allclose(Q @ Q.transpose(-2, -1) @ A, A))  # the same column spaces
    True
    >>> bool(torch.allclose(orthonormalize(Q), Q))  # the identity on orthonormal input
    True
    """
    return _orthonormalize(U)


@validate_params(
    {
        "U": [torch.Tensor],
        "G": [torch.Tensor],
    },
    prefer_skip_nested_validation=True,
)
def tangent_projection(U, G):
    """Project ``G`` onto the tangent space of the Stiefel manifold at ``U``: ``G - U sym(U^T G)``.

    ``sym(A) = (A + A^T) / 2``. Applied to a Euclidean gradient it gives the
    Riemannian gradient (for the metric inherited from the ambient space).

    Examples
    --------
    Tangent vectors ``T`` at ``U`` satisfy ``U^T T + T^T U = 0``, and
    projecting twice changes nothing:

    >>> import torch
    >>> gen = torch.Generator().manual_seed(0)
    >>> U = orthonormalize(torch.randn(6, 2, generator=gen, dtype=torch.float64))
    >>> G = torch.randn(6, 2, generator=gen, dtype=torch.float64)
    >>> T = tangent_projection(U, G)
    >>> bool(torch.allclose(U.T @ T + T.T @ U, torch.zeros(2, 2, dtype=torch.float64)))
    True
    >>> bool(torch.allclose(tangent_projection(U, T), T))
    True
    """
    return _tangent_projection(U, G)


class LowRankMixtureDenoiser(nn.Module):
    """The paper's low-rank mixture denoiser with learnable orthonormal bases.

    Parameters
    ----------
    n_features : int
        Ambient dimension ``n``.
    n_components : int, default=1
        Number of subspaces ``K``.
    dims : int or sequence of int, default=1
        Dimension of every subspace, or one per component (each < n_features).
    schedule : Schedule or str, default=VPLinear()
        Gives ``s(t)`` and ``g(t)``.
    weighting : {'soft', 'hard'}, default='soft'
        Posterior soft-max weights, or all weight on the largest logit.
    init_bases : list of array-like of shape (*batch_shape, n_features, d_k), optional
        Initial bases (orthonormalized by QR); random orthonormal bases drawn
        from ``random_state`` by default.
    batch_shape : tuple of int, default=()
        Leading dimensions of a batch of mixtures with the same dimensions,
        e.g. ``(trials, restarts)``, all computed in one call; taken from
        ``init_bases`` when given. Their losses are independent: the sum of
        their losses trains each of them as if alone.
    weights : array-like of shape (K,), optional
        Mixture weights ``pi_k`` (uniform by default).
    learn_weights : bool, default=False
        Learn the mixture weights too (as soft-max logits).
    variances : optional
        Per-component latent variances ``lambda_k`` (fixed; 1 by default),
        as in :func:`subclust.diffusion.exact.molrg_denoise`.
    means : array-like of shape (K, n_features), optional
        Per-component means (fixed; 0 by default).
    noise : float, default=0.0
        Isotropic noise around the subspaces (fixed).
    random_state : int, torch.Generator or None, default=None
        Randomness of the initial bases: a seed, a generator drawn from, or
        None for fresh OS entropy.
    dtype : torch.dtype, default=torch.float32
    device : torch.device or str, optional

    Attributes
    ----------
    U : torch.nn.ParameterList
        The learnable bases, each of shape (*batch_shape, n_features, d_k).
    batch_shape : tuple of int

    Notes
    -----
    A batched mixture takes ``x_t`` of shape ``(*lead, batch, n_features)``,
    ``*lead`` broadcasting against ``batch_shape``, with the times ``t``
    shared by the mixtures, and returns ``(*batch_shape, batch, n_features)``;
    an unbatched one takes any trailing shape (images are flattened).

    Examples
    --------
    >>> import torch
    >>> from subclust.diffusion import LowRankMixtureDenoiser
    >>> net = LowRankMixtureDenoiser(10, n_components=2, dims=[2, 3], random_state=0)
    >>> [tuple(U.shape) for U in net.bases]
    [(10, 2), (10, 3)]
    >>> net(torch.randn(4, 10, generator=torch.Generator().manual_seed(0)), 0.5).shape
    torch.Size([4, 10])

    Three restarts on the same samples, one output per restart:

    >>> nets = LowRankMixtureDenoiser(10, 2, [2, 3], batch_shape=(3,), random_state=0)
    >>> nets(torch.randn(4, 10, generator=torch.Generator().manual_seed(0)), 0.5).shape
    torch.Size([3, 4, 10])
    """

    def __init__(
        self,
        n_features,
        n_components=1,
        dims=1,
        schedule=None,
        weighting="soft",
        init_bases=None,
        weights=None,
        learn_weights=False,
        variances=None,
        means=None,
        noise=0.0,
        random_state=None,
        dtype=torch.float32,
        device=None,
        batch_shape=(),
    ):
        super().__init__()
        n_features = check_positive_int(n_features, "n_features")
        n_components = check_positive_int(n_components, "n_components")
        if isinstance(dims, numbers.Integral):
            dims = [int(dims)] * n_components
        dims = [int(d) for d in dims]
        if len(dims) != n_components:
            raise ValueError(f"dims has {len(dims)} entries for n_components={n_components}.")
        if min(dims) < 1 or max(dims) >= n_features:
            raise ValueError(f"Each of dims={dims} must lie in [1, n_features={n_features}).")
        if weighting not in ("soft", "hard"):
            raise ValueError(f"weighting must be 'soft' or 'hard', got {weighting!r}.")
        self.n_features, self.n_components, self.dims = n_features, n_components, dims
        self.schedule = get_schedule(schedule)
        self.weighting = weighting
        if init_bases is not None and len(init_bases) > 0:
            batch_shape = tuple(np.shape(init_bases[0])[:-2])
        if any(not isinstance(b, numbers.Integral) or b < 1 for b in batch_shape):
            raise ValueError(f"batch_shape must hold positive integers, got {batch_shape!r}.")
        self.batch_shape = tuple(int(b) for b in batch_shape)
        factory = {"dtype": dtype, "device": device}

        initial = self._initial_bases(init_bases, random_state, factory)
        self.U = nn.ParameterList(nn.Parameter(orthonormalize(B)) for B in initial)
        log_pi = _check_log_weights(weights, n_components).to(**factory)
        if learn_weights:
            self.weight_logits = nn.Parameter(log_pi.clamp(min=-30.0))
        else:
            self.register_buffer("log_weights", log_pi)
        self.register_buffer("variances", _check_variances(variances, dims).to(**factory))
        means = _check_means(means, n_components, n_features)
        self.register_buffer("means", None if means is None else means.to(**factory))
        self.noise = _check_noise(noise)

    def _initial_bases(self, init_bases, random_state, factory):
        if init_bases is None:
            gen = as_generator(random_state)
            return [
                torch.randn(
                    *self.batch_shape, self.n_features, d, generator=gen, dtype=torch.float64
                ).to(**factory)
                for d in self.dims
            ]
        if len(init_bases) != self.n_components:
            raise ValueError(
                f"init_bases has {len(init_bases)} bases for n_components={self.n_components}."
            )
        out = []
        for k, (B, d) in enumerate(zip(init_bases, self.dims)):
            B = torch.as_tensor(B.detach() if isinstance(B, torch.Tensor) else np.asarray(B))
            if tuple(B.shape) != (*self.batch_shape, self.n_features, d):
                raise ValueError(
                    f"init_bases[{k}] has shape {tuple(B.shape)}, expected "
                    f"(*batch_shape={self.batch_shape}, n_features={self.n_features}, d_k={d})."
                )
            if not bool(torch.isfinite(B).all()):
                raise ValueError(f"init_bases[{k}] contains NaN or infinity.")
            out.append(B.to(torch.float64).to(**factory))
        return out

    @classmethod
    def from_clustering(
        cls, estimator, X, *, dims=None, energy=None, center=None, latent_covariance="shrunk",
        noise=0.0, clusters=None, schedule=None, weighting="soft", dtype=torch.float32,
        device=None,
    ):
        """The trained denoiser defined by a fitted clusterer, built in closed form.

        Training this network by denoising score matching is subspace
        clustering (Wang et al., arXiv:2409.02426); conversely, the labels of
        any fitted clusterer give its parameters without a gradient step:
        per cluster the principal subspace of its samples, the latent
        variances along it, the share of the samples, the mean (affine
        subspaces) and optionally an off-subspace noise level. See
        :mod:`subclust.diffusion.from_clustering` for the estimators.

        Parameters
        ----------
        estimator : fitted clusterer
            KSubspaces, SparseSubspaceClustering, LeastSquaresSubspaceClustering,
            ThresholdedSubspaceClustering, DiffusionSubspaceClustering, or any
            estimator with ``labels_`` (or ``predict``).
        X : array-like of shape (n_samples, n_features)
            The samples it clustered (labels are read from ``labels_``, or
            from ``predict(X)`` if ``X`` holds other rows).
        dims : int or list of int, optional
            Subspace dimensions; default those of the estimator's ``bases_``.
        energy : float in (0, 1], optional
            Choose each dimension as the smallest rank holding this share of
            the cluster's norm instead.
        center : bool, optional
            Affine subspaces through the cluster means; default when the
            estimator has ``means_`` (``KSubspaces(affine=True)``).
        latent_covariance : {'shrunk', 'diagonal', 'isotropic', 'unit'}, default='shrunk'
            Diagonal latent covariance per cluster ('shrunk': Ledoit-Wolf
            shrinkage of its eigenvalues toward their mean), one variance
            per cluster, or 'unit', the paper's model.
        noise : float or 'estimate', default=0.0
            Isotropic off-subspace noise level.
        clusters : sequence of int, optional
            Keep only these clusters (class-conditional generation).
        schedule, weighting, dtype, device
            As in the constructor.

        Returns
        -------
        denoiser : LowRankMixtureDenoiser
            With the attribute ``cluster_ids``: the estimator's cluster of
            each component (empty clusters are dropped).

        Examples
        --------
        >>> from subclust import KSubspaces
        >>> from subclust.datasets import make_molrg
        >>> X, _, _ = make_molrg(n_samples=[40, 40], n_features=12, dims=2, random_state=0)
        >>> kss = KSubspaces(n_clusters=2, dims=2, random_state=0).fit(X)
        >>> net = LowRankMixtureDenoiser.from_clustering(kss, X)
        >>> net.dims, net.cluster_ids
        ([2, 2], [0, 1])
        """
        from subclust.diffusion.from_clustering import mixture_from_clustering

        est = mixture_from_clustering(
            estimator, X, dims=dims, energy=energy, center=center,
            latent_covariance=latent_covariance, noise=noise, clusters=clusters,
        )
        net = cls(
            est.bases[0].shape[0], len(est.bases), est.dims, schedule=schedule,
            weighting=weighting, init_bases=est.bases, weights=est.weights,
            variances=est.variances, means=est.means, noise=est.noise, dtype=dtype,
            device=device,
        )
        net.cluster_ids = est.clusters.tolist()
        return net

    def select_components(self, components):
        """A new denoiser restricted to some components, weights renormalized.

        Restricting the mixture to one component generates from that cluster
        only (class-conditional generation).

        Parameters
        ----------
        components : sequence of int
            Indices of the components to keep (into ``bases``).

        Returns
        -------
        denoiser : LowRankMixtureDenoiser
        """
        components = [int(k) for k in components]
        if not components or min(components) < 0 or max(components) >= self.n_components:
            raise ValueError(
                f"components must be a non-empty list of indices in 0..{self.n_components - 1}, "
                f"got {components}."
            )
        pi = self.mixture_weights[components].to(torch.float64)
        if not float(pi.sum()) > 0:
            raise ValueError(f"components {components} all have zero weight.")
        stops = np.cumsum([0] + self.dims)
        lam = self.variances
        param = self.U[0]
        net = type(self)(
            self.n_features, len(components), [self.dims[k] for k in components],
            schedule=self.schedule, weighting=self.weighting,
            init_bases=[self.U[k].detach() for k in components], batch_shape=self.batch_shape,
            weights=(pi / pi.sum()).cpu().numpy(),
            variances=[lam[stops[k]:stops[k + 1]].cpu() for k in components],
            means=None if self.means is None else self.means[components].cpu(),
            noise=self.noise, dtype=param.dtype, device=param.device,
        )
        if hasattr(self, "cluster_ids"):
            net.cluster_ids = [self.cluster_ids[k] for k in components]
        return net

    @property
    def bases(self):
        """The current bases ``U_k``: detached tensors of shape (*batch_shape, n_features, d_k)."""
        return [U.detach().clone() for U in self.U]

    @property
    def mixture_weights(self):
        """The mixture weights ``pi_k`` as a tensor of shape (K,)."""
        return torch.exp(self._log_pi()).detach()

    def _log_pi(self):
        if hasattr(self, "weight_logits"):
            return torch.log_softmax(self.weight_logits, dim=0)
        return self.log_weights

    def _params(self):
        return _MoLRGParams(
            torch.cat(list(self.U), dim=-1), self.dims, self._log_pi(), self.variances,
            self.means, self.noise,
        )

    def _terms(self, x_t, t, need_mean=True):
        x = x_t if self.batch_shape else x_t.reshape(x_t.shape[0], -1)
        # The schedule in float64, then cast: float32 keeps its accuracy at small t.
        s, g = self.schedule.s_and_g(per_sample(t, x.shape[-2], x).to(torch.float64))
        return _molrg_terms(
            x, s.to(x.dtype), g.to(x.dtype), self._params(), self.weighting == "hard", need_mean
        )

    def forward(self, x_t, t):
        """The denoised estimate ``x0_hat``: the shape of ``x_t`` (batched: see Notes)."""
        x0_hat = self._terms(x_t, t)[2]
        return x0_hat if self.batch_shape else x0_hat.reshape(x_t.shape)

    def responsibilities(self, x_t, t):
        """The weights ``w_k(x_t)`` of the components, shape ``(*batch_shape, batch, K)``.

        Soft-max posterior weights, or one-hot for ``weighting='hard'``; at low
        noise their argmax is the nearest subspace (the cluster label).
        """
        return self._terms(x_t, t, need_mean=False)[1]

    def stiefel_parameters(self):
        """The parameters constrained to have orthonormal columns (the bases)."""
        return list(self.U)

    @torch.no_grad()
    def project_gradients_(self):
        """Replace the gradient of every basis by its Riemannian gradient (tangent projection).

        The normal part of a Euclidean gradient is undone by the retraction,
        but an adaptive optimizer (Adam) rescales coordinates and would turn
        it into a spurious tangent step; projecting first keeps the fixed
        points of the optimizer at the critical points of the loss on the manifold.
        """
        for U in self.U:
            if U.grad is not None:
                U.grad.copy_(_tangent_projection(U, U.grad))
        return self

    @torch.no_grad()
    def retract_(self):
        """Map every basis back to orthonormal columns (QR retraction), in place."""
        for U in self.U:
            U.copy_(_orthonormalize(U))
        return self


def _noise_frequencies(embedding_dim, dtype=torch.float32, device=None):
    """Frequencies ``exp(linspace(0, log 64))`` of the sinusoidal embedding of ``c_noise``.

    From 1 to 64, they resolve ``c_noise = log(sigma) / 4`` in about ``[-2, 2]``
    from coarse to fine.
    """
    return torch.exp(
        torch.linspace(0.0, math.log(64.0), embedding_dim // 2, dtype=torch.float64)
    ).to(dtype=dtype, device=device)


def _embed_noise(c_noise, frequencies):
    """Sines and cosines of ``c_noise`` (shape ``(batch,)``): ``(batch, 2 len(frequencies))``."""
    angles = c_noise[:, None] * frequencies
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def _check_embedding_dim(embedding_dim):
    embedding_dim = check_positive_int(embedding_dim, "embedding_dim")
    if embedding_dim % 2:
        raise ValueError(f"embedding_dim must be even (sines and cosines), got {embedding_dim}.")
    return embedding_dim


class Preconditioned(nn.Module):
    """A denoiser ``D(x_t, t)`` from a raw network ``F`` by EDM's preconditioning.

    With ``sigma = g / s`` and the data scale ``sigma_data``, ``F`` sees its
    input at unit variance and predicts a residual scaled so that its target
    has unit variance (Karras et al., NeurIPS 2022, Table 1), written for any
    schedule in ``(s, g)`` without dividing by ``s``:

        D(x_t, t) = c_skip x_t + c_out F(c_in x_t, c_noise)
        c_in   = 1 / sqrt(g^2 + s^2 sigma_data^2)
        c_skip = s sigma_data^2 c_in^2
        c_out  = g sigma_data c_in
        c_noise = log(sigma) / 4   (clamped to [-12, 12])

    The same wrapper serves every raw network: :class:`MLPDenoiser`,
    :class:`~subclust.diffusion.UNetDenoiser`, or any module called as
    ``network(x, c_noise)`` with ``c_noise`` of shape ``(batch,)`` that
    returns the shape of ``x``. A network whose output starts at zero makes
    the untrained denoiser the optimal one for Gaussian data of scale ``sigma_data``.

    Parameters
    ----------
    network : torch.nn.Module
        The raw network ``F``.
    schedule : Schedule or str, default=VPLinear()
        The forward process, which gives ``s(t)``, ``g(t)``.
    sigma_data : float, default=0.5
        Standard deviation of the data per coordinate (set it from the training data).

    Attributes
    ----------
    network, schedule, sigma_data
        As given (``schedule`` as a :class:`~subclust.diffusion.Schedule`).

    Examples
    --------
    An untrained MLP (zero output) gives the optimal denoiser of
    ``N(0, sigma_data^2 I)``, the shrinkage ``s sigma_data^2 / (g^2 + s^2 sigma_data^2)``:

    >>> import torch
    >>> from subclust.diffusion import EDM, MLPDenoiser, Preconditioned
    >>> net = Preconditioned(MLPDenoiser(4, random_state=0), schedule=EDM(), sigma_data=0.5)
    >>> x_t = torch.ones(2, 4)
    >>> [round(v, 6) for v in net(x_t, torch.tensor([0.5, 1.0]))[:, 0].tolist()]
    [0.5, 0.2]
    """

    def __init__(self, network, schedule=None, sigma_data=0.5):
        super().__init__()
        if not isinstance(network, nn.Module):
            raise ValueError(
                f"network must be a torch.nn.Module called as network(x, c_noise), "
                f"got {type(network).__name__}."
            )
        if not sigma_data > 0:
            raise ValueError(f"sigma_data must be positive, got {sigma_data}.")
        self.network = network
        self.schedule = get_schedule(schedule)
        self.sigma_data = float(sigma_data)

    def forward(self, x_t, t):
        """The denoised estimate ``x0_hat``, of the shape of ``x_t``."""
        s, g = schedule_coefficients(self.schedule, t, x_t)
        c_noise = 0.25 * (torch.log(g) - torch.log(s)).clamp(-12.0, 12.0)
        s, g = _append_dims(s, x_t.ndim), _append_dims(g, x_t.ndim)
        c_in = torch.rsqrt(g**2 + (s * self.sigma_data) ** 2)
        c_skip = s * self.sigma_data**2 * c_in**2
        c_out = g * self.sigma_data * c_in
        return c_skip * x_t + c_out * self.network(c_in * x_t, c_noise)


class _RawNetwork(nn.Module):
    """A raw network ``F(x, c_noise)``: PyTorch's initialization, the output layer at zero.

    A zero output layer makes the preconditioned denoiser start as the skip
    connection ``c_skip x`` alone, as in EDM.
    """

    def _output_layer(self):
        raise NotImplementedError

    @torch.no_grad()
    def reset_parameters(self, random_state=None):
        """Initialize the weights as PyTorch's layers do, from ``random_state``; the output at zero.

        Parameters
        ----------
        random_state : int, torch.Generator or None, default=None
            A seed, a generator drawn from, or None for fresh OS entropy.
        """
        gen = as_generator(random_state)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                reset_layer_(module, gen)
            elif isinstance(module, nn.GroupNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        output = self._output_layer()
        nn.init.zeros_(output.weight)
        nn.init.zeros_(output.bias)


class MLPDenoiser(_RawNetwork):
    """The raw network ``F(x, c_noise)`` of a time-conditioned MLP denoiser for vectors.

    ``depth`` hidden layers of width ``hidden`` with SiLU, fed the input and
    a sinusoidal embedding of ``c_noise``; the last layer starts at zero.
    Wrap it in :class:`Preconditioned` to get a denoiser ``D(x_t, t)``.

    Parameters
    ----------
    n_features : int
    hidden : int, default=128
    depth : int, default=3
        Number of hidden layers.
    embedding_dim : int, default=32
        Size of the sinusoidal embedding of the noise level (even).
    random_state : int, torch.Generator or None, default=None
        Randomness of the initial weights: a seed, a generator drawn from, or
        None for fresh OS entropy (torch's global generator is not used).
    dtype : torch.dtype, default=torch.float32
    device : torch.device or str, optional

    Examples
    --------
    >>> import torch
    >>> from subclust.diffusion import MLPDenoiser, Preconditioned
    >>> F = MLPDenoiser(48, random_state=0)
    >>> sum(p.numel() for p in F.parameters())
    49584
    >>> F(torch.ones(3, 48), torch.zeros(3)).abs().max().item()  # the last layer starts at zero
    0.0
    >>> denoiser = Preconditioned(F, schedule="edm", sigma_data=0.5)
    """

    def __init__(
        self, n_features, hidden=128, depth=3, embedding_dim=32, random_state=None,
        dtype=torch.float32, device=None,
    ):  # fmt: skip
        super().__init__()
        self.n_features = check_positive_int(n_features, "n_features")
        hidden = check_positive_int(hidden, "hidden")
        depth = check_positive_int(depth, "depth")
        embedding_dim = _check_embedding_dim(embedding_dim)
        self.register_buffer("frequencies", _noise_frequencies(embedding_dim, dtype, device))
        # Build on the meta device so that construction draws nothing from torch's global
        # generator, then initialize every weight from ``random_state``.
        widths = [n_features + embedding_dim] + [hidden] * depth
        layers = []
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(fan_in, fan_out, device="meta", dtype=dtype), nn.SiLU()]
        layers.append(nn.Linear(hidden, n_features, device="meta", dtype=dtype))
        self.net = nn.Sequential(*layers).to_empty(device=device or "cpu")
        self.reset_parameters(random_state)

    def _output_layer(self):
        return self.net[-1]

    def forward(self, x, c_noise):
        """``F(x, c_noise)`` of shape ``(batch, n_features)``; ``c_noise`` of shape ``(batch,)``."""
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(
                f"x must have shape (batch, n_features={self.n_features}), got {tuple(x.shape)}."
            )
        features = torch.cat([x, _embed_noise(c_noise, self.frequencies)], dim=1)
        return self.net(features)
