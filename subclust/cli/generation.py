"""The ``generate``, ``compare-denoisers`` and ``wasserstein-rate`` commands of ``subclust``.

Denoisers built from a fitted clustering: image grids from Yale B
and MNIST, the comparison with SGD training, and Wu & Cai's W1 rate.
"""

from pathlib import Path

from subclust.io import save_figure


def _refuse_existing(paths, force):
    for path in paths:  # refuse before minutes of work, not after
        if path.exists() and not force:
            raise FileExistsError(f"{path} exists; pass --force to overwrite it.")


def add_generate_arguments(parser):
    parser.add_argument("--dataset", choices=["mnist", "yaleb"], default="mnist")
    parser.add_argument("--clusterer", default=None,
                        choices=["kss", "ssc", "lsr", "tsc", "diffusion", "labels"],
                        help="default: kss for mnist, lsr for yaleb; 'labels' uses the true "
                        "classes")
    parser.add_argument("--n-clusters", type=int, default=None,
                        help="default: the number of classes")
    parser.add_argument("--dims", type=int, default=None,
                        help="subspace dimension of every cluster (default: from --energy)")
    parser.add_argument("--energy", type=float, default=0.95,
                        help="per-cluster dimension: smallest rank holding this share of the norm")
    parser.add_argument("--n-samples", type=int, default=None,
                        help="mnist: images drawn from the 10,000 of the test set (default all)")
    parser.add_argument("--subjects", type=int, default=None,
                        help="yaleb: the first SUBJECTS subjects (default all 38)")
    parser.add_argument("--n-generate", type=int, default=64)
    parser.add_argument("--per-class", type=int, default=8)
    parser.add_argument("--n-conditional", type=int, default=10,
                        help="clusters shown in the class-conditional grid")
    parser.add_argument("--steps", type=int, default=50, help="DDIM steps")
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                        help="directory for generation_DATASET.png and generation_DATASET.csv")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")


def generate_main(args):
    """Cluster the images, build the denoiser, generate; save the grid, print the table."""
    from subclust.experiments.generation import generate_images

    outdir = Path(args.output)
    png = outdir / f"generation_{args.dataset}.png"
    csv = outdir / f"generation_{args.dataset}.csv"
    _refuse_existing([png, csv], args.force)
    outdir.mkdir(parents=True, exist_ok=True)
    clusterer = args.clusterer or ("lsr" if args.dataset == "yaleb" else "kss")
    result = generate_images(
        args.dataset, clusterer=clusterer, n_clusters=args.n_clusters, dims=args.dims,
        energy=args.energy, n_samples=args.n_samples, subjects=args.subjects,
        n_generate=args.n_generate, per_class=args.per_class, n_conditional=args.n_conditional,
        sampler_steps=args.steps, data_home=args.data_home, random_state=args.random_state,
    )
    table = result.table()
    table.to_csv(csv, force=args.force)
    save_figure(result.plot(), png, force=args.force)
    print(table)
    print(f"wrote {png} and {csv}")


def add_compare_arguments(parser):
    parser.add_argument("--data", choices=["molrg", "mnist", "yaleb"], default="molrg")
    parser.add_argument("--methods", nargs="+", default=None,
                        choices=["clustering", "clustering-affine", "sgd", "mlp"],
                        help="default: clustering sgd mlp (molrg); all four on images")
    parser.add_argument("--n-features", type=int, default=48, help="molrg")
    parser.add_argument("--n-clusters", type=int, default=3,
                        help="molrg; the number of classes on images")
    parser.add_argument("--dim", type=int, default=6, help="subspace dimension")
    parser.add_argument("--samples-per-cluster", type=int, default=60, help="molrg")
    parser.add_argument("--noise", type=float, default=0.0, help="molrg")
    parser.add_argument("--n-samples", type=int, default=3000,
                        help="mnist: images used (80%% train, 20%% held out)")
    parser.add_argument("--subjects", type=int, default=10, help="yaleb: first SUBJECTS subjects")
    parser.add_argument("--clustering-noise", default="estimate", type=_noise_arg,
                        help="images: off-subspace noise of the clustering-built denoisers, "
                        "a number or 'estimate' (default)")
    parser.add_argument("--mlp-steps", type=int, default=3000)
    parser.add_argument("--mlp-hidden", type=int, default=256)
    parser.add_argument("--n-generate", type=int, default=500)
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--plot", metavar="PNG", help="also save the figure to this file")
    parser.add_argument("--force", action="store_true", help="overwrite the figure if it exists")


