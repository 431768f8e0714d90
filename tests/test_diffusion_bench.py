"""The diffusion layer's optional dependency and its benchmarks (tiny configurations)."""

import subprocess
import sys

import pytest

# An import hook that makes torch look uninstalled (sys.modules["torch"] = None would break
# scipy's and scikit-learn's array-API probes, which look torch up in sys.modules).
BLOCK_TORCH = (
    "import sys, importlib.abc\n"
    "class NoTorch(importlib.abc.MetaPathFinder):\n"
    "    def find_spec(self, name, path, target=None):\n"
    "        if name.split('.')[0] == 'torch':\n"
    "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
    "sys.meta_path.insert(0, NoTorch())\n"
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _python(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_subclust_imports_without_torch_and_diffusion_names_the_extra():
    result = _python(
        BLOCK_TORCH + "import subclust, subclust.bench.diffusion_steps, "
        "subclust.bench.diffusion_train; print('ok')"
    )
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout
    result = _python(BLOCK_TORCH + "import subclust.diffusion")
    assert result.returncode != 0
    assert "ImportError" in result.stderr and "subclust[diffusion]" in result.stderr


def test_benchmarks_are_registered():
    from subclust.cli import BENCHMARKS, build_parser

    assert {"diffusion-steps", "diffusion-train"} <= set(BENCHMARKS)
    args = build_parser().parse_args(["bench", "diffusion-steps", "--n-features", "16", "32"])
    assert args.n_features == [16, 32]


def test_steps_benchmark_tables():
    pytest.importorskip("torch")
    from subclust.bench.diffusion_steps import steps_tables

    errors, summary = steps_tables(n_features=(16, 32), steps=(5, 50), n_samples=500)
    assert errors.column("steps") == ["5", "50", "exact"]
    assert set(errors.columns) == {"steps", "n=16", "n=32"}
    for column in ("n=16", "n=32"):
        five, fifty, exact = errors.column(column)
        assert five > fifty > exact  # more steps, smaller error, down to the Monte Carlo floor
    assert summary.column("n") == [16, 32]


def test_train_benchmark_table():
    pytest.importorskip("torch")
    from subclust.bench.diffusion_train import train_table

    table = train_table(steps=5, batch_size=32)
    assert table.column("parameters")[0] == 49_584
    assert all(rate > 0 for rate in table.column("samples_per_s"))


def test_steps_benchmark_sweeps_the_number_of_components():
    pytest.importorskip("torch")
    from subclust.bench.diffusion_steps import steps_tables
    from subclust.cli import build_parser

    errors, summary = steps_tables(n_features=(16,), steps=(5, 50), n_samples=400,
                                   n_components=(2, 4))
    assert errors.columns == ["steps", "K=2, n=16", "K=4, n=16"]
    for column in ("K=2, n=16", "K=4, n=16"):
        five, fifty, exact = errors.column(column)
        assert five > fifty > exact
    assert summary.column("K") == [2, 4] and summary.column("n") == [16, 16]
    exact_row = errors.rows[-1]
    assert summary.column("exact_error") == [exact_row["K=2, n=16"], exact_row["K=4, n=16"]]
    # One K keeps the original columns.
    single, _ = steps_tables(n_features=(16,), steps=(5,), n_samples=100, n_components=2)
    assert single.columns == ["steps", "n=16"]
    args = build_parser().parse_args(["bench", "diffusion-steps", "--components", "2", "8", "32"])
    assert args.components == [2, 8, 32]
    with pytest.raises(ValueError, match="n_components must be positive"):
        steps_tables(n_features=(16,), steps=(5,), n_components=[0])
