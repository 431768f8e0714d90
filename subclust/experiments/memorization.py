"""Generalization against memorization of a trained diffusion model, as ``N_k / d`` grows.

The denoiser that minimizes the training loss over all functions is the
empirical one, ``D(x) = sum_i softmax_i(-||x - s x_i||^2 / (2 g^2)) x_i``,
and it only ever reproduces training points. A network trained on few
samples behaves like it; trained on enough samples, it generates new points
of the true distribution. Wang et al. (arXiv:2409.02426) tie "enough" to the
intrinsic dimension: on a mixture of low-rank Gaussians (MoLRG), the number
of samples per component needed to learn the subspaces grows linearly with
``d``. :func:`memorization_sweep` trains the generic
:class:`~subclust.diffusion.MLPDenoiser` on MoLRG samples with ``N_k / d``
from 1 to 100, samples from it, and sorts every generated sample into one of
three classes (:func:`classify_samples`):

- *memorized*: a copy of a training sample, its distance to the nearest
  training sample below ``memorization_ratio`` (1/3) times the typical gap
  of the training set, the median distance of a training sample to its
  nearest other training sample;
- *generalized*: not memorized, and on the true union of subspaces, its
  relative off-subspace residual ``min_k ||x - U_k U_k^T x|| / ||x||`` below
  ``subspace_tolerance`` (0.1);
- *off-subspace*: neither.

The same measures are taken for the empirical (memorizing) denoiser run by
the same sampler, and for fresh draws of the true MoLRG, the ideal generator.

Choice of the thresholds. The factor 1/3 is the one of the memorization
criterion of Yoon et al. (ICML 2023 workshop) and Gu et al. (arXiv:2310.02664),
who compare the nearest training sample with the second nearest; we compare
it with the typical gap of the training set.
A new point of the distribution falls that close to a training point by chance
with probability about ``1 - 2^(-(1/3)^d)`` (the nearest-neighbour distance of
a Poisson process in ``d`` dimensions: 7% for ``d = 2``, 2.5% for ``d = 3``,
0.8% for ``d = 4``): the memorized share of the fresh draws shows this floor.
A sample of the MoLRG with isotropic noise ``sigma`` has relative residual
about ``sigma sqrt((n - d) / d)`` (0.02 for ``sigma = 0.01``, ``n = 16``,
``d = 3``), and the samplers stop at the lowest noise level of their grid
(EDM's 0.002), whose leftover noise is of the same size; a point
drawn at random in ``R^n`` has relative residual about ``sqrt(1 - d / n)``
(0.9). A tolerance of 0.1 (about 6 degrees from the nearest subspace) sits
well between the two.
"""

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from subclust.datasets import make_molrg
from subclust.experiments._constraints import SAMPLING_CONSTRAINTS, TRAINING_CONSTRAINTS
from subclust.subspace import residuals
from subclust.utils.parallel import torch_threads
from subclust.utils.progress import progress_bar
from subclust.utils.tables import Table
from subclust.utils.validation import Interval, check_grid, validate_params

__all__ = [
    "MemorizationResult",
    "classify_samples",
    "memorization_shares",
    "memorization_sweep",
    "CLASSES",
    "MODELS",
]

#: The classes of :func:`classify_samples`, in the order of the table's columns.
CLASSES = ("generalized", "memorized", "off-subspace")

#: Generators compared by :func:`memorization_sweep`.
MODELS = {
    "mlp": "MLPDenoiser trained by denoising score matching",
    "empirical": "empirical optimal denoiser of the training set (memorizes)",
    "fresh": "fresh draws of the true MoLRG (the ideal generator)",
}


# --------------------------------------------------------------------------- measures


def _as_2d(X, name):
    if hasattr(X, "detach"):
        X = X.detach().cpu().numpy()
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array (n_samples, n_features), got shape {X.shape}."
        )
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} contains NaN or infinity.")
    return X


def _nearest_distances(A, B=None):
    """Distance of every row of ``A`` to its nearest row of ``B`` (None: other row of ``A``)."""
    from sklearn.neighbors import NearestNeighbors

    if B is None:
        # kneighbors without query points never returns a point as its own neighbour
        # (a duplicate of it still counts, at distance 0).
        return NearestNeighbors(n_neighbors=1).fit(A).kneighbors()[0][:, 0]
    return NearestNeighbors(n_neighbors=1).fit(B).kneighbors(A)[0][:, 0]


