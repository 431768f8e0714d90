"""Helpers shared by the benchmarks: timing, peak memory, fresh processes, data files,
lists of names, the real data sets."""

import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.preprocessing import normalize as normalize_rows

from subclust.datasets import make_molrg, random_bases


def best_time(func, repeats=5):
    """Best wall time of ``repeats`` calls of ``func`` (seconds), after one warm-up call."""
    func()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return float(np.min(times))


def peak_rss_mb():
    """Peak resident memory of this process (VmHWM: unlike ru_maxrss, not
    inherited from the parent across fork and exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(module, *args):
    """Run ``python -m module args...`` in a fresh process; the dict its last line prints.

    A fresh process measures what a fit costs alone (its peak memory, a cold
    start); the child ends with ``print(json.dumps(row))``.
    """
    out = subprocess.run(
        [sys.executable, "-m", module, *map(str, args)], check=True, capture_output=True,
        text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


#: The data sets of the benchmarks: name -> description. Images "on scattering"
#: go through :func:`subclust.datasets.scattering_pca`, as ``subclust cluster``
#: computes for a folder of images.
DATASETS = {
    "molrg": "6 subspaces of dimension 4 in R^40, 50 samples each, noise 0.05",
    "yaleb3": "Extended Yale B, subjects 1-3 (N=192, 48x42 pixels)",
    "yaleb5": "Extended Yale B, subjects 1-5 (N=320)",
    "yaleb10": "Extended Yale B, subjects 1-10 (N=640)",
    "yaleb15": "Extended Yale B, subjects 1-15 (N=944)",
    "yaleb20": "Extended Yale B, subjects 1-20 (N=1262)",
    "yaleb38": "Extended Yale B, 38 subjects (N=2414)",
    "coil20": "COIL-20 (N=1440, 32x32), scattering + PCA 500",
    "coil20-pixels": "COIL-20, pixels",
    "mnist": "MNIST test set, scattering + PCA 500 (N=10000)",
    "mnist1000": "1000 MNIST test images drawn at random, scattering + PCA 500",
    "fashion": "the 900 Fashion-MNIST images of the sprite, scattering + PCA 500",
    "fashion-pixels": "the 900 Fashion-MNIST images of the sprite, pixels",
    "digits": "scikit-learn's 8x8 digits (N=1797), pixels",
    "motion2": "trajectories of 2 rigid motions through an affine camera, 30 frames",
    "motion3": "trajectories of 3 rigid motions through an affine camera, 30 frames",
    "yaleb10-embed": "Extended Yale B, subjects 1-10, embedded by dlib's pretrained "
                     "face-recognition network (128-d; needs subclust[faces])",
    "yaleb38-embed": "Extended Yale B, 38 subjects, embedded as yaleb10-embed",
    "yaleb-few": "Extended Yale B at 32x32, 10 faces of each of the 38 subjects drawn at "
                 "random (N=380), as small face collections hold",
    "yaleb-few-embed": "the faces of yaleb-few, embedded as yaleb10-embed",
    "groups40": "40 groups of 10 unit vectors in R^128 around random directions, as a "
                "face-recognition network embeds 40 persons",
}


def load_dataset(name, *, random_state=0, data_home=None):
    """Data matrix and labels of a set of :data:`DATASETS`.

    ``random_state`` draws the synthetic mixture and the MNIST subset.
    """
    from subclust import datasets

    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose among {', '.join(DATASETS)}.")
    if name == "molrg":
        X, y, _ = datasets.make_molrg(
            n_samples=[50] * 6, n_features=40, dims=4, noise=0.05, random_state=random_state
        )
        return X, y
    if name.startswith("motion"):
        return datasets.make_motion_trajectories(int(name[len("motion"):]),
                                                 random_state=random_state)  # fmt: skip
    if name == "groups40":
        from sklearn.datasets import make_blobs

        rng = np.random.default_rng(random_state)
        centers = normalize_rows(rng.standard_normal((40, 128)))
        X, y = make_blobs([10] * 40, centers=centers, cluster_std=1 / np.sqrt(128),
                          random_state=random_state)  # fmt: skip
        return normalize_rows(X), y
    if name == "digits":
        from sklearn.datasets import load_digits

        return load_digits(return_X_y=True)
    if name.startswith("mnist"):
        bunch = datasets.mnist_scattering_pca(data_home=data_home)
        if name == "mnist":
            return bunch.data, bunch.target
        index = np.sort(np.random.default_rng(random_state).choice(len(bunch.target), 1000,
                                                                   replace=False))  # fmt: skip
        return bunch.data[index], bunch.target[index]
    if name.startswith("yaleb-few"):
        embed = name.endswith("-embed")
        bunch = (datasets.load_yaleb_embeddings(data_home=data_home, n_jobs=-1) if embed
                 else datasets.load_yaleb("32x32", data_home=data_home))  # fmt: skip
        index = _few_faces(bunch.target, random_state)
        return bunch.data[index], bunch.target[index]
    if name.endswith("-embed"):
        bunch = datasets.load_yaleb_embeddings(int(name[len("yaleb"):-len("-embed")]),
                                               data_home=data_home, n_jobs=-1)  # fmt: skip
        return bunch.data, bunch.target
    if name.startswith("yaleb"):
        subjects = int(name[len("yaleb"):])
        bunch = datasets.load_yaleb(subjects=None if subjects == 38 else subjects,
                                    data_home=data_home)  # fmt: skip
        return bunch.data, bunch.target
    load = datasets.load_coil20 if name.startswith("coil20") else datasets.load_fashion_mnist_sprite
    bunch = load(data_home=data_home)
    if name.endswith("-pixels"):
        return bunch.data, bunch.target
    return datasets.scattering_pca(bunch.images, 500), bunch.target


def _few_faces(target, random_state):
    """Indices of 10 faces of each of Yale B's 38 persons, drawn at random."""
    rng = np.random.default_rng(random_state)
    return np.concatenate([rng.choice(np.flatnonzero(target == k), 10, replace=False)
                           for k in range(38)])  # fmt: skip


def load_images(name, *, random_state=0, data_home=None):
    """Images of shape (n, height, width) and labels of an image set.

    ``name`` is ``yaleb<subjects>`` (48x42), ``yaleb-few`` (32x32, as in
    :data:`DATASETS`), ``coil20``, ``fashion``, ``digits`` or ``mnist<n>``
    (``n`` test images drawn at random).
    """
    from subclust import datasets

    if name == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return bunch.images, bunch.target
    if name.startswith("mnist"):
        bunch = datasets.load_mnist(data_home=data_home, n_samples=int(name[len("mnist"):]),
                                    random_state=random_state)  # fmt: skip
        return bunch.images, bunch.target
    if name == "yaleb-few":
        bunch = datasets.load_yaleb("32x32", data_home=data_home)
        index = _few_faces(bunch.target, random_state)
        return bunch.images[index], bunch.target[index]
    if name.startswith("yaleb"):
        subjects = int(name[len("yaleb"):])
        bunch = datasets.load_yaleb(subjects=None if subjects == 38 else subjects,
                                    data_home=data_home)  # fmt: skip
        return bunch.images, bunch.target
    loaders = {"coil20": datasets.load_coil20, "fashion": datasets.load_fashion_mnist_sprite}
    if name not in loaders:
        raise ValueError(f"unknown image set {name!r}.")
    bunch = loaders[name](data_home=data_home)
    return bunch.images, bunch.target


def print_row(row):
    """Print a table row as soon as it is measured: a long benchmark shows its progress."""
    print("  " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                           for k, v in row.items()), flush=True)  # fmt: skip


def add_names_argument(parser, option, names, default=None, note=None):
    """Add an option naming a comma-separated subset of ``names`` (all by default).

    :func:`parse_names` reads it.
    """
    parser.add_argument(
        option, default=default or ",".join(names),
        help=f"comma-separated subset of {','.join(names)}" + (f" ({note})" if note else ""),
    )  # fmt: skip


def parse_names(text, choices, option):
    """The names of a comma-separated option, each one of ``choices``."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in choices]
    if unknown:
        raise ValueError(f"{option}: unknown {unknown}; choose among {', '.join(choices)}.")
    return names


def write_molrg(path, n_samples, n_features, n_clusters, dim, noise, block=100_000, random_state=0):
    """Write float32 MoLRG samples to ``path`` (.npy), labels to ``path``.labels.npy, in blocks."""
    bases = random_bases(n_features, [dim] * n_clusters, random_state=random_state)
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n_samples, n_features))
    labels = np.empty(n_samples, dtype=np.int16)
    for i, start in enumerate(range(0, n_samples, block)):
        stop = min(start + block, n_samples)
        Xb, yb, _ = make_molrg(
            n_samples=stop - start, bases=bases, noise=noise, dtype=np.float32,
            random_state=random_state + 1 + i,
        )
        X[start:stop], labels[start:stop] = Xb, yb
    X.flush()
    del X
    np.save(str(path) + ".labels.npy", labels)


@contextlib.contextmanager
def molrg_file(workdir, n_samples, n_features, n_clusters, dim, noise):
    """A :func:`write_molrg` file in a temporary folder under ``workdir``, removed after.

    ``workdir`` None: the system's temporary directory.
    """
    with tempfile.TemporaryDirectory(dir=workdir) as folder:
        path = Path(folder) / f"molrg_{n_samples}x{n_features}.npy"
        write_molrg(path, n_samples, n_features, n_clusters, dim, noise)
        yield path
