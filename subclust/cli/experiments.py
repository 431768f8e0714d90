"""The experiment commands: ``equivalence``, ``phase-transition``, ``memorization``,
``subspace-score``, ``minkowski-score`` and ``network-transition``.

Each sweep writes its tables (CSV) and figure (PNG) into ``--output``, every file
atomically, and refuses before the work, not after, to overwrite one without ``--force``.
"""

from pathlib import Path

from subclust.io import save_figure


def add_equivalence_arguments(parser):
    parser.add_argument("--n-features", type=int, default=48)
    parser.add_argument("--n-clusters", type=int, default=3)
    parser.add_argument("--dim", type=int, default=6)
    parser.add_argument("--samples-per-cluster", type=int, default=60)
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--plot", metavar="PNG", help="also save the figure to this file")
    parser.add_argument("--force", action="store_true", help="overwrite the figure if it exists")


def equivalence_main(args):
    """Fit K-subspaces and the diffusion denoiser on one MoLRG draw; print the report."""
    from subclust.bridge import equivalence_report
    from subclust.datasets import make_molrg

    X, _, _ = make_molrg(
        n_samples=[args.samples_per_cluster] * args.n_clusters, n_features=args.n_features,
        dims=args.dim, noise=args.noise, random_state=args.random_state,
    )
    report = equivalence_report(X, args.n_clusters, args.dim, random_state=args.random_state)
    print(report)
    if args.plot:
        _save_figure(report.plot(), Path(args.plot), args.force)


def add_phase_transition_arguments(parser):
    parser.add_argument("--methods", nargs="+", default=["pca", "kss", "diffusion"],
                        choices=["pca", "kss", "diffusion"])
    parser.add_argument("--dims", nargs=2, type=int, default=[2, 8], metavar=("MIN", "MAX"),
                        help="range of intrinsic dimensions d (inclusive)")
    parser.add_argument("--samples", nargs=2, type=int, default=[1, 16], metavar=("MIN", "MAX"),
                        help="range of samples per component N_k (inclusive)")
    parser.add_argument("--components", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--n-features", type=int, default=48)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--threshold", type=float, default=0.1)
    parser.add_argument("--noise", type=float, default=0.0)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--n-jobs", type=int, default=-1,
                        help="worker processes, each with one thread (default -1: one per "
                        "core); the table does not depend on it")
    _add_output_arguments(parser, "phase_transition.csv", "phase_transition.png")


def phase_transition_main(args):
    """Run the grid, write CSV and heatmaps atomically, print the summary."""
    from subclust.experiments import phase_transition

    csv_path, png_path = _output_paths(args, "phase_transition.csv", "phase_transition.png")
    result = phase_transition(
        methods=args.methods, dims=range(args.dims[0], args.dims[1] + 1),
        samples_per_component=range(args.samples[0], args.samples[1] + 1),
        n_components=args.components, n_features=args.n_features, n_trials=args.trials,
        threshold=args.threshold, noise=args.noise, random_state=args.random_state,
        n_jobs=args.n_jobs, progress=not args.quiet,
    )
    _write_csv(csv_path, result.table, args.force)
    _save_figure(result.plot(), png_path, args.force)
    print(result.summary())
    print(result.acceptance())
    print(f"wrote {csv_path} and {png_path}")


def _output_paths(args, *names):
    """Paths of ``names`` in ``args.output``; refuses an existing one without ``--force``."""
    outdir = Path(args.output)
    paths = [outdir / name for name in names]
    for path in paths:  # refuse before the work, not after
        if path.exists() and not args.force:
            raise FileExistsError(f"{path} exists; pass --force to overwrite it.")
    outdir.mkdir(parents=True, exist_ok=True)
    return paths


def _add_output_arguments(parser, *names):
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                        help="directory for " + ", ".join(names))
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _write_csv(path, table, force):
    table.to_csv(path, force=force)


def _save_figure(figure, path, force):
    save_figure(figure, path, dpi=120, force=force)


# --- memorization ---
def add_memorization_arguments(parser):
    parser.add_argument("--ratios", nargs="+", type=float, default=[1, 2, 5, 10, 20, 50, 100],
                        help="values of N_k / d (samples per component over intrinsic dimension)")
    parser.add_argument("--models", nargs="+", default=["mlp", "empirical", "fresh"],
                        choices=["mlp", "empirical", "fresh"])
    parser.add_argument("--n-features", type=int, default=16)
    parser.add_argument("--n-components", type=int, default=2)
    parser.add_argument("--dim", type=int, default=3)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--generated", type=int, default=500,
                        help="samples generated per model and training set")
    parser.add_argument("--steps", type=int, default=2000, help="training steps of the MLP")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--memorization-ratio", type=float, default=1 / 3,
                        help="memorized: nearest training sample closer than this times the "
                        "median nearest-neighbour gap of the training set")
    parser.add_argument("--subspace-tolerance", type=float, default=0.1,
                        help="on the subspaces: relative residual below this")
    parser.add_argument("--noise", type=float, default=0.0)
    parser.add_argument("--random-state", type=int, default=0)
    _add_output_arguments(parser, "memorization.csv", "memorization_trials.csv",
                          "memorization.png")


def memorization_main(args):
    """Run the sweep, write the tables and the plot atomically, print table and crossing."""
    from subclust.experiments import memorization_sweep

    paths = _output_paths(args, "memorization.csv", "memorization_trials.csv",
                          "memorization.png")
    result = memorization_sweep(
        ratios=args.ratios, models=args.models, n_features=args.n_features,
        n_components=args.n_components, dims=args.dim, n_trials=args.trials,
        n_generated=args.generated, steps=args.steps, hidden=args.hidden, depth=args.depth,
        noise=args.noise, memorization_ratio=args.memorization_ratio,
        subspace_tolerance=args.subspace_tolerance, random_state=args.random_state,
        progress=not args.quiet,
    )
    for path, table in zip(paths, (result.table, result.trials)):
        _write_csv(path, table, args.force)
    _save_figure(result.plot(), paths[2], args.force)
    print(result.table)
    print(result.summary())
    print("wrote " + ", ".join(str(p) for p in paths))
# --- end memorization ---


# --- subspace score ---
def add_subspace_score_arguments(parser):
    _add_output_arguments(parser, "subspace_score.csv", "subspace_score.png")
    parser.add_argument("--small", action="store_true",
                        help="the small configuration of the tests (seconds)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--random-state", type=int, default=0)


def subspace_score_main(args):
    """Train both score networks over N, D and d; write CSV and PNG atomically; print the fits."""
    from subclust.experiments import subspace_score_experiment
    from subclust.experiments.subspace_score import SMALL

    csv_path, png_path = _output_paths(args, "subspace_score.csv", "subspace_score.png")
    result = subspace_score_experiment(**(SMALL if args.small else {}), device=args.device,
                                       random_state=args.random_state, progress=not args.quiet)
    _write_csv(csv_path, result.table, args.force)
    _save_figure(result.plot(), png_path, args.force)
    print(result.means())
    print()
    print(result.slopes())
    print(f"{result.seconds:.0f} s; wrote {csv_path} and {png_path}")
# --- end subspace score ---


# --- minkowski-score ---
def add_minkowski_score_arguments(parser):
    _add_output_arguments(parser, "minkowski_score.csv", "minkowski_score.png")
    parser.add_argument("--small", action="store_true",
                        help="the small configuration of the tests (seconds, not minutes)")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--n-jobs", type=int, default=-1,
                        help="worker processes, each with one thread (default -1: one per "
                        "core); the result does not depend on it")


def minkowski_score_main(args):
    """Run the sweep, write CSV and plot atomically, print W1, dimensions and slopes."""
    from subclust.experiments.minkowski_score import SMALL_CONFIG, minkowski_score

    csv_path, png_path = _output_paths(args, "minkowski_score.csv", "minkowski_score.png")
    result = minkowski_score(**(SMALL_CONFIG if args.small else {}),
                             n_jobs=args.n_jobs, random_state=args.random_state,
                             progress=not args.quiet)
    _write_csv(csv_path, result.raw, args.force)
    _save_figure(result.plot(), png_path, args.force)
    print(result)
    print(f"wrote {csv_path} and {png_path}")
# --- end minkowski-score ---


# --- network transition ---
def add_network_transition_arguments(parser):
    _add_output_arguments(parser, "network_transition.csv", "network_transition.png")
    parser.add_argument("--small", action="store_true",
                        help="the small configuration of the test suite (seconds, not minutes)")
    parser.add_argument("--n-jobs", type=int, default=-1,
                        help="worker processes, each with one thread (default -1: one per "
                        "core); the table does not depend on it")
    parser.add_argument("--random-state", type=int, default=0)


def network_transition_main(args):
    """Train the networks over (d, N_k), write the table and the figure, print the fit."""
    from subclust.experiments import network_transition
    from subclust.experiments.network_transition import SMALL_CONFIG

    csv_path, png_path = _output_paths(args, "network_transition.csv", "network_transition.png")
    result = network_transition(
        **(SMALL_CONFIG if args.small else {}), n_jobs=args.n_jobs,
        random_state=args.random_state, progress=not args.quiet,
    )
    _write_csv(csv_path, result.table, args.force)
    _save_figure(result.plot(), png_path, args.force)
    print(result.table)
    print(result.summary())
    print(f"wrote {csv_path} and {png_path}")
# --- end network transition ---