def _noise_arg(value):
    return value if value == "estimate" else float(value)


def compare_main(args):
    """Clustering-built denoisers against SGD-trained ones; print both tables."""
    from subclust.experiments.generation import compare_denoisers, molrg_comparison

    if args.plot:
        _refuse_existing([Path(args.plot)], args.force)
    mlp = {"steps": args.mlp_steps, "hidden": args.mlp_hidden}
    if args.data == "molrg":
        result = molrg_comparison(
            n_features=args.n_features, n_clusters=args.n_clusters, dims=args.dim,
            samples_per_cluster=args.samples_per_cluster, noise=args.noise,
            methods=args.methods or ["clustering", "sgd", "mlp"], mlp_params=mlp,
            n_generate=args.n_generate, random_state=args.random_state,
        )
    else:
        X_train, X_test, n_clusters = _real_split(args)
        result = compare_denoisers(
            X_train, X_test, n_clusters, args.dim, clusterer=_pca_kss(n_clusters, args),
            clustering_noise=args.clustering_noise,
            methods=args.methods or ["clustering", "clustering-affine", "sgd", "mlp"],
            mlp_params=mlp, n_generate=min(args.n_generate, len(X_test)),
            random_state=args.random_state,
            description=f"{args.data}, {len(X_train)} training / {len(X_test)} held-out images, "
            f"d={args.dim}, clustering noise {args.clustering_noise}",
        )
    print(result)
    if args.plot:
        save_figure(result.plot(), Path(args.plot), force=args.force)


def _pca_kss(n_clusters, args):
    """K-subspaces on 50 principal components: on raw pixels its n x n scatter updates are slow.

    The denoiser is still built on the pixels, from the labels (``predict``).
    """
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline

    from subclust.cluster import KSubspaces

    return make_pipeline(
        PCA(50, random_state=args.random_state),
        KSubspaces(n_clusters, dims=args.dim, n_init=3, random_state=args.random_state),
    )


def _real_split(args):
    from sklearn.model_selection import train_test_split

    from subclust.experiments.generation import load_images

    X, y, _ = load_images(args.data, args.n_samples, args.subjects, args.data_home,
                           args.random_state)
    X_train, X_test = train_test_split(X, test_size=0.2, stratify=y,
                                       random_state=args.random_state)
    return X_train, X_test, len(set(y.tolist()))


def add_rate_arguments(parser):
    parser.add_argument("--laws", nargs="+", default=["uniform", "discrete", "laplace"],
                        choices=["gaussian", "uniform", "discrete", "laplace"])
    parser.add_argument("--n-features", nargs="+", type=int, default=[8, 32, 128])
    parser.add_argument("--sample-sizes", nargs="+", type=int,
                        default=[100, 200, 400, 800, 1600])
    parser.add_argument("--dim", type=int, default=3, help="dimension k of every subspace")
    parser.add_argument("--n-components", type=int, default=2)
    parser.add_argument("--methods", nargs="+",
                        default=["clustering-kde", "clustering", "sgd", "training-set"],
                        choices=["clustering-kde", "clustering", "sgd", "training-set"])
    parser.add_argument("--trials", type=int, default=1)
    parser.add_argument("--steps", type=int, default=50, help="DDIM steps")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--csv", metavar="CSV", help="also write the raw W1 values")
    parser.add_argument("--plot", metavar="PNG", help="also save the figure to this file")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def rate_main(args):
    """Run the W1 rate experiment; print the raw table and the slopes."""
    from subclust.experiments.wasserstein_rate import wasserstein_rate

    _refuse_existing([Path(p) for p in (args.csv, args.plot) if p], args.force)
    result = wasserstein_rate(
        laws=args.laws, n_features=args.n_features, sample_sizes=args.sample_sizes,
        n_components=args.n_components, dims=args.dim, methods=args.methods,
        n_trials=args.trials, sampler_steps=args.steps, random_state=args.random_state,
        progress=not args.quiet,
    )
    print(result)
    if args.csv:
        result.raw.to_csv(Path(args.csv), force=args.force)
    if args.plot:
        save_figure(result.plot(), Path(args.plot), force=args.force)
