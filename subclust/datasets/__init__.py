"""Data: synthetic mixtures of low-rank Gaussians and benchmark loaders."""

from subclust.datasets._molrg import make_molrg, random_bases

__all__ = ["make_molrg", "random_bases"]
