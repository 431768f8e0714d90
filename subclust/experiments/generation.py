"""Diffusion models trained by subspace clustering: against SGD training, and on real images.

Training the low-rank mixture denoiser is subspace clustering (Wang et al.,
arXiv:2409.02426); conversely a fitted clusterer defines the trained
denoiser in closed form (:meth:`LowRankMixtureDenoiser.from_clustering`).

- :func:`compare_denoisers` measures the clustering-built denoiser against
  the same network trained by SGD (:class:`DiffusionSubspaceClustering`) and
  a generic MLP trained by denoising score matching: held-out denoising loss
  at several noise levels, wall time to build or train, and the samples of
  DDIM (off-subspace energy when the true subspaces are known; distances to
  the nearest training sample against those of held-out data).
  :func:`molrg_comparison` runs it on a mixture of low-rank Gaussians.
- :func:`generate_images` builds the denoiser from a clustering of Extended
  Yale B faces or MNIST digits and generates images by DDIM, unconditionally
  and per cluster (the mixture restricted to one component).
"""

import os
import time
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np

from subclust.pipeline import METHODS, make_estimator
from subclust.utils.parallel import blas_threads, torch_threads
from subclust.utils.tables import Table
from subclust.utils.validation import (
    HasMethods,
    Interval,
    StrOptions,
    TORCH_RANDOM_STATE,
    check_matrix,
    validate_params,
)

__all__ = [
    "DEFAULT_SIGMAS",
    "COMPARISON_METHODS",
    "CLUSTERERS",
    "DenoiserComparison",
    "ImageGeneration",
    "compare_denoisers",
    "generate_images",
    "heldout_losses",
    "load_images",
    "molrg_comparison",
]

#: Noise levels ``sigma = g / s`` at which held-out losses are measured.
DEFAULT_SIGMAS = (0.05, 0.2, 0.5, 1.0, 2.0, 5.0)

#: Denoisers compared by :func:`compare_denoisers`.
COMPARISON_METHODS = ("clustering", "clustering-affine", "sgd", "mlp")


def _torch():
    import torch

    return torch


def _model_dtype(net):
    """The dtype of a module's floating weights; float64 for a plain function."""
    torch = _torch()
    if isinstance(net, torch.nn.Module):
        for tensor in list(net.parameters()) + list(net.buffers()):
            if tensor.is_floating_point():
                return tensor.dtype
    return torch.float64


@validate_params(
    {
        "denoisers": [dict],
        "X": ["array-like"],
        "sigmas": ["array-like"],
        "schedule": "no_validation",  # a Schedule or a name, checked by get_schedule
        "n_draws": [Interval(Integral, 1, None, closed="left")],
        "chunk_size": [Interval(Integral, 1, None, closed="left")],
        "random_state": TORCH_RANDOM_STATE,
    },
    prefer_skip_nested_validation=True,
)
def heldout_losses(denoisers, X, sigmas=DEFAULT_SIGMAS, schedule=None, n_draws=1, random_state=0,
                   chunk_size=4096):
    """Denoising loss ``mean ||D(s x + g eps, t) - x||^2 / n`` of denoisers at fixed noise levels.

    The loss of :func:`subclust.diffusion.dsm_loss` (uniform weighting)
    with ``t`` fixed to the time of each ``sigma = g / s``; every denoiser
    sees the same noise draws (common random numbers), so differences are
    not Monte Carlo noise.

    Parameters
    ----------
    denoisers : dict of str to callable
        ``denoiser(x_t, t) -> x0_hat``; each is fed its own dtype.
    X : array-like of shape (n_samples, n_features)
        Held-out samples.
    sigmas : sequence of float
    schedule : Schedule or str, default=VPLinear()
    n_draws : int, default=1
        Noise draws per sample.
    random_state : int or torch.Generator, default=0
        The noise draws.

    Returns
    -------
    losses : dict of str to ndarray of shape (len(sigmas),)

    Examples
    --------
    Two baselines: predicting zero costs the mean squared entry of ``X`` at
    every noise level, returning the noisy input costs more as the noise grows.

    >>> import numpy as np
    >>> import torch
    >>> from subclust.experiments.generation import heldout_losses
    >>> def zero(x_t, t):
    ...     return torch.zeros_like(x_t)
    >>> def identity(x_t, t):
    ...     return x_t
    >>> X = np.random.default_rng(0).standard_normal((200, 4))
    >>> losses = heldout_losses({"zero": zero, "identity": identity}, X,
    ...                         sigmas=(0.1, 1.0, 10.0))
    >>> bool(np.allclose(losses["zero"], np.mean(X**2)))
    True
    >>> bool(np.all(np.diff(losses["identity"]) > 0))
    True
    """
    torch = _torch()
    from subclust.diffusion import as_generator
    from subclust.diffusion.schedules import get_schedule

    schedule = get_schedule(schedule)
    gen = as_generator(random_state)
    x0 = torch.as_tensor(np.asarray(X, dtype=np.float64))
    out = {name: np.zeros(len(sigmas)) for name in denoisers}
    with torch.no_grad():
        for j, sigma in enumerate(sigmas):
            t = schedule.t_of_sigma(torch.tensor(float(sigma), dtype=torch.float64))
            s, g = (float(v) for v in schedule.s_and_g(t))
            for _ in range(n_draws):
                eps = torch.randn(x0.shape, generator=gen, dtype=torch.float64)
                for name, net in denoisers.items():
                    dtype = _model_dtype(net)
                    total = 0.0
                    for start in range(0, x0.shape[0], chunk_size):
                        rows = slice(start, start + chunk_size)
                        x_t = (s * x0[rows] + g * eps[rows]).to(dtype)
                        err = net(x_t, float(t)).to(torch.float64) - x0[rows]
                        total += float((err**2).sum())
                    out[name][j] += total / x0.numel() / n_draws
    return out


