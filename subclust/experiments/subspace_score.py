"""Score networks on a subspace: do the errors depend on the intrinsic dimension ``d`` only?

Chen, Huang, Zhao, Wang ("Score approximation, estimation and distribution
recovery of diffusion models on low-dimensional data", ICML 2023) take data
``x = U a`` on an unknown ``d``-dimensional linear subspace of ``R^D`` and a
score network that splits into a part on a learned subspace and the part
orthogonal to it, ``score(x, t) = (V f(V^T x, t) - x) / h(t)`` with ``V``
orthonormal and ``h(t) = g_t^2`` in the VP process
(:class:`~subclust.diffusion.subspace_score.SubspaceScoreNetwork`). Their
bounds on the score estimation error and on the distribution error of the
generated samples depend on ``d`` and not on ``D``.

:func:`subspace_score_experiment` measures it. Data: ``x = U a`` with ``U`` a
random ``D x d`` orthonormal basis and ``a`` Gaussian or uniform with
independent unit-variance coordinates, whose exact score is known
(:func:`~subclust.diffusion.subspace_score.exact_subspace_denoiser`). Two
networks of the same width and depth are trained by the same denoising score
matching loop (:func:`~subclust.diffusion.train_denoiser`: VP-linear process,
``t`` uniform, weight 1, Adam with a cosine learning rate, EDM preconditioning
of the MLPs): the subspace network, ``V phi(V^T x, t)`` with ``phi`` an MLP on
``R^d``, and the generic :class:`~subclust.diffusion.MLPDenoiser` on ``R^D``.
For every ``N`` of a grid, every ambient dimension ``D`` at fixed ``d`` and
every ``d`` at fixed ``D``, it measures:

- ``score_error``: the excess denoising loss over the exact denoiser on
  held-out points, ``E_t lambda_t E ||D_theta(x_t, t) - D*(x_t, t)||^2`` with
  the training loss's time law and weighting (``t`` on the midpoints of a
  uniform grid, ``lambda_t = 1``); in score units it is
  ``E_t (g_t^4 / s_t^2) E ||score_theta - score*||^2``;
- ``angle_deg``: the largest principal angle (degrees) between the true
  subspace and the learned ``V`` (subspace network), or the top-``d``
  principal subspace of the generated samples (generic network, which has no ``V``);
- ``w1``: the exact 1-Wasserstein distance (optimal assignment, equal sizes)
  between the latents ``U^T x`` of the generated samples and fresh latents;
  ``w1_floor`` is the same distance between two fresh latent samples, the
  sampling floor of this estimate (it grows with ``d``, not ``D``);
- ``off_subspace``: the relative energy of the generated samples off the true
  subspace (:func:`~subclust.diffusion.off_subspace_energy`).

:meth:`SubspaceScoreResult.slopes` fits ``log metric`` against ``log N`` (per
network, latent, ``D`` and ``d``), against ``log D`` at fixed ``d`` and
against ``log d`` at fixed ``D`` (per network, latent and ``N``) by ordinary
least squares over the per-seed points, with 95% confidence intervals from
the OLS standard error of the slope (Student's t with ``points - 2`` degrees
of freedom).
"""

import numbers
import time
from dataclasses import dataclass, field

import numpy as np

from subclust.experiments._constraints import TRAINING_CONSTRAINTS
from subclust.subspace import principal_subspace
from subclust.utils.progress import progress_bar
from subclust.utils.tables import Table
from subclust.utils.validation import Interval, StrOptions, check_grid, validate_params

__all__ = ["METRICS", "NETWORKS", "SMALL", "SubspaceScoreResult", "subspace_score_experiment"]

#: The networks compared by :func:`subspace_score_experiment`.
NETWORKS = {
    "subspace": "V phi(V^T x, t): V on the Stiefel manifold, phi an MLP on R^d",
    "generic": "MLPDenoiser on R^D of the same width and depth",
}

#: Metrics measured per trained network (see the module docstring).
METRICS = ("score_error", "angle_deg", "w1", "off_subspace")

