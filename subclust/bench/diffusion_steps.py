"""DDPM error against the number of sampling steps, for several ambient dimensions.

``subclust bench diffusion_steps`` samples an MoLRG (K=3 components of
dimension d=4, weights 0.5/0.3/0.2, independent random subspaces of R^n)
with DDPM ancestral sampling and the exact posterior-mean denoiser, for
n in {16, 64, 256, 1024} and a range of step counts, and prints

1. the latent covariance error (``subclust.diffusion.quality``; 0 is exact,
   the Monte Carlo floor of exact draws is printed as the last row) per
   number of steps and n;
2. per n: the fewest steps whose error is within ``--tolerance``, the
   frequency error and the off-subspace energy at the most steps.

Li, Cai and Wei (arXiv:2504.05300) prove that DDPM reaches accuracy eps in
total variation after O~(1/eps) steps for (approximate) Gaussian mixtures,
independently of the dimension and of the number of components. With the
exact denoiser of an MoLRG the chain's component orthogonal to the span of
the subspaces never changes the posterior weights, so n enters only through
the angles between the random subspaces: the columns should agree up to
Monte Carlo noise, and the error should fall like 1/steps.

``--components 2 8 32`` repeats the sweep for several numbers of components
K (uniform weights for K other than 3) and labels the columns ``K=.., n=..``:
the same bound holds whatever K, so the curves should be flat in K as well,
down to the Monte Carlo floor of each K (K subspaces of R^n overlap when
``K d > n``, and nearest-subspace assignment then mislabels exact draws too).
"""

import time

import numpy as np

from subclust.datasets import make_molrg
from subclust.utils.tables import Table

DEFAULT_DIMS = (16, 64, 256, 1024)
DEFAULT_STEPS = (10, 20, 50, 100, 200, 500)


def add_arguments(parser):
    parser.add_argument("--n-features", type=int, nargs="+", default=list(DEFAULT_DIMS))
    parser.add_argument("--steps", type=int, nargs="+", default=list(DEFAULT_STEPS))
    parser.add_argument("--components", type=int, nargs="+", default=[3],
                        help="numbers of components K (weights 0.5/0.3/0.2 for K=3, "
                        "uniform otherwise)")
    parser.add_argument("--n-samples", type=int, default=4000)
    parser.add_argument("--tolerance", type=float, default=0.15,
                        help="latent covariance error counted as converged")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--random-state", type=int, default=0)


def _exact_draws(bases, weights, n_samples, random_state):
    """Direct draws from the MoLRG with these bases: the Monte Carlo floor of the error."""
    rng = np.random.RandomState(random_state)
    labels = rng.choice(len(bases), size=n_samples, p=weights)
    X = np.zeros((n_samples, bases[0].shape[0]))
    for k, U in enumerate(bases):
        rows = labels == k
        X[rows] = rng.standard_normal((rows.sum(), U.shape[1])) @ U.T
    return X


def _weights(n_components):
    """0.5/0.3/0.2 for three components (the benchmark's original mixture), uniform otherwise."""
    return (0.5, 0.3, 0.2) if n_components == 3 else (1 / n_components,) * n_components


def steps_tables(n_features=DEFAULT_DIMS, steps=DEFAULT_STEPS, n_samples=4000, tolerance=0.15,
                 n_components=3, dim=4, weights=None, random_state=0):
    """Run the sweep; return the error table and the summary table.

    ``n_components`` is an int or a sequence of ints; with several, the
    error columns are ``K=.., n=..`` and the summary has the columns ``K``
    and ``exact_error`` (the Monte Carlo floor, which grows with K at a
    fixed number of samples). ``weights`` default to 0.5/0.3/0.2 for K=3
    and to uniform otherwise.
    """
    import torch

    from subclust.diffusion import MoLRGDenoiser, VPLinear, sample_ddpm, uniform_times
    from subclust.diffusion.quality import sample_quality

    several = not isinstance(n_components, (int, np.integer))
    components = list(n_components) if several else [n_components]
    if not components or any(int(K) < 1 for K in components):
        raise ValueError(f"n_components must be positive ints, got {n_components!r}.")
    if weights is not None and (several or len(weights) != components[0]):
        raise ValueError("weights need a single n_components of the same length.")
    schedule = VPLinear()
    errors = Table(
        title=f"DDPM (VP linear) with the exact MoLRG denoiser: latent covariance error, "
        f"K={', '.join(map(str, components))}, d={dim}, {n_samples} samples"
    )
    summary = Table(title=f"Steps needed for latent covariance error <= {tolerance}")
    results = {}
    cells = [(K, n) for K in components for n in n_features]
    for K, n in cells:
        _, _, bases = make_molrg(n_features=n, n_components=K, dims=dim,
                                 random_state=random_state)
        pi = weights if weights is not None else _weights(K)
        denoiser = MoLRGDenoiser(bases, pi, schedule=schedule)
        start = time.perf_counter()
        for T in steps:
            gen = torch.Generator().manual_seed(random_state)
            noise = torch.randn(n_samples, n, generator=gen)
            grid = uniform_times(T)
            x = sample_ddpm(denoiser, schedule.g(grid[0]) * noise, grid, generator=gen,
                            disable=True)
            results[K, n, T] = sample_quality(x, bases, pi)
        results[K, n, "exact"] = sample_quality(
            _exact_draws(bases, pi, n_samples, random_state), bases, pi
        )
        results[K, n, "seconds"] = time.perf_counter() - start

    def column(K, n):
        return f"K={K}, n={n}" if several else f"n={n}"

    for T in list(steps) + ["exact"]:
        row = {"steps": str(T)}
        for K, n in cells:
            row[column(K, n)] = results[K, n, T]["latent_cov_error"]
        errors.add_row(**row)
    errors.notes.append(
        "rows: DDPM steps (time grid uniform in t from 1 to 1e-3); 'exact' = direct MoLRG "
        "draws (the Monte Carlo floor)"
    )
    for K, n in cells:
        ok = [T for T in steps if results[K, n, T]["latent_cov_error"] <= tolerance]
        last = results[K, n, steps[-1]]
        summary.add_row(
            **({"K": K} if several else {}),
            n=n, steps_needed=str(min(ok)) if ok else f">{steps[-1]}",
            error_at_max_steps=last["latent_cov_error"],
            frequency_tv=last["frequency_tv"],
            off_subspace_energy=last["off_subspace_energy"],
            **({"exact_error": results[K, n, "exact"]["latent_cov_error"]} if several else {}),
            seconds=results[K, n, "seconds"],
        )
    summary.notes.append(
        "Li, Cai, Wei (arXiv:2504.05300): O~(1/eps) DDPM steps for eps accuracy in TV on "
        "Gaussian mixtures, independent of n and K"
    )
    return errors, summary


def main(args):
    from subclust.utils.parallel import torch_threads

    components = args.components[0] if len(args.components) == 1 else args.components
    with torch_threads(args.threads):
        errors, summary = steps_tables(
            args.n_features, args.steps, args.n_samples, args.tolerance,
            n_components=components, random_state=args.random_state,
        )
    print(errors)
    print()
    print(summary)
