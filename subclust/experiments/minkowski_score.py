"""Diffusion models on non-smooth supports: the error follows the Minkowski dimension, not ``D``.

Mu, Shang, Zhou, Zhou, Meng, Yan and Ma ("Score Approximation for Diffusion
Models on Arbitrary Low-Dimensional Structures", arXiv:2606.19894, 2026)
prove a universal score approximation theorem for any distribution supported
on a compact set of upper Minkowski dimension ``d`` (singularities, sharp
boundaries, disjoint clusters): a ReLU network whose size grows exponentially
in ``d`` only, not in the ambient dimension ``D``, approximates the score.
Chakraborty, Berthet and Bartlett (arXiv:2603.03700, 2026) turn such
approximation into a sample rate: from ``N`` samples a score-matching
diffusion model reaches ``E W1 = O~(N^{-1/d*})`` with ``d*`` a Wasserstein
dimension of the data, at most the upper Minkowski dimension of a compact
support (and, as for the empirical measure, ``N^{-1/2}`` up to logarithms
when ``d < 2``: Weed & Bach, Bernoulli 2019). The expected slope of
``log W1`` against ``log N`` is therefore ``-1 / max(d, 2)`` whatever ``D``;
a model that paid for the ambient dimension would show ``-1 / D``.

:func:`minkowski_score` measures it on sets that are not integer manifolds
(:data:`SETS`): a polyline with sharp corners (``d = 1``), a finite set of
atoms (``d = 0``), the Sierpinski triangle (``log 3 / log 2``), a 2-D Cantor
dust (``log 4 / log 3``) and the product of two Sierpinski triangles
(``2 log 3 / log 2 = 3.17``, the one set with ``d > 2``, whose rate differs
from ``N^{-1/2}``). Each is drawn in its own plane (or ``R^4``) by
:func:`sample_set` and embedded in ``R^D`` by a random orthonormal map
(:func:`embed_isometric`). For every ``N`` the same denoiser and recipe as
:func:`~subclust.experiments.memorization_sweep` (the layer's
:class:`~subclust.diffusion.MLPDenoiser` with EDM preconditioning, trained
by :func:`~subclust.diffusion.train_denoiser`) is trained on ``N`` samples
and sampled by Heun; W1 to ``N`` fresh samples is exact (the optimal
assignment of :func:`~subclust.diffusion.quality.wasserstein1`). The W1
between the training set and the same fresh samples, two independent
empirical sets of size ``N``, is the finite-sample floor of this measure,
reported as the reference curve ('floor'): a model that copies its
training set scores exactly it. :func:`box_counting_dimension` checks the
dimension of every set in every ``R^D``.
"""

import math
import time
from dataclasses import dataclass
from functools import partial
from numbers import Integral, Real

import numpy as np

from subclust.experiments._constraints import SAMPLING_CONSTRAINTS, TRAINING_CONSTRAINTS
from subclust.utils.parallel import blas_threads, process_map, torch_threads
from subclust.utils.progress import progress_bar
from subclust.utils.tables import Table
from subclust.utils.validation import (
    Interval,
    StrOptions,
    check_grid,
    check_matrix,
    validate_params,
)

__all__ = ["MINKOWSKI_DIMENSIONS", "SETS", "MinkowskiScoreResult", "SMALL_CONFIG",
           "box_counting_dimension", "embed_isometric", "minkowski_score", "sample_set"]

#: Upper Minkowski (box-counting) dimension of every set of :func:`sample_set`.
MINKOWSKI_DIMENSIONS = {
    "segments": 1.0,
    "clusters": 0.0,
    "sierpinski": math.log(3) / math.log(2),
    "cantor": math.log(4) / math.log(3),
    "sierpinski-product": 2 * math.log(3) / math.log(2),
}
SETS = tuple(MINKOWSKI_DIMENSIONS)

# Every set lies in [-1, 1]^m, m = 2 (4 for the product), so W1 values compare across sets.
_POLYLINE = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])  # an "N": 2 corners
_ATOMS = np.array([[math.cos(a), math.sin(a)] for a in np.arange(8) * math.pi / 4])
_TRIANGLE = np.array([[math.cos(a), math.sin(a)]
                      for a in math.pi / 2 + np.arange(3) * 2 * math.pi / 3])
_SQUARE_CORNERS = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])

