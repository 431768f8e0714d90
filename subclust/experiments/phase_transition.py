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

from dataclasses import dataclass

import numpy as np

from subclust.datasets import make_molrg
from subclust.metrics import subspace_recovery_error
from subclust.tables import Table

__all__ = ["PhaseTransitionResult", "phase_transition", "METHODS"]


def _fit_pca(data_sets, n_components, dim, seeds):
    """Top-``dim`` principal subspace (uncentred) of each data set: the K = 1 optimum."""
    if n_components != 1:
        raise ValueError("method 'pca' fits one subspace; use 'kss' for n_components > 1.")
    out = []
    for X in data_sets:
        _, _, Vt = np.linalg.svd(X, full_matrices=True)
        out.append([Vt[:dim].T])  # with N < dim samples, completed by arbitrary directions
    return out


def _fit_kss(data_sets, n_components, dim, seeds):
    from subclust.cluster import KSubspaces

    return [
        KSubspaces(n_components, dims=dim, random_state=seed).fit(X).bases_
        for X, seed in zip(data_sets, seeds)
    ]


def _fit_diffusion(data_sets, n_components, dim, seeds):
    """The trained denoiser, every trial of a cell trained at once (see ``fit_bases_many``)."""
    from subclust.diffusion import DiffusionSubspaceClustering

    model = DiffusionSubspaceClustering(n_components, dims=dim)
    return model.fit_bases_many(data_sets, seeds)


#: Methods compared by :func:`phase_transition`:
#: name -> ``fit(data_sets, K, d, seeds) -> list of bases per data set``.
METHODS = {"pca": _fit_pca, "kss": _fit_kss, "diffusion": _fit_diffusion}


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


def phase_transition(
    methods=("pca", "kss", "diffusion"),
    dims=range(2, 9),
    samples_per_component=range(1, 17),
    n_components=(1, 2, 3),
    n_features=48,
    n_trials=20,
    threshold=0.1,
    noise=0.0,
    random_state=0,
    progress=False,
):
    """Success rate of subspace recovery over a grid of intrinsic dimension and samples.

    Each trial draws an MoLRG with ``n_components`` random subspaces of
    dimension ``d`` in ``R^n_features`` and exactly ``N_k`` samples per
    component, fits every method on the same samples, and succeeds when the
    recovery error (largest matched subspace distance) is below
    ``threshold``. 'pca' runs for one component only.

    Parameters
    ----------
    methods : sequence of {'pca', 'kss', 'diffusion'}
    dims : iterable of int
        Intrinsic dimensions ``d``.
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
    progress : bool, default=False
        Show a progress bar over the cells (needs tqdm).

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
    cells = [
        (K, d, N)
        for K in n_components
        for d in dims
        for N in samples_per_component
        if d < n_features
    ]
    errors = {}
    for K, d, N in _progress(cells, progress):
        seeds = [_trial_seed(random_state, K, d, N, trial) for trial in range(n_trials)]
        trials = [
            make_molrg(n_samples=[N] * K, n_features=n_features, dims=d, noise=noise,
                       random_state=seed)
            for seed in seeds
        ]
        data_sets = [X for X, _, _ in trials]
        for method in methods:
            if method == "pca" and K != 1:
                continue
            fitted = METHODS[method](data_sets, K, d, seeds)
            errors[method, K, d, N] = [
                subspace_recovery_error(bases, true_bases)
                for bases, (_, _, true_bases) in zip(fitted, trials)
            ]

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


def _progress(items, enabled):
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc="phase transition cells", unit="cell")