#: A small configuration of :func:`subspace_score_experiment` (seconds): ``subclust
#: subspace-score --small``, the tests and the notebook's ``SUBCLUST_NOTEBOOK_SMALL=1``.
SMALL = dict(sample_sizes=(50, 200), n_features_grid=(8, 32), dims=2, dims_grid=(1, 2),
             n_features=8, n_seeds=1, steps=40, batch_size=64, hidden=32, depth=2, n_eval=64,
             n_times=4, n_generated=64, sampler_steps=10)

_LATENTS = ("gaussian", "uniform")  # subclust.diffusion.subspace_score.LATENTS, without torch


# --------------------------------------------------------------------------- result


def _ols_slope(x, y, level=0.95):
    """OLS slope of ``y`` on ``x`` and its confidence interval (NaN below 3 points)."""
    from scipy import stats

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    if n < 2 or np.ptp(x) == 0:
        return float("nan"), float("nan"), float("nan")
    slope, intercept = np.polyfit(x, y, 1)
    if n < 3:
        return float(slope), float("nan"), float("nan")
    residual = y - (slope * x + intercept)
    se = np.sqrt(residual @ residual / (n - 2) / np.sum((x - x.mean()) ** 2))
    half = stats.t.ppf(0.5 + level / 2, n - 2) * se
    return float(slope), float(slope - half), float(slope + half)