@validate_params(
    {
        "samples": ["array-like"],
        "X_train": ["array-like"],
        "bases": ["array-like"],
        "return_details": ["boolean"],
        "memorization_ratio": [Interval(Real, 0, None, closed="neither")],
        "subspace_tolerance": [Interval(Real, 0, 1, closed="neither")],
    },
    prefer_skip_nested_validation=True,
)
def classify_samples(samples, X_train, bases, memorization_ratio=1 / 3, subspace_tolerance=0.1,
                     return_details=False):
    """Sort generated samples into memorized, generalized and off-subspace.

    For every generated sample ``x``:

    - ``nn(x) = min_i ||x - x_i||`` over the training samples ``x_i``;
      ``gap`` is the median over training samples of the distance to the
      nearest *other* training sample. ``x`` is **memorized** when
      ``nn(x) < memorization_ratio * gap``.
    - ``rel(x) = min_k ||x - U_k U_k^T x|| / ||x||`` (0 for ``x = 0``) is the
      relative residual to the nearest true subspace. ``x`` is **generalized**
      when it is not memorized and ``rel(x) < subspace_tolerance``;
      otherwise it is **off-subspace**.

    See the module docstring for the choice of the thresholds.

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features)
        Generated samples.
    X_train : array-like of shape (n_train, n_features)
        The training samples (at least 2, not all equal).
    bases : list of array-like of shape (n_features, d_k)
        Orthonormal bases of the true subspaces.
    memorization_ratio : float, default=1/3
    subspace_tolerance : float, default=0.1
        In (0, 1).
    return_details : bool, default=False
        Also return ``nn(x) / gap`` and ``rel(x)``.

    Returns
    -------
    labels : ndarray of str of shape (n_samples,)
        One of :data:`CLASSES` per sample.
    distance_ratio, relative_residual : ndarray of shape (n_samples,)
        Only with ``return_details=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.experiments import classify_samples
    >>> X_train = np.array([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    >>> line = [np.array([[1.0], [0.0], [0.0]])]
    >>> classify_samples([[2.0, 0.0, 0.0], [-3.0, 0.0, 0.0], [0.0, 0.0, 5.0]], X_train, line)
    array(['memorized', 'generalized', 'off-subspace'], dtype='<U12')
    """
    samples = _as_2d(samples, "samples")
    X_train = _as_2d(X_train, "X_train")
    bases = [_as_2d(U, "each basis") for U in bases]
    if len(bases) == 0:
        raise ValueError("bases must hold at least one orthonormal basis.")
    n = X_train.shape[1]
    if samples.shape[1] != n or any(U.shape[0] != n for U in bases):
        raise ValueError(
            f"samples ({samples.shape[1]} features), X_train ({n}) and the bases "
            f"({[U.shape[0] for U in bases]} rows) must share the number of features."
        )
    if X_train.shape[0] < 2:
        raise ValueError(
            f"X_train needs at least 2 samples to define the typical gap, got {X_train.shape[0]}."
        )
    gap = float(np.median(_nearest_distances(X_train)))
    if not gap > 0:
        raise ValueError(
            "The median nearest-neighbour distance of X_train is 0 (more than half of the "
            "training samples are duplicates); deduplicate X_train."
        )
    distance_ratio = (
        _nearest_distances(samples, X_train) / gap if len(samples) else np.empty(0)
    )
    norms = np.linalg.norm(samples, axis=1)
    residual = np.sqrt(residuals(samples, bases).min(axis=1)) if len(samples) else np.empty(0)
    relative = np.divide(residual, norms, out=np.zeros_like(residual), where=norms > 0)
    memorized = distance_ratio < memorization_ratio
    on_subspace = relative < subspace_tolerance
    labels = np.where(memorized, CLASSES[1], np.where(on_subspace, CLASSES[0], CLASSES[2]))
    labels = labels.astype("<U12")
    if return_details:
        return labels, distance_ratio, relative
    return labels


