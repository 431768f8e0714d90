"""The K-subspaces benchmark, and the rule that benchmarks use the public API only."""

import ast
from pathlib import Path

import pytest

import subclust.bench
from subclust.bench.kss import iteration_table, recovery_table, wide_table

BENCH_DIR = Path(subclust.bench.__file__).parent


def test_iteration_table_times_the_gemm_and_the_iterations():
    table = iteration_table(n_samples=600, n_features=12, n_clusters=3, dim=2, repeats=1)
    assert [row["operation"] for row in table.rows][:2] == [
        "GEMM X @ [U_1 ... U_K]", "first iteration (all scatters)"
    ]
    assert table.rows[2]["operation"].startswith("mean iteration of a run (")
    assert table.rows[0]["ratio_to_gemm"] == 1.0
    assert all(row["ratio_to_gemm"] == row["seconds"] / table.rows[0]["seconds"]
               for row in table.rows)


def test_recovery_table_nn_initialization_recovers_at_twice_the_dimension():
    # Noiseless MoLRG with N_k = 2d: the nearest-neighbour seeds find every subspace.
    table = recovery_table(n_seeds=3, n_features=20, n_clusters=2, dim=3)
    rows = {(row["init"], row["n_init"]): row for row in table.rows}
    assert set(rows) == {("nn", 1), ("nn", 10), ("random", 1), ("random", 10)}
    assert rows["nn", 10]["recovered"] == 1.0
    assert rows["nn", 10]["median_error"] < 1e-6


def test_wide_table_times_both_fits_and_finds_the_same_labels():
    table = wide_table(n_samples=60, n_features=80, n_clusters=3, dim=2, repeats=1)
    assert [row["data"] for row in table.rows] == [
        "memmap (scatter matrices)", "in memory (cluster samples)"
    ]
    assert table.rows[1]["ratio_to_memmap"] == table.rows[1]["seconds"] / table.rows[0]["seconds"]
    assert table.notes[-1].endswith("the same labels")


def _private_imports(path):
    """``from subclust.x._y import ...`` and ``from subclust.x import _y`` in a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("subclust."):
            parts = node.module.split(".")
            if parts[1] == "bench":
                continue
            if any(part.startswith("_") for part in parts) or any(
                alias.name.startswith("_") for alias in node.names
            ):
                found.append(f"{path.name}: from {node.module} import "
                             + ", ".join(alias.name for alias in node.names))
    return found


@pytest.mark.parametrize("path", sorted(BENCH_DIR.glob("*.py")), ids=lambda p: p.name)
def test_benchmarks_import_no_private_name_of_another_layer(path):
    assert _private_imports(path) == []