def _clustering_denoiser(X, n_clusters, dims, center, clusterer, random_state, noise=0.0):
    """Fit the clusterer and build the denoiser; both timed together."""
    import torch
    from sklearn.base import clone

    from subclust.cluster import KSubspaces
    from subclust.diffusion import LowRankMixtureDenoiser

    start = time.perf_counter()
    if clusterer is None:
        estimator = KSubspaces(n_clusters, dims=dims, affine=center, random_state=random_state)
    else:
        estimator = clone(clusterer)
    estimator.fit(X)
    net = LowRankMixtureDenoiser.from_clustering(
        estimator, X, dims=dims, center=center, noise=noise, dtype=torch.float64
    )
    return net, time.perf_counter() - start


def _sgd_denoiser(X, n_clusters, dims, random_state, sgd_params):
    """The paper's network trained by SGD (Riemannian Adam, restarts) on X."""
    import torch

    from subclust.diffusion import DiffusionSubspaceClustering, LowRankMixtureDenoiser

    start = time.perf_counter()
    dsc = DiffusionSubspaceClustering(
        n_clusters, dims=dims, random_state=random_state, **(sgd_params or {})
    ).fit(X)
    seconds = time.perf_counter() - start
    net = LowRankMixtureDenoiser(
        X.shape[1], n_clusters, [B.shape[1] for B in dsc.bases_], init_bases=dsc.bases_,
        dtype=torch.float64,
    )
    return net, seconds


def _mlp_denoiser(X, random_state, mlp_params):
    """A generic MLP denoiser trained by denoising score matching on X."""
    from subclust.diffusion import MLPDenoiser, Preconditioned, train_denoiser

    params = {"hidden": 256, "depth": 3, "steps": 3000, "batch_size": 256, "lr": 2e-3}
    params.update(mlp_params or {})
    network = MLPDenoiser(
        X.shape[1], hidden=params["hidden"], depth=params["depth"], random_state=random_state
    )
    net = Preconditioned(network, sigma_data=float(np.sqrt(np.mean(X**2))))
    result = train_denoiser(
        net, X.astype(np.float32), steps=params["steps"], batch_size=params["batch_size"],
        lr=params["lr"], lr_schedule="cosine", random_state=random_state, verbose=0,
    )
    return net, result.seconds


def _warm_up(X, n_clusters, methods):
    """Pay the one-time costs (lazy imports and initializations of torch's optimizers,
    several seconds) before anything is timed."""
    if "sgd" in methods:
        _sgd_denoiser(X, n_clusters, 1, 0, {"n_init": 1, "steps": 2})
    if "mlp" in methods:
        _mlp_denoiser(X, 0, {"steps": 2, "hidden": 8, "depth": 1})


def _sample(net, n_samples, n_features, steps, seed):
    torch = _torch()
    from subclust.diffusion import sample_ddim, uniform_times

    dtype = _model_dtype(net)
    noise = torch.randn(
        n_samples, n_features, generator=torch.Generator().manual_seed(seed), dtype=dtype
    )
    grid = uniform_times(steps)
    x = net.schedule.g(grid[0]) * noise
    return sample_ddim(net, x, grid, disable=True).to(torch.float64).numpy()


@dataclass
class DenoiserComparison:
    """Clustering-built denoisers against SGD-trained ones on the same data.

    Attributes
    ----------
    sigmas : ndarray
        Noise levels ``g / s`` of the held-out losses.
    losses : dict of str to ndarray
        Held-out loss of each method at each noise level (plus 'oracle',
        the exact MoLRG denoiser, when the true bases are known).
    seconds : dict of str to float
        Wall time to fit and build (clustering) or to train (SGD, MLP).
    off_subspace : dict of str to float or None
        Relative energy of the DDIM samples off the true subspaces.
    copies : dict of str to dict
        :func:`subclust.diffusion.quality.copy_statistics` of the samples.
    samples : dict of str to ndarray
    description : str
    """

    sigmas: np.ndarray
    losses: dict
    seconds: dict
    off_subspace: dict
    copies: dict
    samples: dict = field(repr=False)
    description: str = ""

    def relative_gap(self, method, reference="sgd"):
        """``loss(method) / loss(reference) - 1`` at each noise level."""
        return self.losses[method] / self.losses[reference] - 1

    def table(self):
        """One row per method: build time, speed-up, worst loss gap to SGD, samples."""
        table = Table(title=f"Denoisers built by clustering vs trained by SGD: {self.description}")
        for method in self.losses:
            row = {"method": method}
            if method in self.seconds:
                row["seconds"] = self.seconds[method]
                if "sgd" in self.seconds:
                    row["speedup_vs_sgd"] = self.seconds["sgd"] / self.seconds[method]
            if "sgd" in self.losses:
                gap = self.relative_gap(method)
                row["max_loss_gap_vs_sgd"] = float(gap[np.argmax(np.abs(gap))])
            if self.off_subspace.get(method) is not None:
                row["off_subspace"] = self.off_subspace[method]
            if method in self.copies:
                row["nn_train_ratio"] = self.copies[method]["ratio"]
                row["copy_share"] = self.copies[method]["copy_share"]
            table.add_row(**row)
        table.notes = [
            "max_loss_gap_vs_sgd: held-out loss / SGD's - 1 at the noise level where |gap| is "
            "largest",
        ]
        if "off_subspace" in table.columns:
            table.notes.append(
                "off_subspace: relative energy of DDIM samples off the true subspaces"
            )
        table.notes += [
            "nn_train_ratio: median distance of samples to the nearest training sample / the "
            "same for held-out data (1: new samples, 0: copies); copy_share: samples closer to a "
            "training sample than any held-out sample is",
        ]
        return table

    def loss_table(self):
        """Held-out losses at each noise level, one column per method."""
        table = Table(title="Held-out denoising loss mean ||D(x_t) - x_0||^2 / n")
        for j, sigma in enumerate(self.sigmas):
            row = {"sigma": float(sigma)}
            row.update({m: float(v[j]) for m, v in self.losses.items()})
            if "sgd" in self.losses:
                row.update({
                    f"gap {m}": float(self.relative_gap(m)[j])
                    for m in self.losses if m.startswith("clustering")
                })
            table.add_row(**row)
        return table

    def __str__(self):
        return f"{self.table()}\n\n{self.loss_table()}"

    def plot(self):
        """Held-out loss against noise level, and nearest-training distances.

        Returns
        -------
        figure : matplotlib.figure.Figure
        """
        from matplotlib.figure import Figure

        fig = Figure(figsize=(10, 3.6), layout="constrained")
        ax_loss, ax_nn = fig.subplots(1, 2)
        for method, loss in self.losses.items():
            ax_loss.loglog(self.sigmas, loss, "o-", label=method)
        ax_loss.set(xlabel=r"noise level $\sigma = g / s$", ylabel="held-out loss",
                    title="denoising loss on held-out samples")
        ax_loss.legend()
        heldout = next(iter(self.copies.values()), {}).get("heldout")
        if heldout is not None:
            bins = np.histogram_bin_edges(
                np.concatenate([heldout] + [c["generated"] for c in self.copies.values()]), 30
            )
            ax_nn.hist(heldout, bins=bins, histtype="step", color="k", linewidth=2,
                       label="held-out data", density=True)
            for method, stats in self.copies.items():
                ax_nn.hist(stats["generated"], bins=bins, histtype="step", label=method,
                           density=True)
            ax_nn.set(xlabel="distance to the nearest training sample", ylabel="density",
                      title="new samples or copies?")
            ax_nn.legend()
        return fig


@validate_params(
    {
        "X_train": ["array-like"],
        "X_test": ["array-like"],
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "dims": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "true_bases": ["array-like", None],
        "methods": ["array-like"],
        "clusterer": [HasMethods(["fit"]), None],
        "sigmas": ["array-like"],
        "n_generate": [Interval(Integral, 1, None, closed="left")],
        "sampler_steps": [Interval(Integral, 1, None, closed="left")],
        "sgd_params": [dict, None],
        "mlp_params": [dict, None],
        "clustering_noise": [Interval(Real, 0, None, closed="left"), StrOptions({"estimate"})],
        "n_draws": [Interval(Integral, 1, None, closed="left")],
        "random_state": [Interval(Integral, 0, None, closed="left")],
        "description": [str],
    },
    prefer_skip_nested_validation=False,
)
def compare_denoisers(
    X_train, X_test, n_clusters, dims, *, true_bases=None, methods=("clustering", "sgd", "mlp"),
    clusterer=None, sigmas=DEFAULT_SIGMAS, n_generate=500, sampler_steps=50,
    sgd_params=None, mlp_params=None, clustering_noise=0.0, n_draws=1, random_state=0,
    description="",
):
    """Build or train each denoiser on ``X_train`` and measure it on ``X_test``.

    Parameters
    ----------
    X_train, X_test : ndarray of shape (N, n_features)
    n_clusters : int
    dims : int or list of int
        Subspace dimensions of the clustering-built and SGD-trained networks.
    true_bases : list of ndarray, optional
        The true subspaces (synthetic data): adds the exact MoLRG denoiser
        ('oracle') and the off-subspace energy of the samples.
    methods : sequence of {'clustering', 'clustering-affine', 'sgd', 'mlp'}
        'clustering': K-subspaces (or ``clusterer``) then
        :meth:`LowRankMixtureDenoiser.from_clustering`, linear subspaces;
        'clustering-affine': the same with affine subspaces (cluster means);
        'sgd': :class:`DiffusionSubspaceClustering`, the paper's network
        trained by SGD; 'mlp': :class:`MLPDenoiser` trained by
        :func:`train_denoiser`.
    clusterer : unfitted estimator, optional
        Used (cloned) instead of K-subspaces.
    sigmas : sequence of float
    n_generate : int, default=500
        DDIM samples per method.
    sampler_steps : int, default=50
    sgd_params, mlp_params : dict, optional
        Passed to DiffusionSubspaceClustering / the MLP and its training
        (``hidden``, ``depth``, ``steps``, ``batch_size``, ``lr``).
    clustering_noise : float or 'estimate', default=0.0
        Off-subspace noise of the clustering-built denoisers ('estimate' for
        real data, which do not lie exactly on low-dimensional subspaces).
    n_draws : int, default=1
        Noise draws per held-out sample.
    random_state : int, default=0
    description : str
        Title of the table.

    Returns
    -------
    result : DenoiserComparison
    """
    from subclust.diffusion import MoLRGDenoiser
    from subclust.diffusion.quality import copy_statistics, off_subspace_energy

    unknown = set(methods) - set(COMPARISON_METHODS)
    if unknown:
        raise ValueError(f"Unknown methods {sorted(unknown)}; choose from {COMPARISON_METHODS}.")
    X_train = check_matrix(X_train, name="X_train", dtype=np.float64)
    X_test = check_matrix(X_test, name="X_test", dtype=np.float64)
    if X_train.shape[1] != X_test.shape[1]:
        raise ValueError(
            f"X_train and X_test must have the same number of features, got "
            f"{X_train.shape} and {X_test.shape}."
        )
    nets, seconds = {}, {}
    # One thread for torch and the BLAS: these problems are small, and on a shared machine
    # spinning threads cost more than they compute (both the clustering and SGD run so).
    with torch_threads(1), blas_threads(1):
        _warm_up(X_train[: max(n_clusters, 8)], n_clusters, methods)
        for method in methods:
            if method == "clustering":
                # Best of three: a build of a few tens of ms is easily inflated by other
                # processes on a shared machine; the SGD runs last seconds and average it out.
                runs = [_clustering_denoiser(X_train, n_clusters, dims, False, clusterer,
                                             random_state, clustering_noise) for _ in range(3)]
                nets[method], seconds[method] = runs[0][0], min(r[1] for r in runs)
            elif method == "clustering-affine":
                runs = [_clustering_denoiser(X_train, n_clusters, dims, True, clusterer,
                                             random_state, clustering_noise) for _ in range(3)]
                nets[method], seconds[method] = runs[0][0], min(r[1] for r in runs)
            elif method == "sgd":
                nets[method], seconds[method] = _sgd_denoiser(
                    X_train, n_clusters, dims, random_state, sgd_params
                )
            else:
                nets[method], seconds[method] = _mlp_denoiser(X_train, random_state, mlp_params)
        evaluated = dict(nets)
        if true_bases is not None:
            evaluated["oracle"] = MoLRGDenoiser(true_bases)
        losses = heldout_losses(evaluated, X_test, sigmas, n_draws=n_draws,
                                random_state=random_state)
        samples = {
            name: _sample(net, n_generate, X_train.shape[1], sampler_steps, random_state + 1)
            for name, net in evaluated.items()
        }
    off = {
        name: None if true_bases is None else off_subspace_energy(S, true_bases)
        for name, S in samples.items()
    }
    heldout = X_test[: max(n_generate, 1)]
    copies = {name: copy_statistics(S, X_train, heldout) for name, S in samples.items()}
    return DenoiserComparison(
        sigmas=np.asarray(sigmas, dtype=np.float64), losses=losses, seconds=seconds,
        off_subspace=off, copies=copies, samples=samples, description=description,
    )


