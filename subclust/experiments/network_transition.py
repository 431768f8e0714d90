"""Where a trained network starts to generalize on MoLRG, and how that point grows with ``d``.

Wang et al. (arXiv:2409.02426) train a standard diffusion network (a U-Net
with EDM preconditioning) on a mixture of ``K = 2`` low-rank Gaussians in
``n = 48`` dimensions and score its samples by the share that are new and
lie on the true subspaces (their *generalization score*); the score jumps
from 0 to 1 as the number of training samples per component ``N_k`` grows,
and the jump moves linearly with the intrinsic dimension ``d``.
:func:`network_transition` repeats the experiment with the generic
:class:`~subclust.diffusion.MLPDenoiser` (EDM preconditioning; the project's
U-Net takes square one-channel images, and 48 features are not one):

1. for every ``d`` and seed, draw one MoLRG and nested training sets of
   ``N_k = r d`` samples per component for every ratio ``r``; train one
   network per training set (all ratios of a ``(d, seed)`` pair at once, as
   one stacked network, by :func:`~subclust.diffusion.train_denoiser`),
   sample it with :func:`~subclust.diffusion.sample`;
2. score the samples with :func:`~subclust.experiments.memorization_shares`:
   the generalization score is the share of samples that are not copies of
   a training sample (nearest training sample at least 1/3 of the median
   training gap away) and lie on the true union of subspaces (relative
   residual below 0.1);
3. for every ``(d, seed)`` locate the first crossing of one half,
   interpolated linearly in ``log N_k`` (:func:`fit_crossing`), then regress
   the crossings on ``d`` by least squares (:func:`fit_line`), with
   Student-t confidence intervals.

The training sets of one ``(d, seed)`` pair differ in size; they are tiled
to a common number of rows (the least common multiple of their sizes), so
that the stacked training loop, which draws the same rows for every network,
shows each network every one of its samples equally often.
"""

import math
import numbers
from dataclasses import dataclass
from functools import partial, reduce

import numpy as np

from subclust.datasets import make_molrg
from subclust.experiments._constraints import SAMPLING_CONSTRAINTS, TRAINING_CONSTRAINTS
from subclust.experiments.memorization import _log_crossing, memorization_shares
from subclust.utils.parallel import blas_threads, process_map, torch_threads
from subclust.utils.progress import progress_bar
from subclust.utils.tables import Table
from subclust.utils.validation import Interval, check_grid, validate_params

__all__ = [
    "NetworkTransitionResult",
    "network_transition",
    "fit_crossing",
    "fit_line",
    "SMALL_CONFIG",
]

#: A configuration that runs in seconds (tests, ``--small``, the notebook's small run).
SMALL_CONFIG = dict(dims=(2, 3), ratios=(1, 4, 16), n_features=8, n_seeds=2, n_generated=60,
                    steps=200, batch_size=64, hidden=32, depth=2, sampler_steps=6)

#: Largest allowed ``lcm(training set sizes) / largest training set`` (see the module docstring).
_MAX_TILING = 64

#: Constraint of a level or a probability strictly between 0 and 1.
_OPEN_UNIT = [Interval(numbers.Real, 0, 1, closed="neither")]


# --------------------------------------------------------------------------- fits


