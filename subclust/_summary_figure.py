"""The summary figure of a clustering (``summary.png`` of ``subclust cluster``).

Figures are built on :class:`matplotlib.figure.Figure` directly, never
through ``pyplot``: no global figure state, no GUI backend, so they render
the same in scripts, tests and servers (the Agg canvas draws them).
"""

import numpy as np

__all__ = ["clustering_summary_figure"]


def _figure_class():
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            f"Plots need matplotlib: pip install 'subclust[plot]' ({error})."
        ) from error
    return Figure


def _subspace_distances(bases):
    from subclust.subspace import subspace_distance

    k = len(bases)
    D = np.zeros((k, k))
    for i in range(k):
        for j in range(i + 1, k):
            D[i, j] = D[j, i] = subspace_distance(bases[i], bases[j])
    return D


def _integer_ticks(ax, n_columns, n_rows, xlabels=None):
    """Tick every row and column of a heatmap (up to 20), labelled by index."""
    if n_columns <= 20:
        ax.set_xticks(range(n_columns))
        ax.set_xticklabels([str(j) for j in (range(n_columns) if xlabels is None else xlabels)],
                           fontsize=7)
    if n_rows <= 20:
        ax.set_yticks(range(n_rows))
        ax.set_yticklabels([str(i) for i in range(n_rows)], fontsize=7)


def _scatter_2d(ax, X, labels):
    """Samples on their top two principal directions, coloured by cluster."""
    centred = X - X.mean(axis=0)
    _, _, Vt = np.linalg.svd(centred[: min(len(X), 5000)], full_matrices=False)
    P = centred @ Vt[:2].T if Vt.shape[0] >= 2 else np.c_[centred @ Vt[:1].T, np.zeros(len(X))]
    ax.scatter(P[:, 0], P[:, 1], c=labels, s=6, cmap="tab10" if labels.max() < 10 else "tab20")
    ax.set_title("samples on their top 2 principal directions", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def _montage(ax, images, labels, n_clusters, per_cluster=8):
    """Up to ``per_cluster`` images of each cluster, one row per cluster."""
    h, w = images.shape[1:]
    canvas = np.ones((n_clusters * (h + 1), per_cluster * (w + 1)))
    for k in range(n_clusters):
        for j, index in enumerate(np.flatnonzero(labels == k)[:per_cluster]):
            canvas[k * (h + 1) : k * (h + 1) + h, j * (w + 1) : j * (w + 1) + w] = images[index]
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=1, aspect="equal")
    ax.set_yticks([k * (h + 1) + h / 2 for k in range(n_clusters)])
    ax.set_yticklabels([str(k) for k in range(n_clusters)], fontsize=7)
    ax.set_xticks([])
    ax.set_title(f"first {per_cluster} images of each cluster", fontsize=9)


def clustering_summary_figure(
    X, labels, *, bases=None, y_true=None, objective_history=None, images=None, title=""
):
    """One figure summarizing a clustering.

    Panels: cluster sizes (or, with ground truth, the contingency table of
    classes against clusters); distances between the clusters' subspaces
    (:func:`subclust.subspace.subspace_distance`: 0 same, 1 orthogonal);
    the objective per iteration when the estimator records one, else the
    samples on their top two principal directions; and, for images, a
    montage of each cluster.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The features that were clustered.
    labels : ndarray of shape (n_samples,)
        Cluster of each sample, 0..K-1.
    bases : list of ndarray of shape (n_features, d_k), optional
    y_true : ndarray of shape (n_samples,), optional
    objective_history : sequence of float, optional
    images : ndarray of shape (n_samples, h, w), optional
    title : str

    Returns
    -------
    figure : matplotlib.figure.Figure
        Save it with ``figure.savefig(path)``.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust._summary_figure import clustering_summary_figure
    >>> X = np.random.default_rng(0).standard_normal((20, 5))
    >>> fig = clustering_summary_figure(X, np.arange(20) % 2)
    >>> len(fig.axes)
    3
    """
    Figure = _figure_class()
    labels = np.asarray(labels)
    n_clusters = int(labels.max()) + 1
    rows = 2 if images is not None else 1
    figure = Figure(figsize=(13, 4.2 * rows), layout="constrained")
    grid = figure.add_gridspec(rows, 3, height_ratios=[1, 1.3][:rows])
    ax_sizes, ax_dist, ax_third = (figure.add_subplot(grid[0, j]) for j in range(3))

    if y_true is None:
        ax_sizes.bar(np.arange(n_clusters), np.bincount(labels, minlength=n_clusters))
        ax_sizes.set_xlabel("cluster")
        ax_sizes.set_ylabel("samples")
        ax_sizes.set_title("cluster sizes", fontsize=9)
    else:
        from sklearn.metrics.cluster import contingency_matrix

        from scipy.optimize import linear_sum_assignment

        table = contingency_matrix(y_true, labels)
        # Clusters in the order of their matched classes: a good clustering is diagonal.
        rows, cols = linear_sum_assignment(table, maximize=True)
        order = list(cols[np.argsort(rows)]) + [j for j in range(table.shape[1]) if j not in cols]
        table = table[:, order]
        ax_sizes.imshow(table, cmap="Blues", aspect="auto")
        _integer_ticks(ax_sizes, table.shape[1], table.shape[0], xlabels=order)
        if table.size <= 150:
            for (i, j), count in np.ndenumerate(table):
                color = "white" if count > table.max() / 2 else "black"
                ax_sizes.text(j, i, str(count), ha="center", va="center", fontsize=7, color=color)
        ax_sizes.set_xlabel("cluster")
        ax_sizes.set_ylabel("true class")
        ax_sizes.set_title("classes x clusters (counts)", fontsize=9)

    if bases is not None and len(bases) > 1:
        image = ax_dist.imshow(_subspace_distances(bases), cmap="viridis", vmin=0, vmax=1)
        figure.colorbar(image, ax=ax_dist, shrink=0.8)
        _integer_ticks(ax_dist, len(bases), len(bases))
        ax_dist.set_title("distance between cluster subspaces", fontsize=9)
        ax_dist.set_xlabel("cluster")
        ax_dist.set_ylabel("cluster")
    else:
        ax_dist.set_axis_off()

    if objective_history is not None and len(objective_history) > 1:
        ax_third.plot(np.arange(1, len(objective_history) + 1), objective_history, marker=".")
        ax_third.xaxis.get_major_locator().set_params(integer=True)
        ax_third.set_xlabel("iteration")
        ax_third.set_ylabel("objective")
        ax_third.set_title("objective of the kept run", fontsize=9)
    else:
        _scatter_2d(ax_third, np.asarray(X, dtype=np.float64), labels)

    if images is not None:
        _montage(figure.add_subplot(grid[1, :]), np.asarray(images), labels, n_clusters)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure
