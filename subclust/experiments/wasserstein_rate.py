"""Wu & Cai's rate: W1 of generated samples on unions of subspaces with non-Gaussian latents.

Wu & Cai (arXiv:2605.30153, ICML 2026) show that a diffusion model with a
kernel density score estimator learns a distribution supported on a union
of subspaces of dimension at most ``k``, with sub-Gaussian (not necessarily
Gaussian) latents, to 1-Wasserstein error ``O~(N^{-1/max(k, 2)})`` from ``N``
samples, whatever the ambient dimension ``n``.

:func:`wasserstein_rate` measures it. For each latent law, ambient
dimension and sample size ``N``: draw ``N`` training samples, cluster them
with K-subspaces, build or train a denoiser, generate ``N`` samples by DDIM
and compute the exact W1 to ``N`` fresh samples (optimal assignment; equal
sizes, so the estimate carries the same ``N^{-1/max(k, 2)}`` sampling error
as the quantity it measures). The methods:

- 'clustering-kde': :class:`SubspaceKDEDenoiser` built from the clustering,
  the Gaussian KDE of each cluster's latents on its subspace (the estimator
  of the theorem, with the subspaces found by clustering);
- 'clustering': :meth:`LowRankMixtureDenoiser.from_clustering`, a Gaussian
  latent per subspace;
- 'sgd': the same Gaussian-latent network trained by SGD
  (:class:`DiffusionSubspaceClustering`);
- 'training-set': W1 between the training samples themselves and fresh
  ones, the empirical measure's rate, for reference.

A Gaussian latent is the wrong law for uniform, discrete or Laplace
latents, so the last two plateau at the W1 between the fitted Gaussian and
the true latent law; the KDE follows the rate.
"""

import time
from dataclasses import dataclass
from numbers import Integral

import numpy as np

from subclust.utils.parallel import blas_threads, torch_threads
from subclust.utils.progress import progress_bar
from subclust.utils.tables import Table
from subclust.utils.validation import Interval, StrOptions, check_grid, validate_params

__all__ = ["LATENT_LAWS", "RATE_METHODS", "RateResult", "draw_latents", "sample_union",
           "wasserstein_rate"]

LATENT_LAWS = ("gaussian", "uniform", "discrete", "laplace")
RATE_METHODS = ("clustering-kde", "clustering", "sgd", "training-set")

# Unit-variance laws: U[-sqrt 3, sqrt 3]; uniform on {-2, -1, 0, 1, 2} / sqrt 2; Laplace(1/sqrt 2).
_DISCRETE_ATOMS = np.array([-2.0, -1.0, 0.0, 1.0, 2.0]) / np.sqrt(2.0)


@validate_params(
    {
        "law": [StrOptions(set(LATENT_LAWS))],
        "size": [Interval(Integral, 0, None, closed="left"), tuple],
        "random_state": [Interval(Integral, 0, None, closed="left"), np.random.Generator, None],
    },
    prefer_skip_nested_validation=True,
)
def draw_latents(law, size, random_state=None):
    """Independent unit-variance latent coordinates of the given law.

    Parameters
    ----------
    law : {'gaussian', 'uniform', 'discrete', 'laplace'}
    size : int or tuple of int
    random_state : int, numpy.random.Generator or None, default=None
        A generator is drawn from (and advanced), a seed starts a new one.

    Examples
    --------
    >>> import numpy as np
    >>> a = draw_latents("uniform", (20000, 2), np.random.default_rng(0))
    >>> bool(abs(a.var() - 1) < 0.05)
    True
    """
    rng = np.random.default_rng(random_state)
    if law == "gaussian":
        return rng.standard_normal(size)
    if law == "uniform":
        return rng.uniform(-np.sqrt(3.0), np.sqrt(3.0), size)
    if law == "discrete":
        return rng.choice(_DISCRETE_ATOMS, size=size)
    return rng.laplace(0.0, 1.0 / np.sqrt(2.0), size)