@validate_params(
    {
        "samples": ["array-like"],
        "X_train": ["array-like"],
        "bases": ["array-like"],
        "memorization_ratio": [Interval(Real, 0, None, closed="neither")],
        "subspace_tolerance": [Interval(Real, 0, 1, closed="neither")],
    },
    prefer_skip_nested_validation=True,
)
def memorization_shares(samples, X_train, bases, memorization_ratio=1 / 3,
                        subspace_tolerance=0.1):
    """Share of the generated samples in each class of :func:`classify_samples`.

    Returns
    -------
    shares : dict
        ``{'generalized', 'memorized', 'off-subspace'}`` to a float; they sum to 1.

    Examples
    --------
    >>> from subclust.datasets import make_molrg
    >>> from subclust.experiments import memorization_shares
    >>> X, _, bases = make_molrg(n_samples=[20, 20], n_features=8, dims=2, random_state=0)
    >>> memorization_shares(X[:10], X, bases)["memorized"]  # copies of training points
    1.0
    """
    labels = classify_samples(samples, X_train, bases, memorization_ratio, subspace_tolerance)
    total = max(len(labels), 1)
    return {name: float(np.sum(labels == name)) / total for name in CLASSES}


# --------------------------------------------------------------------------- result


def _log_crossing(ratios, values, level):
    """First upward crossing of ``level``, interpolated linearly in ``log(ratio)``, or None."""
    for i in range(1, len(values)):
        lo, hi = values[i - 1], values[i]
        if lo < level <= hi:
            a, b = np.log(ratios[i - 1]), np.log(ratios[i])
            return float(np.exp(a + (level - lo) / (hi - lo) * (b - a)))
    return None


@dataclass
class MemorizationResult:
    """Shares of generated samples that generalize, copy training points or leave the subspaces.

    Attributes
    ----------
    table : Table
        One row per (model, N_k / d): model, ratio (``N_k / d``),
        samples_per_component, n_train, trials, generalized, memorized,
        off_subspace (means over trials), generalized_std.
    trials : Table
        One row per (model, ratio, trial), with the shares of that trial.
    memorization_ratio, subspace_tolerance : float
        The thresholds of :func:`classify_samples`.
    """

    table: Table
    trials: Table
    memorization_ratio: float
    subspace_tolerance: float

    @property
    def models(self):
        return list(dict.fromkeys(r["model"] for r in self.table.rows))

    def shares(self, model):
        """The ratios ``N_k / d`` (increasing) and the mean shares of ``model``.

        Returns
        -------
        ratios : ndarray
        shares : dict of str to ndarray
            'generalized', 'memorized', 'off_subspace', 'generalized_std'.
        """
        rows = sorted((r for r in self.table.rows if r["model"] == model),
                      key=lambda r: r["ratio"])
        if not rows:
            raise ValueError(f"No rows for model {model!r}; the result has {self.models}.")
        ratios = np.array([r["ratio"] for r in rows], dtype=float)
        keys = ("generalized", "memorized", "off_subspace", "generalized_std")
        return ratios, {k: np.array([r[k] for r in rows], dtype=float) for k in keys}

    def crossing(self, model="mlp", level=0.5):
        """``N_k / d`` at which the mean generalized share first rises through ``level``.

        Interpolated linearly in ``log(N_k / d)`` between the two ratios that
        bracket the first upward crossing. None when there is none: the share
        stays below ``level``, or starts at or above it (see :meth:`summary`).
        """
        ratios, shares = self.shares(model)
        return _log_crossing(ratios, shares["generalized"], level)

    def summary(self, level=0.5):
        """Per model: the crossing of ``level`` and the shares at the smallest and largest ratio."""
        table = Table(
            title=f"Generalized share crossing {level} (interpolated in log N_k/d); memorized = "
            f"nearest training sample < {self.memorization_ratio:.3g} x median training gap, "
            f"on-subspace = relative residual < {self.subspace_tolerance:g}"
        )
        for model in self.models:
            ratios, shares = self.shares(model)
            generalized = shares["generalized"]
            crossing = self.crossing(model, level)
            if crossing is None:
                crossing = (f"<= {ratios[0]:g}" if generalized[0] >= level
                            else f"> {ratios[-1]:g} (not reached)")
            table.add_row(
                model=model, crossing_ratio=crossing,
                **{f"generalized@{ratios[0]:g}": float(generalized[0]),
                   f"generalized@{ratios[-1]:g}": float(generalized[-1]),
                   f"memorized@{ratios[0]:g}": float(shares["memorized"][0]),
                   f"memorized@{ratios[-1]:g}": float(shares["memorized"][-1])},
            )
        return table

    def plot(self, level=0.5):
        """Generalized and memorized shares against ``N_k / d`` (log axis), one line per model.

        Returns
        -------
        figure : matplotlib.figure.Figure
        """
        from matplotlib.figure import Figure

        fig = Figure(figsize=(9.0, 3.6), layout="constrained")
        ax_gen, ax_mem = fig.subplots(1, 2, sharex=True, sharey=True)
        styles = {"mlp": ("C0", "o"), "empirical": ("C3", "s"), "fresh": ("0.5", "^")}
        for model in self.models:
            color, marker = styles.get(model, (None, "x"))
            ratios, shares = self.shares(model)
            ax_gen.errorbar(ratios, shares["generalized"], yerr=shares["generalized_std"],
                            color=color, marker=marker, capsize=2, label=model)
            ax_mem.plot(ratios, shares["memorized"], color=color, marker=marker, label=model)
            if model == "mlp":
                ax_mem.plot(ratios, shares["off_subspace"], color=color, linestyle=":",
                            label="mlp off-subspace")
        for ax in (ax_gen, ax_mem):
            ax.set_xscale("log")
            ax.axhline(level, color="0.7", linewidth=0.8)
            ax.set(xlabel="samples per component / intrinsic dimension  $N_k / d$",
                   ylim=(-0.03, 1.03))
        crossing = self.crossing("mlp", level) if "mlp" in self.models else None
        if crossing is not None:
            ax_gen.axvline(crossing, color="C0", linestyle="--", linewidth=0.8)
            ax_gen.annotate(f"{crossing:.3g}", (crossing, level), xytext=(4, -14),
                            textcoords="offset points", color="C0")
        ax_gen.set(title="generalized: new and on the true subspaces", ylabel="share of samples")
        ax_mem.set(title="memorized: copies of training samples; dotted: off-subspace")
        ax_gen.legend(loc="best", fontsize="small")
        ax_mem.legend(loc="best", fontsize="small")
        return fig