@validate_params(
    {"samples_per_component": ["array-like"], "scores": ["array-like"], "level": _OPEN_UNIT},
    prefer_skip_nested_validation=True,
)
def fit_crossing(samples_per_component, scores, level=0.5):
    """``N_k`` where a score first rises through ``level``, interpolated linearly in ``log N_k``.

    The scores of a trained network rise through the transition, level off
    below 1 and may sag again at the largest ``N_k`` (a network trained for
    a fixed number of steps fits a large training set less closely). A
    sigmoid fitted to all points is pulled by that sag; the first upward
    crossing, interpolated between the two grid points that bracket it (as
    :meth:`MemorizationResult.crossing` does), reads the transition alone.

    Parameters
    ----------
    samples_per_component : array-like of shape (m,)
        Positive, strictly increasing values of ``N_k``.
    scores : array-like of shape (m,)
        Scores in ``[0, 1]``.
    level : float, default=0.5
        In ``(0, 1)``.

    Returns
    -------
    crossing : float
        NaN when there is no upward crossing on the grid (the scores stay
        below ``level``, or start at or above it): it is not extrapolated.

    Examples
    --------
    >>> round(fit_crossing([10, 100], [0.2, 0.8]), 6)  # halfway in log N_k: sqrt(10 * 100)
    31.622777
    >>> round(fit_crossing([1, 10, 100, 1000], [0.0, 0.6, 0.4, 0.9]), 6)  # the first crossing
    6.812921
    >>> fit_crossing([1, 10, 100], [0.0, 0.1, 0.2])  # never generalizes on this grid
    nan
    """
    N = np.asarray(samples_per_component, dtype=float)
    y = np.asarray(scores, dtype=float)
    if N.ndim != 1 or N.shape != y.shape or N.size < 2:
        raise ValueError(
            f"samples_per_component and scores must be 1-D of the same length >= 2, got shapes "
            f"{N.shape} and {y.shape}."
        )
    if not (np.all(np.isfinite(N)) and N.min() > 0 and np.all(np.diff(N) > 0)):
        raise ValueError(f"samples_per_component must be positive and increasing, got {N}.")
    if not (np.all(np.isfinite(y)) and y.min() >= 0 and y.max() <= 1):
        raise ValueError(f"scores must lie in [0, 1], got {y}.")
    crossing = _log_crossing(N, y, level)
    return float("nan") if crossing is None else crossing


