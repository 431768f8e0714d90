r"""Denoisers built from a fitted subspace clustering, with no gradient step.

Wang et al. (arXiv:2409.02426) show that training the low-rank mixture
denoiser by denoising score matching is subspace clustering. The converse
makes a generator out of any clustering: given the labels of the samples,
the parameters of a mixture of low-rank Gaussians follow in closed form, and
the exact posterior mean of that mixture is a trained denoiser.

Per cluster ``k`` with samples ``X_k`` (``N_k`` rows):

- mean ``mu_k``: the cluster mean when the subspaces are affine (``center``;
  ``KSubspaces(affine=True)``), else 0;
- basis ``U_k``: the top ``d_k`` right singular vectors of ``X_k - mu_k``,
  the principal subspace of the cluster. For one component this is the
  minimizer of the denoising loss (PCA; Wang et al., arXiv:2409.02426), so for fixed
  labels it is the optimum of the training problem; it equals the bases of
  :class:`~subclust.cluster.KSubspaces` at convergence. ``d_k`` comes from
  the estimator's ``bases_``, from ``dims``, or is the smallest rank holding
  ``energy`` of the cluster's Frobenius norm;
- latent covariance: the singular vectors diagonalize the second-moment
  matrix of the coordinates ``U_k^T (x - mu_k)``, so its eigenvalues
  ``s_kj^2 / N_k`` are a diagonal latent covariance (minus the noise
  variance below): 'diagonal'. Sample eigenvalues spread out even when the
  true ones are equal (by about ``+-2 sqrt(d_k / N_k)`` relative, the
  Marchenko-Pastur law), which costs a few percent of denoising loss at
  ``N_k = 10 d_k``; 'shrunk' (the default) pulls them toward their mean by
  the Ledoit-Wolf coefficient (Ledoit & Wolf, J. Multivariate Anal. 88,
  2004), which is near 0 when the spread is real and near 1 when it is
  sampling noise. 'isotropic' keeps their mean, 'unit' the paper's 1;
- weight ``pi_k = N_k / N``;
- off-subspace noise ``sigma_0`` (optional): the residual energy of all
  clusters over its degrees of freedom ``sum_k (N_k - c - d_k)(n - d_k)``
  (``c = 1`` when centred): fitting ``d_k`` directions absorbs ``d_k (n - d_k)``
  of the ``N_k (n - d_k)`` squared noise coordinates off the true subspace.

:class:`SubspaceKDEDenoiser` keeps the subspaces but replaces each cluster's
Gaussian latent by a Gaussian kernel density estimate of its projected
samples: the score estimator of Wu & Cai (arXiv:2605.30153, ICML 2026) for
unions of subspaces with non-Gaussian latents, whose samples converge in
W1 at the rate ``N^{-1/max(k, 2)}`` of the intrinsic dimension ``k``.
"""

import numbers
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
import torch
from torch import nn

from subclust.diffusion._utils import schedule_coefficients
from subclust.diffusion.schedules import get_schedule
from subclust.subspace import numerical_rank
from subclust.utils.parallel import blas_threads
from subclust.utils.validation import HasMethods, Interval, StrOptions, validate_params

__all__ = [
    "LATENT_COVARIANCES",
    "MixtureEstimate",
    "estimate_mixture",
    "mixture_from_clustering",
    "SubspaceKDEDenoiser",
]

LATENT_COVARIANCES = ("shrunk", "diagonal", "isotropic", "unit")


