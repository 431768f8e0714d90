"""Published experiments of the self-expressive methods: the paper's numbers beside ours.

``subclust bench reproduce`` runs each method with its paper's preset
(:mod:`subclust.cluster.presets`) on its paper's protocol, where the data
are available here, and prints the published numbers beside ours:

- ``ssc-faces``: the face-clustering table of Elhamifar & Vidal, "Sparse
  Subspace Clustering: Algorithm, Theory, and Applications", IEEE TPAMI
  35(11), 2013 (Sec. 7.2). Extended Yale B at 48x42 pixels, the 38 subjects
  in four groups (1-10, 11-20, 21-30, 31-38); for n in {2, 3, 5, 8, 10},
  every choice of n subjects within a group (n = 10 only in the first
  three groups): 163, 416, 812, 136 and 3 combinations. Mean and median
  clustering error (%), preset ``elhamifar2013-faces``. The paper's copy of
  the faces holds all 64 images of each subject, ours 2414 (18 corrupted
  images of subjects 11-17 dropped), so the table also counts the images we
  lack as misclustered. Were those images the only difference and did they
  not disturb the others, the paper's numbers would lie between the two.
- ``tsc-faces``: TSC on the same protocol, as Heckel & Boelcskei's face
  script runs it (preset ``heckel2015-faces``: q = 3).
- ``lsr-faces``: LSR1 as Lu et al.'s face script runs it (ECCV 2012): the
  first 5 and the first 10 subjects of Extended Yale B at 32x32 pixels,
  projected on the leading 6n principal directions, presets
  ``lu2012-lsr1-faces5`` and ``lu2012-lsr1-faces10``; the script repeats
  the k-means of the spectral step 20 times, so the table gives the mean and
  the best of 20 seeds.
- ``yaleb38``: the presets of You et al. (SSC-OMP, EnSC; CVPR 2016) on all
  38 subjects, one fit each.

The whole SSC protocol solves 1530 Lasso problems of up to 640 samples in
2016 dimensions with 150 ADMM iterations each: hours on two cores (the
table's ``full_hours`` extrapolates a sampled run to all combinations).
``--max-combos M`` draws M combinations per group size (seeded, uniformly
among all of them, so the mean stays unbiased; the table gives its standard
error); by default all of them run. ``--n-jobs`` runs the combinations in
worker processes, each with its share of the cores for its BLAS.
"""

import itertools
import time

import numpy as np

from subclust.bench._common import parse_names
from subclust.metrics import clustering_accuracy
from subclust.utils.parallel import process_map
from subclust.utils.tables import Table

#: Subject ids (1-based) of the four groups of Elhamifar & Vidal's protocol.
YALEB_GROUPS = (range(1, 11), range(11, 21), range(21, 31), range(31, 39))

#: Images of each subject in the paper's copy of Extended Yale B: one per illumination.
IMAGES_PER_SUBJECT = 64

#: Clustering error (%) of SSC on Extended Yale B, n subjects -> (mean, median):
#: Elhamifar & Vidal, IEEE TPAMI 35(11), 2013, face-clustering table (Sec. 7.2).
PAPER_SSC_FACES = {
    2: (1.86, 0.00),
    3: (3.10, 1.04),
    5: (4.31, 2.50),
    8: (5.85, 4.49),
    10: (10.94, 5.63),
}

#: The presets run on Elhamifar & Vidal's face protocol, with their published numbers
#: (n subjects -> (mean, median) error in %); an empty dict where none is given here.
FACE_PROTOCOL_PAPERS = {"elhamifar2013-faces": PAPER_SSC_FACES, "heckel2015-faces": {}}

#: Lu et al.'s face experiment: number of subjects -> preset.
LSR_FACES_PRESETS = {5: "lu2012-lsr1-faces5", 10: "lu2012-lsr1-faces10"}