@validate_params(
    {
        "n_samples": [Interval(Integral, 0, None, closed="left")],
        "bases": ["array-like"],
        "law": [StrOptions(set(LATENT_LAWS))],
        "random_state": [Interval(Integral, 0, None, closed="left"), np.random.Generator, None],
    },
    prefer_skip_nested_validation=True,
)
def sample_union(n_samples, bases, law, random_state=None):
    """Samples ``x = U_k a`` on a union of subspaces, ``k`` uniform, ``a`` of the given law.

    Parameters
    ----------
    n_samples : int
    bases : list of ndarray of shape (n_features, d_k)
        Orthonormal bases of the subspaces.
    law : {'gaussian', 'uniform', 'discrete', 'laplace'}
        Law of the latent coordinates (see :func:`draw_latents`).
    random_state : int, numpy.random.Generator or None, default=None

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        Subspace of each sample.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.datasets import random_bases
    >>> from subclust.experiments.wasserstein_rate import sample_union
    >>> from subclust.subspace import residuals
    >>> bases = random_bases(5, [2, 2], random_state=0)
    >>> X, y = sample_union(200, bases, "discrete", np.random.default_rng(0))
    >>> X.shape, sorted(set(y.tolist()))
    ((200, 5), [0, 1])
    >>> bool(np.allclose(residuals(X, bases)[np.arange(200), y], 0))  # each on its subspace
    True
    """
    rng = np.random.default_rng(random_state)
    y = rng.integers(len(bases), size=n_samples)
    X = np.zeros((n_samples, bases[0].shape[0]))
    for k, U in enumerate(bases):
        rows = np.flatnonzero(y == k)
        X[rows] = draw_latents(law, (rows.size, U.shape[1]), rng) @ U.T
    return X, y


@dataclass
class RateResult:
    """W1 against the number of training samples, per latent law, dimension and method.

    Attributes
    ----------
    raw : Table
        One row per (law, n_features, method, N): mean W1 over trials.
    dim : int
        Intrinsic dimension ``k`` of every subspace.
    seconds : float
        Wall time of the whole experiment.
    """

    raw: Table
    dim: int
    seconds: float

    @property
    def expected_slope(self):
        """``-1 / max(k, 2)``, the exponent of Wu & Cai's rate."""
        return -1.0 / max(self.dim, 2)

    def curve(self, law, n_features, method):
        """``(N, W1)`` arrays of one curve."""
        rows = [r for r in self.raw.rows if (r["law"], r["n_features"], r["method"])
                == (law, n_features, method)]
        rows.sort(key=lambda r: r["N"])
        return np.array([r["N"] for r in rows]), np.array([r["w1"] for r in rows])

    def _keys(self):
        seen = {}
        for r in self.raw.rows:
            seen.setdefault((r["law"], r["n_features"], r["method"]), None)
        return list(seen)

    def slope(self, law, n_features, method):
        """Least-squares slope of log W1 against log N."""
        N, w = self.curve(law, n_features, method)
        if len(N) < 2:
            return float("nan")
        return float(np.polyfit(np.log(N), np.log(w), 1)[0])

    def table(self):
        """Slope of log W1 against log N per latent law, ambient dimension and method."""
        table = Table(
            title=f"Slope of log W1 vs log N on a union of {self.dim}-dim subspaces "
            f"(Wu & Cai: -1/max(k, 2) = {self.expected_slope:.3f})"
        )
        for law, n, method in self._keys():
            N, w = self.curve(law, n, method)
            table.add_row(law=law, n_features=n, method=method, slope=self.slope(law, n, method),
                          expected=self.expected_slope, w1_first=float(w[0]),
                          w1_last=float(w[-1]), N_range=f"{N[0]}-{N[-1]}")
        table.notes = [
            "flat in n: compare the slopes of one law and method across n_features",
            f"{self.seconds:.0f} s in all",
        ]
        return table

    def __str__(self):
        return f"{self.raw}\n\n{self.table()}"

    def plot(self):
        """log-log W1 against N, one panel per latent law, with the reference slope.

        Returns
        -------
        figure : matplotlib.figure.Figure
        """
        from matplotlib.figure import Figure

        laws = list(dict.fromkeys(k[0] for k in self._keys()))
        fig = Figure(figsize=(3.8 * len(laws), 3.6), layout="constrained")
        axes = fig.subplots(1, len(laws), squeeze=False)[0]
        styles = dict(zip(RATE_METHODS, ["o-", "s--", "^:", "x-."]))
        dims = sorted({k[1] for k in self._keys()})
        colors = dict(zip(dims, ["C0", "C1", "C2", "C3", "C4", "C5"]))
        for ax, law in zip(axes, laws):
            for _, n, method in [k for k in self._keys() if k[0] == law]:
                N, w = self.curve(law, n, method)
                ax.loglog(N, w, styles.get(method, "o-"), color=colors[n], markersize=4,
                          label=f"{method}, n={n}")
            N, w = self.curve(law, dims[0], "training-set")
            if len(N):
                ax.loglog(N, w[0] * (N / N[0]) ** self.expected_slope, "k-", linewidth=3,
                          alpha=0.3, label=f"slope {self.expected_slope:.2f}")
            ax.set(title=f"{law} latents", xlabel="training samples N", ylabel="W1")
        axes[0].legend(fontsize=6)
        return fig