@dataclass
class MixtureEstimate:
    """The parameters of a mixture of low-rank Gaussians estimated from labelled samples.

    Attributes
    ----------
    bases : list of ndarray of shape (n_features, d_k)
        Orthonormal bases, columns ordered by decreasing latent variance.
    weights : ndarray of shape (K,)
        Mixture weights ``N_k / N``.
    variances : list of ndarray of shape (d_k,)
        Latent variance along each basis direction (all ones for 'unit').
    means : ndarray of shape (K, n_features) or None
        Component means (None for subspaces through the origin).
    noise : float
        Standard deviation of the isotropic off-subspace noise.
    clusters : ndarray of shape (K,)
        The cluster label of each component (empty clusters are dropped).
    counts : ndarray of shape (K,)
        Samples per component.
    latents : list of ndarray of shape (N_k, d_k)
        Coordinates ``U_k^T (x - mu_k)`` of the samples of each component.

    Examples
    --------
    Draws from an estimate lie on its subspaces, in the estimated proportions:

    >>> from subclust.datasets import make_molrg
    >>> from subclust.diffusion import off_subspace_energy
    >>> X, y, _ = make_molrg(n_samples=[20, 60], n_features=10, dims=2, random_state=0)
    >>> est = estimate_mixture(X, y, dims=2)
    >>> est.weights.tolist(), est.counts.tolist(), [A.shape for A in est.latents]
    ([0.25, 0.75], [20, 60], [(20, 2), (60, 2)])
    >>> X_new, y_new = est.sample(400, random_state=0)
    >>> X_new.shape, bool(off_subspace_energy(X_new, est.bases) < 1e-12)
    ((400, 10), True)
    >>> bool(abs((y_new == 1).mean() - 0.75) < 0.1)
    True
    """

    bases: list
    weights: np.ndarray
    variances: list
    means: np.ndarray | None
    noise: float
    clusters: np.ndarray
    counts: np.ndarray
    latents: list = field(repr=False)

    @property
    def dims(self):
        """Dimension ``d_k`` of each component."""
        return [U.shape[1] for U in self.bases]

    def sample(self, n_samples, random_state=None):
        """Draw from the estimated mixture (numpy): ``x = mu_k + U_k a + sigma_0 e``.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            Index of the component of each sample (into ``clusters``).
        """
        rng = np.random.default_rng(random_state)
        y = rng.choice(len(self.bases), size=n_samples, p=self.weights)
        n = self.bases[0].shape[0]
        X = np.zeros((n_samples, n))
        for k, (U, lam) in enumerate(zip(self.bases, self.variances)):
            rows = np.flatnonzero(y == k)
            a = rng.standard_normal((rows.size, U.shape[1])) * np.sqrt(lam)
            X[rows] = a @ U.T + (0.0 if self.means is None else self.means[k])
        if self.noise > 0:
            X += self.noise * rng.standard_normal(X.shape)
        return X, y


def _check_X(X):
    X = np.asarray(X.detach().cpu() if isinstance(X, torch.Tensor) else X)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] < 2:
        raise ValueError(
            f"X must be a 2-D array (n_samples, n_features >= 2) of the clustered samples, "
            f"got shape {X.shape}; flatten images to rows first."
        )
    X = X.astype(np.float64, copy=False)
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or infinity; remove or impute those values first.")
    return X


def _check_dims_arg(dims, n_clusters):
    if dims is None:
        return None
    if isinstance(dims, numbers.Integral):
        dims = [int(dims)] * n_clusters
    dims = [int(d) for d in dims]
    if len(dims) != n_clusters or min(dims) < 1:
        raise ValueError(
            f"dims must be a positive int or {n_clusters} positive ints (one per cluster), "
            f"got {dims}."
        )
    return dims


#: Constraints of the parameters of the estimated mixture.
_MIXTURE_CONSTRAINTS = {
    "dims": [Interval(Integral, 1, None, closed="left"), "array-like", None],
    "latent_covariance": [StrOptions(set(LATENT_COVARIANCES))],
    "noise": [Interval(Real, 0, None, closed="left"), StrOptions({"estimate"})],
    "clusters": ["array-like", None],
    "variance_floor": [Interval(Real, 0, None, closed="left")],
}