@validate_params(
    {
        "n_features": [Interval(Integral, 1, None, closed="left")],
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "dims": [Interval(Integral, 1, None, closed="left")],
        "samples_per_cluster": [Interval(Integral, 1, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "n_test": [Interval(Integral, 1, None, closed="left")],
        "methods": ["array-like"],
        "random_state": [Interval(Integral, 0, None, closed="left")],
    },
    prefer_skip_nested_validation=False,
)
def molrg_comparison(
    n_features=48, n_clusters=3, dims=6, samples_per_cluster=60, noise=0.0, n_test=3000,
    methods=("clustering", "sgd", "mlp"), random_state=0, **options,
):
    """:func:`compare_denoisers` on a mixture of low-rank Gaussians (n=48, K=3, d=6, N_k=60).

    Held-out samples are fresh draws from the same mixture. Other keyword
    arguments go to :func:`compare_denoisers`.

    Examples
    --------
    >>> result = molrg_comparison(n_features=12, n_clusters=2, dims=2, samples_per_cluster=20,
    ...                           n_test=200, methods=["clustering"], n_generate=50)
    >>> result.off_subspace["clustering"] < 1e-2
    True
    """
    from subclust.datasets import make_molrg

    X, _, bases = make_molrg(
        n_samples=[samples_per_cluster] * n_clusters, n_features=n_features, dims=dims,
        noise=noise, random_state=random_state,
    )
    X_test, _, _ = make_molrg(
        n_samples=n_test, bases=bases, noise=noise, random_state=random_state + 1
    )
    description = (
        f"MoLRG n={n_features}, K={n_clusters}, d={dims}, N_k={samples_per_cluster}, "
        f"noise={noise}"
    )
    return compare_denoisers(
        X, X_test, n_clusters, dims, true_bases=bases, methods=methods,
        random_state=random_state, description=description, **options,
    )


# --------------------------------------------------------------------------- real images

#: Clusterers of :func:`generate_images`: the methods of :data:`subclust.pipeline.METHODS`,
#: and 'labels', the true classes (an oracle).
CLUSTERERS = (*METHODS, "labels")


@validate_params(
    {
        "dataset": [StrOptions({"mnist", "yaleb"})],
        "n_samples": [Interval(Integral, 1, None, closed="left"), None],
        "subjects": [Interval(Integral, 1, None, closed="left"), "array-like", None],
        "data_home": [str, os.PathLike, None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def load_images(dataset, n_samples, subjects, data_home, random_state):
    """Images of a real data set as rows, with their labels and image shape.

    Parameters
    ----------
    dataset : {'yaleb', 'mnist'}
    n_samples : int or None
        MNIST images drawn (all when None); ignored for Yale B.
    subjects : int, sequence of int or None
        Yale B subjects; ignored for MNIST.
    data_home : str or None
    random_state : int or None
        Seed of the MNIST draw.

    Returns
    -------
    X : ndarray of shape (n_samples, height * width)
    y : ndarray of shape (n_samples,)
    shape : tuple of int
        ``(height, width)`` of one image.
    """
    from subclust.datasets import load_mnist, load_yaleb

    if dataset == "yaleb":
        bunch = load_yaleb(subjects=subjects, data_home=data_home)
    else:
        bunch = load_mnist(data_home=data_home, n_samples=n_samples, random_state=random_state)
    return bunch.data, bunch.target, bunch.images.shape[1:]


def _make_clusterer(name, n_clusters, dims, random_state):
    if name not in CLUSTERERS:
        raise ValueError(f"clusterer must be one of {CLUSTERERS}, got {name!r}.")
    params = {}
    if name in ("kss", "diffusion"):
        dims = 10 if dims is None else dims
    if name == "kss":
        # Faces and digits are not centred: affine subspaces, best of three starts.
        params = dict(affine=True, n_init=3)
    return make_estimator(name, n_clusters, dims=dims, random_state=random_state, **params)


class _Labels:
    """A stand-in clusterer whose labels are given (the true classes)."""

    def __init__(self, labels):
        self.labels_ = np.asarray(labels)
        self.n_clusters = int(self.labels_.max()) + 1


@dataclass
class ImageGeneration:
    """Images generated by DDIM from a denoiser built from a clustering.

    Attributes
    ----------
    dataset, clusterer : str
    image_shape : tuple of int
    generated : ndarray of shape (n_generate, h*w)
        Unconditional samples (not clipped).
    conditional : dict of int to ndarray of shape (per_class, h*w)
        Samples of the mixture restricted to one cluster, keyed by cluster.
    copies : dict
        :func:`subclust.diffusion.quality.copy_statistics` of ``generated``
        against the training and held-out images.
    dims : list of int
        Subspace dimension of each component.
    accuracy : float or None
        Clustering accuracy of the training labels against the true classes.
    seconds : float
        Time to cluster and build the denoiser.
    sample_seconds : float
    n_train, n_heldout : int
    """

    dataset: str
    clusterer: str
    image_shape: tuple
    generated: np.ndarray = field(repr=False)
    conditional: dict = field(repr=False)
    copies: dict = field(repr=False)
    dims: list
    accuracy: float | None
    seconds: float
    sample_seconds: float
    n_train: int
    n_heldout: int
    nearest_train: np.ndarray = field(repr=False, default=None)

    def table(self):
        table = Table(
            title=f"Generation from a {self.clusterer} clustering of {self.dataset} "
            f"({self.n_train} training / {self.n_heldout} held-out images)"
        )
        rows = [
            ("components", len(self.dims)),
            ("subspace dimensions (min / median / max)",
             f"{min(self.dims)} / {int(np.median(self.dims))} / {max(self.dims)}"),
            ("clustering accuracy (training images)",
             "-" if self.accuracy is None else self.accuracy),
            ("seconds to cluster and build the denoiser", self.seconds),
            ("seconds to sample", self.sample_seconds),
            ("median distance to nearest training image: generated",
             self.copies["generated_median"]),
            ("median distance to nearest training image: held-out real",
             self.copies["heldout_median"]),
            ("ratio generated / held-out", self.copies["ratio"]),
            ("share of generated closer to a training image than any held-out image",
             self.copies["copy_share"]),
        ]
        for name, value in rows:
            table.add_row(quantity=name, value=value)
        return table

    def __str__(self):
        return str(self.table())

    def montage(self, images, n_cols):
        """Tile images (rows of pixels) into one array, clipped to [0, 1]."""
        h, w = self.image_shape
        images = np.clip(np.asarray(images).reshape(-1, h, w), 0, 1)
        n_rows = int(np.ceil(len(images) / n_cols))
        grid = np.ones((n_rows * (h + 1) + 1, n_cols * (w + 1) + 1))
        for i, image in enumerate(images):
            r, c = divmod(i, n_cols)
            grid[1 + r * (h + 1): 1 + r * (h + 1) + h, 1 + c * (w + 1): 1 + c * (w + 1) + w] = image
        return grid

    def plot(self, n_cols=8):
        """Unconditional samples with their nearest training images, and one row per cluster.

        Returns
        -------
        figure : matplotlib.figure.Figure
        """
        from matplotlib.figure import Figure

        n_show = min(len(self.generated), 2 * n_cols)
        panels = [(self.montage(self.generated[:n_show], n_cols), "generated (DDIM)")]
        if self.nearest_train is not None:
            panels.append((self.montage(self.nearest_train[:n_show], n_cols),
                           "nearest training image of each"))
        if self.conditional:
            rows = [self.conditional[k] for k in sorted(self.conditional)]
            per = min(len(r) for r in rows)
            panels.append((self.montage(np.concatenate([r[:per] for r in rows]), per),
                           "class-conditional: one row per cluster"))
        heights = [p[0].shape[0] / p[0].shape[1] for p in panels]
        fig = Figure(figsize=(7, 7 * sum(heights) + 0.4 * len(panels)), layout="constrained")
        axes = fig.subplots(len(panels), 1, height_ratios=heights, squeeze=False)[:, 0]
        for ax, (grid, title) in zip(axes, panels):
            ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(title)
            ax.axis("off")
        return fig


@validate_params(
    {
        "dataset": [StrOptions({"mnist", "yaleb"})],
        "clusterer": [StrOptions(set(CLUSTERERS))],
        "n_clusters": [Interval(Integral, 1, None, closed="left"), None],
        "dims": [Interval(Integral, 1, None, closed="left"), None],
        "energy": [Interval(Real, 0, 1, closed="right")],
        "center": ["boolean"],
        "pca_components": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"}), None],
        "n_samples": [Interval(Integral, 1, None, closed="left"), None],
        "subjects": [Interval(Integral, 1, None, closed="left"), "array-like", None],
        "test_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_generate": [Interval(Integral, 1, None, closed="left")],
        "per_class": [Interval(Integral, 1, None, closed="left")],
        "n_conditional": [Interval(Integral, 0, None, closed="left")],
        "sampler_steps": [Interval(Integral, 1, None, closed="left")],
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
        "data_home": [str, os.PathLike, None],
        "random_state": [Interval(Integral, 0, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def generate_images(
    dataset="mnist", *, clusterer="kss", n_clusters=None, dims=None, energy=0.95, center=True,
    pca_components="auto", n_samples=None, subjects=None, test_fraction=0.2, n_generate=64,
    per_class=8, n_conditional=10, sampler_steps=50, n_threads=1, data_home=None,
    random_state=0,
):
    """Cluster real images, build the denoiser from the clusters, generate by DDIM.

    The data are not centred globally: with ``center=True`` (the default)
    every cluster has its own mean, an affine subspace. A linear subspace
    with a symmetric Gaussian latent would generate sign-flipped images
    (negative faces) as often as upright ones, since the mean image is the
    first principal direction of uncentred pixels.

    Parameters
    ----------
    dataset : {'mnist', 'yaleb'}
        MNIST test set (``n_samples`` of the 10,000), or Extended Yale B
        48x42 (``subjects``: per-subject subspaces).
    clusterer : str, default='kss'
        A method of :data:`subclust.pipeline.METHODS`, or 'labels': the true
        classes (an oracle clustering).
    n_clusters : int, optional
        Default: the number of classes.
    dims : int, optional
        Subspace dimension of every component (and of 'kss'); default from ``energy``.
    energy : float, default=0.95
        Per-cluster dimension: the smallest rank holding this share of the norm.
    center : bool, default=True
    pca_components : int, None or 'auto', default='auto'
        Fit the clusterer on this many principal components of the training
        images (the denoiser is still built on the pixels, from the labels):
        K-subspaces on raw pixels updates ``n x n`` scatter matrices, slow for
        MNIST's 784 pixels. 'auto': 50 for 'kss' and 'diffusion' on more than
        256 pixels, else the pixels themselves.
    n_samples : int, optional
        MNIST: images drawn from the test set (all 10,000 by default).
    subjects : int or list of int, optional
        Yale B subjects (all 38 by default).
    test_fraction : float, default=0.2
        Held out (stratified by class) for the copy check.
    n_generate : int, default=64
    per_class : int, default=8
        Samples per cluster for the class-conditional grid.
    n_conditional : int, default=10
        Clusters shown in the class-conditional grid (the largest ones).
    sampler_steps : int, default=50
    n_threads : int or None, default=1
        BLAS and PyTorch threads while clustering and sampling (restored
        afterwards), at most those the caller allows; None: all of those.
        One is fastest for these sizes on a shared machine.
    data_home : str, optional
    random_state : int, default=0

    Returns
    -------
    result : ImageGeneration
    """
    import torch
    from sklearn.model_selection import train_test_split

    from subclust.diffusion import LowRankMixtureDenoiser
    from subclust.diffusion.quality import copy_statistics
    from subclust.metrics import clustering_accuracy

    X, y, shape = load_images(dataset, n_samples, subjects, data_home, random_state)
    if np.bincount(y).min() < 2:
        raise ValueError(f"Some class has fewer than 2 of the {len(y)} images, one to train on "
                         "and one to hold out; draw more images (n_samples).")
    X_train, X_test, y_train, _ = train_test_split(
        X, y, test_size=test_fraction, stratify=y, random_state=random_state
    )
    K = int(len(np.unique(y))) if n_clusters is None else int(n_clusters)
    start = time.perf_counter()
    with torch_threads(n_threads), blas_threads(n_threads):
        if clusterer == "labels":
            estimator = _Labels(y_train)
        else:
            estimator = _make_clusterer(clusterer, K, dims, random_state)
            features = _pca_features(X_train, pca_components, clusterer, random_state)
            estimator.fit(features)
        net = LowRankMixtureDenoiser.from_clustering(
            estimator, X_train, dims=dims, energy=None if dims is not None else energy,
            center=center, dtype=torch.float32,
        )
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        generated = _sample(net, n_generate, X.shape[1], sampler_steps, random_state + 1)
        weights = net.mixture_weights.numpy()
        shown = np.argsort(-weights, kind="stable")[:n_conditional]
        conditional = {
            net.cluster_ids[k]: _sample(net.select_components([k]), per_class, X.shape[1],
                                        sampler_steps, random_state + 2 + int(k))
            for k in sorted(shown)
        }
        sample_seconds = time.perf_counter() - start
    labels = np.asarray(estimator.labels_)
    accuracy = None if clusterer == "labels" else float(clustering_accuracy(y_train, labels))
    copies = copy_statistics(generated, X_train, X_test)
    # The nearest training image of each generated one, to show by eye that they differ.
    nearest = _nearest_rows(generated, X_train)
    return ImageGeneration(
        dataset=dataset, clusterer=clusterer, image_shape=tuple(shape), generated=generated,
        conditional=conditional, copies=copies, dims=list(net.dims), accuracy=accuracy,
        seconds=seconds, sample_seconds=sample_seconds, n_train=len(X_train),
        n_heldout=len(X_test), nearest_train=nearest,
    )


def _pca_features(X, pca_components, clusterer, random_state):
    if pca_components == "auto":
        pca_components = 50 if clusterer in ("kss", "diffusion") and X.shape[1] > 256 else None
    if pca_components is None:
        return X
    from sklearn.decomposition import PCA

    return PCA(int(pca_components), random_state=random_state).fit_transform(X)


def _nearest_rows(X, reference):
    ref_sq = np.einsum("ij,ij->i", reference, reference)
    d2 = np.einsum("ij,ij->i", X, X)[:, None] - 2 * X @ reference.T + ref_sq
    return reference[np.argmin(d2, axis=1)]