@validate_params(
    {
        "laws": ["array-like"],
        "n_features": ["array-like"],
        "sample_sizes": ["array-like"],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "dims": [Interval(Integral, 1, None, closed="left")],
        "methods": ["array-like"],
        "n_trials": [Interval(Integral, 1, None, closed="left")],
        "sampler_steps": [Interval(Integral, 1, None, closed="left")],
        "exact_limit": [Interval(Integral, 1, None, closed="left")],
        "sgd_params": [dict, None],
        "random_state": [Interval(Integral, 0, None, closed="left")],
        "progress": ["boolean"],
    },
    prefer_skip_nested_validation=False,
)
def wasserstein_rate(
    laws=("uniform", "discrete", "laplace"), n_features=(8, 32, 128),
    sample_sizes=(100, 200, 400, 800, 1600), n_components=2, dims=3, methods=RATE_METHODS,
    n_trials=1, sampler_steps=50, exact_limit=2500, sgd_params=None, random_state=0,
    progress=False,
):
    """W1 between generated and fresh samples against the number of training samples.

    Parameters
    ----------
    laws : sequence of {'gaussian', 'uniform', 'discrete', 'laplace'}
    n_features : sequence of int
        Ambient dimensions ``n``.
    sample_sizes : sequence of int
        Training set sizes ``N`` (also the number of generated and fresh samples).
    n_components : int, default=2
        Subspaces in the union.
    dims : int, default=3
        Their dimension ``k``.
    methods : sequence of str
        Among 'clustering-kde', 'clustering', 'sgd', 'training-set' (see the module docstring).
    n_trials : int, default=1
        Draws averaged per point.
    sampler_steps : int, default=50
        DDIM steps.
    exact_limit : int, default=2500
        Above this ``N`` use the sliced W1 (whose rate is ``N^{-1/2}``
        in every dimension: slopes then say less).
    sgd_params : dict, optional
        Of DiffusionSubspaceClustering (default ``n_init=3``).
    random_state : int, default=0
    progress : bool, default=False

    Returns
    -------
    result : RateResult

    Examples
    --------
    >>> result = wasserstein_rate(laws=["uniform"], n_features=[6], sample_sizes=[40, 80],
    ...                           methods=["clustering-kde", "training-set"], dims=2)
    >>> sorted({row["method"] for row in result.raw.rows})
    ['clustering-kde', 'training-set']
    """
    unknown = set(methods) - set(RATE_METHODS)
    if unknown:
        raise ValueError(f"Unknown methods {sorted(unknown)}; choose from {RATE_METHODS}.")
    unknown = set(laws) - set(LATENT_LAWS)
    if unknown:
        raise ValueError(f"Unknown laws {sorted(unknown)}; choose from {LATENT_LAWS}.")
    n_features = check_grid(n_features, "n_features", increasing=False)
    sample_sizes = check_grid(sample_sizes, "sample_sizes", increasing=False)
    if min(n_features) <= dims:
        raise ValueError(f"Every n_features must exceed dims={dims}, got {n_features}.")
    start = time.perf_counter()
    cells = [(law, n, N, trial) for law in laws for n in n_features for N in sample_sizes
             for trial in range(n_trials)]
    values = {}
    with torch_threads(1), blas_threads(1):
        bar = progress_bar(cells, progress=None if progress else False, desc="W1 rate cells",
                           unit="cell")
        for law, n, N, trial in bar:
            seed = int(np.random.SeedSequence(
                [random_state, LATENT_LAWS.index(law), n, N, trial]).generate_state(1)[0])
            for method, w1 in _rate_cell(law, n, N, n_components, dims, methods, sampler_steps,
                                         exact_limit, sgd_params, seed).items():
                values.setdefault((law, n, method, N), []).append(w1)
    raw = Table(title=f"W1 between generated and fresh samples, union of {n_components} "
                f"subspaces of dimension {dims}, {n_trials} trial(s) per point")
    for (law, n, method, N), w in values.items():
        raw.add_row(law=law, n_features=n, method=method, N=N, w1=float(np.mean(w)))
    return RateResult(raw=raw, dim=dims, seconds=time.perf_counter() - start)