EXPERIMENTS = {
    "ssc-faces": "SSC on Extended Yale B, every choice of n subjects per group (TPAMI 2013)",
    "tsc-faces": "TSC (q = 3) on the same protocol (IEEE Trans. Inf. Theory 2015)",
    "lsr-faces": "LSR1 on the first 5 and 10 subjects, 32x32, PCA to 6n dimensions (ECCV 2012)",
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


def _group_of(subjects):
    """Index in :data:`YALEB_GROUPS` of the group that holds a combination of subjects."""
    return next(g for g, members in enumerate(YALEB_GROUPS) if subjects[0] in members)


def _draw(combinations, max_combos, rng):
    """All combinations, or ``max_combos`` of them drawn uniformly (kept in protocol order)."""
    if not max_combos or max_combos >= len(combinations):
        return combinations
    chosen = np.sort(rng.choice(len(combinations), size=max_combos, replace=False))
    return [combinations[i] for i in chosen]


def _face_error(trial):
    """Clustering error (%) of a preset on the faces of one choice of subjects."""
    from subclust.cluster.presets import make_preset

    preset, n_subjects, X, y, random_state, overrides = trial
    estimator = make_preset(preset, n_subjects, random_state=random_state, **overrides)
    return 100.0 * (1.0 - clustering_accuracy(y, estimator.fit(X).labels_))


def face_clustering_table(
    preset="elhamifar2013-faces", sizes=tuple(PAPER_SSC_FACES), max_combos=None,
    random_state=0, data_home=None, n_jobs=None, verbose=False, **overrides,
):  # fmt: skip
    """Clustering error of a preset on Elhamifar & Vidal's face protocol.

    Parameters
    ----------
    preset : str, default='elhamifar2013-faces'
        A key of :data:`subclust.cluster.presets.PRESETS`.
    sizes : sequence of int, default=(2, 3, 5, 8, 10)
        Numbers of subjects.
    max_combos : int, optional
        Draw at most this many combinations per size (None or 0: all).
    random_state : int, default=0
        Seed of the draw and of the spectral step.
    data_home : str, optional
    n_jobs : int, optional
        Combinations fitted at once, in worker processes (None: one, here;
        -1: as many as the cores allow).
    verbose : bool, default=False
        Print one line per size as it finishes.
    **overrides
        Parameters changed from the preset (departing from the paper).

    Returns
    -------
    table : Table
        One row per size: combinations run (of all), the paper's and our
        mean and median error in %, the standard error of our mean, our mean
        in each group of subjects, the mean and median error had every image
        that our copy lacks (and the paper's copy holds) been misclustered, the
        seconds taken and their extrapolation to every combination.

    Examples
    --------
    >>> from subclust.bench.reproduce import face_clustering_table
    >>> table = face_clustering_table("heckel2015-faces", sizes=[2], max_combos=1)  # doctest: +SKIP
    >>> table.column("combos")  # doctest: +SKIP
    ['1/163']
    """
    from subclust.datasets import load_yaleb

    paper = FACE_PROTOCOL_PAPERS.get(preset, {})
    faces = load_yaleb(data_home=data_home)
    subject = faces.subjects[faces.target]
    table = Table(title=f"Extended Yale B face clustering error (%), preset {preset}")
    for n in sizes:
        combinations = face_protocol(n)
        if not combinations:
            raise ValueError(f"no group of Extended Yale B has {n} subjects; use 2 to 10.")
        # One stream per size: a size's draw does not depend on the other sizes run.
        chosen = _draw(combinations, max_combos, np.random.default_rng([random_state, n]))
        masks = [np.isin(subject, ids) for ids in chosen]
        trials = ((preset, n, faces.data[mask], faces.target[mask], random_state, overrides)
                  for mask in masks)  # fmt: skip
        start = time.perf_counter()
        errors = np.fromiter(process_map(_face_error, trials, n_jobs), dtype=np.float64)
        seconds = time.perf_counter() - start
        # The paper's copy holds every image our copy lacks: count those as misclustered.
        held = np.array([mask.sum() for mask in masks])
        full = IMAGES_PER_SUBJECT * n
        missing_wrong = (errors * held + 100.0 * (full - held)) / full
        group = np.array([_group_of(ids) for ids in chosen])
        by_group = "/".join(f"{errors[group == g].mean():.2f}" if np.any(group == g) else "-"
                            for g in range(len(YALEB_GROUPS)))  # fmt: skip
        paper_mean, paper_median = paper.get(n, (None, None))
        # A standard error only where the mean estimates that of a larger protocol.
        sampled = 1 < len(chosen) < len(combinations)
        sem = float(errors.std(ddof=1) / np.sqrt(len(errors))) if sampled else None
        table.add_row(
            subjects=n, combos=f"{len(chosen)}/{len(combinations)}",
            paper_mean=paper_mean, ours_mean=float(errors.mean()), ours_sem=sem,
            paper_median=paper_median, ours_median=float(np.median(errors)),
            ours_by_group=by_group, missing_wrong_mean=float(missing_wrong.mean()),
            missing_wrong_median=float(np.median(missing_wrong)), seconds=seconds,
            full_hours=seconds / len(chosen) * len(combinations) / 3600,
        )  # fmt: skip
        if verbose:
            print(f"  {n} subjects: {len(chosen)} combinations in {seconds:.0f} s", flush=True)
    if preset == "elhamifar2013-faces":
        table.notes.append(
            "paper: Elhamifar & Vidal, IEEE TPAMI 35(11), 2013, face clustering (SSC). Our "
            "data hold 2414 images (18 corrupted ones of subjects 11-17 dropped) where "
            "theirs hold 64 per subject: only the second group's data differ."
        )
    elif not paper:
        table.notes.append(f"no published numbers of {preset} on this protocol are held here.")
    table.notes.append(
        "ours_by_group: our mean error in each group of subjects (1-10/11-20/21-30/31-38)."
    )
    table.notes.append(
        f"missing_wrong: our errors over {IMAGES_PER_SUBJECT} images per subject, the images "
        "missing from our copy counted as misclustered: where the paper's numbers would lie "
        "if those images were the only difference and all of them were clustered wrong."
    )
    if max_combos:
        table.notes.append(
            f"at most {max_combos} combinations drawn per size (seed {random_state}); ours_sem "
            "is the standard error of that mean, full_hours the time all of them would take."
        )
    return table


def lsr_faces_table(sizes=tuple(LSR_FACES_PRESETS), n_runs=20, random_state=0, data_home=None):
    """LSR1 on Lu et al.'s face experiment: the first n subjects, mean and best of the runs.

    Lu et al.'s script (ECCV 2012) takes the first ``64 n`` images of the
    32x32 Extended Yale B, projects them on the leading ``6 n`` principal
    directions of the centred images (applied to the images as they are,
    uncentred), scales them to unit norm, and repeats the spectral step's
    k-means 20 times, reporting the best accuracy. The representation is
    computed once; only the k-means seed changes between runs.

    Parameters
    ----------
    sizes : sequence of int, default=(5, 10)
        Numbers of subjects, keys of :data:`LSR_FACES_PRESETS`.
    n_runs : int, default=20
        Seeds ``random_state, random_state + 1, ...`` of the spectral step.
    random_state : int, default=0
    data_home : str, optional

    Returns
    -------
    table : Table
        One row per size: mean, best and worst error (%) over the runs.
    """
    from sklearn.decomposition import PCA

    from subclust.cluster import spectral_labels
    from subclust.cluster.presets import PRESETS, make_preset
    from subclust.datasets import load_yaleb

    table = Table(title="Extended Yale B, first n subjects (32x32, PCA to 6n): LSR1 error (%)")
    for n in sizes:
        faces = load_yaleb("32x32", subjects=n, data_home=data_home)
        X, y = faces.data, faces.target  # all 64 images of each of subjects 1..n
        X = X @ PCA(6 * n, svd_solver="full").fit(X).components_.T
        start = time.perf_counter()
        estimator = make_preset(LSR_FACES_PRESETS[n], n, random_state=random_state).fit(X)
        assign = PRESETS[LSR_FACES_PRESETS[n]].params["assign_labels"]
        errors = [
            100.0 * (1.0 - clustering_accuracy(y, spectral_labels(
                estimator.affinity_matrix_, n, random_state=random_state + run,
                assign_labels=assign,
            )))
            for run in range(n_runs)
        ]  # fmt: skip
        table.add_row(
            subjects=n, preset=LSR_FACES_PRESETS[n], runs=n_runs, ours_mean=float(np.mean(errors)),
            ours_best=float(np.min(errors)), ours_worst=float(np.max(errors)),
            seconds=time.perf_counter() - start,
        )  # fmt: skip
    table.notes.append(f"{PRESETS[LSR_FACES_PRESETS[sizes[0]]].reference}.")
    table.notes.append("no published numbers of LSR1 on this protocol are held here.")
    return table


def yaleb38_table(presets=("you2016-omp", "you2016-ensc"), random_state=0, data_home=None):
    """The presets of You et al. on all 38 subjects of Extended Yale B, one row each."""
    from subclust.cluster.presets import PRESETS, make_preset
    from subclust.datasets import load_yaleb

    faces = load_yaleb(data_home=data_home)
    table = Table(title="Extended Yale B, 38 subjects (N=2414, 48x42): presets of You et al.")
    for name in presets:
        start = time.perf_counter()
        labels = make_preset(name, 38, random_state=random_state).fit(faces.data).labels_
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
        help="numbers of subjects of ssc-faces and tsc-faces (comma-separated, among 2..10)",
    )  # fmt: skip
    parser.add_argument(
        "--max-combos", "--max-trials", dest="max_combos", type=int, default=0,
        help="combinations drawn per number of subjects (default 0: all 1530 of the protocol; "
        "SSC takes hours, the table extrapolates a sample to the full run)",
    )  # fmt: skip
    parser.add_argument(
        "--n-jobs", type=int, default=None,
        help="combinations of ssc-faces and tsc-faces fitted at once, in worker processes "
        "(-1: as many as the cores allow)",
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
    if args.max_combos < 0:
        raise ValueError(f"--max-combos must be >= 0 (0 for all), got {args.max_combos}.")
    sizes = _parse_sizes(args.sizes)
    tables = []
    for name, preset in (("ssc-faces", "elhamifar2013-faces"), ("tsc-faces", "heckel2015-faces")):
        if name in names:
            tables.append(face_clustering_table(
                preset, sizes=sizes, max_combos=args.max_combos, random_state=args.seed,
                data_home=args.data_home, n_jobs=args.n_jobs, verbose=True,
            ))  # fmt: skip
    if "lsr-faces" in names:
        tables.append(lsr_faces_table(random_state=args.seed, data_home=args.data_home))
    if "yaleb38" in names:
        tables.append(yaleb38_table(random_state=args.seed, data_home=args.data_home))
    for table in tables:
        print(table)
        print()
