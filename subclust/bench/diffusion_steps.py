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
"""

import time

import numpy as np

from subclust.datasets import make_molrg
from subclust.tables import Table

DEFAULT_DIMS = (16, 64, 256, 1024)
DEFAULT_STEPS = (10, 20, 50, 100, 200, 500)


def add_arguments(parser):
    parser.add_argument("--n-features", type=int, nargs="+", default=list(DEFAULT_DIMS))
    parser.add_argument("--steps", type=int, nargs="+", default=list(DEFAULT_STEPS))
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


def steps_tables(n_features=DEFAULT_DIMS, steps=DEFAULT_STEPS, n_samples=4000, tolerance=0.15,
                 n_components=3, dim=4, weights=(0.5, 0.3, 0.2), random_state=0):
    """Run the sweep; return the error table and the summary table."""
    import torch

    from subclust.diffusion import MoLRGDenoiser, VPLinear, sample_ddpm
    from subclust.diffusion.quality import sample_quality

    schedule = VPLinear()
    errors = Table(
        title=f"DDPM (VP linear) with the exact MoLRG denoiser: latent covariance error, "
        f"K={n_components}, d={dim}, {n_samples} samples"
    )
    summary = Table(title=f"Steps needed for latent covariance error <= {tolerance}")
    results = {}
    for n in n_features:
        _, _, bases = make_molrg(n_features=n, n_components=n_components, dims=dim,
                                 random_state=random_state)
        denoiser = MoLRGDenoiser(bases, weights, schedule=schedule)
        start = time.perf_counter()
        for T in steps:
            gen = torch.Generator().manual_seed(random_state)
            noise = torch.randn(n_samples, n, generator=gen)
            x = sample_ddpm(denoiser, noise, schedule, T, generator=gen, disable=True)
            results[n, T] = sample_quality(x, bases, weights)
        results[n, "exact"] = sample_quality(
            _exact_draws(bases, weights, n_samples, random_state), bases, weights
        )
        results[n, "seconds"] = time.perf_counter() - start

    for T in list(steps) + ["exact"]:
        row = {"steps": str(T)}
        for n in n_features:
            row[f"n={n}"] = results[n, T]["latent_cov_error"]
        errors.add_row(**row)
    errors.notes.append(
        "rows: DDPM steps (time grid uniform in t from 1 to 1e-3); 'exact' = direct MoLRG "
        "draws (the Monte Carlo floor)"
    )
    for n in n_features:
        ok = [T for T in steps if results[n, T]["latent_cov_error"] <= tolerance]
        last = results[n, steps[-1]]
        summary.add_row(
            n=n, steps_needed=str(min(ok)) if ok else f">{steps[-1]}",
            error_at_max_steps=last["latent_cov_error"],
            frequency_tv=last["frequency_tv"],
            off_subspace_energy=last["off_subspace_energy"],
            seconds=results[n, "seconds"],
        )
    summary.notes.append(
        "Li, Cai, Wei (arXiv:2504.05300): O~(1/eps) DDPM steps for eps accuracy in TV on "
        "Gaussian mixtures, independent of n and K"
    )
    return errors, summary


def main(args):
    from subclust._parallel import torch_threads

    with torch_threads(args.threads):
        errors, summary = steps_tables(
            args.n_features, args.steps, args.n_samples, args.tolerance,
            random_state=args.random_state,
        )
    print(errors)
    print()
    print(summary)