@dataclass
class SubspaceScoreResult:
    """Errors of the subspace and generic score networks over ``N``, ``D`` and ``d``.

    Attributes
    ----------
    table : Table
        One row per (network, latent, n_features, dim, N, seed): n_params,
        score_error, angle_deg, w1, w1_floor, off_subspace (see the module docstring).
    dim : int
        The fixed ``d`` of the sweep over ``D``.
    n_features : int
        The fixed ``D`` of the sweep over ``d``.
    seconds : float
        Wall time of the experiment.
    """

    table: Table
    dim: int
    n_features: int
    seconds: float = 0.0
    notes: list = field(default_factory=list)

    def _rows(self, **match):
        return [r for r in self.table.rows if all(r[k] == v for k, v in match.items())]

    def _keys(self, *names):
        return list(dict.fromkeys(tuple(r[n] for n in names) for r in self.table.rows))

    def means(self):
        """The metrics averaged over seeds: one row per (network, latent, n_features, dim, N)."""
        means = Table(title=f"{self.table.title}; means over seeds")
        for key in self._keys("network", "latent", "n_features", "dim", "N"):
            rows = self._rows(**dict(zip(("network", "latent", "n_features", "dim", "N"), key)))
            row = dict(zip(("network", "latent", "n_features", "dim", "N"), key))
            row.update(seeds=len(rows), n_params=rows[0]["n_params"])
            for metric in METRICS + ("w1_floor",):
                row[metric] = float(np.mean([r[metric] for r in rows]))
            means.add_row(**row)
        return means

    def slopes(self, metrics=("score_error", "w1", "off_subspace"), level=0.95):
        """Fitted exponents of every metric in ``N``, ``D`` and ``d``, with confidence intervals.

        Each row fits ``log metric = slope * log x + c`` by OLS over the
        per-seed points of one curve: ``x = N`` per (network, latent, D, d);
        ``x = D`` at ``d = dim`` and ``x = d`` at ``D = n_features`` per
        (network, latent, N). ``ci_low``, ``ci_high``: the ``level`` interval
        of the slope from its OLS standard error (Student's t).

        Returns
        -------
        slopes : Table
        """
        slopes = Table(title=f"log-log slopes, OLS over seeds, {level:.0%} CI (Student's t)")
        curves = []
        for net, latent, D, d in self._keys("network", "latent", "n_features", "dim"):
            rows = self._rows(network=net, latent=latent, n_features=D, dim=d)
            curves.append((net, latent, "N", f"D={D}, d={d}", rows, "N"))
        for net, latent, N in self._keys("network", "latent", "N"):
            rows = self._rows(network=net, latent=latent, N=N, dim=self.dim)
            curves.append((net, latent, "D", f"N={N}, d={self.dim}", rows, "n_features"))
            rows = self._rows(network=net, latent=latent, N=N, n_features=self.n_features)
            curves.append((net, latent, "d", f"N={N}, D={self.n_features}", rows, "dim"))
        for metric in metrics:
            for net, latent, against, at, rows, column in curves:
                rows = [r for r in rows if r[metric] > 0]
                if len({r[column] for r in rows}) < 2:
                    continue
                slope, low, high = _ols_slope([np.log(r[column]) for r in rows],
                                              [np.log(r[metric]) for r in rows], level)
                slopes.add_row(metric=metric, network=net, latent=latent, against=against, at=at,
                               slope=slope, ci_low=low, ci_high=high, points=len(rows))
        return slopes

    def __str__(self):
        return f"{self.means()}\n\n{self.slopes()}"

    def plot(self):
        """Score error against ``N``, ``D`` and ``d``; W1, off-subspace energy and angle against D.

        Solid lines: subspace network; dashed: generic MLP. Values are means over seeds.

        Returns
        -------
        figure : matplotlib.figure.Figure
        """
        from matplotlib.figure import Figure

        means = self.means().rows
        sizes = sorted({r["N"] for r in means})
        latents = list(dict.fromkeys(r["latent"] for r in means))
        latent = "uniform" if "uniform" in latents else latents[0]
        styles = {"subspace": "-", "generic": "--"}
        markers = dict(zip(_LATENTS, "os"))
        fig = Figure(figsize=(13.0, 7.0), layout="constrained")
        axes = fig.subplots(2, 3).ravel()

        def curve(ax, rows, x, y, **kwargs):
            rows = sorted(rows, key=lambda r: r[x])
            if rows:
                ax.plot([r[x] for r in rows], [r[y] for r in rows], **kwargs)

        Ds = sorted({r["n_features"] for r in means if r["dim"] == self.dim})
        for i, D in enumerate(Ds):
            for net, style in styles.items():
                curve(axes[0], [r for r in means if (r["network"], r["latent"], r["n_features"],
                                                    r["dim"]) == (net, latent, D, self.dim)],
                      "N", "score_error", color=f"C{i}", linestyle=style, marker="o",
                      label=f"{net}, D={D}")
        axes[0].set(title=f"score error vs N ({latent} latent, d={self.dim})", xlabel="N")
        N_max = sizes[-1]
        panels = [(axes[1], "n_features", {"dim": self.dim}, "score_error", "D"),
                  (axes[2], "dim", {"n_features": self.n_features}, "score_error", "d"),
                  (axes[3], "n_features", {"dim": self.dim}, "w1", "D"),
                  (axes[4], "n_features", {"dim": self.dim}, "off_subspace", "D"),
                  (axes[5], "n_features", {"dim": self.dim}, "angle_deg", "D")]
        for ax, x, fixed, metric, name in panels:
            for net, style in styles.items():
                for lat in latents:
                    rows = [r for r in means if r["network"] == net and r["latent"] == lat
                            and r["N"] == N_max and all(r[k] == v for k, v in fixed.items())]
                    curve(ax, rows, x, metric, color="C0" if net == "subspace" else "C3",
                          linestyle=style, marker=markers.get(lat, "x"), label=f"{net}, {lat}")
            if metric == "w1":
                rows = [r for r in means if r["network"] == "subspace" and r["N"] == N_max
                        and r["latent"] == latent and r["dim"] == self.dim]
                curve(ax, rows, x, "w1_floor", color="0.5", linestyle=":",
                      label=f"floor, {latent} (two fresh samples)")
            fixed_text = ", ".join(f"{'d' if k == 'dim' else 'D'}={v}" for k, v in fixed.items())
            ax.set(title=f"{metric} vs {name} (N={N_max}, {fixed_text})", xlabel=name)
        for ax in axes:
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.legend(fontsize=6)
        return fig


# --------------------------------------------------------------------------- experiment


def _seed(*values):
    return int(np.random.SeedSequence([int(v) for v in values]).generate_state(1)[0])


def _configurations(n_features_grid, dim, dim_grid, n_features):
    """(D, d) pairs: the sweep over D at d = dim, then the sweep over d at D = n_features."""
    pairs = [(D, dim) for D in n_features_grid] + [(n_features, d) for d in dim_grid]
    return list(dict.fromkeys(pairs))