@validate_params(
    {
        "X": [torch.Tensor, "array-like"],
        "labels": ["array-like"],
        "n_clusters": [Interval(Integral, 1, None, closed="left"), None],
        "energy": [Interval(Real, 0, 1, closed="right")],
        "center": ["boolean"],
        **_MIXTURE_CONSTRAINTS,
    },
    prefer_skip_nested_validation=True,
)
def estimate_mixture(
    X, labels, *, n_clusters=None, dims=None, energy=0.95, center=False,
    latent_covariance="shrunk", noise=0.0, clusters=None, variance_floor=1e-6,
):
    """Estimate a mixture of low-rank Gaussians from samples and their cluster labels.

    See the module docstring for the estimators.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    labels : array-like of int of shape (n_samples,)
        Cluster of each sample, in ``0 .. n_clusters - 1``.
    n_clusters : int, optional
        Number of clusters (default ``labels.max() + 1``).
    dims : int or list of int, optional
        Dimension of each cluster's subspace (capped at the rank of its
        samples and at ``n_features - 1``); default from ``energy``.
    energy : float in (0, 1], default=0.95
        With ``dims=None``: the smallest rank holding this share of the
        cluster's Frobenius norm (:func:`subclust.subspace.numerical_rank`).
    center : bool, default=False
        Affine subspaces through the cluster means (True) or linear subspaces.
    latent_covariance : {'shrunk', 'diagonal', 'isotropic', 'unit'}, default='shrunk'
    noise : float or 'estimate', default=0.0
        Off-subspace noise standard deviation, or estimated from the residuals.
    clusters : sequence of int, optional
        Keep only these clusters (e.g. one, for class-conditional generation).
    variance_floor : float, default=1e-6
        Latent variances are at least this fraction of the largest one (a
        direction holding only noise would otherwise get variance <= 0).

    Returns
    -------
    estimate : MixtureEstimate

    Examples
    --------
    >>> from subclust.datasets import make_molrg
    >>> X, y, _ = make_molrg(n_samples=[50, 50], n_features=10, dims=2, random_state=0)
    >>> est = estimate_mixture(X, y, dims=2)
    >>> est.dims, est.weights.tolist()
    ([2, 2], [0.5, 0.5])
    """
    X = _check_X(X)
    labels = np.asarray(labels)
    if labels.shape != (X.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be {X.shape[0]} integers (one per row of X), got shape {labels.shape} "
            f"and dtype {labels.dtype}."
        )
    if labels.min() < 0:
        raise ValueError("labels must be non-negative cluster indices.")
    n_clusters = int(labels.max()) + 1 if n_clusters is None else int(n_clusters)
    if labels.max() >= n_clusters:
        raise ValueError(f"labels holds {labels.max()} >= n_clusters={n_clusters}.")
    dims = _check_dims_arg(dims, n_clusters)
    counts = np.bincount(labels, minlength=n_clusters)
    keep = np.flatnonzero(counts) if clusters is None else np.asarray(clusters, dtype=int)
    if keep.size == 0 or keep.min() < 0 or keep.max() >= n_clusters or np.any(counts[keep] == 0):
        raise ValueError(
            f"clusters={None if clusters is None else list(clusters)} must name non-empty "
            f"clusters among 0..{n_clusters - 1} (sizes {counts.tolist()})."
        )

    # Many small factorizations: one BLAS thread is faster than several (far faster on a
    # loaded machine, where spinning threads wait for each other).
    with blas_threads(1):
        fits = [_fit_cluster(X[labels == k], None if dims is None else dims[k], energy, center)
                for k in keep]
    sigma_sq = _noise_variance(fits) if noise == "estimate" else float(noise) ** 2
    top = max(float(f["second_moments"].max(initial=0.0)) for f in fits)
    variances = []
    for f in fits:
        lam = np.maximum(f["second_moments"] - sigma_sq, variance_floor * max(top, 1e-300))
        if latent_covariance == "shrunk":
            alpha = f["shrinkage"]
            lam = (1 - alpha) * lam + alpha * lam.mean()
        elif latent_covariance == "isotropic":
            lam = np.full_like(lam, lam.mean())
        elif latent_covariance == "unit":
            lam = np.ones_like(lam)
        variances.append(lam)
    return MixtureEstimate(
        bases=[f["basis"] for f in fits],
        weights=counts[keep] / counts[keep].sum(),
        variances=variances,
        means=np.array([f["mean"] for f in fits]) if center else None,
        noise=float(np.sqrt(sigma_sq)),
        clusters=keep,
        counts=counts[keep],
        latents=[f["latents"] for f in fits],
    )