# --------------------------------------------------------------------------- experiment


def _trial_seed(random_state, trial, purpose):
    """A seed per (trial, purpose); the same for every ratio, so the sweep is paired."""
    sequence = np.random.SeedSequence([random_state, trial, purpose])
    return int(sequence.generate_state(1)[0])


def _draw_trial(random_state, trial, max_per_component, n_components, n_features, dim, noise,
                n_generated):
    """Subspaces, the largest training set (as ``(K, N_k, n)``) and the sampler's noise."""
    import torch

    pool, _, bases = make_molrg(
        n_samples=[max_per_component] * n_components, n_features=n_features, dims=dim,
        noise=noise, shuffle=False, random_state=_trial_seed(random_state, trial, 0),
    )
    generator = torch.Generator().manual_seed(_trial_seed(random_state, trial, 1))
    sampling_noise = torch.randn(n_generated, n_features, generator=generator)
    return pool.reshape(n_components, max_per_component, n_features), bases, sampling_noise


def _check_sweep(ratios, models, n_features, n_components, dims, n_trials, n_generated, steps,
                 batch_size, lr, hidden, depth, sampler, sampler_steps, noise):
    from subclust.diffusion import SAMPLERS

    ratios = np.asarray(check_grid(ratios, "ratios", minimum=0, integer=False))
    unknown = set(models) - set(MODELS)
    if unknown or not models:
        raise ValueError(f"Unknown models {sorted(unknown)}; choose from {sorted(MODELS)}.")
    if dims >= n_features:
        raise ValueError(f"dims={dims} must be smaller than n_features={n_features}.")
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, got {sampler!r}.")
    counts = np.maximum(np.rint(ratios * dims).astype(int), 1)
    if np.any(np.diff(counts) <= 0):
        raise ValueError(
            f"ratios {ratios.tolist()} give repeated samples per component {counts.tolist()} "
            f"for dims={dims}; space them further apart."
        )
    if counts[0] * n_components < 2:
        raise ValueError(
            "The smallest training set must hold at least 2 samples (the memorization measure "
            "compares with the nearest-neighbour gap of the training set); raise the smallest "
            "ratio, dims or n_components."
        )
    return ratios, counts


