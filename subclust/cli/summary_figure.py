"""The summary figure of a clustering (``summary.png`` of ``subclust cluster``).

What a researcher checks after a subspace clustering, at a small fraction of
the cost of the fit: is the affinity block-diagonal once ordered by cluster,
does the Laplacian spectrum have its gap at K, how well does each subspace
fit its own samples and how far are they from the others, how confidently is
each sample assigned, and what do the clusters look like (for images).
Everything about samples is computed on a stratified subsample, and the
subspaces are only ever applied to samples (``X U``, linear in the subspace
dimension): no principal angles, no ``d x d`` products between bases.

Figures are built on :class:`matplotlib.figure.Figure` directly, never
through ``pyplot``: no global figure state, no GUI backend, so they render
the same in scripts, tests and servers (the Agg canvas draws them).
"""

import numpy as np
import scipy.sparse as sp

from subclust.cluster import laplacian_spectrum

__all__ = ["clustering_summary_figure"]

#: Samples shown in the affinity and measured against the subspaces.
MAX_SAMPLES = 400


def _figure_class():
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            f"Plots need matplotlib: pip install 'subclust[plot]' ({error})."
        ) from error
    return Figure


def _integer_ticks(ax, n_columns, n_rows, xlabels=None, ylabels=None):
    """Tick every row and column of a heatmap (up to 20), labelled by index."""
    if n_columns <= 20:
        ax.set_xticks(range(n_columns))
        ax.set_xticklabels([str(j) for j in (range(n_columns) if xlabels is None else xlabels)],
                           fontsize=7)
    if n_rows <= 20:
        ax.set_yticks(range(n_rows))
        ax.set_yticklabels([str(i) for i in (range(n_rows) if ylabels is None else ylabels)],
                           fontsize=7)


def _subsample(labels, n_clusters, max_samples, rng):
    """Indices of a subsample, ordered by cluster, each cluster in proportion to its size.

    Returns the indices and the number taken from each cluster.
    """
    counts = np.bincount(labels, minlength=n_clusters)
    share = max_samples / max(len(labels), 1)
    taken = np.minimum(counts, np.maximum(np.ceil(counts * share).astype(int), 2))
    index = [np.sort(rng.choice(np.flatnonzero(labels == k), taken[k], replace=False))
             for k in range(n_clusters)]
    return np.concatenate(index).astype(np.intp), taken


def _cosine_affinity(X):
    """``|cos|`` between the rows of ``X`` (zero diagonal), for methods without an affinity."""
    norms = np.linalg.norm(X, axis=1)
    norms[norms == 0] = 1.0
    U = X / norms[:, None]
    W = np.abs(U @ U.T)
    np.fill_diagonal(W, 0.0)
    return W


def _affinity_panel(ax, W, taken, source):
    image = ax.imshow(W, cmap="magma_r", interpolation="nearest",
                      vmax=np.quantile(W[W > 0], 0.99) if np.any(W > 0) else 1.0)
    for edge in np.cumsum(taken)[:-1]:
        ax.axhline(edge - 0.5, color="tab:blue", lw=0.6)
        ax.axvline(edge - 0.5, color="tab:blue", lw=0.6)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{source}, {len(W)} samples ordered by cluster", fontsize=9)
    return image


def _spectrum_panel(ax, values, n_clusters, subsampled, estimated=False):
    index = np.arange(1, len(values) + 1)
    ax.plot(index, values, marker=".", lw=0.8)
    label = f"K = {n_clusters}" + (" (estimated)" if estimated else "")
    ax.axvline(n_clusters + 0.5, color="tab:red", lw=0.8, ls="--", label=label)
    if len(values) > n_clusters:
        gap = values[n_clusters] - values[n_clusters - 1]
        where = "estimated K" if estimated else "K"
        ax.set_title(f"Laplacian spectrum{' (subsample)' if subsampled else ''}, "
                     f"gap {gap:.3g} at {where}", fontsize=9)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("index")
    ax.set_ylabel("eigenvalue")
    ax.legend(fontsize=7, loc="lower right")


