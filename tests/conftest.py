"""Fixtures shared by the test modules."""

import os

import pytest

from subclust.datasets import make_molrg


@pytest.fixture(scope="session")
def data_home():
    """The benchmark data's home, ``SUBCLUST_DATA``; tests that need it are skipped without it."""
    home = os.environ.get("SUBCLUST_DATA")
    if not home:
        pytest.skip("SUBCLUST_DATA is not set: no benchmark data")
    return home


@pytest.fixture
def draw_molrg():
    """Draw ``(X, y, bases)``: ``k`` subspaces of dimension ``dim``, ``n_per`` samples each."""

    def draw(n_per=30, n_features=20, dim=3, k=3, noise=0.0, seed=0):
        return make_molrg(
            n_samples=[n_per] * k, n_features=n_features, dims=dim, noise=noise, random_state=seed
        )

    return draw


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module's tiny tensors: more threads only contend.

    A module takes it with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    pytest.importorskip("torch")
    from subclust.utils.parallel import torch_threads

    with torch_threads(1):
        yield
