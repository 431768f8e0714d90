"""The bridge on real digits: a U-Net trained on MNIST, its Jacobians, clusters and attributes.

The experiment of Wang et al. (arXiv:2409.02426) and Chen et al.
(arXiv:2409.02374), on CPU and at small scale:

1. train a small U-Net denoiser (:class:`~subclust.diffusion.unet.UNetDenoiser`)
   on the 10,000 MNIST test digits (:func:`train_mnist_denoiser`);
2. the numerical rank of its Jacobian at noisy digits against the noise
   level (:func:`mnist_rank_profile`);
3. the Jacobian's top singular vectors at a digit against the bases of
   every class and of every K-subspaces cluster (:func:`basis_comparison`):
   is the local basis closest to the digit's own class / cluster?
4. edits along singular vectors against random directions, measured by the
   Morpho-MNIST attributes (:func:`subclust.bridge.attribute_correspondence`);
5. figures: rank profile, principal-angle heatmap, edit strips, basis images.

:func:`run_mnist_story` runs all of it with one :class:`StoryConfig`
(``StoryConfig.small()`` runs in about a minute for the tests and the
notebook). The network sees digits scaled to ``[-1, 1]``
(:func:`to_model_space`); Jacobians, subspaces and the attributes are the
same in either scale (the map is affine and the attributes threshold at a
fraction of each image's range).
"""

import os
import time
from dataclasses import dataclass, field, fields, replace
from numbers import Integral, Real

import numpy as np

from subclust.subspace import orthonormal_basis, principal_angles, subspace_distance
from subclust.utils.parallel import torch_threads
from subclust.utils.tables import Table
from subclust.utils.validation import HasMethods, Interval, TORCH_RANDOM_STATE, validate_params

__all__ = [
    "StoryConfig",
    "MNISTStory",
    "BasisComparison",
    "to_model_space",
    "from_model_space",
    "train_mnist_denoiser",
    "save_denoiser",
    "load_denoiser",
    "add_noise",
    "denoise",
    "mnist_rank_profile",
    "class_bases",
    "basis_comparison",
    "edit_strip",
    "plot_edit_strips",
    "plot_basis_images",
    "run_mnist_story",
]

#: The geometric attributes: the story asks whether top singular directions edit them.
GEOMETRY = ("thickness", "slant", "width", "height")


@validate_params(
    {
        "X": ["array-like"],
    },
    prefer_skip_nested_validation=True,
)
def to_model_space(X):
    """Digits in ``[0, 1]`` to the network's ``[-1, 1]``: ``2 X - 1``.

    Parameters
    ----------
    X : array-like
        Grey levels in ``[0, 1]``, any shape.

    Returns
    -------
    Z : ndarray of float64, same shape

    Examples
    --------
    >>> from subclust.experiments.mnist_story import to_model_space
    >>> to_model_space([0.0, 0.5, 1.0])
    array([-1.,  0.,  1.])
    """
    return 2.0 * np.asarray(X, dtype=np.float64) - 1.0