def _relative_distances(X, bases):
    """``dist(x_i, S_k) / ||x_i||`` for every sample and subspace (linear in each ``d_k``)."""
    from subclust.subspace import residuals

    R = np.sqrt(residuals(X, bases).astype(np.float64))
    norms = np.linalg.norm(X, axis=1).astype(np.float64)
    norms[norms == 0] = 1.0
    return R / norms[:, None]


def _montage(ax, images, labels, n_clusters, per_cluster=8):
    """Up to ``per_cluster`` images of each cluster, one row per cluster."""
    h, w = images.shape[1:]
    # Grey levels in any range (images read from files are in [0, 1], from a matrix maybe 8-bit).
    low, high = float(images.min()), float(images.max())
    canvas = np.full((n_clusters * (h + 1), per_cluster * (w + 1)), high)
    for k in range(n_clusters):
        for j, index in enumerate(np.flatnonzero(labels == k)[:per_cluster]):
            canvas[k * (h + 1) : k * (h + 1) + h, j * (w + 1) : j * (w + 1) + w] = images[index]
    ax.imshow(canvas, cmap="gray", vmin=low, vmax=max(high, low + 1e-12), aspect="equal")
    ax.set_yticks([k * (h + 1) + h / 2 for k in range(n_clusters)])
    ax.set_yticklabels([str(k) for k in range(n_clusters)], fontsize=7)
    ax.set_xticks([])
    ax.set_title(f"first {per_cluster} images of each cluster", fontsize=9)


def _sizes_panel(ax, labels, n_clusters, y_true):
    if y_true is None:
        ax.bar(np.arange(n_clusters), np.bincount(labels, minlength=n_clusters))
        ax.set_xlabel("cluster")
        ax.set_ylabel("samples")
        ax.set_title("cluster sizes", fontsize=9)
        return
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics.cluster import contingency_matrix

    table = contingency_matrix(y_true, labels)
    # Clusters in the order of their matched classes: a good clustering is diagonal.
    rows, cols = linear_sum_assignment(table, maximize=True)
    order = list(cols[np.argsort(rows)]) + [j for j in range(table.shape[1]) if j not in cols]
    table = table[:, order]
    ax.imshow(table, cmap="Blues", aspect="auto")
    _integer_ticks(ax, table.shape[1], table.shape[0], xlabels=order)
    if table.size <= 150:
        for (i, j), count in np.ndenumerate(table):
            color = "white" if count > table.max() / 2 else "black"
            ax.text(j, i, str(count), ha="center", va="center", fontsize=7, color=color)
    ax.set_xlabel("cluster")
    ax.set_ylabel("true class")
    ax.set_title("classes x clusters (counts)", fontsize=9)


def _candidates_panel(ax, candidates):
    """The criterion of every candidate of ``method="auto"``: chosen in red, left out pale."""
    names = [c["name"] for c in candidates]
    values = [0.0 if np.isnan(c["criterion"]) else c["criterion"] for c in candidates]
    colors = ["tab:red" if c["selected"] else "tab:gray" if c["competes"] else "gainsboro"
              for c in candidates]  # fmt: skip
    ax.barh(np.arange(len(names)), values, color=colors)
    ax.set_yticks(np.arange(len(names)))
    ax.set_yticklabels(names, fontsize=7)
    ax.invert_yaxis()
    for i, c in enumerate(candidates):
        note = "failed" if c["error"] is not None else (
            f"{c['criterion']:.3f}, consistency {c['consistency']:.3f}"
            f"{'' if c['competes'] else ' (left out)'}, {c['seconds']:.1f} s")
        ax.text(values[i], i, f" {note}", va="center", fontsize=7)
    finite = [v for v in values if v > 0]
    if finite:
        ax.set_xlim(min(finite) - 0.05 * (max(finite) - min(finite) + 0.1), max(finite) * 1.08)
    ax.set_xlabel("criterion: normalized association and modularity in its own graph and a "
                  "referee's (larger is better)")
    ax.set_title("candidates compared by method 'auto' (chosen in red; pale: clusters less "
                 "consistent with subspaces than the best's, left out)", fontsize=9)


