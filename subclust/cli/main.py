"""The ``subclust`` command line: thin wrappers over importable functions.

Every subcommand parses its arguments, calls library code and prints a table;
bad input ends with a one-line message and a non-zero exit code, and a
warning is one line too. Ctrl-C ends a command with one line and exit code
130; ``cluster`` and ``predict`` stop at once, even inside a long NumPy call,
and leave no partial or temporary output behind.
"""

import argparse
import importlib
import os
import sys
import threading
import warnings

from subclust import __version__

#: Benchmarks: ``subclust bench NAME`` runs ``main(args)`` of the module
#: ``subclust.bench.<NAME with - as _>`` after its ``add_arguments(parser)``.
BENCHMARKS = {
    "kss": "K-subspaces iteration time against one GEMM of the same size",
    "kss-scale": "K-subspaces on 1M points: in memory, memory-mapped, on Dask",
    "ssc-scale": "sparse SSC (OMP, elastic net) on 100k points: time, peak RSS, accuracy",
    "ssc": "SSC / EnSC / OMP / LSR / TSC with defaults on Yale B, COIL-20, MNIST; ADMM vs cvxpy",
    "lrr-ekss": "LRR and EKSS on Extended Yale B, following each paper's protocol",
    "n-clusters": "K estimated with n_clusters=None on labelled sets; dimensions on a MoLRG",
    "diffusion-steps": (
        "DDPM error against the number of steps for n = 16 ... 1024 (exact MoLRG denoiser)"
    ),
    "diffusion-train": "training rate of a 50k-parameter MLP denoiser at batch 256 on this CPU",
    "reproduce": "each method with its paper's preset on its paper's protocol: paper vs ours",
    "threads": "everyday jobs idle and beside a process busy with BLAS: loaded/idle time ratios",
    "auto": "method 'auto' against the best of its candidates, k-means and spectral clustering",
    "features": "features of images kept by auto: scattering or pixels, on real image sets",
    "motion": "auto, SSC and k-means on motion scenes (affine, pinhole camera): mean error",
}


#: Commands: name -> (module of ``subclust.cli``, prefix, help). The module
#: defines ``add_<prefix>_arguments(parser)`` and ``<prefix>_main(args)``.
COMMANDS = {
    "cluster": (
        "cluster", "cluster", "cluster embeddings, a folder of images or a data set; write "
        "labels, bases, model, report and summary figure",
    ),
    "predict": ("cluster", "predict", "labels of new samples under a saved model"),
    "equivalence": (
        "experiments", "equivalence",
        "K-subspaces against the trained diffusion denoiser on one MoLRG draw",
    ),
    "phase-transition": (
        "experiments", "phase_transition",
        "success rate of subspace recovery over (d, N_k); CSV and PNG",
    ),
    "memorization": (
        "experiments", "memorization", "share of generated samples that are new vs copies of "
        "training points, against N_k / d; CSV and PNG",
    ),
    "subspace-score": (
        "experiments", "subspace_score", "score network on a learned subspace vs a generic "
        "MLP: score, subspace and W1 errors against N, D and d (Chen et al. 2023); CSV and PNG",
    ),
    "minkowski-score": (
        "experiments", "minkowski_score", "W1 of a trained diffusion model against N on sets "
        "of known Minkowski dimension (segments, atoms, fractals) in R^D; CSV and PNG",
    ),
    "network-transition": (
        "experiments", "network_transition", "generalization score of trained MLP denoisers "
        "over (d, N_k) on MoLRG; where it crosses 1/2 against d; CSV and PNG",
    ),
    "generate": (
        "generation", "generate", "generate Yale B faces or MNIST digits from a denoiser built "
        "by clustering; image grid PNG and CSV",
    ),
    "compare-denoisers": (
        "generation", "compare", "denoisers built from a clustering vs trained by SGD "
        "(low-rank mixture, MLP): held-out loss, time, samples",
    ),
    "wasserstein-rate": (
        "generation", "rate", "W1 of generated samples against N on unions of subspaces with "
        "non-Gaussian latents (Wu & Cai's rate)",
    ),
    "bridge-mnist": (
        "bridge", "bridge_mnist", "U-Net denoiser on MNIST: Jacobian rank against noise, "
        "Jacobian bases against class bases, attribute edits; tables and figures",
    ),
}

#: Commands that write results and must stop at once on Ctrl-C, leaving nothing behind.
_INTERRUPTIBLE = ("cluster", "predict")


class CLIError(Exception):
    """An error whose message is shown to the user without a traceback."""


