"""Arguments and handlers of ``subclust cluster`` and ``subclust predict``.

Kept out of :mod:`subclust.cli` (which only registers them) so that the
command line stays a thin layer over :mod:`subclust.cli.workflow`. Handlers raise
``ValueError`` / ``OSError`` with a one-line message; ``cli.main`` prints it
and exits with code 2.
"""

import argparse
import contextlib
import json
import sys
import warnings

from subclust.io import IMAGE_FEATURES
from subclust.pipeline import DEFAULT_METHOD, METHODS
from subclust.utils.tables import Table


#: Spellings of booleans and None accepted besides JSON's true, false and null.
_WORDS = {"True": True, "False": False, "None": None, "none": None}


#: Estimator parameters that have an option of their own.
_OWN_OPTIONS = {"n_clusters": "--n-clusters", "dims": "--dims", "random_state": "--random-state"}


def _key_value(text):
    """``KEY=VALUE`` with VALUE parsed as JSON when it is (numbers, true, null, lists).

    Python's ``True``, ``False`` and ``None`` are read as such; any other
    VALUE stays a string, checked by the estimator.
    """
    if "=" not in text:
        raise ValueError(f"--param expects KEY=VALUE, got {text!r}.")
    key, value = (part.strip() for part in text.split("=", 1))
    if not key:
        raise ValueError(f"--param expects KEY=VALUE, got {text!r}.")
    if value in _WORDS:
        return key, _WORDS[value]
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _image_shape(text):
    """``HEIGHTxWIDTH`` (e.g. ``32x32``) as a pair of positive ints, for ``--image-shape``."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(part.strip().isdigit() and int(part) > 0 for part in parts):
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 32x32, got {text!r}")
    return tuple(int(part) for part in parts)


def _add_progress_arguments(parser):
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument(
        "--quiet", dest="progress", action="store_false", default=None,
        help="no progress bars (default: shown on stderr when it is a terminal)",
    )
    shown.add_argument(
        "--progress", dest="progress", action="store_true",
        help="show progress bars on stderr even when it is not a terminal",
    )


def _check_n_jobs(n_jobs):
    if n_jobs == 0:
        raise ValueError("--n-jobs must be a positive number of workers, or -1 for every core "
                         "allowed; got 0.")  # fmt: skip


def _add_input_arguments(parser):
    parser.add_argument(
        "--key", default=None, help="array of an .npz, .mat, .pt or .h5 file holding the embeddings"
    )
    parser.add_argument(
        "--n-jobs", type=int, default=None, metavar="N",
        help="workers computing the features of images (default 1; -1: every core allowed)",
    )
    parser.add_argument(
        "--label-column", default=None,
        help="column (text/Parquet) or array (.npz/.mat/.pt/.h5) holding ground-truth labels, for "
        "metrics",
    )
    parser.add_argument(
        "--id-column", default=None,
        help="column (text/Parquet) or array (.npz/.mat/.pt/.h5) naming each sample (file names, "
        "keys): written beside its label in labels.csv",
    )
    parser.add_argument(
        "--labels", default=None, metavar="FILE",
        help="ground-truth labels (.npy, .npz, .mat, .pt, .h5, .csv, .tsv, .txt; one per sample), "
        "for metrics",
    )


def add_cluster_arguments(parser):
    parser.add_argument(
        "input", nargs="?", default=None, metavar="INPUT",
        help="embeddings (.npy, .npz, .csv, .tsv, .txt, .parquet, .mat, .pt, .h5) or a folder of "
        "images (PNG, JPEG, PGM...) (one sub-folder per class gives labels)",
    )
    parser.add_argument(
        "--dataset", default=None, metavar="NAME",
        help="instead of INPUT, a data set of subclust.datasets (e.g. mnist), read from the "
        "data home",
    )
    parser.add_argument(
        "--method", default=DEFAULT_METHOD, choices=list(METHODS),
        help=f"clustering method (default {DEFAULT_METHOD}): "
        + "; ".join(f"{name}: {m.description}" for name, m in METHODS.items()),
    )
    parser.add_argument(
        "--n-clusters", type=int, default=None, metavar="K",
        help="number of clusters (default: the number of classes when labels are given, "
        "else estimated from the affinity's Laplacian spectrum; affinity methods only)",
    )
    parser.add_argument("--dims", type=int, default=None, metavar="d", help="subspace dimension")
    parser.add_argument(
        "-o", "--outdir", required=True, metavar="OUTDIR",
        help="directory for labels.csv, bases.npz, model.npz, summary.png, report.json",
    )
    parser.add_argument(
        "--force", action="store_true",
        help="replace an existing OUTDIR of an earlier run, once the new one is complete",
    )
    parser.add_argument(
        "--save-affinity", action="store_true",
        help="also write the N x N affinity matrix to affinity.npz (sparse when it is); "
        "model.npz never holds it",
    )
    parser.add_argument(
        "--pca", type=int, default=None, metavar="N",
        help="principal components kept before clustering (default: 500 for images, "
        "none for embeddings and face features; 0 for none)",
    )
    parser.add_argument(
        "--pca-center", action="store_true",
        help="centre the data before the projection (for affine subspaces; default: an "
        "uncentred projection, which keeps linear subspaces linear)",
    )
    parser.add_argument(
        "--no-normalize", action="store_true",
        help="do not scale samples to unit norm before clustering",
    )
    parser.add_argument(
        "--features", choices=["auto", *IMAGE_FEATURES], default="auto",
        help="features of images (default 'auto': the scattering transform and the pixels "
        "both, keeping those clustered best by auto's criterion; 'face': embeddings of face "
        "crops by a pretrained face-recognition network, needs subclust[faces])",
    )
    parser.add_argument(
        "--image-shape", type=_image_shape, default=None, metavar="HxW",
        help="height and width of the images: the rows of a file INPUT are images of this "
        "shape (flattened column by column in a .mat file, row by row otherwise), clustered as "
        "images in --features; the images of a folder INPUT are resized to it (without it, "
        "those larger than 64 pixels a side are shrunk to 64)",
    )
    parser.add_argument(
        "--n-samples", type=int, default=None, help="use the first N images of --dataset"
    )
    parser.add_argument("--data-home", default=None, help="data directory for --dataset")
    parser.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE",
        help="further parameter of the estimator, VALUE in JSON (repeatable), e.g. "
        "--param n_init=20",
    )
    parser.add_argument("--random-state", type=int, default=0)
    _add_input_arguments(parser)
    _add_progress_arguments(parser)


def _check_affinity_method(method):
    """--save-affinity needs a method that builds an affinity matrix: check before the fit."""
    from subclust.cluster import AutoSubspaceClustering, BaseSpectralSubspaceClustering
    from subclust.pipeline import get_estimator_class

    # "auto" builds one if its choice does: that is checked after the fit.
    builders = (BaseSpectralSubspaceClustering, AutoSubspaceClustering)
    if not issubclass(get_estimator_class(method), builders):
        raise ValueError(
            f"Method {method!r} builds no affinity matrix; drop --save-affinity or choose a "
            "self-expressive method (ssc, ensc, omp, lsr, tsc)."
        )


@contextlib.contextmanager
def _kept_warnings():
    """Warnings shown as they come, their messages also kept for the report."""
    kept, show = [], warnings.showwarning

    def show_and_keep(message, category, filename, lineno, file=None, line=None):
        kept.append(" ".join(str(message).split()))
        show(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.showwarning = show_and_keep
        yield kept


def cluster_main(args):
    from subclust.utils.progress import Stages
    from subclust.cli.workflow import (
        check_output_dir,
        cluster_inputs,
        load_inputs,
        square_image_side,
        write_cluster_outputs,
    )

    from subclust.pipeline import make_estimator

    _check_n_jobs(args.n_jobs)
    params = dict(_key_value(text) for text in args.param)
    for key, option in _OWN_OPTIONS.items():
        if key in params:
            raise ValueError(f"--param {key}: give it with {option} instead.")
    # Fail before reading the data and the (possibly long) fit: names and values first.
    make_estimator(args.method, **{k: v for k, v in params.items() if k != "normalize"})
    if not isinstance(params.get("normalize", False), bool):
        raise ValueError(f"--param normalize must be true or false, got {params['normalize']!r}.")
    check_output_dir(args.outdir, args.force)
    if args.save_affinity:
        _check_affinity_method(args.method)
    with Stages(["read", "fit", "write"], progress=args.progress, desc="cluster") as stages, \
            _kept_warnings() as warned:
        stages.begin("read")
        inputs = load_inputs(
            args.input, dataset=args.dataset, key=args.key, label_column=args.label_column,
            id_column=args.id_column, labels=args.labels, features=args.features,
            image_shape=args.image_shape, n_samples=args.n_samples, data_home=args.data_home,
            n_jobs=args.n_jobs, progress=args.progress,
        )
        if inputs.source.get("kind") == "embeddings" and "path" in inputs.source:
            side = square_image_side(inputs.X)
            if side is not None:  # a matrix of images, as the benchmark collections ship them
                warnings.warn(
                    f"the rows of {args.input} look like {side}x{side} images ({side * side} "
                    f"grey levels); they are clustered as embeddings: give --image-shape "
                    f"{side}x{side} to cluster them as images", stacklevel=1,
                )  # fmt: skip
        stages.begin("fit")
        result = cluster_inputs(
            inputs, method=args.method, n_clusters=args.n_clusters, dims=args.dims,
            pca="auto" if args.pca is None else args.pca, center=args.pca_center,
            normalize=not args.no_normalize,
            random_state=args.random_state, params=params, progress=args.progress,
        )
        stages.begin("write")
        arguments = {k: v for k, v in vars(args).items() if k != "handler"}
        report = write_cluster_outputs(
            args.outdir, result, force=args.force, command=arguments,
            save_affinity=args.save_affinity, progress=args.progress, warning_messages=warned,
        )
    table = Table(title=f"subclust cluster: {report['estimator']} ({args.method})")
    row = {
        "samples": result.inputs.X.shape[0],
        "features": result.inputs.X.shape[1],
        "clusters": report["n_clusters"],
    }
    if report["n_clusters_estimate"] is not None:
        row["clusters"] = f"{report['n_clusters']} (estimated)"
    if "selected" in report:
        row["selected"] = report["selected"]
    if report["objective"] is not None:
        row["objective"] = report["objective"]
    row.update(report["metrics"] or {})
    row["fit_s"] = report["timings"]["seconds_fit"]
    table.add_row(**row)
    if result.features is not None:
        n_compared = result.features[0]["n_samples"]
        on = "" if n_compared == row["samples"] else f" on {n_compared} of the samples"
        table.notes.append(f"features compared by auto's criterion{on}: " + ", ".join(
            f"{c['features']} {c['criterion']:.4f}{' (kept)' if c['selected'] else ''}"
            for c in result.features))
    table.notes.append(f"results in {args.outdir}: " + ", ".join(report["outputs"]))
    print(table)


def add_predict_arguments(parser):
    parser.add_argument(
        "model", metavar="MODEL", help="model.npz written by `subclust cluster`, or its OUTDIR"
    )
    parser.add_argument(
        "input", metavar="INPUT", help="embedding file or image folder, like the training input"
    )
    parser.add_argument(
        "-o", "--output", default=None, metavar="FILE",
        help="write the labels here as CSV, to a .csv or .txt file (default: print them)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    _add_input_arguments(parser)
    _add_progress_arguments(parser)


def predict_main(args):
    from pathlib import Path

    from subclust.utils.progress import Stages
    from subclust.io import write_text
    from subclust.cli.workflow import labels_csv, predict_inputs

    _check_n_jobs(args.n_jobs)
    if args.output is not None and Path(args.output).suffix.lower() not in ("", ".csv", ".txt"):
        raise ValueError(f"-o {args.output}: the labels are written as CSV text; name the file "
                         ".csv (or .txt).")
    if args.output is not None and Path(args.output).exists() and not args.force:
        raise FileExistsError(f"{args.output} exists; pass --force to overwrite it.")
    with Stages(["read and predict"], progress=args.progress, desc="predict") as stages:
        stages.begin("read and predict")
        labels, inputs, metrics = predict_inputs(
            args.model, args.input, key=args.key, label_column=args.label_column,
            id_column=args.id_column, labels=args.labels, n_jobs=args.n_jobs,
            progress=args.progress,
        )
    text = labels_csv(labels, inputs)
    summary = "" if metrics is None else ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
    if args.output is None:
        sys.stdout.write(text)
        if summary:
            print(summary, file=sys.stderr)
    else:
        write_text(args.output, text, force=args.force)
        note = f"; {summary}" if summary else ""
        print(f"{len(labels)} labels written to {args.output}{note}")