@validate_params(
    {"x": ["array-like"], "y": ["array-like"], "confidence": _OPEN_UNIT},
    prefer_skip_nested_validation=True,
)
def fit_line(x, y, confidence=0.95):
    """Least-squares line ``y = slope x + intercept`` with Student-t confidence intervals.

    Parameters
    ----------
    x, y : array-like of shape (m,)
        At least 3 points, ``x`` not all equal; pairs with a NaN are dropped first.
    confidence : float, default=0.95

    Returns
    -------
    fit : dict
        'slope', 'intercept', their intervals 'slope_ci' and 'intercept_ci'
        (pairs), 'r2', 'n_points'.

    Examples
    --------
    >>> fit = fit_line([3, 4, 5, 6, 7], [30, 40, 50, 60, 70])
    >>> round(fit["slope"], 6), round(fit["intercept"], 6) + 0.0, fit["slope_ci"]
    (10.0, 0.0, (10.0, 10.0))
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length, got {x.size} and {y.size}.")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 3 or np.ptp(x) == 0:
        raise ValueError(
            f"A line with a confidence interval needs at least 3 finite points at 2 or more x "
            f"values, got {x.size} point(s) at x = {sorted(set(x.tolist()))}."
        )
    from scipy import stats

    line = stats.linregress(x, y)
    t = stats.t.ppf(0.5 + confidence / 2, x.size - 2)

    def interval(value, stderr):
        return (float(value - t * stderr), float(value + t * stderr))

    return {
        "slope": float(line.slope), "intercept": float(line.intercept),
        "slope_ci": interval(line.slope, line.stderr),
        "intercept_ci": interval(line.intercept, line.intercept_stderr),
        "r2": float(line.rvalue**2), "n_points": int(x.size),
    }


# --------------------------------------------------------------------------- result


@dataclass
class NetworkTransitionResult:
    """Generalization scores of trained networks over ``(d, N_k)`` and their transition.

    Attributes
    ----------
    table : Table
        One row per ``(d, N_k / d)``: dim, ratio, samples_per_component,
        seeds, generalized (the generalization score, mean over seeds),
        generalized_std, memorized, off_subspace.
    trials : Table
        One row per ``(d, ratio, seed)`` with that network's shares.
    crossings : Table
        One row per ``(d, seed)``: the fitted crossing ``N_k`` of ``level``
        and that crossing over ``d`` (NaN where the scores of that seed do
        not bracket it).
    fit : dict
        :func:`fit_line` of the crossings against ``d`` (all seeds pooled).
    level : float
        The score whose crossing is located.
    config : dict
        The parameters of the run.
    """

    table: Table
    trials: Table
    crossings: Table
    fit: dict
    level: float
    config: dict

    @property
    def dims(self):
        return sorted({r["dim"] for r in self.table.rows})

    def curve(self, dim):
        """``N_k`` (increasing), mean and standard deviation of the score over seeds, for ``d``."""
        rows = sorted((r for r in self.table.rows if r["dim"] == dim),
                      key=lambda r: r["samples_per_component"])
        if not rows:
            raise ValueError(f"No rows for dim={dim!r}; the result has dims {self.dims}.")
        return tuple(np.array([r[k] for r in rows], dtype=float)
                     for k in ("samples_per_component", "generalized", "generalized_std"))

    def summary(self):
        """Per ``d``: crossing ``N_k`` (mean and std over seeds), as a multiple of ``d``, scores."""
        table = Table(
            title=f"Generalization score crossing {self.level:g} (interpolated in log N_k), "
            f"per d over {self.config['n_seeds']} seed(s)"
        )
        for d in self.dims:
            found = np.array([r["crossing"] for r in self.crossings.rows if r["dim"] == d])
            found = found[np.isfinite(found)]
            N, score, _ = self.curve(d)
            table.add_row(
                dim=d, seeds_crossing=f"{found.size}/{self.config['n_seeds']}",
                crossing=float(found.mean()) if found.size else float("nan"),
                crossing_std=float(found.std()) if found.size else float("nan"),
                crossing_over_d=float(found.mean() / d) if found.size else float("nan"),
                **{f"score@N_k/d={N[0] / d:g}": float(score[0]),
                   f"score@N_k/d={N[-1] / d:g}": float(score[-1])},
            )
        table.notes.append(self.line_text())
        return table

    def line_text(self):
        """The fitted line of the crossing against ``d`` as one sentence."""
        fit = self.fit
        if not fit:
            return "crossing vs d: too few crossings inside the grid to fit a line"
        return (
            f"crossing N_k = {fit['slope']:.3g} d + {fit['intercept']:.3g}; slope 95% CI "
            f"[{fit['slope_ci'][0]:.3g}, {fit['slope_ci'][1]:.3g}], intercept 95% CI "
            f"[{fit['intercept_ci'][0]:.3g}, {fit['intercept_ci'][1]:.3g}], R^2 = "
            f"{fit['r2']:.3f}, {fit['n_points']} (d, seed) crossings"
        )

    def plot(self):
        """Score against ``N_k / d`` per ``d``; crossing against ``d`` with the fitted line.

        Returns
        -------
        figure : matplotlib.figure.Figure
        """
        from matplotlib.figure import Figure

        fig = Figure(figsize=(10.0, 3.8), layout="constrained")
        ax_curve, ax_line = fig.subplots(1, 2)
        colors = {d: f"C{i}" for i, d in enumerate(self.dims)}
        for d in self.dims:
            N, score, std = self.curve(d)
            ax_curve.errorbar(N / d, score, yerr=std, color=colors[d], marker="o", capsize=2,
                              label=f"d = {d}")
        ax_curve.axhline(self.level, color="0.7", linewidth=0.8)
        ax_curve.set(xscale="log", ylim=(-0.03, 1.03), ylabel="generalization score",
                     xlabel="samples per component / intrinsic dimension  $N_k / d$",
                     title="new and on the true subspaces (mean, std over seeds)")
        ax_curve.legend(fontsize="small")
        for row in self.crossings.rows:
            ax_line.plot(row["dim"], row["crossing"], "o", color=colors[row["dim"]], alpha=0.6)
        if self.fit:
            d = np.array([min(self.dims), max(self.dims)], dtype=float)
            ax_line.plot(d, self.fit["slope"] * d + self.fit["intercept"], "k--",
                         label=f"{self.fit['slope']:.3g} d + {self.fit['intercept']:.3g}")
            ax_line.legend(fontsize="small")
        ax_line.set(xlabel="intrinsic dimension $d$", ylabel=f"$N_k$ at score {self.level:g}",
                    title="crossing per (d, seed) and least-squares line")
        return fig


# --------------------------------------------------------------------------- experiment


def _seed(random_state, dim, seed, purpose):
    """A seed per ``(d, seed, purpose)``; the same for every ratio, so a unit is paired."""
    return int(np.random.SeedSequence([random_state, dim, seed, purpose]).generate_state(1)[0])


def _stack(networks):
    """Networks of one architecture run side by side: ``(batch, B, n) -> (batch, B, n)``.

    Network ``b`` sees slice ``[:, b]``. Their parameters are stacked along a
    leading axis (``torch.func.stack_module_state``) and evaluated by
    ``vmap`` over the first network, so a step of
    :func:`~subclust.diffusion.train_denoiser` on the stack is a step on
    every network: the loss is the mean of theirs, each network's gradient
    is its own loss's over ``B``, and Adam's steps do not depend on that
    scale. Python attributes (``sigma_data``, ``schedule``) are those of the
    first network.
    """
    from torch import nn
    from torch.func import functional_call, stack_module_state, vmap

    class Stacked(nn.Module):
        def __init__(self):
            super().__init__()
            params, buffers = stack_module_state(networks)
            self._param_names, self._buffer_names = list(params), list(buffers)
            self.stacked = nn.ParameterList(nn.Parameter(params[k]) for k in params)
            for i, name in enumerate(self._buffer_names):
                self.register_buffer(f"buffer{i}", buffers[name])
            self._template = [networks[0]]  # in a list: not a submodule, its weights unused
            self.schedule = networks[0].schedule

        def forward(self, x_t, t):
            params = dict(zip(self._param_names, self.stacked))
            buffers = {n: getattr(self, f"buffer{i}") for i, n in enumerate(self._buffer_names)}

            def one(p, b, x):
                return functional_call(self._template[0], (p, b), (x, t))

            return vmap(one, in_dims=(0, 0, 1), out_dims=1)(params, buffers, x_t)

    return Stacked()


def _run_unit(unit, ratios, counts, config):
    """Shares of every ratio for one ``(d, seed)``: train the stacked networks, sample, score."""
    import torch

    from subclust.diffusion import (
        EDM, LogNormalSigma, MLPDenoiser, Preconditioned, karras_times, sample, train_denoiser,
    )

    dim, seed = unit
    K, n, device = config["n_components"], config["n_features"], config["device"]
    counts = counts[dim]
    pool, _, bases = make_molrg(
        n_samples=[int(counts[-1])] * K, n_features=n, dims=dim, shuffle=False,
        random_state=_seed(config["random_state"], dim, seed, 0),
    )
    pool = pool.reshape(K, int(counts[-1]), n)
    train_sets = [pool[:, :N].reshape(-1, n) for N in counts]  # nested: first N_k per component
    rows = reduce(math.lcm, (len(X) for X in train_sets))
    tiled = np.stack([np.tile(X, (rows // len(X), 1)) for X in train_sets], axis=1)

    # Small networks train fastest on one thread; workers must not oversubscribe the cores.
    with torch_threads(1), blas_threads(1):
        generator = torch.Generator().manual_seed(_seed(config["random_state"], dim, seed, 1))
        sigma_data = float(np.sqrt(np.mean(pool**2)))
        schedule = EDM()
        # The same initialization for every ratio: the ratios are a paired comparison. One
        # sigma_data (of the largest set) for all, as the stack shares the first network's.
        init = _seed(config["random_state"], dim, seed, 2)
        networks = [
            Preconditioned(
                MLPDenoiser(n, hidden=config["hidden"], depth=config["depth"],
                            random_state=init, device=device),
                schedule=schedule, sigma_data=sigma_data,
            )
            for _ in train_sets
        ]
        stacked = _stack(networks)
        # EDM's recipe, as for the MLP of memorization_sweep.
        train_denoiser(stacked, torch.as_tensor(tiled, dtype=torch.float32, device=device),
                       steps=config["steps"], batch_size=config["batch_size"], lr=config["lr"],
                       lr_schedule="cosine", noise_levels=LogNormalSigma(), weighting="edm",
                       sigma_data=sigma_data, random_state=generator, verbose=0)
        noise = torch.randn(config["n_generated"], len(train_sets), n, generator=generator)
        grid = karras_times(schedule, config["sampler_steps"])
        samples = sample(config["sampler"], stacked, schedule.g(grid[0]) * noise.to(device),
                         grid, generator=generator, disable=True)
        samples = samples.double().cpu().numpy()
        out = []
        for i, X in enumerate(train_sets):
            shares = memorization_shares(samples[:, i], X, bases, config["memorization_ratio"],
                                         config["subspace_tolerance"])
            out.append(dict(dim=dim, ratio=float(ratios[i]), samples_per_component=int(counts[i]),
                            seed=seed, generalized=shares["generalized"],
                            memorized=shares["memorized"], off_subspace=shares["off-subspace"]))
    return out


def _check(dims, ratios, n_features, n_components, config):
    from subclust.diffusion import SAMPLERS

    dims = check_grid(sorted(set(dims)), "dims")
    if dims[-1] >= n_features:
        raise ValueError(f"dims must lie below n_features={n_features}, got {dims}.")
    ratios = np.asarray(check_grid(ratios, "ratios", minimum=0, integer=False, min_length=2))
    if config["sampler"] not in SAMPLERS:
        raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, got {config['sampler']!r}.")
    counts = {}
    for d in dims:
        N = np.maximum(np.rint(ratios * d).astype(int), 1)
        if np.any(np.diff(N) <= 0) or N[0] * n_components < 2:
            raise ValueError(
                f"ratios {ratios.tolist()} give samples per component {N.tolist()} for d={d}: "
                "they must be distinct, with at least 2 training samples in all; space the "
                "ratios further apart or raise the smallest."
            )
        sizes = (N * n_components).tolist()
        if reduce(math.lcm, sizes) > _MAX_TILING * sizes[-1]:
            raise ValueError(
                f"The training sets for d={d} ({sizes} samples) are tiled to a common length, "
                f"their least common multiple {reduce(math.lcm, sizes)}, which is over "
                f"{_MAX_TILING} times the largest; choose ratios that divide a common value "
                "(e.g. 1, 2, 5, 10, 20, 50, 100)."
            )
        counts[d] = N
    return dims, ratios, counts


@validate_params(
    {
        "dims": ["array-like"],
        "ratios": ["array-like"],
        "n_features": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_seeds": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_generated": [Interval(numbers.Integral, 1, None, closed="left")],
        **TRAINING_CONSTRAINTS,
        **SAMPLING_CONSTRAINTS,
        "memorization_ratio": [Interval(numbers.Real, 0, None, closed="neither")],
        "subspace_tolerance": _OPEN_UNIT,
        "level": _OPEN_UNIT,
        "n_jobs": [
            Interval(numbers.Integral, 1, None, closed="left"),
            Interval(numbers.Integral, None, -1, closed="right"),
        ],
        "device": "no_validation",  # anything torch.device takes
        "random_state": [Interval(numbers.Integral, 0, None, closed="left")],
        "progress": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def network_transition(
    dims=(3, 4, 5, 6, 7), ratios=(1, 2, 5, 10, 20, 50, 100), n_features=48, n_components=2,
    n_seeds=3, n_generated=300, steps=2000, batch_size=256, lr=4e-3, hidden=256, depth=3,
    sampler="heun", sampler_steps=18, memorization_ratio=1 / 3, subspace_tolerance=0.1, level=0.5,
    n_jobs=1, device=None, random_state=0, progress=False,
):  # fmt: skip
    """Generalization score of trained denoisers over ``(d, N_k)``, and its crossing against ``d``.

    For every intrinsic dimension ``d`` and seed: one MoLRG with
    ``n_components`` random ``d``-dimensional subspaces of
    ``R^n_features``, nested training sets of ``N_k = round(r d)`` samples
    per component (``r`` in ``ratios``), one
    :class:`~subclust.diffusion.MLPDenoiser` per training set (EDM schedule
    and preconditioning, the same initialization for every ratio) trained
    for ``steps`` steps of denoising score matching (Adam, cosine learning
    rate, log-normal noise levels, EDM weighting) and sampled
    ``n_generated`` times; the generalization score is the share of samples
    that are neither copies of a training sample nor off the true subspaces
    (:func:`~subclust.experiments.memorization_shares`). Per ``(d, seed)``
    :func:`fit_crossing` locates where the score crosses ``level``, and
    :func:`fit_line` regresses the crossings on ``d``.

    Parameters
    ----------
    dims : iterable of int, default=(3, 4, 5, 6, 7)
    ratios : sequence of float, default=(1, 2, 5, 10, 20, 50, 100)
        Values of ``N_k / d``, increasing. The training sets of one ``d``
        are tiled to the least common multiple of their sizes, which must
        stay within 64 times the largest.
    n_features : int, default=48
    n_components : int, default=2
    n_seeds : int, default=3
        Independent draws (subspaces, samples, network, training noise) per ``d``.
    n_generated : int, default=300
        Samples generated per network.
    steps, batch_size, lr : training; default 2000, 256, 4e-3.
    hidden, depth : int, default=256, 3
        Width and hidden layers of every MLP (about 165k parameters at ``n = 48``).
    sampler : {'heun', 'euler', 'ddim', 'ddpm'}, default='heun'
    sampler_steps : int, default=18
    memorization_ratio, subspace_tolerance : float, default=1/3, 0.1
        Thresholds of :func:`~subclust.experiments.classify_samples`.
    level : float, default=0.5
        The score whose crossing is located.
    n_jobs : int, default=1
        Processes running ``(d, seed)`` units at once (joblib; -1: one per
        core), each with one thread. The table does not depend on it.
    device : str or torch.device, optional
        Where the networks train (default CPU).
    random_state : int, default=0
    progress : bool, default=False
        A tqdm progress bar over the ``(d, seed)`` units.

    Returns
    -------
    result : NetworkTransitionResult

    Examples
    --------
    >>> from subclust.experiments import network_transition
    >>> result = network_transition(dims=[2], ratios=[1, 8], n_features=8, n_seeds=1,
    ...                             n_generated=20, steps=20, batch_size=16, hidden=8, depth=1,
    ...                             sampler_steps=4)
    >>> result.table.columns[:4], len(result.table.rows)
    (['dim', 'ratio', 'samples_per_component', 'seeds'], 2)
    """
    if device is not None:
        from subclust.diffusion import check_device

        device = check_device(device)
    config = dict(n_features=n_features, n_components=n_components, n_seeds=n_seeds,
                  n_generated=n_generated, steps=steps, batch_size=batch_size, lr=lr,
                  hidden=hidden, depth=depth, sampler=sampler, sampler_steps=sampler_steps,
                  memorization_ratio=memorization_ratio, subspace_tolerance=subspace_tolerance,
                  device=device, random_state=random_state)
    dims, ratios, counts = _check(dims, ratios, n_features, n_components, config)

    units = [(d, seed) for d in dims for seed in range(n_seeds)]
    run = partial(_run_unit, ratios=ratios, counts=counts, config=config)
    trials = Table(title="Shares per (d, ratio, seed)")
    results = progress_bar(process_map(run, units, n_jobs, ordered=False),
                           progress=None if progress else False, total=len(units),
                           desc="network transition", unit="(d, seed)")
    for row in sorted((r for rows in results for r in rows),
                      key=lambda r: (r["dim"], r["seed"], r["ratio"])):
        trials.add_row(**row)

    table = Table(
        title=f"Generalization score of MLP denoisers: n={n_features}, K={n_components}, "
        f"{n_seeds} seed(s), {n_generated} samples per network, MLP {depth}x{hidden} trained "
        f"{steps} steps, {sampler} sampler ({sampler_steps} steps)"
    )
    crossings = Table(title=f"N_k where the score crosses {level:g}, per (d, seed)")
    for d in dims:
        for i, ratio in enumerate(ratios):
            rows = [r for r in trials.rows if r["dim"] == d and r["ratio"] == ratio]
            score = np.array([r["generalized"] for r in rows])
            table.add_row(
                dim=d, ratio=float(ratio), samples_per_component=int(counts[d][i]),
                seeds=len(rows), generalized=float(score.mean()),
                generalized_std=float(score.std()),
                memorized=float(np.mean([r["memorized"] for r in rows])),
                off_subspace=float(np.mean([r["off_subspace"] for r in rows])),
            )
        for seed in range(n_seeds):
            score = [r["generalized"] for r in trials.rows if r["dim"] == d and r["seed"] == seed]
            crossing = fit_crossing(counts[d], score, level)
            crossings.add_row(dim=d, seed=seed, crossing=crossing, crossing_over_d=crossing / d)
    table.notes.append(
        f"generalization score: not a copy (nearest training sample >= {memorization_ratio:.3g} "
        f"x median training gap) and on the true subspaces (relative residual < "
        f"{subspace_tolerance:g})"
    )
    found = [(r["dim"], r["crossing"]) for r in crossings.rows if np.isfinite(r["crossing"])]
    fit = {}
    if len(found) >= 3 and len({d for d, _ in found}) >= 2:
        fit = fit_line(*zip(*found))
    config = dict(config, dims=dims, ratios=ratios.tolist(), level=level)
    return NetworkTransitionResult(table=table, trials=trials, crossings=crossings, fit=fit,
                                   level=level, config=config)
