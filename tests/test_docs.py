"""The Python examples of the README and the guide run as written.

Each file's examples run in order in one namespace, as a reader would run
them; the examples that act on the reader's data ``X`` find ten subspaces'
samples there. An example preceded by ``<!-- not run: why -->`` is left out
(it needs the reader's own file or a cluster).
"""

import re
from pathlib import Path

import pytest

from subclust.datasets import make_molrg

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = re.compile(r"(<!-- not run: [^>]*-->\n)?```python\n(.*?)```", re.S)


def examples(name):
    return [code for skipped, code in EXAMPLE.findall((ROOT / name).read_text()) if not skipped]


@pytest.mark.parametrize("name", ["README.md", "docs/guide.md"])
def test_python_examples_run(name, data_home, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setenv("SUBCLUST_DATA", str(Path(data_home).resolve()))  # CI's is relative
    monkeypatch.chdir(tmp_path)  # whatever an example writes lands here
    X, _, _ = make_molrg(n_samples=[40] * 10, n_features=48, dims=6, noise=0.01, random_state=0)
    namespace = {"X": X}
    for code in examples(name):
        exec(compile(code, name, "exec"), namespace)


def test_examples_are_found_and_markers_leave_out_only_their_own():
    assert len(examples("README.md")) == 2
    text = (ROOT / "docs/guide.md").read_text()
    assert len(examples("docs/guide.md")) == text.count("```python") - text.count("<!-- not run")