@validate_params(
    {
        "Z": ["array-like"],
    },
    prefer_skip_nested_validation=True,
)
def from_model_space(Z):
    """The inverse of :func:`to_model_space`, clipped to ``[0, 1]``.

    Parameters
    ----------
    Z : array-like
        Values in the network's space (denoiser outputs may leave ``[-1, 1]``).

    Returns
    -------
    X : ndarray of float64, same shape, in ``[0, 1]``

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.experiments.mnist_story import from_model_space, to_model_space
    >>> X = np.random.default_rng(0).random((3, 4))
    >>> bool(np.allclose(from_model_space(to_model_space(X)), X))  # a round trip
    True
    >>> from_model_space([-1.5, 0.0, 2.0])  # out-of-range outputs are clipped
    array([0. , 0.5, 1. ])
    """
    return np.clip((np.asarray(Z, dtype=np.float64) + 1.0) / 2.0, 0.0, 1.0)


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class StoryConfig:
    """Sizes and settings of the MNIST story.

    The defaults are the full run (training included, about 12 minutes on two
    idle cores, 40 under heavy load); :meth:`small` is the configuration of the tests.

    Attributes
    ----------
    n_train : int or None
        Training digits (None: all 10,000 test digits of MNIST).
    steps, batch_size, lr, channels : training of the U-Net.
    t : float
        Time (VP-linear schedule) of the Jacobians, comparisons and edits.
    profile_ts : tuple of float
        Times of the rank profile.
    n_profile : int
        Digits of the rank profile (each costs a full 784 x 784 Jacobian per time).
    n_compare : int
        Digits compared with the class and cluster bases.
    jacobian_rank : int
        Top singular vectors taken as the local basis.
    class_dim : int
        Dimension of every class and cluster basis.
    n_clusters : int
        K-subspaces clusters.
    cluster_max_iter : int
        Iterations of the K-subspaces clustering (one start).
    n_attribute : int
        Digits edited for the attribute correspondence.
    edit_rank, n_random, n_edits, edit_amplitude : see ``rank``, ``n_random``,
        ``n_edits`` and ``amplitude`` of :func:`subclust.bridge.attribute_correspondence`.
    strip_steps, strip_amplitude : the edit strips (:func:`plot_edit_strips`).
    n_threads : int
        Torch threads, at most those the caller allows
        (:func:`subclust.utils.parallel.torch_threads`). A U-Net of 16 channels
        on 28 x 28 images trains about as fast or faster on one thread than
        on two on a shared 2-core machine (measured: 0.35 s against 1.7 s
        per step of batch 64 under load), so the story uses one.
    random_state : int
    """

    n_train: int | None = None
    steps: int = 2000
    batch_size: int = 64
    lr: float = 2e-3
    channels: int = 16
    t: float = 0.3
    profile_ts: tuple = (0.01, 0.03, 0.06, 0.1, 0.15, 0.2, 0.3, 0.45, 0.6, 0.8)
    n_profile: int = 4
    n_compare: int = 500
    jacobian_rank: int = 10
    class_dim: int = 20
    n_clusters: int = 10
    cluster_max_iter: int = 10
    n_attribute: int = 100
    edit_rank: int = 5
    n_random: int = 5
    n_edits: int = 96
    edit_amplitude: float = 3.0
    strip_steps: int = 7
    strip_amplitude: float = 6.0
    n_threads: int = 1
    random_state: int = 0

    @classmethod
    def small(cls, **changes):
        """A configuration that runs in about a minute (tests, the notebook's default)."""
        small = cls(
            n_train=600, steps=40, channels=8, profile_ts=(0.02, 0.3, 0.8), n_profile=1,
            n_compare=10, jacobian_rank=5, class_dim=10, cluster_max_iter=2, n_attribute=3,
            n_random=2, edit_rank=3, n_edits=16, strip_steps=5,
        )
        return replace(small, **changes)

    def as_dict(self):
        return {f.name: getattr(self, f.name) for f in fields(self)}


# --------------------------------------------------------------------------- the network


@validate_params(
    {
        "images": ["array-like"],
        "steps": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "channels": [Interval(Integral, 1, None, closed="left")],
        "n_threads": [Integral],
        "progress": ["boolean"],
        "checkpoint_path": [str, os.PathLike, None],
        "random_state": TORCH_RANDOM_STATE,
    },
    prefer_skip_nested_validation=True,
)
def train_mnist_denoiser(images, steps=2000, batch_size=64, lr=2e-3, channels=16,
                         random_state=0, n_threads=1, progress=False, checkpoint_path=None):
    """Train a :class:`~subclust.diffusion.unet.UNetDenoiser` on digits by denoising score matching.

    EDM's log-normal noise levels and loss weighting (Karras et al., NeurIPS
    2022) on the VP-linear schedule, Adam with a cosine learning-rate decay.

    Parameters
    ----------
    images : array-like of shape (N, 28, 28) or (N, 784)
        Digits in ``[0, 1]`` (scaled to ``[-1, 1]`` here).
    steps, batch_size, lr : training length, minibatch size, learning rate.
    channels : int, default=16
        Width of the U-Net (16: about 0.2M parameters).
    random_state : int or torch.Generator, default=0
        The only randomness (weights, minibatches, noise).
    n_threads : int, default=1
        Torch threads during training, at most those the caller allows.
    progress : bool, default=False
        Show a progress bar of the training.
    checkpoint_path : str, optional
        Training checkpoints (see :func:`subclust.diffusion.train_denoiser`).

    Returns
    -------
    net : Preconditioned
        The :class:`~subclust.diffusion.unet.UNetDenoiser` in EDM's
        preconditioning (``sigma_data = 0.5``), in eval mode.
    result : subclust.diffusion.TrainResult
    """
    import torch

    from subclust.diffusion import (
        LogNormalSigma,
        Preconditioned,
        VPLinear,
        as_generator,
        train_denoiser,
    )
    from subclust.diffusion.unet import UNetDenoiser

    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 2:
        images = images.reshape(-1, 28, 28)
    if images.ndim != 3 or images.shape[0] == 0:
        raise ValueError(f"images must have shape (N, h, w) with N >= 1, got {images.shape}.")
    if images.min() < 0 or images.max() > 1:
        raise ValueError("images must lie in [0, 1] (load_mnist().images does).")
    gen = as_generator(random_state)
    X = torch.as_tensor(to_model_space(images)[:, None], dtype=torch.float32)
    with torch_threads(n_threads):
        network = UNetDenoiser(image_size=images.shape[1], channels=channels, random_state=gen)
        schedule = VPLinear()
        net = Preconditioned(network, schedule=schedule, sigma_data=0.5)
        # EDM's levels, clipped to the VP-linear times [0.001, 1] that the story reads.
        sigma_min, sigma_max = (float(schedule.sigma(t)) for t in (1e-3, 1.0))
        result = train_denoiser(
            net, X, steps=steps, batch_size=batch_size, lr=lr, lr_schedule="cosine",
            noise_levels=LogNormalSigma(sigma_min=sigma_min, sigma_max=sigma_max),
            weighting="edm", sigma_data=net.sigma_data, random_state=gen, verbose=int(progress),
            checkpoint_path=checkpoint_path,
        )
    net.eval()
    return net, result