def _demo(args):
    from subclust.cli.demo import run_demo

    print(run_demo(random_state=args.random_state))


def _datasets(args):
    from subclust.datasets import get_data_home, list_datasets, verify_datasets

    if args.action == "path":
        print(get_data_home(args.data_home))
    elif args.action == "list":
        print(list_datasets())
    else:
        table = verify_datasets(args.data_home)
        print(table)
        bad = [row["file"] for row in table.rows if row["status"] != "ok"]
        if bad:
            raise CLIError(f"{len(bad)} of {len(table.rows)} data files are missing or corrupted.")


def _bench_module(name):
    return importlib.import_module(f"subclust.bench.{name.replace('-', '_')}")


def _bench(args):
    _bench_module(args.benchmark).main(args)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="subclust",
        description="Subspace clustering and the diffusion models that learn it.",
    )
    parser.add_argument("--version", action="version", version=f"subclust {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="cluster a synthetic mixture of low-rank Gaussians and report recovery"
    )
    demo.add_argument("--random-state", type=int, default=0)
    demo.set_defaults(handler=_demo)

    datasets = commands.add_parser(
        "datasets", help="list the benchmark data files, verify them, or show the data home"
    )
    datasets.add_argument("action", choices=["list", "verify", "path"])
    datasets.add_argument(
        "--data-home",
        default=None,
        help="data directory (default: $SUBCLUST_DATA, else ~/subclust_data)",
    )
    datasets.set_defaults(handler=_datasets)

    for name, (module_name, prefix, help_text) in COMMANDS.items():
        module = importlib.import_module(f"subclust.cli.{module_name}")
        command = commands.add_parser(name, help=help_text)
        getattr(module, f"add_{prefix}_arguments")(command)
        command.set_defaults(handler=getattr(module, f"{prefix}_main"),
                             in_worker=name in _INTERRUPTIBLE)

    bench = commands.add_parser("bench", help="run a benchmark and print its table")
    benches = bench.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for name, help_text in BENCHMARKS.items():
        sub = benches.add_parser(name, help=help_text)
        _bench_module(name).add_arguments(sub)
        sub.set_defaults(handler=_bench)
    return parser


#: Exit code after Ctrl-C: 128 + SIGINT, as shells report it.
EXIT_INTERRUPTED = 130


def _interrupted(command):
    after_bar = "\n" if sys.stderr.isatty() else ""  # don't append to a progress bar
    sys.stdout.flush()
    sys.stderr.write(f"{after_bar}subclust {command}: interrupted (Ctrl-C).\n")
    sys.stderr.flush()


def _run_interruptibly(handler, args):
    """Run ``handler(args)`` in a worker thread; on Ctrl-C, clean up and exit at once.

    A long NumPy/LAPACK call holds the main thread for seconds, during which
    Python cannot raise ``KeyboardInterrupt``; a main thread that only waits
    reacts within a fraction of a second. It then undoes the atomic writes in
    progress (:func:`subclust.io.discard_temporaries`) and ends the process
    without unwinding the worker.
    """
    if threading.current_thread() is not threading.main_thread():
        return handler(args)  # signals reach the main thread only: nothing to gain
    outcome = {}

    def work():
        try:
            handler(args)
        except BaseException as error:  # re-raised in the main thread
            outcome["error"] = error

    worker = threading.Thread(target=work, name=f"subclust {args.command}", daemon=True)
    try:
        worker.start()
        while worker.is_alive():
            worker.join(0.05)
    except KeyboardInterrupt:
        from subclust.io import discard_temporaries

        discard_temporaries()
        _interrupted(args.command)
        os._exit(EXIT_INTERRUPTED)
    if "error" in outcome:
        raise outcome["error"]


def _warning_line(command):
    """Show a warning as errors are shown: one line naming the command, no source line."""

    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        print(f"subclust {command}: warning: {text}", file=file or sys.stderr)

    return show


def main(argv=None):
    """Entry point of the ``subclust`` console script."""
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_line(args.command)
            if getattr(args, "in_worker", False):
                _run_interruptibly(args.handler, args)
            else:
                args.handler(args)
    except KeyboardInterrupt:
        _interrupted(args.command)
        return EXIT_INTERRUPTED
    except (CLIError, ValueError, OSError, ImportError) as error:
        # One line, whatever the message: file names and values, never a traceback.
        message = " ".join(str(error).split())
        print(f"subclust {args.command}: error: {message}", file=sys.stderr)
        return 2
    return 0

