"""Published experiments of the self-expressive methods: the paper's numbers beside ours.

``subclust bench reproduce`` runs each method with its paper's preset
(:mod:`subclust.cluster.presets`) on its paper's protocol, where the data
are available here, and prints the published numbers beside ours:

- ``ssc-faces``: the face-clustering table of Elhamifar & Vidal, "Sparse
  Subspace Clustering: Algorithm, Theory, and Applications", IEEE TPAMI
  35(11), 2013 (Sec. 7.2). Extended Yale B at 48x42 pixels, the 38 subjects
  in four groups (1-10, 11-20, 21-30, 31-38); for n in {2, 3, 5, 8, 10},
  every choice of n subjects within a group (n = 10 only in the first
  three groups): 163, 416, 812, 136 and 3 trials. Mean and median
  clustering error (%), preset ``elhamifar2013-faces``.
- ``yaleb38``: the presets of You et al. (SSC-OMP, EnSC; CVPR 2016) on all
  38 subjects, one fit each.

The whole face protocol solves 1530 Lasso problems of up to 640 samples in
2016 dimensions with 150 ADMM iterations each: hours on two cores.
``--max-trials`` draws that many combinations per group size (seeded,
uniformly among all of them, so the mean stays unbiased; the table gives
its standard error); 0 runs them all.
"""

import itertools
import time

import numpy as np

from subclust.bench._common import parse_names
from subclust.metrics import clustering_accuracy
from subclust.utils.tables import Table

#: Subject ids (1-based) of the four groups of Elhamifar & Vidal's protocol.
YALEB_GROUPS = (range(1, 11), range(11, 21), range(21, 31), range(31, 39))

#: Clustering error (%) of SSC on Extended Yale B, n subjects -> (mean, median):
#: Elhamifar & Vidal, IEEE TPAMI 35(11), 2013, face-clustering table (Sec. 7.2).
PAPER_SSC_FACES = {
    2: (1.86, 0.00),
    3: (3.10, 1.04),
    5: (4.31, 2.50),
    8: (5.85, 4.49),
    10: (10.94, 5.63),
}

EXPERIMENTS = {
    "ssc-faces": "SSC on Extended Yale B, every choice of n subjects per group (TPAMI 2013)",
    "yaleb38": "SSC-OMP and EnSC presets (CVPR 2016) on the 38 subjects of Extended Yale B",
}


def face_protocol(n_subjects):
    """Every choice of ``n_subjects`` subjects within each group of Extended Yale B.

    Parameters
    ----------
    n_subjects : int

    Returns
    -------
    combinations : list of tuple of int
        Subject ids (1..38), group by group, in lexicographic order.

    Examples
    --------
    >>> from subclust.bench.reproduce import face_protocol
    >>> [len(face_protocol(n)) for n in (2, 3, 5, 8, 10)]
    [163, 416, 812, 136, 3]
    >>> face_protocol(10)[-1]
    (21, 22, 23, 24, 25, 26, 27, 28, 29, 30)
    """
    return [c for group in YALEB_GROUPS for c in itertools.combinations(group, n_subjects)]


def _draw(combinations, max_trials, rng):
    """All combinations, or ``max_trials`` of them drawn uniformly (kept in protocol order)."""
    if not max_trials or max_trials >= len(combinations):
        return combinations
    chosen = np.sort(rng.choice(len(combinations), size=max_trials, replace=False))
    return [combinations[i] for i in chosen]


def face_clustering_table(
    preset="elhamifar2013-faces", sizes=tuple(PAPER_SSC_FACES), max_trials=None, seed=0,
    data_home=None, verbose=False, **overrides,
):  # fmt: skip
    """Clustering error of a preset on Elhamifar & Vidal's face protocol.

    Parameters
    ----------
    preset : str, default='elhamifar2013-faces'
        A key of :data:`subclust.cluster.presets.PRESETS`.
    sizes : sequence of int, default=(2, 3, 5, 8, 10)
        Numbers of subjects.
    max_trials : int, optional
        Draw at most this many combinations per size (None or 0: all).
    seed : int, default=0
        Seed of the draw and of the spectral step.
    data_home : str, optional
    verbose : bool, default=False
        Print one line per size as it finishes.
    **overrides
        Parameters changed from the preset (departing from the paper).

    Returns
    -------
    table : Table
        One row per size: trials run (of all), the paper's and our mean
        and median error in %, the standard error of our mean, seconds.
    """
    from subclust.cluster.presets import make_preset
    from subclust.datasets import load_yaleb

    faces = load_yaleb(data_home=data_home)
    subject = faces.subjects[faces.target]
    table = Table(title=f"Extended Yale B face clustering error (%), preset {preset}")
    for n in sizes:
        combinations = face_protocol(n)
        if not combinations:
            raise ValueError(f"no group of Extended Yale B has {n} subjects; use 2 to 10.")
        # One stream per size: a size's draw does not depend on the other sizes run.
        trials = _draw(combinations, max_trials, np.random.default_rng([seed, n]))
        errors, start = [], time.perf_counter()
        for ids in trials:
            mask = np.isin(subject, ids)
            estimator = make_preset(preset, n, random_state=seed, **overrides)
            labels = estimator.fit(faces.data[mask]).labels_
            errors.append(100.0 * (1.0 - clustering_accuracy(faces.target[mask], labels)))
        seconds = time.perf_counter() - start
        errors = np.asarray(errors)
        paper_mean, paper_median = PAPER_SSC_FACES.get(n, (None, None))
        # A standard error only where the mean estimates that of a larger protocol.
        sampled = 1 < len(trials) < len(combinations)
        sem = float(errors.std(ddof=1) / np.sqrt(len(errors))) if sampled else None
        table.add_row(
            subjects=n, trials=f"{len(trials)}/{len(combinations)}",
            paper_mean=paper_mean, ours_mean=float(errors.mean()), ours_sem=sem,
            paper_median=paper_median, ours_median=float(np.median(errors)),
            seconds=seconds,
        )  # fmt: skip
        if verbose:
            print(f"  {n} subjects: {len(trials)} trials in {seconds:.0f} s", flush=True)
    table.notes.append(
        "paper: Elhamifar & Vidal, IEEE TPAMI 35(11), 2013, face clustering (SSC). Our data "
        "hold 2414 images (18 corrupted ones dropped) where theirs hold 64 per subject."
    )
    if max_trials:
        table.notes.append(
            f"at most {max_trials} combinations drawn per size (seed {seed}); ours_sem is the "
            "standard error of that mean. --max-trials 0 runs the whole protocol."
        )
    return table


def yaleb38_table(presets=("you2016-omp", "you2016-ensc"), seed=0, data_home=None):
    """The presets of You et al. on all 38 subjects of Extended Yale B, one row each."""
    from subclust.cluster.presets import PRESETS, make_preset
    from subclust.datasets import load_yaleb

    faces = load_yaleb(data_home=data_home)
    table = Table(title="Extended Yale B, 38 subjects (N=2414, 48x42): presets of You et al.")
    for name in presets:
        start = time.perf_counter()
        labels = make_preset(name, 38, random_state=seed).fit(faces.data).labels_
        table.add_row(
            preset=name, accuracy=clustering_accuracy(faces.target, labels),
            seconds=time.perf_counter() - start,
        )  # fmt: skip
        table.notes.append(f"{name}: {PRESETS[name].reference}")
    return table


def add_arguments(parser):
    parser.add_argument(
        "--experiments", default="ssc-faces",
        help=f"comma-separated subset of {','.join(EXPERIMENTS)}",
    )  # fmt: skip
    parser.add_argument(
        "--sizes", default=",".join(map(str, PAPER_SSC_FACES)),
        help="numbers of subjects of ssc-faces (comma-separated, among 2..10)",
    )  # fmt: skip
    parser.add_argument(
        "--max-trials", type=int, default=3,
        help="combinations drawn per number of subjects (default 3: an estimated 5 to 10 "
        "minutes on two quiet cores; 0: all 1530 of the protocol, hours)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-home", default=None)


def _parse_sizes(text):
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--sizes expects comma-separated integers, got {text!r}.") from None
    bad = [n for n in sizes if not 2 <= n <= 10]
    if bad or not sizes:
        raise ValueError(f"--sizes takes numbers of subjects in 2..10, got {text!r}.")
    return sizes


def main(args):
    names = parse_names(args.experiments, EXPERIMENTS, "--experiments")
    if args.max_trials < 0:
        raise ValueError(f"--max-trials must be >= 0 (0 for all), got {args.max_trials}.")
    sizes = _parse_sizes(args.sizes)
    tables = []
    if "ssc-faces" in names:
        tables.append(face_clustering_table(
            sizes=sizes, max_trials=args.max_trials, seed=args.seed, data_home=args.data_home,
            verbose=True,
        ))  # fmt: skip
    if "yaleb38" in names:
        tables.append(yaleb38_table(seed=args.seed, data_home=args.data_home))
    for table in tables:
        print(table)
        print()
