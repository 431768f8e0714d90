"""The generalization phase transition at N_k = d.

Wang et al. (arXiv:2409.02426) show that learning a mixture of low-rank
Gaussians by training the diffusion denoiser is subspace clustering, so the
samples needed grow with the intrinsic dimension ``d``: with one component,
``N >= d`` samples recover the subspace and ``N < d`` cannot; with several,
``N_k >= d`` per component recovers every subspace with high probability.
:func:`phase_transition` measures the success rate of a method over a grid
of ``(d, N_k)``; the jump should sit at ``N_k = d`` (one component) and
near ``d`` to ``d + 2`` (two or three).
"""

import numbers
from dataclasses import dataclass
from functools import partial

import numpy as np

from subclust.datasets import make_molrg
from subclust.metrics import subspace_recovery_error
from subclust.subspace import principal_subspace
from subclust.utils.parallel import process_map
from subclust.utils.progress import progress_bar
from subclust.utils.tables import Table
from subclust.utils.validation import Interval, check_grid, validate_params

__all__ = ["PhaseTransitionResult", "phase_transition", "METHODS", "DIFFUSION_PARAMS"]


def _fit_pca(data_sets, n_components, dim, seeds):
    """Top-``dim`` principal subspace (uncentred) of each data set: the K = 1 optimum."""
    if n_components != 1:
        raise ValueError("method 'pca' fits one subspace; use 'kss' for n_components > 1.")
    # With N < dim samples, completed by arbitrary directions.
    return [[principal_subspace(X, dim)] for X in data_sets]


def _fit_kss(data_sets, n_components, dim, seeds):
    from subclust.cluster import KSubspaces

    return [
        KSubspaces(n_components, dims=dim, random_state=seed).fit(X).bases_
        for X, seed in zip(data_sets, seeds)
    ]


#: Training of the 'diffusion' method: the paper's network and loss (Adam on
#: the Stiefel manifold, cosine decay), with every sample at every step, 60
#: nearest-neighbour restarts pruned to 10 after 10 steps and to 3 after 40
#: (successive halving), float32, all data sets of a unit trained as one
#: batched network. Measured on this grid: many cheap restarts find the
#: K-subspaces optimum near ``N_k = d`` (where one restart rarely does) at a
#: fraction of the cost of the estimator's defaults (10 restarts of 300
#: minibatch steps, float64).
DIFFUSION_PARAMS = {"n_init": 60, "steps": 200, "lr": 0.2}
DIFFUSION_PRUNE = ((10, 10), (40, 3))


def _fit_diffusion(data_sets, n_components, dim, seeds):
    """The trained denoiser, all data sets of a unit trained at once."""
    from subclust.cluster import init_subspaces
    from subclust.experiments._batched import fit_mixtures

    params = dict(DIFFUSION_PARAMS)
    n_init = params.pop("n_init")
    rngs = [np.random.RandomState(seed) for seed in seeds]
    restarts = [
        [bases for bases, _ in init_subspaces(X, n_components, dim, n_init=n_init,
                                              random_state=rng)]
        for X, rng in zip(data_sets, rngs)
    ]
    # The first trial's seed also seeds the noise draws that all trials share.
    bases, _ = fit_mixtures(data_sets, restarts, prune=DIFFUSION_PRUNE,
                            random_state=int(rngs[0].randint(np.iinfo(np.int32).max)),
                            **params)
    return bases


#: Methods compared by :func:`phase_transition`:
#: name -> ``fit(data_sets, K, d, seeds) -> list of bases per data set``; the
#: data sets (trials of a few ``N_k``) may differ in size.
METHODS = {"pca": _fit_pca, "kss": _fit_kss, "diffusion": _fit_diffusion}

#: Consecutive values of ``N_k`` fitted together (one unit of work).
_SAMPLES_PER_UNIT = 4