#: The configuration of the tests, the notebook's small run and ``--small`` (about 10 s of CPU).
SMALL_CONFIG = dict(n_features=(4, 8), sample_sizes=(32, 64, 128), n_trials=1, steps=60,
                    n_box_samples=4000)


def _native_dim(name):
    return 4 if name == "sierpinski-product" else 2


def _chaos_game(vertices, ratio, n_samples, rng):
    """Independent chains of the chaos game ``x <- v_k + ratio (x - v_k)``, ``k`` uniform.

    Each chain starts at ``vertices[0]``, a point of the attractor, so every
    iterate lies on it; after ``depth`` maps a chain is distributed as the
    self-similar measure up to ``ratio^depth < 1e-12`` of the set's size.
    """
    depth = math.ceil(math.log(1e-12) / math.log(ratio))
    x = np.repeat(vertices[:1], n_samples, axis=0)
    for _ in range(depth):
        v = vertices[rng.integers(len(vertices), size=n_samples)]
        x = v + ratio * (x - v)
    return x


def _polyline(n_samples, rng):
    """Uniform by arc length on the polyline through :data:`_POLYLINE`."""
    lengths = np.linalg.norm(np.diff(_POLYLINE, axis=0), axis=1)
    piece = rng.choice(len(lengths), size=n_samples, p=lengths / lengths.sum())
    u = rng.uniform(size=(n_samples, 1))
    return _POLYLINE[piece] + u * (_POLYLINE[piece + 1] - _POLYLINE[piece])


@validate_params(
    {
        "name": [StrOptions(set(MINKOWSKI_DIMENSIONS))],
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "random_state": [Interval(Integral, 0, None, closed="left"), np.random.Generator, None],
    },
    prefer_skip_nested_validation=True,
)
def sample_set(name, n_samples, random_state=None):
    """Samples of a set of known Minkowski dimension, in its own coordinates.

    - 'segments': uniform on three segments joined at two sharp corners
      (dimension 1, not a manifold at the corners);
    - 'clusters': uniform on 8 atoms on the unit circle (dimension 0);
    - 'sierpinski': the self-similar measure on the Sierpinski triangle
      inscribed in the unit circle, by the chaos game with ratio 1/2
      (dimension ``log 3 / log 2``);
    - 'cantor': the 2-D Cantor dust ``C x C``, ``C`` the middle-thirds Cantor
      set on ``[-1, 1]``, by the chaos game with ratio 1/3 towards the four
      corners (dimension ``log 4 / log 3``);
    - 'sierpinski-product': two independent 'sierpinski' coordinates pairs,
      a set in ``R^4`` of dimension ``2 log 3 / log 2``.

    Parameters
    ----------
    name : str
        One of :data:`SETS`.
    n_samples : int
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    X : ndarray of shape (n_samples, 2), or (n_samples, 4) for 'sierpinski-product'

    Examples
    --------
    >>> import numpy as np
    >>> X = sample_set("cantor", 1000, random_state=0)
    >>> X.shape, bool(np.all(np.abs(X) <= 1))
    ((1000, 2), True)
    >>> bool(np.all(np.abs(X) >= 1 / 3 - 1e-9))  # the middle thirds are empty
    True
    >>> len(np.unique(sample_set("clusters", 500, random_state=0), axis=0))
    8
    """
    rng = np.random.default_rng(random_state)
    if name == "segments":
        return _polyline(n_samples, rng)
    if name == "clusters":
        return _ATOMS[rng.integers(len(_ATOMS), size=n_samples)]
    if name == "sierpinski":
        return _chaos_game(_TRIANGLE, 0.5, n_samples, rng)
    if name == "cantor":
        return _chaos_game(_SQUARE_CORNERS, 1 / 3, n_samples, rng)
    return np.hstack([_chaos_game(_TRIANGLE, 0.5, n_samples, rng) for _ in range(2)])