def _principal_directions(Y):
    """Singular values (decreasing) and right singular vectors (rows) of ``Y``.

    From the eigendecomposition of the smaller Gram matrix, three times
    cheaper than an SVD for the cluster sizes of image data; squaring loses
    the singular values below ``1e-8`` of the largest, which hold no energy
    that matters here (variances are floored anyway).
    """
    N, n = Y.shape
    if N < n:
        evals, u = np.linalg.eigh(Y @ Y.T)
        evals, u = np.maximum(evals[::-1], 0.0), u[:, ::-1]
        s = np.sqrt(evals)
        keep = s > (s[0] * 1e-7 if s[0] > 0 else np.inf)
        Vt = (Y.T @ (u[:, keep] / s[keep])).T
        return s, Vt
    evals, V = np.linalg.eigh(Y.T @ Y)
    return np.sqrt(np.maximum(evals[::-1], 0.0)), V[:, ::-1].T


def _fit_cluster(points, dim, energy, center):
    """Principal subspace, latent second moments and residual energy of one cluster."""
    mean = points.mean(axis=0) if center else None
    Y = points - mean if center else points
    s, Vt = _principal_directions(Y)
    rank = Vt.shape[0] if Y.shape[0] < Y.shape[1] else int(np.sum(s > s[0] * 1e-7))
    d = numerical_rank(s, energy) if dim is None else dim
    # A basis needs d < n_features, and directions beyond the cluster's rank hold nothing.
    d = max(1, min(d, max(rank, 1), Y.shape[1] - 1))
    if d > Vt.shape[0]:  # a rank-0 cluster (all points equal): any direction will do
        Vt = np.linalg.svd(Y, full_matrices=True)[2]
    # Re-orthonormalize (the Gram route leaves errors of order eps * condition), signs kept.
    Q, R = np.linalg.qr(Vt[:d].T)
    basis = Q * np.where(np.diag(R) < 0, -1.0, 1.0)
    s_full = np.concatenate([s, np.zeros(max(d - s.size, 0))])
    return {
        "mean": mean,
        "basis": basis,
        "second_moments": s_full[:d] ** 2 / points.shape[0],
        "residual": max(float(np.sum(Y * Y)) - float(np.sum(s_full[:d] ** 2)), 0.0),
        "latents": Y @ basis,
        "shrinkage": _ledoit_wolf(Y @ basis),
        "dof": max(points.shape[0] - int(center) - d, 0) * (Y.shape[1] - d),
    }


def _ledoit_wolf(latents):
    """Ledoit-Wolf shrinkage coefficient of the latent covariance toward a multiple of I."""
    if latents.shape[1] < 2 or latents.shape[0] < 2:
        return 0.0
    from sklearn.covariance import ledoit_wolf_shrinkage

    return float(ledoit_wolf_shrinkage(latents, assume_centered=True))


def _noise_variance(fits):
    """Pooled residual energy over its degrees of freedom (see the module docstring)."""
    dof = sum(f["dof"] for f in fits)
    return sum(f["residual"] for f in fits) / dof if dof > 0 else 0.0


def _labels_of(estimator, X):
    """The estimator's labels of the rows of ``X``: ``labels_`` if they match, else ``predict``."""
    labels = getattr(estimator, "labels_", None)
    if labels is not None and len(labels) == X.shape[0]:
        return np.asarray(labels)
    if labels is None and not hasattr(estimator, "predict"):
        raise ValueError(
            f"{type(estimator).__name__} is not a fitted clusterer: it has no labels_. "
            "Fit it first (estimator.fit(X))."
        )
    if hasattr(estimator, "predict"):
        try:
            return np.asarray(estimator.predict(X))
        except Exception as error:  # NotFittedError, feature mismatch...
            raise ValueError(
                f"Could not label the {X.shape[0]} rows of X with {type(estimator).__name__} "
                f"({error}). Pass the samples the estimator was fitted on, in the same order."
            ) from error
    raise ValueError(
        f"{type(estimator).__name__}.labels_ has {len(labels)} labels for {X.shape[0]} rows of "
        "X and the estimator has no predict: pass the samples it was fitted on."
    )


