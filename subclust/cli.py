"""The ``subclust`` command line: thin wrappers over importable functions.

Every subcommand parses its arguments, calls library code and prints a table;
bad input ends with a one-line message and a non-zero exit code.
"""

import argparse
import importlib
import sys

from subclust import __version__

#: Benchmarks: ``subclust bench NAME`` runs ``subclust.bench.NAME.main(args)``
#: after ``subclust.bench.NAME.add_arguments(parser)``.
BENCHMARKS = {
    "kss": "K-subspaces iteration time against one GEMM of the same size",
}


class CLIError(Exception):
    """An error whose message is shown to the user without a traceback."""


def _demo(args):
    from subclust.demo import run_demo

    print(run_demo(random_state=args.random_state))


def _bench(args):
    module = importlib.import_module(f"subclust.bench.{args.benchmark}")
    module.main(args)


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

    bench = commands.add_parser("bench", help="run a benchmark and print its table")
    benches = bench.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for name, help_text in BENCHMARKS.items():
        sub = benches.add_parser(name, help=help_text)
        importlib.import_module(f"subclust.bench.{name}").add_arguments(sub)
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