def _train_mlp(X, seed, config):
    import torch

    from subclust.diffusion import LogNormalSigma, MLPDenoiser, Preconditioned, train_denoiser

    sigma_data = float(np.sqrt(np.mean(X**2)))
    network = MLPDenoiser(X.shape[1], hidden=config["hidden"], depth=config["depth"],
                          random_state=seed)
    net = Preconditioned(network, schedule=config["schedule"], sigma_data=sigma_data)
    # EDM's training recipe (log-normal noise levels, EDM weighting) suits the preconditioned
    # MLP; it is the one of the MLP test in tests/test_diffusion_training.py.
    train_denoiser(net, torch.as_tensor(X, dtype=torch.float32), steps=config["steps"],
                   batch_size=config["batch_size"], lr=config["lr"], lr_schedule="cosine",
                   noise_levels=LogNormalSigma(), weighting="edm", sigma_data=sigma_data,
                   random_state=seed, verbose=0)
    return net


def _generate(model, X, bases, noise, config, seed):
    """``noise.shape[0]`` samples of ``model`` for the training set ``X``, as a float64 array."""
    import torch

    from subclust.diffusion import EmpiricalDenoiser, karras_times, sample

    if model == "fresh":
        fresh, _, _ = make_molrg(n_samples=noise.shape[0], bases=bases, noise=config["noise"],
                                 random_state=seed)
        return fresh
    if model == "mlp":
        denoiser = _train_mlp(X, seed, config)
    else:
        denoiser, noise = EmpiricalDenoiser(X, schedule=config["schedule"]), noise.double()
    generator = torch.Generator().manual_seed(seed)  # used by the stochastic samplers only
    grid = karras_times(denoiser.schedule, config["sampler_steps"])
    out = sample(config["sampler"], denoiser, denoiser.schedule.g(grid[0]) * noise, grid,
                 generator=generator, disable=True)
    return out.double().numpy()


