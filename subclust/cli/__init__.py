"""The ``subclust`` command line: thin wrappers over importable functions.

:func:`main` is the console script. Each group of subcommands has a module
here (``cluster``: the everyday job, ``experiments``, ``generation``,
``bridge``), the cluster/predict workflow its own (``workflow``: inputs,
outputs, reports) beside the summary figure and the demo.
"""

from subclust.cli.main import BENCHMARKS, CLIError, build_parser, main

__all__ = ["BENCHMARKS", "CLIError", "build_parser", "main"]