@validate_params(
    {
        "X": ["array-like"],
        "n_features": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def embed_isometric(X, n_features, random_state=None):
    """Embed samples of ``R^m`` in ``R^D`` by a random map with orthonormal columns.

    ``x -> Q x`` with ``Q`` of shape ``(D, m)``, ``Q^T Q = I``: distances, and
    so the Minkowski dimension and every Wasserstein distance, are kept.

    Parameters
    ----------
    X : array-like of shape (n_samples, m)
    n_features : int
        The ambient dimension ``D >= m``.
    random_state : int, RandomState instance or None

    Returns
    -------
    Y : ndarray of shape (n_samples, n_features)
    Q : ndarray of shape (n_features, m)

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.spatial.distance import pdist
    >>> X = sample_set("segments", 50, random_state=0)
    >>> Y, Q = embed_isometric(X, 16, random_state=0)
    >>> Y.shape, bool(np.allclose(pdist(Y), pdist(X)))
    ((50, 16), True)
    """
    from subclust.datasets import random_bases

    X = check_matrix(X)
    if n_features < X.shape[1]:
        raise ValueError(
            f"n_features must be an int >= the dimension of the samples ({X.shape[1]}), "
            f"got {n_features!r}."
        )
    Q = random_bases(int(n_features), [X.shape[1]], random_state=random_state)[0]
    return X @ Q.T, Q


@validate_params(
    {
        "X": ["array-like"],
        "scales": ["array-like", None],
        "max_fill": [Interval(Real, 0, 1, closed="right")],
        "return_counts": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def box_counting_dimension(X, scales=None, max_fill=0.1, return_counts=False):
    """Box-counting estimate of the Minkowski dimension of the set a sample comes from.

    Counts the boxes ``N(eps)`` of a grid of side ``eps`` that hold a sample
    and returns the least-squares slope of ``log N(eps)`` against
    ``log(1 / eps)``. A finite sample is a finite set, so at small ``eps``
    every point has its own box and the slope falls to 0: only the scales at
    which ``N(eps) <= max_fill * n_samples`` (ten samples per box on average
    by default, so that the sample covers the set at that scale) enter the
    fit. A sample that spans fewer directions than it has features (a set
    embedded in ``R^D``) is counted in the coordinates of its span (its
    principal axes), an isometry that leaves the dimension unchanged: a grid
    aligned with the ambient axes of ``R^D`` counts far more boxes at coarse
    scales (a segment crosses about ``sqrt(D)`` times more of them) and so
    reaches the asymptotic slope only at scales that the sample cannot
    resolve. Coarse scales still bias the estimate of a set whose boundary
    is long at that scale (a rotated square: about 1.8).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    scales : array-like of float, optional
        Box sides; default ``1.001 L 2^-j``, ``j = 1 ... 20``, ``L`` the
        largest coordinate range.
    max_fill : float, default=0.1
        Largest ``N(eps) / n_samples`` of a scale used in the fit.
    return_counts : bool, default=False

    Returns
    -------
    dimension : float
    scales, counts : ndarray
        Only with ``return_counts``: the scales used in the fit and their counts.

    Raises
    ------
    ValueError
        When fewer than two scales qualify (too few samples for the set).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> segment = np.outer(rng.uniform(size=20000), [1.0, 2.0])
    >>> square = rng.uniform(size=(20000, 2))
    >>> round(box_counting_dimension(segment), 1), round(box_counting_dimension(square), 1)
    (1.0, 2.0)
    """
    X = check_matrix(X)
    _, spread, Vt = np.linalg.svd(X - X.mean(axis=0), full_matrices=False)
    if spread[0] == 0:
        raise ValueError("X holds a single point: its box-counting dimension is 0.")
    span = spread > 1e-10 * spread[0]
    if span.sum() < X.shape[1]:
        X = X @ Vt[span].T
    origin = X.min(axis=0)
    extent = float((X.max(axis=0) - origin).max())
    if scales is None:  # 1.001: the farthest point does not open a box of its own
        scales = 1.001 * extent * 2.0 ** -np.arange(1, 21)
    scales = np.asarray(scales, dtype=np.float64)
    if scales.ndim != 1 or np.any(scales <= 0):
        raise ValueError("scales must be a 1-D array of positive box sides.")
    counts = np.array([
        len(np.unique(np.floor((X - origin) / eps).astype(np.int64), axis=0)) for eps in scales
    ])
    used = counts <= max_fill * len(X)
    if used.sum() < 2:
        raise ValueError(
            f"Only {used.sum()} scale(s) hold at most {max_fill:g} x {len(X)} occupied boxes: "
            "give more samples, larger scales or a larger max_fill."
        )
    slope = np.polyfit(np.log(1 / scales[used]), np.log(counts[used]), 1)[0]
    if return_counts:
        return float(slope), scales[used], counts[used]
    return float(slope)


@dataclass
class MinkowskiScoreResult:
    """W1 of generated samples against ``N``, per set and ambient dimension.

    Attributes
    ----------
    raw : Table
        One row per (set, n_features, N, trial): ``w1_generated`` (trained
        model against fresh samples) and ``w1_floor`` (training set against
        the same fresh samples: two empirical sets of size ``N``).
    dimensions : Table
        Box-counting estimate of every set in every ``R^D``.
    seconds : float
        Wall time of the whole experiment.
    """

    raw: Table
    dimensions: Table
    seconds: float

    CURVES = ("generated", "floor")

    def _keys(self):
        return list(dict.fromkeys((r["set"], r["n_features"]) for r in self.raw.rows))

    def points(self, name, n_features, curve="generated"):
        """``(N, W1)`` arrays of every trial of one curve ('generated' or 'floor')."""
        rows = [r for r in self.raw.rows if (r["set"], r["n_features"]) == (name, n_features)]
        return (np.array([r["N"] for r in rows], dtype=float),
                np.array([r[f"w1_{curve}"] for r in rows]))

    def mean_table(self):
        """W1 averaged over trials per set, ambient dimension and ``N``."""
        table = Table(title="W1 to fresh samples (mean over trials): trained MLP denoiser "
                      "('generated') and training set ('floor')")
        cells = {}
        for r in self.raw.rows:
            cells.setdefault((r["set"], r["n_features"], r["N"]), []).append(r)
        for (name, D, N), rows in cells.items():
            table.add_row(set=name, n_features=D, N=N, trials=len(rows),
                          w1_generated=float(np.mean([r["w1_generated"] for r in rows])),
                          w1_floor=float(np.mean([r["w1_floor"] for r in rows])))
        return table

    def slope(self, name, n_features, curve="generated", confidence=0.95):
        """OLS slope of ``log W1`` on ``log N`` over every (N, trial) point, and its CI.

        Returns
        -------
        slope, low, high : float
            ``low, high`` from the OLS standard error and Student's t with
            ``points - 2`` degrees of freedom (NaN with two points).
        """
        from scipy import stats

        N, w = self.points(name, n_features, curve)
        fit = stats.linregress(np.log(N), np.log(w))
        if len(N) < 3:
            return float(fit.slope), float("nan"), float("nan")
        half = stats.t.ppf(0.5 + confidence / 2, len(N) - 2) * fit.stderr
        return float(fit.slope), float(fit.slope - half), float(fit.slope + half)

    def slopes(self):
        """Fitted slopes with 95 % confidence intervals against ``-1/max(d, 2)`` and ``-1/D``."""
        table = Table(title="Slope of log W1 vs log N (OLS over all N and trials, 95 % t-interval)")
        for name, D in self._keys():
            d = MINKOWSKI_DIMENSIONS[name]
            for curve in self.CURVES:
                slope, low, high = self.slope(name, D, curve)
                table.add_row(set=name, n_features=D, curve=curve, slope=slope, ci_low=low,
                              ci_high=high, dimension=d, expected=-1 / max(d, 2),
                              ambient_rate=-1 / D)
        table.notes = [
            "expected: -1/max(d, 2) with d the Minkowski dimension; ambient_rate: -1/D, the "
            "rate of a model that paid for the ambient dimension",
            f"{self.seconds:.0f} s in all",
        ]
        return table

    def __str__(self):
        return f"{self.mean_table()}\n\n{self.dimensions}\n\n{self.slopes()}"

    def plot(self):
        """log-log W1 against N, one panel per set: generated (solid) and floor (dashed).

        Returns
        -------
        figure : matplotlib.figure.Figure
        """
        from matplotlib.figure import Figure

        names = list(dict.fromkeys(k[0] for k in self._keys()))
        dims = sorted({k[1] for k in self._keys()})
        colors = {D: f"C{i}" for i, D in enumerate(dims)}
        fig = Figure(figsize=(3.4 * len(names), 3.4), layout="constrained")
        axes = fig.subplots(1, len(names), squeeze=False)[0]
        for ax, name in zip(axes, names):
            for D in dims:
                for curve, style in zip(self.CURVES, ("o-", "x--")):
                    N, w = self.points(name, D, curve)
                    grid = np.unique(N)
                    mean = np.array([w[N == n].mean() for n in grid])
                    ax.loglog(grid, mean, style, color=colors[D], markersize=4,
                              label=f"{curve}, D={D}")
            d = MINKOWSKI_DIMENSIONS[name]
            N, w = self.points(name, dims[0], "floor")
            grid = np.unique(N)
            ax.loglog(grid, w[N == grid[0]].mean() * (grid / grid[0]) ** (-1 / max(d, 2)), "k-",
                      linewidth=3, alpha=0.3, label=f"slope {-1 / max(d, 2):.2f}")
            ax.set(title=f"{name} (d = {d:.2f})", xlabel="training samples N", ylabel="W1")
            ax.minorticks_off()  # the N of the grid as plain labels, not crowded log labels
            ax.set_xticks(grid, [f"{n:g}" for n in grid])
        axes[0].legend(fontsize=6)
        return fig


@validate_params(
    {
        "sets": ["array-like"],
        "n_features": ["array-like"],
        "sample_sizes": ["array-like"],
        "n_trials": [Interval(Integral, 1, None, closed="left")],
        **TRAINING_CONSTRAINTS,
        **SAMPLING_CONSTRAINTS,
        "n_box_samples": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [
            Interval(Integral, 1, None, closed="left"),
            Interval(Integral, None, -1, closed="right"),
        ],
        "random_state": [Interval(Integral, 0, None, closed="left")],
        "progress": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def minkowski_score(
    sets=SETS, n_features=(4, 16, 64), sample_sizes=(200, 400, 800, 1600), n_trials=2,
    steps=750, batch_size=256, lr=4e-3, hidden=128, depth=3, sampler="heun", sampler_steps=18,
    n_box_samples=20000, n_jobs=1, random_state=0, progress=False,
):
    """W1 between generated and fresh samples against ``N`` on sets of known Minkowski dimension.

    Each trial draws, per set and ambient dimension, one random isometric
    embedding, a pool of ``max(sample_sizes)`` training and as many fresh
    samples; the training set of size ``N`` is the first ``N`` of the pool and
    is compared with the first ``N`` fresh samples, and the network's
    initialization, training randomness and sampler noise are the same for
    every ``N`` (a paired comparison across ``N``). For every training set an
    :class:`~subclust.diffusion.MLPDenoiser` (EDM schedule,
    :class:`~subclust.diffusion.Preconditioned`, ``sigma_data`` of the training set) is trained for
    ``steps`` steps with the recipe of
    :func:`~subclust.experiments.memorization_sweep` (Adam, cosine learning
    rate, log-normal noise levels, EDM weighting) and sampled from ``N``
    noise vectors. PyTorch and BLAS run on one thread in every process, and
    every cell draws from its own seed, so the result does not depend on
    ``n_jobs``.

    Parameters
    ----------
    sets : sequence of str, default=SETS
        Among :data:`SETS`.
    n_features : sequence of int, default=(4, 16, 64)
        Ambient dimensions ``D`` (at least 4 for 'sierpinski-product', 2 otherwise).
    sample_sizes : sequence of int, default=(200, 400, 800, 1600)
        Training set sizes ``N``, strictly increasing (also the numbers of
        generated and fresh samples).
    n_trials : int, default=2
    steps, batch_size, lr : training of the MLP; default 750, 256, 4e-3.
    hidden, depth : int, default=128, 3
        Width and number of hidden layers of the MLP.
    sampler : {'heun', 'euler', 'ddim', 'ddpm'}, default='heun'
    sampler_steps : int, default=18
    n_box_samples : int, default=20000
        Samples of every set for :func:`box_counting_dimension`.
    n_jobs : int, default=1
        Worker processes over the (trial, set, D) cells (-1: one per core).
    random_state : int, default=0
    progress : bool, default=False
        Show a tqdm progress bar over the (trial, set, D) cells.

    Returns
    -------
    result : MinkowskiScoreResult

    Examples
    --------
    >>> result = minkowski_score(sets=["clusters"], n_features=[3], sample_sizes=[16, 32],
    ...                          n_trials=1, steps=20, sampler_steps=4, n_box_samples=2000)
    >>> [(r["N"], r["trial"]) for r in result.raw.rows]
    [(16, 0), (32, 0)]
    """
    sets = list(dict.fromkeys(sets))
    n_features, sample_sizes = list(n_features), list(sample_sizes)
    _check_config(sets, n_features, sample_sizes, sampler)
    from subclust.diffusion import EDM

    config = dict(schedule=EDM(), steps=steps, batch_size=batch_size, lr=lr, hidden=hidden,
                  depth=depth, sampler=sampler, sampler_steps=sampler_steps,
                  sample_sizes=sample_sizes, random_state=random_state)
    start = time.perf_counter()
    dimensions = Table(title=f"Box-counting dimension of {n_box_samples} samples per set, "
                       "isometrically embedded in R^D")
    with blas_threads(1):
        for name in sets:
            for D in n_features:
                seed = _seed(random_state, 1, name, D)
                Y, _ = embed_isometric(sample_set(name, n_box_samples, seed), D, seed)
                dimensions.add_row(set=name, n_features=D,
                                   box_counting=box_counting_dimension(Y),
                                   minkowski=MINKOWSKI_DIMENSIONS[name])
    cells = [(trial, name, D) for trial in range(n_trials) for name in sets for D in n_features]
    scores = process_map(partial(_score_cell, config=config), cells, n_jobs, ordered=False)
    results = dict(progress_bar(scores, progress=None if progress else False, total=len(cells),
                                 desc="minkowski-score: trials x sets x D", unit="cell"))
    raw = Table(title="W1 to fresh samples per trial")
    for trial, name, D in cells:
        for N, generated, floor in results[trial, name, D]:
            raw.add_row(set=name, n_features=D, N=N, trial=trial, w1_generated=generated,
                        w1_floor=floor)
    raw.notes.append(
        f"MLP {depth}x{hidden} trained {steps} steps, {sampler} sampler ({sampler_steps} "
        "steps); W1 exact (optimal assignment between equal-size sets)"
    )
    return MinkowskiScoreResult(raw=raw, dimensions=dimensions,
                                seconds=time.perf_counter() - start)


def _seed(random_state, purpose, name, *numbers):
    """A seed of its own for every purpose (0: a cell, 1: box counting), set and numbers."""
    entropy = [random_state, purpose, SETS.index(name), *map(int, numbers)]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def _score_cell(cell, config):
    """``(cell, [(N, W1 generated, W1 floor) for every N])`` of one (trial, set, D) cell."""
    trial, name, D = cell
    seed = _seed(config["random_state"], 0, name, trial, D)
    with torch_threads(1), blas_threads(1):
        return cell, _score_draw(name, D, config["sample_sizes"], config, seed)


def _score_draw(name, D, sample_sizes, config, seed):
    import torch

    from subclust.diffusion import karras_times, sample
    from subclust.diffusion.quality import wasserstein1
    from subclust.experiments.memorization import _train_mlp

    rng = np.random.default_rng(seed)
    n_max = sample_sizes[-1]
    Y, _ = embed_isometric(sample_set(name, 2 * n_max, rng), D, rng.integers(2**31))
    pool, fresh = Y[:n_max], Y[n_max:]
    noise = torch.randn(n_max, D, generator=torch.Generator().manual_seed(seed % 2**63))
    out = []
    for N in sample_sizes:
        X = pool[:N]
        net = _train_mlp(X, seed % 2**63, config)
        grid = karras_times(net.schedule, config["sampler_steps"])
        x = net.schedule.g(grid[0]) * noise[:N]
        generated = sample(config["sampler"], net, x, grid, disable=True).double().numpy()
        out.append((N, wasserstein1(generated, fresh[:N]), wasserstein1(X, fresh[:N])))
    return out


def _check_config(sets, n_features, sample_sizes, sampler):
    """The checks of :func:`minkowski_score` that its parameter constraints cannot express."""
    from subclust.diffusion import SAMPLERS

    unknown = [name for name in sets if name not in MINKOWSKI_DIMENSIONS]
    if unknown or not sets:
        raise ValueError(f"sets must be a non-empty selection of {SETS}, got {sets}.")
    check_grid(n_features, "n_features", increasing=False)
    check_grid(sample_sizes, "sample_sizes", minimum=2, min_length=2)
    need = max(_native_dim(name) for name in sets)
    if min(n_features) < need:
        raise ValueError(f"Every n_features must be at least {need} for the sets {sets}, got "
                         f"{n_features}.")
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, got {sampler!r}.")