@validate_params(
    {
        "ratios": ["array-like"],
        "models": ["array-like"],
        "n_features": [Interval(Integral, 1, None, closed="left")],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "dims": [Interval(Integral, 1, None, closed="left")],
        "n_trials": [Interval(Integral, 1, None, closed="left")],
        "n_generated": [Interval(Integral, 1, None, closed="left")],
        **TRAINING_CONSTRAINTS,
        **SAMPLING_CONSTRAINTS,
        "noise": [Interval(Real, 0, None, closed="left")],
        "memorization_ratio": [Interval(Real, 0, None, closed="neither")],
        "subspace_tolerance": [Interval(Real, 0, 1, closed="neither")],
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": [Interval(Integral, 0, None, closed="left")],
        "progress": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def memorization_sweep(
    ratios=(1, 2, 5, 10, 20, 50, 100), models=("mlp", "empirical", "fresh"), n_features=16,
    n_components=2, dims=3, n_trials=3, n_generated=500, steps=2000, batch_size=256, lr=4e-3,
    hidden=128, depth=3, sampler="heun", sampler_steps=18, noise=0.0, memorization_ratio=1 / 3,
    subspace_tolerance=0.1, n_threads=1, random_state=0, progress=False,
):  # fmt: skip
    """Generalized and memorized shares of generated samples as ``N_k / d`` grows.

    Each trial draws ``n_components`` random subspaces of dimension ``dims``
    in ``R^n_features`` and, for every ratio ``r``, a training set of
    ``N_k = round(r * dims)`` samples per component; the training sets of one
    trial are nested (each the first ``N_k`` samples of every component of
    one draw), and everything but ``N_k`` is the same across ratios (network
    initialization, training randomness, sampler noise), so the sweep is a
    paired comparison. For every training set:

    - 'mlp': an :class:`~subclust.diffusion.MLPDenoiser` (EDM schedule,
      :class:`~subclust.diffusion.Preconditioned`, ``sigma_data`` of the training set) trained for
      ``steps`` steps of denoising score matching (Adam, cosine learning
      rate, log-normal noise levels, EDM weighting), then sampled;
    - 'empirical': the empirical optimal denoiser of the training set,
      sampled by the same sampler from the same noise;
    - 'fresh': ``n_generated`` new draws of the same MoLRG (the ideal
      generator: its memorized share is the chance floor of the measure).

    The samples are sorted by :func:`classify_samples`. PyTorch runs with
    ``n_threads`` threads meanwhile (small networks train far faster on one).

    Parameters
    ----------
    ratios : sequence of float, default=(1, 2, 5, 10, 20, 50, 100)
        Values of ``N_k / d``, strictly increasing.
    models : sequence of {'mlp', 'empirical', 'fresh'}
    n_features : int, default=16
    n_components : int, default=2
    dims : int, default=3
        Intrinsic dimension ``d`` of every component.
    n_trials : int, default=3
        Independent trials (subspaces, data, network) per ratio.
    n_generated : int, default=500
        Samples generated per model and training set.
    steps, batch_size, lr : training of the MLP; default 2000, 256, 4e-3.
    hidden, depth : int, default=128, 3
        Width and number of hidden layers of the MLP (3 x 128: about 40k parameters).
    sampler : {'heun', 'euler', 'ddim', 'ddpm'}, default='heun'
    sampler_steps : int, default=18
    noise : float, default=0.0
        Isotropic noise of the MoLRG samples (keep ``noise * sqrt((n - d) / d)``
        well below ``subspace_tolerance``).
    memorization_ratio, subspace_tolerance : float, default=1/3, 0.1
        Thresholds of :func:`classify_samples`.
    n_threads : int or None, default=1
        PyTorch threads during the sweep, at most those the caller allows
        (None: all of those).
    random_state : int, default=0
    progress : bool, default=False
        Show a progress bar over trials x ratios (tqdm).

    Returns
    -------
    result : MemorizationResult

    Examples
    --------
    >>> from subclust.experiments import memorization_sweep
    >>> result = memorization_sweep(ratios=[1, 4], models=["empirical", "fresh"], n_features=6,
    ...                             dims=2, n_trials=1, n_generated=50, sampler_steps=8)
    >>> result.shares("empirical")[1]["memorized"].tolist()  # the empirical denoiser copies
    [1.0, 1.0]
    """
    models = list(dict.fromkeys(models))
    ratios, counts = _check_sweep(ratios, models, n_features, n_components, dims, n_trials,
                                  n_generated, steps, batch_size, lr, hidden, depth, sampler,
                                  sampler_steps, noise)
    from subclust.diffusion import EDM

    config = dict(schedule=EDM(), steps=steps, batch_size=batch_size, lr=lr, hidden=hidden,
                  depth=depth, sampler=sampler, sampler_steps=sampler_steps, noise=noise)
    trials = Table(title="Shares per trial")
    cells = [(trial, i) for trial in range(n_trials) for i in range(len(ratios))]
    with torch_threads(n_threads):
        for trial, i in progress_bar(cells, progress=None if progress else False,
                                         desc="memorization: trials x ratios", unit="cell"):
            if i == 0:
                pool, bases, sampling_noise = _draw_trial(
                    random_state, trial, int(counts[-1]), n_components, n_features, dims, noise,
                    n_generated,
                )
            N_k = int(counts[i])
            X = pool[:, :N_k].reshape(-1, n_features)  # the first N_k samples of each component
            for model in models:
                samples = _generate(model, X, bases, sampling_noise, config,
                                    _trial_seed(random_state, trial, 2))
                shares = memorization_shares(samples, X, bases, memorization_ratio,
                                             subspace_tolerance)
                trials.add_row(model=model, ratio=float(ratios[i]), samples_per_component=N_k,
                               n_train=len(X), trial=trial, generalized=shares["generalized"],
                               memorized=shares["memorized"],
                               off_subspace=shares["off-subspace"])

    table = Table(
        title=f"Generalization vs memorization: n={n_features}, K={n_components}, d={dims}, "
        f"{n_trials} trial(s), {n_generated} samples per model, MLP {depth}x{hidden} trained "
        f"{steps} steps, {sampler} sampler ({sampler_steps} steps)"
    )
    for model in models:
        for i, ratio in enumerate(ratios):
            rows = [r for r in trials.rows if r["model"] == model and r["ratio"] == ratio]
            generalized = np.array([r["generalized"] for r in rows])
            table.add_row(
                model=model, ratio=float(ratio), samples_per_component=int(counts[i]),
                n_train=int(counts[i]) * n_components, trials=len(rows),
                generalized=float(generalized.mean()),
                memorized=float(np.mean([r["memorized"] for r in rows])),
                off_subspace=float(np.mean([r["off_subspace"] for r in rows])),
                generalized_std=float(generalized.std()),
            )
    table.notes.append(
        f"memorized: nearest training sample < {memorization_ratio:.3g} x median training gap; "
        f"generalized: not memorized and relative residual to the true subspaces < "
        f"{subspace_tolerance:g}"
    )
    return MemorizationResult(table=table, trials=trials, memorization_ratio=memorization_ratio,
                              subspace_tolerance=subspace_tolerance)