def _default_dims(estimator, X, dims, energy):
    """Dimensions from the estimator's bases when none are given and they live in X's space."""
    if dims is not None or energy is not None:
        return dims, 0.95 if energy is None else energy
    bases = getattr(estimator, "bases_", None)
    if bases is not None and all(np.shape(U)[0] == X.shape[1] for U in bases):
        return [int(np.shape(U)[1]) for U in bases], 0.95
    raise ValueError(
        f"{type(estimator).__name__} has no bases_ in the {X.shape[1]}-dimensional space of X "
        "(it was fitted on other features); give dims= or energy=."
    )


@validate_params(
    {
        "estimator": [HasMethods(["fit"])],
        "X": [torch.Tensor, "array-like"],
        "energy": [Interval(Real, 0, 1, closed="right"), None],
        "center": ["boolean", None],
        **_MIXTURE_CONSTRAINTS,
    },
    prefer_skip_nested_validation=True,
)
def mixture_from_clustering(
    estimator, X, *, dims=None, energy=None, center=None, latent_covariance="shrunk",
    noise=0.0, clusters=None, variance_floor=1e-6,
):
    """Estimate the mixture of low-rank Gaussians defined by a fitted clusterer.

    The labels are the estimator's ``labels_`` (or ``predict(X)`` when ``X``
    is not the training set), so the clusterer may have been fitted on other
    features of the same samples (e.g. scattering features of images whose
    pixels are ``X``). Any subclust clusterer works: KSubspaces,
    SparseSubspaceClustering, LeastSquaresSubspaceClustering,
    ThresholdedSubspaceClustering, DiffusionSubspaceClustering, and any
    scikit-learn clusterer with ``labels_``.

    Parameters
    ----------
    estimator : fitted clusterer
    X : array-like of shape (n_samples, n_features)
    dims : int or list of int, optional
        Default: the dimension of each of the estimator's ``bases_`` (when
        they live in the space of ``X``), else ``energy`` decides.
    energy : float in (0, 1], optional
        Choose each dimension by this energy threshold instead.
    center : bool, optional
        Affine subspaces through the cluster means. Default: True when the
        estimator has ``means_`` (``KSubspaces(affine=True)``) or ``affine=True``.
    latent_covariance, noise, clusters, variance_floor
        As in :func:`estimate_mixture`.

    Returns
    -------
    estimate : MixtureEstimate

    Examples
    --------
    On noise-free data K-subspaces finds the clusters, and the principal
    subspaces of the clusters are the true ones:

    >>> from subclust import KSubspaces
    >>> from subclust.datasets import make_molrg
    >>> from subclust.metrics import subspace_recovery_error
    >>> X, _, truth = make_molrg(n_samples=[40, 40], n_features=12, dims=2, random_state=0)
    >>> kss = KSubspaces(n_clusters=2, dims=2, random_state=0).fit(X)
    >>> est = mixture_from_clustering(kss, X)
    >>> est.dims, est.weights.tolist(), est.means is None
    ([2, 2], [0.5, 0.5], True)
    >>> bool(subspace_recovery_error(est.bases, truth) < 1e-6)
    True
    """
    X = _check_X(X)
    labels = _labels_of(estimator, X)
    n_clusters = getattr(estimator, "n_clusters", None)
    if not isinstance(n_clusters, numbers.Integral):
        n_clusters = None
    if n_clusters is not None and labels.size and labels.max() >= n_clusters:
        n_clusters = None
    dims, energy = _default_dims(estimator, X, dims, energy)
    if dims is not None and not isinstance(dims, numbers.Integral) and n_clusters is None:
        n_clusters = len(dims)
    if center is None:
        center = getattr(estimator, "means_", None) is not None or bool(
            getattr(estimator, "affine", False) is True
        )
    return estimate_mixture(
        X, labels, n_clusters=n_clusters, dims=dims, energy=energy, center=center,
        latent_covariance=latent_covariance, noise=noise, clusters=clusters,
        variance_floor=variance_floor,
    )