def clustering_summary_figure(
    X, labels, *, bases=None, y_true=None, objective_history=None, images=None, affinity=None,
    spectrum=None, candidates=None, title="", max_samples=MAX_SAMPLES, random_state=0,
):
    """One figure summarizing a subspace clustering.

    Panels:

    - cluster sizes, or with ground truth the contingency table of classes
      against clusters (clusters in the order of their matched classes);
    - the affinity of a stratified subsample ordered by cluster, with the
      cluster boundaries: a good clustering is block-diagonal. The
      estimator's own ``affinity`` when given, else ``|cos|`` between samples;
    - the smallest eigenvalues of the normalized graph Laplacian, with the
      gap after the K-th marked: K near-zero eigenvalues and then a jump say
      the graph has K well-separated clusters (von Luxburg, "A Tutorial on
      Spectral Clustering", Statistics and Computing 17, 2007). Of the whole
      ``affinity`` when it is sparse, else of the subsample's; or the
      ``spectrum`` that estimated K, which is then marked as estimated;
    - with ``bases``: the median relative distance ``dist(x, S_l) / ||x||`` of
      the samples of each cluster (rows) to each subspace (columns; tick
      labels give the dimensions), small on the diagonal and large off it
      when the subspaces fit and are separated; and the histogram of each
      sample's margin, the relative distance to its second-nearest subspace
      minus that to its nearest;
    - the objective per iteration when the estimator records one;
    - for images, the first images of each cluster;
    - with ``candidates``, the criterion of every candidate that
      :class:`subclust.cluster.AutoSubspaceClustering` compared with its
      subspace consistency, the chosen one in red, those left out pale.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The features that were clustered.
    labels : ndarray of shape (n_samples,)
        Cluster of each sample, 0..K-1.
    bases : list of ndarray of shape (n_features, d_k), optional
        Orthonormal basis of each cluster's subspace.
    y_true : ndarray of shape (n_samples,), optional
    objective_history : sequence of float, optional
    images : ndarray of shape (n_samples, h, w), optional
    affinity : ndarray or sparse matrix of shape (n_samples, n_samples), optional
        The affinity the clustering was read from (``affinity_matrix_``).
    spectrum : ndarray of shape (n_values,), optional
        The Laplacian eigenvalues the number of clusters was estimated from
        (``laplacian_eigenvalues_``), plotted instead of a spectrum computed here.
    candidates : list of dict, optional
        ``candidates_`` of :class:`subclust.cluster.AutoSubspaceClustering`.
    title : str
    max_samples : int, default=400
        Size of the subsample shown in the affinity and measured against
        the subspaces.
    random_state : int, default=0
        Seed of the subsample.

    Returns
    -------
    figure : matplotlib.figure.Figure
        Save it with ``figure.savefig(path)``.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.cli.summary_figure import clustering_summary_figure
    >>> from subclust.datasets import make_molrg
    >>> X, y, bases = make_molrg(n_samples=[20, 20], n_features=6, dims=2, random_state=0)
    >>> fig = clustering_summary_figure(X, y, bases=bases)
    >>> fig.axes[1].get_title()
    '|cos| between samples, 40 samples ordered by cluster'
    >>> fig.axes[2].get_title().startswith("Laplacian spectrum (subsample), gap")
    True
    """
    Figure = _figure_class()
    X = np.asarray(X)
    labels = np.asarray(labels)
    n_clusters = int(labels.max()) + 1
    rng = np.random.default_rng(random_state)
    index, taken = _subsample(labels, n_clusters, max_samples, rng)

    heights = [1, 1] + ([1.3] if images is not None else [])
    if candidates is not None:
        heights.append(0.25 + 0.12 * len(candidates))
    rows = len(heights)
    figure = Figure(figsize=(13, 4.0 * sum(heights)), layout="constrained")
    grid = figure.add_gridspec(rows, 3, height_ratios=heights)
    axes = [[figure.add_subplot(grid[i, j]) for j in range(3)] for i in range(2)]

    _sizes_panel(axes[0][0], labels, n_clusters, y_true)

    if affinity is not None:
        W = affinity[index][:, index]
        W = W.toarray() if sp.issparse(W) else np.asarray(W, dtype=np.float64)
        source = "affinity"
    else:
        W = _cosine_affinity(X[index].astype(np.float64))
        source = "|cos| between samples"
    image = _affinity_panel(axes[0][1], W, taken, source)
    figure.colorbar(image, ax=axes[0][1], shrink=0.8)

    # A sparse (kNN-like) graph loses most of its edges in a subsample: its spectrum
    # comes from the whole graph, in sparse products; a dense one is subsampled.
    whole = affinity is not None and sp.issparse(affinity)
    if spectrum is None:
        n_values = max(3 * n_clusters, n_clusters + 5)
        spectrum = laplacian_spectrum(affinity if whole else W, n_values, tol=1e-4)
        _spectrum_panel(axes[0][2], spectrum, n_clusters, subsampled=not whole)
    else:
        _spectrum_panel(axes[0][2], np.asarray(spectrum), n_clusters, False, estimated=True)

    if bases is not None and len(bases) == n_clusters:
        D = _relative_distances(X[index], bases)
        sub_labels = labels[index]
        table = np.array([
            np.median(D[sub_labels == k], axis=0) if np.any(sub_labels == k)
            else np.full(n_clusters, np.nan)
            for k in range(n_clusters)
        ])
        ax = axes[1][0]
        image = ax.imshow(table, cmap="viridis", vmin=0, vmax=1)
        figure.colorbar(image, ax=ax, shrink=0.8)
        dims = [f"{k}\n({U.shape[1]})" for k, U in enumerate(bases)]
        _integer_ticks(ax, n_clusters, n_clusters, xlabels=dims)
        ax.set_xlabel("subspace (dimension)")
        ax.set_ylabel("samples of cluster")
        ax.set_title("median dist(x, subspace) / |x|", fontsize=9)

        ordered = np.sort(D, axis=1)
        margin = ordered[:, 1] - ordered[:, 0] if n_clusters > 1 else ordered[:, 0]
        ax = axes[1][1]
        ax.hist(margin, bins=30, color="tab:green")
        ax.set_xlabel("2nd-nearest minus nearest relative distance" if n_clusters > 1
                      else "relative distance")
        ax.set_ylabel("samples")
        ax.set_title("assignment margin (subsample)", fontsize=9)
    else:
        axes[1][0].set_axis_off()
        axes[1][1].set_axis_off()

    ax = axes[1][2]
    if objective_history is not None and len(objective_history) > 1:
        ax.plot(np.arange(1, len(objective_history) + 1), objective_history, marker=".")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel("iteration")
        ax.set_ylabel("objective")
        ax.set_title("objective of the kept run", fontsize=9)
    elif bases is not None:
        ax.bar(np.arange(len(bases)), [U.shape[1] for U in bases], color="tab:purple")
        ax.set_xlabel("cluster")
        ax.set_ylabel("dimension")
        ax.set_title("subspace dimension of each cluster", fontsize=9)
    else:
        ax.set_axis_off()

    if images is not None:
        _montage(figure.add_subplot(grid[2, :]), np.asarray(images), labels, n_clusters)
    if candidates is not None:
        _candidates_panel(figure.add_subplot(grid[rows - 1, :]), candidates)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure
