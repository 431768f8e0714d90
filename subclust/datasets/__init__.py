"""Data: synthetic mixtures of low-rank Gaussians and benchmark loaders."""

from subclust.datasets._molrg import make_molrg, random_bases
from subclust.datasets._motion import make_motion_trajectories
from subclust.datasets._home import (
    ChecksumError,
    fetch_file,
    get_cache_dir,
    get_data_home,
    load_registry,
)
from subclust.datasets._loaders import (
    list_datasets,
    load_coil20,
    load_fashion_mnist_sprite,
    load_mnist,
    load_yaleb,
    verify_datasets,
)
from subclust.datasets._faces import face_embeddings, load_yaleb_embeddings
from subclust.datasets._features import (
    mnist_scattering_pca,
    scattering_features,
    scattering_pca,
)

__all__ = [
    "make_molrg",
    "make_motion_trajectories",
    "random_bases",
    "ChecksumError",
    "face_embeddings",
    "fetch_file",
    "get_cache_dir",
    "get_data_home",
    "list_datasets",
    "load_coil20",
    "load_fashion_mnist_sprite",
    "load_mnist",
    "load_registry",
    "load_yaleb",
    "load_yaleb_embeddings",
    "mnist_scattering_pca",
    "scattering_features",
    "scattering_pca",
    "verify_datasets",
]