@validate_params(
    {
        "path": [str, os.PathLike],
        "net": [HasMethods(["state_dict"])],
        "force": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def save_denoiser(path, net, force=False, **info):
    """Save a preconditioned :class:`UNetDenoiser` to a model file (:func:`subclust.io.save_model`).

    The raw network is the model; its preconditioning (``sigma_data``, the
    forward process) and ``info``, extra plain values (training time,
    steps...), are stored as the file's metadata.
    """
    from subclust.io import save_model

    metadata = dict(info, sigma_data=net.sigma_data, schedule=type(net.schedule).__name__)
    return save_model(net.network, path, metadata=metadata, force=force)


@validate_params(
    {
        "path": [str, os.PathLike],
    },
    prefer_skip_nested_validation=True,
)
def load_denoiser(path):
    """Load a denoiser written by :func:`save_denoiser`, frozen in evaluation mode."""
    from subclust.diffusion import Preconditioned, UNetDenoiser, VPLinear
    from subclust.io import load_model

    try:
        unet, metadata = load_model(path, return_metadata=True)
    except ValueError as error:
        if "not a subclust model file" not in str(error):
            raise
        unet, metadata = None, {}
    if not isinstance(unet, UNetDenoiser) or metadata.get("schedule") != "VPLinear":
        raise ValueError(
            f"{path} is not a denoiser saved by subclust.experiments.mnist_story.save_denoiser."
        )
    net = Preconditioned(unet, schedule=VPLinear(), sigma_data=metadata["sigma_data"])
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


@validate_params(
    {
        "denoiser": "no_validation",
        "X": ["array-like"],
        "t": [Interval(Real, 0, None, closed="neither")],
        "random_state": TORCH_RANDOM_STATE,
    },
    prefer_skip_nested_validation=True,
)
def add_noise(denoiser, X, t, random_state=None):
    """``x_t = s(t) x + g(t) eps`` for rows ``X`` in the network's space, as float64 numpy.

    Parameters
    ----------
    denoiser : object with a ``schedule``
        Only its noise schedule (``denoiser.schedule.s_and_g``) is used.
    X : array-like of shape (n_samples, n_features)
    t : float
        Time of the schedule.
    random_state : int, torch.Generator or None, default=None
        Seed or generator of the noise ``eps``.

    Returns
    -------
    X_t : ndarray of shape (n_samples, n_features)

    Examples
    --------
    >>> import types
    >>> import numpy as np
    >>> from subclust.experiments.mnist_story import add_noise
    >>> from subclust.diffusion.schedules import VPLinear
    >>> denoiser = types.SimpleNamespace(schedule=VPLinear())  # stands in for a trained net
    >>> X = np.ones((2, 3))
    >>> X_t = add_noise(denoiser, X, 0.5, random_state=0)
    >>> X_t.shape, bool(np.array_equal(X_t, add_noise(denoiser, X, 0.5, random_state=0)))
    ((2, 3), True)
    >>> bool(np.abs(add_noise(denoiser, X, 1e-3, random_state=0) - X).max() < 0.1)  # little noise
    True
    """
    import torch

    from subclust.diffusion import as_generator

    s, g = (float(v) for v in denoiser.schedule.s_and_g(float(t)))
    X = np.asarray(X, dtype=np.float64)
    eps = torch.randn(X.shape, generator=as_generator(random_state), dtype=torch.float64).numpy()
    return s * X + g * eps


@validate_params(
    {
        "denoiser": [callable],
        "X_t": ["array-like"],
        "t": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def denoise(denoiser, X_t, t, batch_size=256):
    """``denoiser(x_t, t)`` on rows, in batches, as float64 numpy."""
    from subclust.bridge.jacobian import denoise_rows

    return denoise_rows(denoiser, X_t, t, batch_size)


# --------------------------------------------------------------------------- rank profile


@validate_params(
    {
        "denoiser": [callable],
        "X": ["array-like"],
        "ts": ["array-like"],
        "energy": [Interval(Real, 0, 1, closed="right")],
        "random_state": TORCH_RANDOM_STATE,
    },
    prefer_skip_nested_validation=True,
)
def mnist_rank_profile(denoiser, X, ts, energy=0.99, random_state=0):
    """Rank profile of the denoiser's Jacobian at noisy copies of the digits ``X`` (in [0, 1]).

    At every time the digits are noised afresh (the same ``eps`` for every time).

    Returns
    -------
    profile : subclust.bridge.RankProfile
    """
    from subclust.bridge.jacobian import rank_profile

    Z = to_model_space(X)

    def noisy(t):
        return add_noise(denoiser, Z, t, random_state=random_state)

    return rank_profile(denoiser, noisy, ts, energy=energy)


# --------------------------------------------------------------------------- bases


@validate_params(
    {
        "X": ["array-like"],
        "labels": ["array-like"],
        "dims": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def class_bases(X, labels, dims):
    """One ``dims``-dimensional linear basis per class: the top principal subspace of its digits.

    This is K-subspaces with one cluster (linear, through the origin), whose
    solution is the span of the top ``dims`` left singular vectors of the
    class's digits; a thin SVD of the ``N_c x n`` block gets it directly,
    without the ``n x n`` scatter matrix.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    labels : array-like of shape (n_samples,)
    dims : int
        Dimension of every class subspace; each class needs at least
        ``dims`` samples.

    Returns
    -------
    classes : ndarray of the distinct labels
    bases : list of ndarray of shape (n_features, dims)

    Examples
    --------
    >>> from subclust.experiments.mnist_story import class_bases
    >>> from subclust.datasets import make_molrg
    >>> from subclust.subspace import subspace_distance
    >>> X, y, true_bases = make_molrg(n_samples=[15, 15], n_features=8, dims=2, random_state=0)
    >>> classes, bases = class_bases(X, y, dims=2)
    >>> classes.tolist(), [U.shape for U in bases]
    ([0, 1], [(8, 2), (8, 2)])
    >>> [round(subspace_distance(U, V), 6) for U, V in zip(bases, true_bases)]
    [0.0, 0.0]
    """
    X, labels = np.asarray(X, dtype=np.float64), np.asarray(labels)
    classes = np.unique(labels)
    bases = []
    for c in classes:
        members = X[labels == c]
        if members.shape[0] < dims:
            raise ValueError(
                f"class {c!r} has {members.shape[0]} digits, fewer than class_dim={dims}; "
                "use more digits or a smaller dimension."
            )
        bases.append(orthonormal_basis(members.T, rank=dims))
    return classes, bases


@dataclass
class BasisComparison:
    """Local Jacobian bases of digits against class bases and K-subspaces cluster bases.

    Attributes
    ----------
    labels : ndarray of shape (n_digits,)
        True digit of each compared digit.
    class_distances : ndarray of shape (n_digits, n_classes)
        :func:`subclust.subspace.subspace_distance` from each digit's Jacobian
        basis to each class basis.
    class_angles : ndarray of shape (n_digits, n_classes)
        Mean principal angle (degrees) to each class basis.
    clusters : ndarray of shape (n_digits,)
        K-subspaces cluster of each compared digit.
    cluster_distances, cluster_angles : ndarray of shape (n_digits, n_clusters)
    classes : ndarray
        Class of each column of ``class_distances``.
    cluster_accuracy : float
        Accuracy of the K-subspaces clustering on all digits (best matching).
    t, sigma : float
    jacobian_rank, class_dim : int
    seconds : float
    """

    labels: np.ndarray
    class_distances: np.ndarray
    class_angles: np.ndarray
    clusters: np.ndarray
    cluster_distances: np.ndarray
    cluster_angles: np.ndarray
    classes: np.ndarray
    cluster_accuracy: float
    t: float
    sigma: float
    jacobian_rank: int
    class_dim: int
    seconds: float = 0.0
    singular_values: np.ndarray = field(default=None, repr=False)

    @property
    def own_class_closest(self):
        """Share of digits whose Jacobian basis is closest to their own class's basis."""
        own = np.searchsorted(self.classes, self.labels)
        return float(np.mean(np.argmin(self.class_distances, 1) == own))

    @property
    def own_cluster_closest(self):
        """Share of digits whose Jacobian basis is closest to their own cluster's basis."""
        return float(np.mean(np.argmin(self.cluster_distances, 1) == self.clusters))

    def angle_heatmap(self):
        """Mean principal angle (degrees) from the digits of each class to each class basis."""
        blank = np.full(len(self.classes), np.nan)  # a class none of the compared digits is from
        rows = [self.class_angles[self.labels == c].mean(0) if np.any(self.labels == c) else blank
                for c in self.classes]
        return np.array(rows)

    def table(self):
        table = Table(title=f"Jacobian bases (rank {self.jacobian_rank}) at t = {self.t:g} "
                            f"(sigma = {self.sigma:.3g}) against {self.class_dim}-dim bases")
        own = np.searchsorted(self.classes, self.labels)
        other = np.where(np.arange(len(self.classes))[None] == own[:, None], np.nan,
                         self.class_angles)
        table.add_row(reference="own class (K-subspaces, 1 cluster per class)",
                      closest_share=self.own_class_closest,
                      mean_angle_own=float(self.class_angles[np.arange(len(own)), own].mean()),
                      mean_angle_others=float(np.nanmean(other)))
        mine = self.clusters
        other_c = np.where(np.arange(self.cluster_angles.shape[1])[None] == mine[:, None], np.nan,
                           self.cluster_angles)
        table.add_row(reference="own cluster (K-subspaces, unlabelled)",
                      closest_share=self.own_cluster_closest,
                      mean_angle_own=float(self.cluster_angles[np.arange(len(mine)), mine].mean()),
                      mean_angle_others=float(np.nanmean(other_c)))
        table.notes.append(
            f"{len(self.labels)} digits; K-subspaces clustering accuracy "
            f"{self.cluster_accuracy:.3f}; "
            "angles in degrees (mean principal angle)"
        )
        return table

    def __str__(self):
        return str(self.table())

    def plot(self):
        """Heatmap of the mean principal angle from digits of each class to each class basis."""
        from matplotlib.figure import Figure

        heat = self.angle_heatmap()
        fig = Figure(figsize=(5.2, 4.4), layout="constrained")
        ax = fig.subplots()
        image = ax.imshow(heat, cmap="viridis_r")
        ax.set_xticks(range(len(self.classes)), [str(c) for c in self.classes])
        ax.set_yticks(range(len(self.classes)), [str(c) for c in self.classes])
        ax.set(xlabel="class basis", ylabel="digits of class",
               title=f"mean principal angle (deg), t = {self.t:g}")
        for i in range(heat.shape[0]):
            for j in range(heat.shape[1]):
                if np.isfinite(heat[i, j]):
                    ax.text(j, i, f"{heat[i, j]:.0f}", ha="center", va="center", fontsize=6,
                            color="white" if heat[i, j] < np.nanmedian(heat) else "black")
        fig.colorbar(image, ax=ax, shrink=0.8)
        return fig


def _mean_angles_and_distances(V, bases):
    distances = np.array([subspace_distance(V, B) for B in bases])
    angles = np.array([np.degrees(principal_angles(V, B).mean()) for B in bases])
    return distances, angles


@validate_params(
    {
        "denoiser": [callable],
        "X": ["array-like"],
        "labels": ["array-like"],
        "t": [Interval(Real, 0, None, closed="neither")],
        "n_digits": [Interval(Integral, 1, None, closed="left")],
        "jacobian_rank": [Interval(Integral, 1, None, closed="left")],
        "class_dim": [Interval(Integral, 1, None, closed="left")],
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "fit_X": ["array-like", None],
        "fit_labels": ["array-like", None],
        "random_state": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "kss_params": [dict, None],
    },
    prefer_skip_nested_validation=False,
)
def basis_comparison(denoiser, X, labels, t, n_digits=500, jacobian_rank=5, class_dim=10,
                     n_clusters=10, fit_X=None, fit_labels=None, random_state=0, batch_size=256,
                     kss_params=None):
    """Compare the Jacobian basis at noisy digits with class bases and cluster bases.

    Parameters
    ----------
    denoiser : Preconditioned UNetDenoiser (or any denoiser of flat rows with a ``schedule``)
    X : ndarray of shape (N, 784)
        Digits in ``[0, 1]``; ``n_digits`` of them are drawn (with ``random_state``) and compared.
    labels : ndarray of shape (N,)
    t : float
    n_digits : int, default=500
    jacobian_rank : int, default=5
        Top singular vectors (randomized subspace iteration) forming the local basis.
    class_dim : int, default=10
        Dimension of the class and cluster bases.
    n_clusters : int, default=10
    fit_X, fit_labels : optional
        Digits (and labels) the class and cluster bases are fitted on (default: ``X``, ``labels``).
    kss_params : dict, optional
        Further parameters of the K-subspaces clustering (default ``n_init=1, max_iter=10``:
        an iteration on 784 features costs ten 784 x 784 eigendecompositions).
    random_state : int, default=0
        Seeds the choice of digits, the noise and the probes.

    Returns
    -------
    comparison : BasisComparison
    """
    from subclust.bridge.jacobian import jacobian_basis
    from subclust.cluster import KSubspaces
    from subclust.metrics import clustering_accuracy

    start = time.perf_counter()
    X, labels = np.asarray(X, dtype=np.float64), np.asarray(labels)
    fit_X = X if fit_X is None else np.asarray(fit_X, dtype=np.float64)
    fit_labels = labels if fit_labels is None else np.asarray(fit_labels)
    if not 1 <= n_digits <= X.shape[0]:
        raise ValueError(f"n_digits must lie in [1, {X.shape[0]}], got {n_digits}.")
    rng = np.random.default_rng(random_state)
    chosen = np.sort(rng.choice(X.shape[0], n_digits, replace=False))
    classes, bases = class_bases(fit_X, fit_labels, class_dim)
    params = {"n_init": 1, "max_iter": 10, **(kss_params or {})}
    kss = KSubspaces(n_clusters=n_clusters, dims=class_dim, random_state=random_state,
                     **params).fit(fit_X)
    accuracy = float(clustering_accuracy(fit_labels, kss.labels_))
    clusters = kss.predict(X[chosen])

    X_t = add_noise(denoiser, to_model_space(X[chosen]), t, random_state=random_state)
    jbs = jacobian_basis(denoiser, X_t, t, rank=jacobian_rank, method="randomized",
                         random_state=random_state, batch_size=batch_size)
    class_d, class_a, clus_d, clus_a = [], [], [], []
    for jb in jbs:
        V = jb.top(jacobian_rank)
        d, a = _mean_angles_and_distances(V, bases)
        class_d.append(d)
        class_a.append(a)
        d, a = _mean_angles_and_distances(V, kss.bases_)
        clus_d.append(d)
        clus_a.append(a)
    sigma = float(denoiser.schedule.sigma(float(t)))
    return BasisComparison(
        labels=labels[chosen], class_distances=np.array(class_d), class_angles=np.array(class_a),
        clusters=np.asarray(clusters), cluster_distances=np.array(clus_d),
        cluster_angles=np.array(clus_a), classes=classes, cluster_accuracy=accuracy, t=float(t),
        sigma=sigma, jacobian_rank=jacobian_rank, class_dim=class_dim,
        seconds=time.perf_counter() - start,
        singular_values=np.array([jb.singular_values for jb in jbs]),
    )


# --------------------------------------------------------------------------- figures


@validate_params(
    {
        "denoiser": [callable],
        "x_t": ["array-like"],
        "t": [Interval(Real, 0, None, closed="neither")],
        "direction": ["array-like"],
        "alphas": ["array-like"],
    },
    prefer_skip_nested_validation=True,
)
def edit_strip(denoiser, x_t, t, direction, alphas):
    """Denoised digits along ``x_t + alpha * direction``, shape ``(len(alphas), side, side)``.

    Parameters
    ----------
    denoiser : callable
        ``denoiser(x_t, t) -> x0_hat`` on torch tensors of rows, in the
        network's space (:func:`to_model_space`).
    x_t : array-like of shape (side * side,) or (side, side)
        A noisy digit.
    t : float
        Time of the schedule.
    direction : array-like of the shape of ``x_t``
    alphas : sequence of float
        Steps along ``direction``.

    Returns
    -------
    strip : ndarray of shape (len(alphas), side, side)
        Denoised digits, in ``[0, 1]`` (:func:`from_model_space`).

    Examples
    --------
    With the identity as a toy denoiser, the strip only moves the edited pixel:

    >>> import numpy as np
    >>> from subclust.experiments.mnist_story import edit_strip
    >>> def identity(x_t, t):
    ...     return x_t
    >>> x_t = np.zeros(16)  # a 4 x 4 image, mid-grey in the network's space
    >>> strip = edit_strip(identity, x_t, 0.5, np.eye(16)[5], alphas=[-1.0, 0.0, 1.0])
    >>> strip.shape
    (3, 4, 4)
    >>> strip[:, 1, 1].tolist(), float(strip[:, 0, 0].max())  # pixel 5: black, grey, white
    ([0.0, 0.5, 1.0], 0.5)
    """
    x_t = np.asarray(x_t, dtype=np.float64).reshape(-1)
    direction = np.asarray(direction, dtype=np.float64).reshape(-1)
    rows = x_t[None] + np.asarray(alphas, dtype=np.float64)[:, None] * direction[None]
    side = int(round(np.sqrt(x_t.size)))
    return from_model_space(denoise(denoiser, rows, t)).reshape(-1, side, side)


@validate_params(
    {
        "denoiser": [callable],
        "X": ["array-like"],
        "t": [Interval(Real, 0, None, closed="neither")],
        "rank": [Interval(Integral, 1, None, closed="left")],
        "amplitude": [Interval(Real, 0, None, closed="neither")],
        "steps": [Interval(Integral, 1, None, closed="left")],
        "random_state": [Interval(Integral, 0, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def plot_edit_strips(denoiser, X, t, rank=5, amplitude=6.0, steps=7, random_state=0):
    """Digits (rows of ``X`` in [0, 1]) moved along each of their top singular vectors.

    One block per digit: a row per singular vector, the middle column the
    unedited denoised digit.

    Returns
    -------
    figure : matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    from subclust.bridge.jacobian import jacobian_basis

    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    X_t = add_noise(denoiser, to_model_space(X), t, random_state=random_state)
    jbs = jacobian_basis(denoiser, X_t, t, rank=rank, method="randomized",
                         random_state=random_state)
    alphas = np.linspace(-amplitude, amplitude, steps)
    n_rows = len(X) * rank
    fig = Figure(figsize=(0.75 * steps + 0.8, 0.75 * n_rows + 0.4), layout="constrained")
    axes = fig.subplots(n_rows, steps, squeeze=False)
    for i, jb in enumerate(jbs):
        for k in range(rank):
            strip = edit_strip(denoiser, X_t[i], t, jb.right_vectors[:, k], alphas)
            for j in range(steps):
                ax = axes[i * rank + k, j]
                ax.imshow(strip[j], cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
                if j == 0:
                    ax.set_ylabel(f"sv{k + 1}", fontsize=7)
                if i == 0 and k == 0:
                    ax.set_title(f"{alphas[j]:+.1f}", fontsize=7)
    fig.suptitle(f"edits along singular vectors, t = {t:g}", fontsize=9)
    return fig


@validate_params(
    {
        "vectors": ["array-like"],
        "titles": ["array-like", None],
        "cols": [Interval(Integral, 1, None, closed="left"), None],
    },
    prefer_skip_nested_validation=True,
)
def plot_basis_images(vectors, titles=None, cols=None):
    """Basis vectors of 28 x 28 images (columns of ``vectors``) as images, blue-white-red.

    Returns
    -------
    figure : matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    vectors = np.asarray(vectors, dtype=np.float64)
    if vectors.ndim == 1:
        vectors = vectors[:, None]
    k = vectors.shape[1]
    side = int(round(np.sqrt(vectors.shape[0])))
    cols = cols or min(k, 10)
    rows = int(np.ceil(k / cols))
    fig = Figure(figsize=(1.0 * cols, 1.1 * rows + 0.3), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for j, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if j >= k:
            ax.set_axis_off()
            continue
        v = vectors[:, j].reshape(side, side)
        limit = float(np.abs(v).max()) or 1.0
        ax.imshow(v, cmap="RdBu_r", vmin=-limit, vmax=limit)
        if titles is not None:
            ax.set_title(titles[j], fontsize=7)
    return fig


# --------------------------------------------------------------------------- the whole story


@dataclass
class MNISTStory:
    """Everything :func:`run_mnist_story` measured, with the wall times of each part.

    Attributes
    ----------
    config : StoryConfig
    profile : subclust.bridge.RankProfile
    comparison : BasisComparison
    correspondence : subclust.bridge.AttributeCorrespondence
    train_seconds, final_loss : float
        Training time (0 for a loaded model) and the mean loss of its last 100 steps.
    seconds : dict
        Wall time of every part.
    denoiser : Preconditioned UNetDenoiser
    """

    config: StoryConfig
    profile: object
    comparison: BasisComparison
    correspondence: object
    train_seconds: float
    final_loss: float
    seconds: dict
    denoiser: object = field(repr=False, default=None)

    def summary(self):
        """The headline numbers: one row per claim, with the value and the target."""
        table = Table(title="The bridge on MNIST: Jacobians, classes, attributes")
        t, sigma, low = self.profile.minimum
        table.add_row(claim="rank profile is U-shaped", value=float(self.profile.is_u_shaped),
                      target="1 (literature)")
        table.add_row(claim=f"lowest mean rank / n (t={t:.3g}, sigma={sigma:.3g})", value=low,
                      target="-")
        table.add_row(claim="Jacobian basis closest to own class",
                      value=self.comparison.own_class_closest,
                      target=">= 0.80")
        table.add_row(claim="Jacobian basis closest to own K-subspaces cluster",
                      value=self.comparison.own_cluster_closest, target="-")
        corr = self.correspondence
        rank = corr.n_singular
        for attribute in GEOMETRY + ("area", "length"):
            table.add_row(claim=f"{attribute}: best of the top {rank} singular directions, |r|",
                          value=corr.best_singular(attribute), target=">= 0.6")
            table.add_row(claim=f"{attribute}: random directions, mean |r|",
                          value=corr.random_control(attribute), target="<= 0.2")
            table.add_row(claim=f"{attribute}: best random direction, |r|",
                          value=corr.best_random(attribute), target="-")
        table.add_row(claim=f"of {', '.join(GEOMETRY)}: attributes edited",
                      value=float(self.attributes_edited()), target=">= 3")
        for part, seconds in self.seconds.items():
            table.add_row(claim=f"wall time: {part} (s)", value=float(seconds), target="-")
        return table

    def attributes_edited(self, level=0.6, control=0.2):
        """How many of :data:`GEOMETRY` a top singular direction edits.

        An attribute counts when the best singular direction at a digit reaches
        ``|r| >= level`` on average over the digits while the random directions stay
        at ``|r| <= control`` (:class:`~subclust.bridge.AttributeCorrespondence`).
        """
        corr = self.correspondence
        return sum(corr.best_singular(a) >= level and corr.random_control(a) <= control
                   for a in GEOMETRY)

    def tables(self):
        return [self.summary(), self.profile.table(), self.comparison.table(),
                self.correspondence.table()]

    def __str__(self):
        return "\n\n".join(str(t) for t in self.tables())


@validate_params(
    {
        "config": [StoryConfig, None],
        "data_home": [str, os.PathLike, None],
        "model_path": [str, os.PathLike, None],
        "save_model_path": [str, os.PathLike, None],
        "force": ["boolean"],
        "progress": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def run_mnist_story(config=None, data_home=None, model_path=None, save_model_path=None,
                    force=False, progress=False):
    """Train (or load) the U-Net and run every measurement of the MNIST story.

    Parameters
    ----------
    config : StoryConfig, optional
        Default: the full configuration ``StoryConfig()``.
    data_home : str, optional
        Where the MNIST files are (see :func:`subclust.datasets.get_data_home`).
    model_path : str, optional
        Load this denoiser (written by :func:`save_denoiser`) instead of training one.
    save_model_path : str, optional
        Save the trained denoiser here (atomically; an existing file only with ``force``).
    force : bool, default=False
    progress : bool, default=False
        Show a progress bar of the training.

    Returns
    -------
    story : MNISTStory
    """
    from subclust.bridge.attributes import attribute_correspondence
    from subclust.datasets import load_mnist

    config = StoryConfig() if config is None else config
    seconds = {}
    digits = load_mnist(data_home=data_home)
    X, y = digits.data, digits.target
    rng = np.random.default_rng(config.random_state)
    train_index = (np.arange(len(X)) if config.n_train is None
                   else np.sort(rng.choice(len(X), config.n_train, replace=False)))
    with torch_threads(config.n_threads):
        start = time.perf_counter()
        if model_path is not None:
            net = load_denoiser(model_path)
            train_seconds, final_loss = 0.0, float("nan")
        else:
            net, result = train_mnist_denoiser(
                X[train_index], steps=config.steps, batch_size=config.batch_size, lr=config.lr,
                channels=config.channels, random_state=config.random_state,
                n_threads=config.n_threads, progress=progress,
            )
            train_seconds = result.seconds
            final_loss = (float(np.mean(result.losses[-100:])) if len(result.losses)
                          else float("nan"))
            if save_model_path is not None:
                save_denoiser(save_model_path, net, force=force, train_seconds=train_seconds,
                              steps=int(result.steps), final_loss=final_loss)
        for p in net.parameters():
            p.requires_grad_(False)
        seconds["training" if model_path is None else "loading"] = time.perf_counter() - start

        start = time.perf_counter()
        profile_index = rng.choice(train_index, config.n_profile, replace=False)
        profile = mnist_rank_profile(net, X[profile_index], config.profile_ts,
                                     random_state=config.random_state)
        seconds["rank profile"] = time.perf_counter() - start

        start = time.perf_counter()
        comparison = basis_comparison(
            net, X[train_index], y[train_index], config.t,
            n_digits=min(config.n_compare, len(train_index)), jacobian_rank=config.jacobian_rank,
            class_dim=config.class_dim, n_clusters=config.n_clusters,
            random_state=config.random_state, kss_params={"max_iter": config.cluster_max_iter},
        )
        seconds["basis comparison"] = time.perf_counter() - start

        start = time.perf_counter()
        edit_index = rng.choice(train_index, config.n_attribute, replace=False)
        X_t = add_noise(net, to_model_space(X[edit_index]), config.t,
                        random_state=config.random_state + 1)
        correspondence = attribute_correspondence(
            net, X_t, config.t, rank=config.edit_rank, n_random=config.n_random,
            n_edits=config.n_edits, amplitude=config.edit_amplitude,
            random_state=config.random_state,
        )
        seconds["attribute correspondence"] = time.perf_counter() - start
    seconds["total"] = sum(seconds.values())
    return MNISTStory(config=config, profile=profile, comparison=comparison,
                      correspondence=correspondence, train_seconds=train_seconds,
                      final_loss=final_loss, seconds=seconds, denoiser=net)