def _draw(latent, D, d, max_N, n_eval, n_generated, seed):
    """Basis, training pool, held-out and fresh latents, and the W1 between two fresh samples."""
    from subclust.datasets import random_bases
    from subclust.diffusion.quality import wasserstein1
    from subclust.experiments.wasserstein_rate import draw_latents

    rng = np.random.default_rng(seed)
    basis = random_bases(D, [d], random_state=int(rng.integers(2**31)))[0]
    pool = draw_latents(latent, (max_N, d), rng) @ basis.T
    held_out = draw_latents(latent, (n_eval, d), rng)
    fresh = draw_latents(latent, (n_generated, d), rng)
    floor = wasserstein1(fresh, draw_latents(latent, (n_generated, d), rng))
    return basis, pool, held_out, fresh, floor


def _score_error(net, basis, held_out, latent, schedule, noise_levels, n_times, generator):
    """``E_t lambda_t E ||net(x_t, t) - D*(x_t, t)||^2``, ``t`` on midpoints of a uniform grid.

    The grid spans the range of the training times ``noise_levels`` (a :class:`UniformTime`).
    """
    import torch

    from subclust.diffusion import loss_weights
    from subclust.diffusion.subspace_score import exact_subspace_denoiser

    param = next(net.parameters())
    U = torch.as_tensor(basis, dtype=torch.float64, device=param.device)
    x0 = torch.as_tensor(held_out, dtype=torch.float64, device=param.device) @ U.T
    cells = (torch.arange(n_times, dtype=torch.float64) + 0.5) / n_times
    times = noise_levels.t_min + (noise_levels.t_max - noise_levels.t_min) * cells
    total = 0.0
    with torch.no_grad():
        for t in times:
            s, g = (float(v) for v in schedule.s_and_g(t))
            eps = torch.randn(x0.shape, generator=generator, dtype=torch.float64,
                              device=generator.device).to(param.device)
            x_t = s * x0 + g * eps
            exact = exact_subspace_denoiser(x_t, s, g, U, latent)
            t_batch = torch.full((x_t.shape[0],), float(t), dtype=param.dtype,
                                 device=param.device)
            out = net(x_t.to(param.dtype), t_batch).to(torch.float64)
            error = float(((out - exact) ** 2).sum(1).mean())
            total += float(loss_weights(schedule, t, "uniform")) * error
    return total / n_times


def _largest_angle_deg(A, B):
    from subclust.subspace import principal_angles

    return float(np.degrees(principal_angles(A, B).max()))


def _train_and_measure(network, X, draw, latent, config, seed):
    import torch

    from subclust.diffusion import (
        MLPDenoiser, Preconditioned, off_subspace_energy, sample_ddim, train_denoiser,
        uniform_times,
    )
    from subclust.diffusion.quality import wasserstein1
    from subclust.diffusion.subspace_score import SubspaceScoreNetwork

    basis, _, held_out, fresh, _ = draw
    D, d = basis.shape
    schedule, device = config["schedule"], config["device"]
    generator = torch.Generator().manual_seed(seed)
    size = dict(hidden=config["hidden"], depth=config["depth"], schedule=schedule,
                random_state=generator, device=device)
    if network == "subspace":
        init = None
        if config["basis_init"] == "pca":
            init = principal_subspace(X, d)
        net = SubspaceScoreNetwork(D, d, sigma_data=1.0, basis_rate=config["basis_rate"],
                                   init_basis=init, **size)
    else:
        network = MLPDenoiser(D, hidden=config["hidden"], depth=config["depth"],
                              random_state=generator, device=device)
        net = Preconditioned(network, schedule, sigma_data=float(np.sqrt(np.mean(X**2))))
    X = torch.as_tensor(X, dtype=torch.float32, device=device)
    train_denoiser(net, X, steps=config["steps"], batch_size=config["batch_size"],
                   lr=config["lr"], lr_schedule="cosine", noise_levels=config["noise_levels"],
                   weighting="uniform", random_state=generator, verbose=0)
    row = dict(n_params=sum(p.numel() for p in net.parameters()))
    row["score_error"] = _score_error(net, basis, held_out, latent, schedule,
                                      config["noise_levels"], config["n_times"], generator)
    noise = torch.randn(len(fresh), D, generator=generator).to(device)
    grid = uniform_times(config["sampler_steps"])
    samples = sample_ddim(net, schedule.g(grid[0]) * noise, grid, disable=True)
    samples = samples.to(torch.float64).cpu().numpy()
    if network == "subspace":
        learned = net.basis.to(torch.float64).cpu().numpy()
    else:
        learned = principal_subspace(samples, d)
    row["angle_deg"] = _largest_angle_deg(learned, basis)
    row["w1"] = wasserstein1(samples @ basis, fresh)
    row["off_subspace"] = off_subspace_energy(samples, [basis])
    return row