@dataclass
class PhaseTransitionResult:
    """Success rates of subspace recovery over a grid of (d, N_k).

    Attributes
    ----------
    table : Table
        One row per cell: method, n_components, dim, samples_per_component,
        trials, success_rate, mean_error.
    threshold : float
        A trial succeeds when its recovery error is below it.
    """

    table: Table
    threshold: float

    def grid(self, method, n_components, value="success_rate"):
        """Values as a ``(dims, samples_per_component)`` grid.

        Returns
        -------
        dims : ndarray
        samples : ndarray
        values : ndarray of shape (len(dims), len(samples))
        """
        rows = [
            r for r in self.table.rows
            if r["method"] == method and r["n_components"] == n_components
        ]
        dims = np.array(sorted({r["dim"] for r in rows}))
        samples = np.array(sorted({r["samples_per_component"] for r in rows}))
        values = np.full((len(dims), len(samples)), np.nan)
        for r in rows:
            i = np.searchsorted(dims, r["dim"])
            j = np.searchsorted(samples, r["samples_per_component"])
            values[i, j] = r[value]
        return dims, samples, values

    def first_success(self, method, n_components, level=0.5):
        """For each ``d``, the smallest ``N_k`` whose success rate reaches ``level``.

        Returns
        -------
        first : dict of int to int or None
        """
        dims, samples, values = self.grid(method, n_components)
        first = {}
        for d, row in zip(dims, values):
            reached = np.flatnonzero(row >= level)
            first[int(d)] = int(samples[reached[0]]) if reached.size else None
        return first

    def summary(self, level=0.5):
        """Table of the first ``N_k`` reaching ``level``, minus ``d``, per method and K."""
        table = Table(title=f"First N_k with success rate >= {level}, as N_k - d")
        keys = sorted({(r["method"], r["n_components"]) for r in self.table.rows})
        for method, n_components in keys:
            first = self.first_success(method, n_components, level)
            row = {"method": method, "n_components": n_components}
            row.update({f"d={d}": ("-" if n is None else n - d) for d, n in first.items()})
            table.add_row(**row)
        return table

    def acceptance(self, level=0.5, margin=3):
        """The phase-transition checks, one row per method, K and d.

        For one component the recovery must fail below ``N = d`` and succeed
        from ``d + 2`` on: success rate 0 at ``N = d - 1`` and at least 0.95
        at ``N = d + 2``. For several, the first ``N_k`` whose success rate
        reaches ``level`` must lie in ``[d, d + margin]``.

        Returns
        -------
        table : Table
            Columns method, n_components, dim, first (the first ``N_k``
            reaching ``level``), first_minus_d, success_d_minus_1 and
            success_d_plus_2 (one component), passed (None when the grid
            lacks the cells a check needs).
        """
        table = Table(
            title=f"Phase-transition checks: K=1 success 0 at N=d-1 and >= 0.95 at N=d+2; "
            f"K>1 first N_k with success >= {level} in [d, d+{margin}]"
        )
        keys = sorted({(r["method"], r["n_components"]) for r in self.table.rows})
        for method, n_components in keys:
            dims, samples, values = self.grid(method, n_components)
            first = self.first_success(method, n_components, level)
            for d, row in zip(dims, values):
                d = int(d)
                at = {int(N): v for N, v in zip(samples, row.tolist()) if not np.isnan(v)}
                out = {"method": method, "n_components": n_components, "dim": d,
                       "first": first[d],
                       "first_minus_d": None if first[d] is None else first[d] - d}
                if n_components == 1:
                    below, above = at.get(d - 1), at.get(d + 2)
                    out.update(success_d_minus_1=below, success_d_plus_2=above)
                    passed = (None if below is None or above is None
                              else below == 0 and above >= 0.95)
                elif first[d] is None:
                    passed = None if samples.max() < d + margin else False
                else:
                    passed = d <= first[d] <= d + margin
                table.add_row(**out, passed=passed)
        return table

    def plot(self):
        """Heatmaps of the success rate, one per (method, K), with the line N_k = d.

        Returns
        -------
        figure : matplotlib.figure.Figure
        """
        from matplotlib.figure import Figure

        panels = sorted({(r["method"], r["n_components"]) for r in self.table.rows})
        fig = Figure(figsize=(3.2 * len(panels) + 0.8, 3.2), layout="constrained")
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, (method, K) in zip(axes, panels):
            dims, samples, values = self.grid(method, K)
            image = ax.imshow(
                values, origin="lower", aspect="auto", vmin=0, vmax=1, cmap="viridis",
                extent=(samples[0] - 0.5, samples[-1] + 0.5, dims[0] - 0.5, dims[-1] + 0.5),
            )
            ax.plot(dims, dims, "w--", linewidth=1)
            ax.set(title=f"{method}, K={K}", xlabel="samples per component $N_k$",
                   ylabel="intrinsic dimension $d$")
        fig.colorbar(image, ax=list(axes), label="success rate (dashed: $N_k = d$)")
        return fig


def _trial_seed(random_state, n_components, dim, n_samples, trial):
    """A seed per trial, the same for every method (paired comparison)."""
    sequence = np.random.SeedSequence([random_state, n_components, dim, n_samples, trial])
    return int(sequence.generate_state(1)[0])


