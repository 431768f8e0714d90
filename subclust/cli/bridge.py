"""The ``subclust bridge-mnist`` command: the MNIST story of the experiments layer."""

from dataclasses import replace
from pathlib import Path

from subclust.io import save_figure, write_text

#: Files the command writes into the output directory (the model only when it trains one).
OUTPUTS = (
    "summary.txt", "rank_profile.csv", "attributes.csv", "rank_profile.png",
    "angle_heatmap.png", "attribute_correlations.png", "edit_strips.png", "basis_images.png",
)
MODEL_FILE = "unet_mnist.npz"


def add_bridge_mnist_arguments(parser):
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                        help="directory for the tables, figures and the trained model")
    parser.add_argument("--small", action="store_true",
                        help="the small configuration of the tests (about a minute)")
    parser.add_argument("--model", metavar="NPZ",
                        help="use this saved denoiser (e.g. OUTDIR/unet_mnist.npz) instead of "
                        "training")
    parser.add_argument("--steps", type=int, help="training steps (default 2000; --small 40)")
    parser.add_argument("--t", type=float, help="time of the Jacobians and edits (default 0.3)")
    parser.add_argument("--n-compare", type=int, help="digits compared with the class bases")
    parser.add_argument("--n-attribute", type=int, help="digits edited for the attributes")
    parser.add_argument("--threads", type=int, help="torch threads (default 1)")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--data-home", help="data directory (default: $SUBCLUST_DATA)")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _config(args):
    from subclust.experiments.mnist_story import StoryConfig

    config = StoryConfig.small() if args.small else StoryConfig()
    changes = {"random_state": args.random_state}
    for name, value in (("steps", args.steps), ("t", args.t), ("n_compare", args.n_compare),
                        ("n_attribute", args.n_attribute), ("n_threads", args.threads)):
        if value is not None:
            changes[name] = value
    for name in ("steps", "n_compare", "n_attribute", "n_threads"):
        if name in changes and changes[name] < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be a positive integer.")
    if "t" in changes and not 0 < changes["t"] <= 1:
        raise ValueError("--t must lie in (0, 1] (a time of the VP schedule).")
    return replace(config, **changes)


def bridge_mnist_main(args):
    """Train (or load) the U-Net, run the story, write tables and figures atomically."""
    import numpy as np

    from subclust.experiments.mnist_story import (
        add_noise,
        plot_basis_images,
        plot_edit_strips,
        run_mnist_story,
        to_model_space,
    )
    from subclust.bridge.jacobian import jacobian_basis
    from subclust.datasets import load_mnist

    config = _config(args)
    outdir = Path(args.output)
    targets = [outdir / name for name in OUTPUTS]
    model_out = None if args.model else outdir / MODEL_FILE
    if model_out is not None:
        targets.append(model_out)
    for path in targets:  # refuse before the training, not after
        if path.exists() and not args.force:
            raise FileExistsError(f"{path} exists; pass --force to overwrite it.")
    if args.model and not Path(args.model).is_file():
        raise FileNotFoundError(f"No saved denoiser at {args.model}.")
    outdir.mkdir(parents=True, exist_ok=True)
    story = run_mnist_story(config, data_home=args.data_home, model_path=args.model,
                            save_model_path=model_out, force=args.force,
                            progress=not args.quiet)

    def text(path, content):
        write_text(path, content, force=args.force)

    def figure(path, fig):
        save_figure(fig, path, force=args.force)

    text(outdir / "summary.txt", str(story) + "\n")
    text(outdir / "rank_profile.csv", story.profile.table().to_csv())
    text(outdir / "attributes.csv", story.correspondence.table().to_csv())
    figure(outdir / "rank_profile.png", story.profile.plot())
    figure(outdir / "angle_heatmap.png", story.comparison.plot())
    figure(outdir / "attribute_correlations.png", story.correspondence.plot())
    digits = load_mnist(data_home=args.data_home)
    examples = [int(np.flatnonzero(digits.target == c)[0]) for c in (1, 3, 7)]
    net = story.denoiser
    figure(outdir / "edit_strips.png", plot_edit_strips(
        net, digits.data[examples], config.t, rank=config.edit_rank,
        amplitude=config.strip_amplitude, steps=config.strip_steps,
        random_state=config.random_state))
    x_t = add_noise(net, to_model_space(digits.data[examples[:1]]), config.t,
                    random_state=config.random_state)
    jb = jacobian_basis(net, x_t[0], config.t, rank=10, method="randomized",
                        random_state=config.random_state)
    figure(outdir / "basis_images.png", plot_basis_images(
        jb.right_vectors, [f"sv{k + 1} ({s:.2f})" for k, s in enumerate(jb.singular_values)]))
    print(story.summary())
    print(f"wrote {len(targets)} files to {outdir}")
