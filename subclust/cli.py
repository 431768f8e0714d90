"""The ``subclust`` command line: thin wrappers over importable functions.

Every subcommand parses its arguments, calls library code and prints a table;
bad input ends with a one-line message and a non-zero exit code.
"""

import argparse
import importlib
import sys

from subclust import __version__

#: Benchmarks: ``subclust bench NAME`` runs ``main(args)`` of the module
#: ``subclust.bench.<NAME with - as _>`` after its ``add_arguments(parser)``.
BENCHMARKS = {
    "kss": "K-subspaces iteration time against one GEMM of the same size",
    "kss-scale": "K-subspaces on 1M points: in memory, memory-mapped, on Dask",
    "diffusion-steps": "DDPM error against the number of steps for n = 16 ... 1024 (exact MoLRG denoiser)",
    "diffusion-train": "training rate of a 50k-parameter MLP denoiser at batch 256 on this CPU",
}


class CLIError(Exception):
    """An error whose message is shown to the user without a traceback."""


def _demo(args):
    from subclust.demo import run_demo

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

    bench = commands.add_parser("bench", help="run a benchmark and print its table")
    benches = bench.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for name, help_text in BENCHMARKS.items():
        sub = benches.add_parser(name, help=help_text)
        _bench_module(name).add_arguments(sub)
        sub.set_defaults(handler=_bench)
    return parser


def main(argv=None):
    """Entry point of the ``subclust`` console script."""
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except (CLIError, ValueError, FileNotFoundError) as error:
        print(f"subclust {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
