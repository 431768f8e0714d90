"""notebooks/generation.ipynb: stored without outputs, and runs end to end (small configuration)."""

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("torch")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "generation.ipynb"


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                "notebooks/generation.ipynb must be stored without outputs: "
                "clear them (jupyter nbconvert --clear-output --inplace)."
            )


def test_notebook_runs_in_a_small_configuration(tmp_path, monkeypatch):
    home = os.environ.get("SUBCLUST_DATA")
    if not home or not (Path(home) / "yaleb" / "ExtendedYaleB_48x42.mat").exists():
        pytest.skip("SUBCLUST_DATA with Yale B and MNIST is needed to run the notebook")
    monkeypatch.setenv("SUBCLUST_DATA", str(Path(home).resolve()))
    monkeypatch.setenv("SUBCLUST_NOTEBOOK_SMALL", "1")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    images = [
        output for cell in nb.cells if cell.cell_type == "code"
        for output in cell.outputs if "image/png" in output.get("data", {})
    ]
    assert len(images) == 4  # comparison, faces, digits, rate
    text = "".join(
        output.get("text", "") for cell in nb.cells if cell.cell_type == "code"
        for output in cell.outputs
    )
    assert "share of generated closer to a training image" in text