class SubspaceKDEDenoiser(nn.Module):
    r"""Posterior mean when each cluster's latent law is a kernel density estimate on its subspace.

    Model: with probability ``N_k / N`` pick cluster ``k``, then a training
    latent ``a_i`` of that cluster uniformly, and
    ``x_0 = mu_k + U_k (a_i + h_k z)``, ``z ~ N(0, I_{d_k})``: a Gaussian KDE
    with bandwidth ``h_k`` of the projected samples, supported on the
    (affine) subspace. It is a mixture of ``N`` low-rank Gaussians sharing
    ``K`` bases, so with ``y = x_t - s mu_k``, ``p = U_k^T y``,
    ``v_k = s^2 h_k^2 + g^2``:

        logit_ki = log(pi_k / N_k) - (d_k/2) log v_k - ((n - d_k)/2) log g^2
                   - ||p - s a_i||^2 / (2 v_k) - (||y||^2 - ||p||^2) / (2 g^2)
        E[x_0 | x_t, k, i] = mu_k + U_k (a_i + (s h_k^2 / v_k) (p - s a_i)).

    ``h = 0`` is the empirical (memorizing) denoiser of the projected
    samples; a bandwidth shrinking like ``N_k^{-1/max(d_k, 2)}`` generates
    new samples and keeps the W1 rate ``N^{-1/max(k, 2)}`` of Wu & Cai
    (arXiv:2605.30153), who use a kernel density score estimator.

    Parameters
    ----------
    bases : list of array-like of shape (n_features, d_k)
        Orthonormal bases.
    latents : list of array-like of shape (N_k, d_k)
        The projected training samples of each cluster.
    bandwidth : float or sequence of float
        ``h_k`` (>= 0), one for all clusters or one each.
    means : array-like of shape (K, n_features), optional
    schedule : Schedule or str, default=VPLinear()
    dtype : torch.dtype, default=torch.float64
    device : torch.device or str, optional

    Examples
    --------
    >>> from subclust.cluster import KSubspaces
    >>> from subclust.datasets import make_molrg
    >>> X, _, _ = make_molrg(n_samples=[30, 30], n_features=8, dims=2, random_state=0)
    >>> net = SubspaceKDEDenoiser.from_clustering(KSubspaces(2, dims=2, random_state=0).fit(X), X)
    >>> import torch
    >>> net(torch.zeros(3, 8, dtype=torch.float64), 0.5).shape
    torch.Size([3, 8])
    """

    def __init__(self, bases, latents, bandwidth, means=None, schedule=None,
                 dtype=torch.float64, device=None):
        super().__init__()
        if len(bases) == 0 or len(latents) != len(bases):
            raise ValueError(
                f"Give one latent array per basis: {len(bases)} bases, {len(latents)} latents."
            )
        factory = {"dtype": dtype, "device": device}
        self.schedule = get_schedule(schedule)
        self.n_features = int(np.shape(bases[0])[0])
        for k, (U, A) in enumerate(zip(bases, latents)):
            shapes_ok = np.ndim(A) == 2 and np.shape(A)[1] == np.shape(U)[1]
            if np.shape(U)[0] != self.n_features or not shapes_ok:
                raise ValueError(
                    f"bases[{k}] has shape {np.shape(U)} and latents[{k}] {np.shape(A)}: expected "
                    f"(n_features={self.n_features}, d_k) and (N_k >= 1, d_k)."
                )
            if np.shape(A)[0] == 0:
                raise ValueError(f"latents[{k}] is empty: every cluster needs a sample.")
        h = np.broadcast_to(np.asarray(bandwidth, dtype=np.float64), (len(bases),))
        if not np.all(np.isfinite(h)) or np.any(h < 0):
            raise ValueError(f"bandwidth must be non-negative, got {bandwidth!r}.")
        self.dims = [int(np.shape(U)[1]) for U in bases]
        for k, (U, A) in enumerate(zip(bases, latents)):
            for name, value in ((f"U{k}", U), (f"A{k}", A)):
                value = torch.as_tensor(np.asarray(value, dtype=np.float64))
                self.register_buffer(name, value.to(**factory))
        counts = np.array([np.shape(A)[0] for A in latents], dtype=np.float64)
        self.register_buffer("bandwidth", torch.as_tensor(h.copy()).to(**factory))
        # pi_k / N_k = 1 / N for every atom: the KDE of the whole sample.
        self.register_buffer(
            "log_atom_weight", torch.full((len(bases),), -np.log(counts.sum())).to(**factory)
        )
        means = None if means is None else torch.as_tensor(np.asarray(means, dtype=np.float64))
        if means is not None and tuple(means.shape) != (len(bases), self.n_features):
            raise ValueError(
                f"means must have shape ({len(bases)}, {self.n_features}), "
                f"got {tuple(means.shape)}."
            )
        self.register_buffer("means", None if means is None else means.to(**factory))

    @classmethod
    def from_clustering(cls, estimator, X, *, bandwidth="rate", dims=None, energy=None,
                        center=None, clusters=None, schedule=None, dtype=torch.float64,
                        device=None):
        """Build it from a fitted clusterer (see :func:`mixture_from_clustering`).

        ``bandwidth='rate'`` sets ``h_k = sigma_k N_k^{-1/max(d_k, 2)}``,
        ``sigma_k`` the root mean latent variance of cluster ``k``: the
        smoothing then adds at most of the order of the empirical measure's
        own W1 error. A number sets every ``h_k``.
        """
        est = mixture_from_clustering(
            estimator, X, dims=dims, energy=energy, center=center, clusters=clusters,
        )
        if isinstance(bandwidth, str):
            if bandwidth != "rate":
                raise ValueError(f"bandwidth must be a number or 'rate', got {bandwidth!r}.")
            bandwidth = [
                float(np.sqrt(np.mean(A**2)) * len(A) ** (-1.0 / max(A.shape[1], 2)))
                for A in est.latents
            ]
        net = cls(est.bases, est.latents, bandwidth, est.means, schedule, dtype, device)
        net.cluster_ids = est.clusters.tolist()
        return net

    def forward(self, x_t, t):
        """The denoised estimate ``x0_hat`` (same shape as ``x_t``)."""
        x = x_t.reshape(x_t.shape[0], -1)
        if x.shape[1] != self.n_features:
            raise ValueError(
                f"x_t must have {self.n_features} features per sample, got {x.shape[1]}."
            )
        s, g = schedule_coefficients(self.schedule, t, x)
        s, g = s[:, None], g[:, None]
        n = self.n_features
        logits, parts = [], []
        for k, d in enumerate(self.dims):
            U, A = getattr(self, f"U{k}").to(x.dtype), getattr(self, f"A{k}").to(x.dtype)
            h = self.bandwidth[k].to(x.dtype)
            y = x if self.means is None else x - s * self.means[k].to(x.dtype)
            p = y @ U
            off = (y * y).sum(1, keepdim=True) - (p * p).sum(1, keepdim=True)
            v = s**2 * h**2 + g**2
            dist = (p * p).sum(1, keepdim=True) - 2 * s * (p @ A.T) + s**2 * (A * A).sum(1)
            logits.append(
                self.log_atom_weight[k].to(x.dtype) - 0.5 * d * torch.log(v)
                - 0.5 * (n - d) * torch.log(g**2) - dist / (2 * v) - off.clamp(min=0) / (2 * g**2)
            )
            parts.append((U, A, p, s * h**2 / v, s))
        w = torch.softmax(torch.cat(logits, dim=1), dim=1)
        out = torch.zeros_like(x)
        start = 0
        for k, (U, A, p, gain, s_col) in enumerate(parts):
            w_k = w[:, start:start + A.shape[0]]
            start += A.shape[0]
            mass = w_k.sum(1, keepdim=True)
            latent = (w_k @ A) * (1 - gain * s_col) + gain * mass * p
            out = out + latent @ U.T
            if self.means is not None:
                out = out + mass * self.means[k].to(x.dtype)
        return out.reshape(x_t.shape)