@validate_params(
    {
        "sample_sizes": ["array-like"],
        "n_features_grid": ["array-like"],
        "dims": [Interval(numbers.Integral, 1, None, closed="left")],
        "dims_grid": ["array-like"],
        "n_features": [Interval(numbers.Integral, 1, None, closed="left")],
        "latents": ["array-like"],
        "networks": ["array-like"],
        "n_seeds": [Interval(numbers.Integral, 1, None, closed="left")],
        **TRAINING_CONSTRAINTS,
        "basis_init": [StrOptions({"pca", "random"})],
        "basis_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "n_eval": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_times": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_generated": [Interval(numbers.Integral, 2, None, closed="left")],
        "sampler_steps": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_threads": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "device": "no_validation",  # anything torch.device takes, checked there
        "random_state": [Interval(numbers.Integral, 0, None, closed="left")],
        "progress": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def subspace_score_experiment(
    sample_sizes=(100, 1000), n_features_grid=(16, 64, 256, 1024), dims=4, dims_grid=(2, 4, 8),
    n_features=64, latents=("gaussian", "uniform"), networks=("subspace", "generic"), n_seeds=2,
    steps=300, batch_size=128, lr=2e-3, hidden=128, depth=3, basis_init="pca", basis_rate=0.5,
    n_eval=256, n_times=16, n_generated=256, sampler_steps=40, n_threads=1, device="cpu",
    random_state=0, progress=False,
):  # fmt: skip
    """Train the subspace and the generic score networks over ``N``, ``D`` and ``d``; measure.

    The grid is the sweep over ``D`` in ``n_features_grid`` at ``d = dims``
    and the sweep over ``d`` in ``dims_grid`` at ``D = n_features``. For every
    latent law, pair ``(D, d)`` and seed, one draw fixes the basis ``U``, a
    pool of training samples (the training sets are its first ``N`` rows, so
    they are nested), held-out latents and fresh latents; both networks and
    every ``N`` share that draw, and the two networks of one ``N`` share
    their random seed. See the module docstring for the networks, the
    training recipe and the metrics.

    Parameters
    ----------
    sample_sizes : sequence of int, default=(100, 1000)
        Training set sizes ``N``, strictly increasing.
    n_features_grid : sequence of int, default=(16, 64, 256, 1024)
        Ambient dimensions ``D`` of the sweep at ``d = dims``.
    dims : int, default=4
    dims_grid : sequence of int, default=(2, 4, 8)
        Intrinsic dimensions ``d`` of the sweep at ``D = n_features``.
    n_features : int, default=64
    latents : sequence of {'gaussian', 'uniform'}
        Laws of the latent coordinates (unit variance).
    networks : sequence of {'subspace', 'generic'}
    n_seeds : int, default=2
        Independent draws per (latent, D, d).
    steps, batch_size, lr : int, int, float, default=300, 128, 2e-3
        Training of every network (Adam, cosine learning rate).
    hidden, depth : int, default=128, 3
        Width and number of hidden layers of both MLPs (the subspace
        network's acts on ``R^d``).
    basis_init : {'pca', 'random'}, default='pca'
        Initial ``V`` of the subspace network: the top-``d`` principal
        subspace of its training set (a spectral start, exact on noiseless
        data once ``N >= d``; training then moves ``V`` by the DSM gradient),
        or a random orthonormal basis.
    basis_rate : float, default=0.5
        Turning rate of ``V`` under Adam
        (:class:`~subclust.diffusion.subspace_score.SubspaceScoreNetwork`).
        The stochastic gradient of ``V`` is noisy in all ``D - d`` directions
        orthogonal to it (the injected noise has ``D`` coordinates), and
        Adam's first steps, about ``lr * basis_rate`` radians each, push ``V``
        off the spectral start by an angle that grows with the rate, with
        ``D`` and as the batch shrinks (at ``D = 1024``, ``d = 4``, batch 128,
        300 steps: 4.2 degrees at rate 5, 0.6 at rate 0.5). From the spectral
        start a slow rate keeps ``V`` at the optimum of the loss; from a random
        one ``V`` needs a rate of about 20 and more steps.
    n_eval : int, default=256
        Held-out points per time of the score error.
    n_times : int, default=16
        Times of the score error (midpoints of a uniform grid on the range of
        the training times, ``[0.001, 1]``).
    n_generated : int, default=256
        Generated samples (and fresh latents) of the W1 estimate.
    sampler_steps : int, default=40
        DDIM steps.
    n_threads : int or None, default=1
        PyTorch threads meanwhile (None: leave unchanged).
    device : str or torch.device, default='cpu'
    random_state : int, default=0
    progress : bool, default=False
        A tqdm bar on stderr over (latent, D, d, seed, N) cells (shown on a terminal only).

    Returns
    -------
    result : SubspaceScoreResult

    Examples
    --------
    >>> from subclust.experiments import subspace_score_experiment
    >>> result = subspace_score_experiment(
    ...     sample_sizes=[20, 40], n_features_grid=[6, 12], dims=2, dims_grid=[2], n_features=6,
    ...     latents=["uniform"], n_seeds=1, steps=5, hidden=8, depth=1, n_eval=16, n_times=2,
    ...     n_generated=16, sampler_steps=4)
    >>> len(result.table.rows)  # 2 networks x 2 (D, d) pairs x 2 sizes
    8
    """
    sample_sizes = check_grid(sample_sizes, "sample_sizes", minimum=2)
    n_features_grid = check_grid(n_features_grid, "n_features_grid", minimum=2)
    dims_grid = check_grid(dims_grid, "dims_grid")
    if min(n_features_grid) <= dims:
        raise ValueError(f"Every D of n_features_grid={n_features_grid} must exceed dims={dims}.")
    if max(dims_grid) >= n_features:
        raise ValueError(f"Every d of dims_grid={dims_grid} must be below n_features={n_features}.")
    latents, networks = list(dict.fromkeys(latents)), list(dict.fromkeys(networks))
    if not latents or set(latents) - set(_LATENTS):
        raise ValueError(f"latents must be among {_LATENTS}, got {latents!r}.")
    if not networks or set(networks) - set(NETWORKS):
        raise ValueError(f"networks must be among {sorted(NETWORKS)}, got {networks!r}.")

    from subclust.diffusion import UniformTime, VPLinear, check_device
    from subclust.utils.parallel import torch_threads

    device = check_device(device)

    config = dict(schedule=VPLinear(), noise_levels=UniformTime(), steps=steps,
                  batch_size=batch_size, lr=lr, hidden=hidden, depth=depth,
                  basis_init=basis_init, basis_rate=basis_rate, n_times=n_times,
                  sampler_steps=sampler_steps, device=device)
    pairs = _configurations(n_features_grid, dims, dims_grid, n_features)
    cells = [(latent, D, d, seed, N) for latent in latents for D, d in pairs
             for seed in range(n_seeds) for N in sample_sizes]
    table = Table(
        title=f"Subspace vs generic score network: MLP {depth}x{hidden}, {steps} steps, "
        f"VP-linear, V from {basis_init} at rate {basis_rate:g}, {n_seeds} seed(s), W1 on "
        f"{n_generated} latents (exact assignment)"
    )
    start, draw = time.perf_counter(), None
    with torch_threads(n_threads):
        for latent, D, d, seed, N in progress_bar(cells, progress=None if progress else False,
                                                      desc="subspace score: cells", unit="cell"):
            draw_seed = _seed(random_state, _LATENTS.index(latent), D, d, seed)
            if N == sample_sizes[0]:
                draw = _draw(latent, D, d, sample_sizes[-1], n_eval, n_generated, draw_seed)
            for network in networks:
                row = _train_and_measure(network, draw[1][:N], draw, latent, config,
                                         _seed(draw_seed, N))
                row["w1_floor"] = draw[4]
                table.add_row(network=network, latent=latent, n_features=D, dim=d, N=N,
                              seed=seed, **row)
    return SubspaceScoreResult(table=table, dim=dims, n_features=n_features,
                               seconds=time.perf_counter() - start)