@validate_params(
    {
        "methods": ["array-like"],
        "dims": ["array-like"],
        "samples_per_component": ["array-like"],
        "n_components": ["array-like"],
        "n_features": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_trials": [Interval(numbers.Integral, 1, None, closed="left")],
        "threshold": [Interval(numbers.Real, 0, 1, closed="right")],
        "noise": [Interval(numbers.Real, 0, None, closed="left")],
        "random_state": [Interval(numbers.Integral, 0, None, closed="left")],
        "n_jobs": [
            Interval(numbers.Integral, 1, None, closed="left"),
            Interval(numbers.Integral, None, -1, closed="right"),
        ],
        "progress": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def phase_transition(
    methods=("pca", "kss", "diffusion"), dims=range(2, 9), samples_per_component=range(1, 17),
    n_components=(1, 2, 3), n_features=48, n_trials=20, threshold=0.1, noise=0.0, random_state=0,
    n_jobs=1, progress=False,
):  # fmt: skip
    """Success rate of subspace recovery over a grid of intrinsic dimension and samples.

    Each trial draws an MoLRG with ``n_components`` random subspaces of
    dimension ``d`` in ``R^n_features`` and exactly ``N_k`` samples per
    component, fits every method on the same samples, and succeeds when the
    recovery error (largest matched subspace distance) is below
    ``threshold``. 'pca' runs for one component only. The work is split
    into units of one ``(K, d)`` and a few consecutive ``N_k``, whose trials
    'diffusion' trains as one batched network (:data:`DIFFUSION_PARAMS`).

    Parameters
    ----------
    methods : sequence of {'pca', 'kss', 'diffusion'}
    dims : iterable of int
        Intrinsic dimensions ``d``, each smaller than ``n_features``.
    samples_per_component : iterable of int
        Samples per component ``N_k``.
    n_components : iterable of int
        Numbers of components ``K``.
    n_features : int, default=48
        Ambient dimension.
    n_trials : int, default=20
    threshold : float, default=0.1
    noise : float, default=0.0
        Standard deviation of isotropic noise added to the samples.
    random_state : int, default=0
    n_jobs : int, default=1
        Processes running units at once (joblib; -1: one per core the
        caller allows), each with its share of the BLAS threads. Every
        unit is seeded on its own, so the table does not depend on it.
    progress : bool, default=False
        Show a progress bar over the units (needs tqdm).

    Returns
    -------
    result : PhaseTransitionResult

    Examples
    --------
    >>> from subclust.experiments import phase_transition
    >>> result = phase_transition(methods=["pca"], dims=[3], samples_per_component=[2, 5],
    ...                           n_components=[1], n_trials=5)
    >>> [row["success_rate"] for row in result.table.rows]
    [0.0, 1.0]
    """
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"Unknown methods {sorted(unknown)}; choose from {sorted(METHODS)}.")
    dims = check_grid(dims, "dims", increasing=False)
    samples_per_component = check_grid(samples_per_component, "samples_per_component",
                                       increasing=False)
    n_components = check_grid(n_components, "n_components", increasing=False)
    if max(dims) >= n_features:
        raise ValueError(f"dims must be smaller than n_features={n_features}; got {dims}.")
    units = _units(n_components, dims, samples_per_component)
    run = partial(_run_unit, methods=list(methods), n_features=n_features, n_trials=n_trials,
                  noise=noise, random_state=random_state)
    errors = {}
    results = process_map(run, units, n_jobs, ordered=False)
    for unit_errors in progress_bar(results, progress=None if progress else False,
                                    total=len(units), desc="phase transition", unit="unit"):
        errors.update(unit_errors)

    table = Table(
        title=f"Subspace recovery over (d, N_k): n={n_features}, {n_trials} trials per cell, "
        f"success = error < {threshold}, noise {noise}"
    )
    for (method, K, d, N), errs in sorted(errors.items()):
        errs = np.asarray(errs)
        table.add_row(
            method=method, n_components=K, dim=d, samples_per_component=N, trials=len(errs),
            success_rate=float(np.mean(errs < threshold)), mean_error=float(np.mean(errs)),
        )
    return PhaseTransitionResult(table=table, threshold=threshold)


def _units(n_components, dims, samples_per_component):
    """``(K, d, N_k values)`` units of work, the costliest first so that workers finish together."""
    samples = sorted(set(samples_per_component))
    units = [
        (K, d, tuple(samples[i : i + _SAMPLES_PER_UNIT]))
        for K in n_components
        for d in dims
        for i in range(0, len(samples), _SAMPLES_PER_UNIT)
    ]
    # The diffusion training dominates: about bases size x noise draws per step.
    return sorted(units, key=lambda u: -u[0] * u[1] * max(u[0] * u[2][-1], 32))


def _run_unit(unit, methods, n_features, n_trials, noise, random_state):
    """Errors ``{(method, K, d, N_k): [error per trial]}`` of one unit."""
    K, d, samples = unit
    cells = [(N, trial) for N in samples for trial in range(n_trials)]
    seeds = [_trial_seed(random_state, K, d, N, trial) for N, trial in cells]
    trials = [
        make_molrg(n_samples=[N] * K, n_features=n_features, dims=d, noise=noise, random_state=seed)
        for (N, _), seed in zip(cells, seeds)
    ]
    errors = {}
    for method in methods:
        if method == "pca" and K != 1:
            continue
        fitted = METHODS[method]([X for X, _, _ in trials], K, d, seeds)
        for (N, _), bases, (_, _, true_bases) in zip(cells, fitted, trials):
            errors.setdefault((method, K, d, N), []).append(
                subspace_recovery_error(bases, true_bases)
            )
    return errors