def _rate_cell(law, n, N, n_components, dim, methods, steps, exact_limit, sgd_params, seed):
    """W1 of every method on one draw of ``N`` training and ``N`` fresh samples."""
    import torch

    from subclust.cluster import KSubspaces
    from subclust.datasets import random_bases
    from subclust.diffusion import (
        DiffusionSubspaceClustering,
        LowRankMixtureDenoiser,
        sample_ddim,
        uniform_times,
    )
    from subclust.diffusion.from_clustering import SubspaceKDEDenoiser
    from subclust.diffusion.quality import sliced_wasserstein1, wasserstein1

    rng = np.random.default_rng(seed)
    bases = random_bases(n, [dim] * n_components, random_state=int(rng.integers(2**31)))
    X, _ = sample_union(N, bases, law, rng)
    fresh, _ = sample_union(N, bases, law, rng)

    def distance(S):
        if N <= exact_limit:
            return wasserstein1(S, fresh)
        return sliced_wasserstein1(S, fresh, random_state=seed)

    nets = {}
    if {"clustering", "clustering-kde"} & set(methods):
        kss = KSubspaces(n_components, dims=dim, random_state=seed % 2**31).fit(X)
        if "clustering" in methods:
            nets["clustering"] = LowRankMixtureDenoiser.from_clustering(
                kss, X, dtype=torch.float64)
        if "clustering-kde" in methods:
            nets["clustering-kde"] = SubspaceKDEDenoiser.from_clustering(kss, X)
    if "sgd" in methods:
        params = {"n_init": 3, **(sgd_params or {})}
        dsc = DiffusionSubspaceClustering(n_components, dims=dim, random_state=seed % 2**31,
                                          **params).fit(X)
        nets["sgd"] = LowRankMixtureDenoiser(n, n_components, dim, init_bases=dsc.bases_,
                                             dtype=torch.float64)
    out = {}
    noise = torch.randn(N, n, generator=torch.Generator().manual_seed(seed % 2**63),
                        dtype=torch.float64)
    grid = uniform_times(steps)
    for method in methods:
        if method == "training-set":
            out[method] = distance(X)
        else:
            x = nets[method].schedule.g(grid[0]) * noise
            S = sample_ddim(nets[method], x, grid, disable=True).numpy()
            out[method] = distance(S)
    return out
