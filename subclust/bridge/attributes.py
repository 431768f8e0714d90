"""Morpho-MNIST measures of handwritten digits: area, length, thickness, slant, width, height.

Castro, Tan, Kamnitsas, Glocker, "Morpho-MNIST: Quantitative Assessment and
Diagnostics for Representation Learning", JMLR 20(178), 2019, measure a
digit on its binarized image:

- the image is upsampled ``scale`` times (cubic spline) so that the measures
  move by less than a pixel, then thresholded at ``threshold`` of its range;
- **area**: ink pixels;
- **length**: length of the skeleton, a pair of 4-neighbours counting 1 and
  a pair of diagonal neighbours sqrt(2);
- **thickness**: ``2 x`` the mean, over the skeleton, of the distance to
  the background (the Euclidean distance transform): the stroke width;
- **slant**: ``arctan(-mu11 / mu02)`` from the second-order central moments
  of the ink (``x`` the column, ``y`` the row, pointing down), positive for
  digits leaning to the right;
- **width** and **height**: of the bounding box of the ink after shearing
  it upright (``x' = x - (mu11 / mu02) (y - y_bar)``).

Lengths are reported in pixels of the original 28 x 28 image (divided by
``scale``), areas in its squared pixels, slant in radians. The skeleton is
skimage's :func:`skimage.morphology.skeletonize` (the ``bridge`` extra).
"""

import numbers
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from subclust.tables import Table

__all__ = [
    "ATTRIBUTES",
    "AttributeCorrespondence",
    "attribute_correspondence",
    "measure_digit",
    "measure_digits",
]

#: The measures, in the order of the columns of :func:`measure_digits`.
ATTRIBUTES = ("area", "length", "thickness", "slant", "width", "height")

# Neighbours looked at from every skeleton pixel (half of the 8, so each pair counts once):
# right (1), down-left, down, down-right (sqrt 2, 1, sqrt 2).
_LINKS = ((0, 1, 1.0), (1, -1, np.sqrt(2.0)), (1, 0, 1.0), (1, 1, np.sqrt(2.0)))


def _skeletonize():
    try:
        from skimage.morphology import skeletonize
    except ImportError as error:
        raise ImportError(
            f"The Morpho-MNIST measures need scikit-image ({error}). Install the extra: "
            'pip install "subclust[bridge]"'
        ) from error
    return skeletonize


def _check_params(threshold, scale):
    if not isinstance(scale, numbers.Integral) or isinstance(scale, bool) or scale < 1:
        raise ValueError(f"scale must be a positive integer upsampling factor, got {scale!r}.")
    if not 0 < threshold < 1:
        raise ValueError(
            f"threshold must lie in (0, 1) (a fraction of the range), got {threshold}."
        )


def _binarize(image, threshold, scale):
    if scale > 1:
        image = ndimage.zoom(image, scale, order=3, mode="nearest", grid_mode=True)
    lo, hi = float(image.min()), float(image.max())
    if hi - lo <= 1e-12:
        return np.zeros(image.shape, dtype=bool)
    return image >= lo + threshold * (hi - lo)


def _skeleton_length(skeleton):
    padded = np.pad(skeleton, 1)
    inner = padded[1:-1, 1:-1]
    rows, cols = skeleton.shape
    total = 0.0
    for dr, dc, weight in _LINKS:
        neighbour = padded[1 + dr: 1 + dr + rows, 1 + dc: 1 + dc + cols]
        total += weight * float(np.count_nonzero(inner & neighbour))
    return total


def _measure_binary(ink, scale, skeletonize):
    if not ink.any():
        return dict.fromkeys(ATTRIBUTES, np.nan)
    rows, cols = np.nonzero(ink)
    y, x = rows.astype(np.float64), cols.astype(np.float64)
    dy, dx = y - y.mean(), x - x.mean()
    mu02, mu11 = float(np.sum(dy * dy)), float(np.sum(dx * dy))
    shear = mu11 / mu02 if mu02 > 0 else 0.0
    x_upright = x - shear * dy  # shear the digit upright; rows do not move
    skeleton = skeletonize(ink)
    distance = ndimage.distance_transform_edt(ink)
    on_skeleton = distance[skeleton]
    return {
        "area": float(ink.sum()) / scale**2,
        "length": _skeleton_length(skeleton) / scale,
        "thickness": 2.0 * float(on_skeleton.mean()) / scale if on_skeleton.size else np.nan,
        "slant": float(np.arctan(-shear)) + 0.0,  # + 0.0: an upright digit has slant 0, not -0
        "width": (float(x_upright.max() - x_upright.min()) + 1.0) / scale,
        "height": (float(y.max() - y.min()) + 1.0) / scale,
    }


def measure_digit(image, threshold=0.5, scale=4):
    """The Morpho-MNIST measures of one digit image.

    Parameters
    ----------
    image : array-like of shape (h, w)
        Grey levels, ink bright (MNIST in [0, 1] or [0, 255]; only the range matters).
    threshold : float in (0, 1), default=0.5
        Ink is ``image >= min + threshold (max - min)`` after upsampling.
    scale : int, default=4
        Upsampling factor before binarizing (Morpho-MNIST uses 4).

    Returns
    -------
    measures : dict
        ``{name: value}`` for the names of :data:`ATTRIBUTES`; NaN for a blank image.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.bridge.attributes import measure_digit
    >>> bar = np.zeros((28, 28)); bar[4:24, 12:16] = 1.0  # an upright bar 4 pixels wide
    >>> m = measure_digit(bar)
    >>> round(m["height"]), round(m["width"]), round(m["slant"], 3)
    (20, 4, 0.0)
    """
    _check_params(threshold, scale)
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D (h, w), got shape {image.shape}.")
    if not np.all(np.isfinite(image)):
        raise ValueError("image contains NaN or infinity.")
    return _measure_binary(_binarize(image, threshold, scale), scale, _skeletonize())


def measure_digits(images, threshold=0.5, scale=4):
    """The Morpho-MNIST measures of many digits, as an array.

    Parameters
    ----------
    images : array-like of shape (N, h, w), or (N, h * w) for square images
    threshold, scale : see :func:`measure_digit`

    Returns
    -------
    measures : ndarray of shape (N, 6)
        Columns in the order of :data:`ATTRIBUTES`.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.bridge.attributes import measure_digits
    >>> bars = np.zeros((2, 28, 28)); bars[0, 4:24, 12:16] = 1; bars[1, 4:24, 11:17] = 1
    >>> np.round(measure_digits(bars)[:, 2])  # thickness
    array([4., 6.])
    """
    _check_params(threshold, scale)
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 2:
        side = int(round(np.sqrt(images.shape[1])))
        if side * side != images.shape[1]:
            raise ValueError(
                f"images of shape {images.shape}: flat rows must be square images "
                "(h * w with h == w); pass an (N, h, w) array instead."
            )
        images = images.reshape(-1, side, side)
    if images.ndim != 3:
        raise ValueError(f"images must have shape (N, h, w), got {images.shape}.")
    if not np.all(np.isfinite(images)):
        raise ValueError("images contain NaN or infinity.")
    skeletonize = _skeletonize()
    out = np.empty((images.shape[0], len(ATTRIBUTES)))
    for i, image in enumerate(images):
        measures = _measure_binary(_binarize(image, threshold, scale), scale, skeletonize)
        out[i] = [measures[name] for name in ATTRIBUTES]
    return out


# --------------------------------------------------------------------------- edits


@dataclass
class AttributeCorrespondence:
    """Attribute changes when ``x_t`` moves along singular vectors and along random directions.

    A singular vector has no sign of its own, so every direction ``u`` (singular or
    random alike) is oriented by one rule that looks at no attribute: ``sum(u) >= 0``,
    the step adds ink to ``x_t`` overall. The correlation of a direction with an
    attribute is then Pearson's ``r`` between the step ``alpha`` and the attribute's
    change, pooled over every digit and step (:meth:`correlations`). A random direction
    has no reason to move an attribute the same way at different digits, so its
    correlation stays near 0 however much it moves each digit; a singular direction
    reaches a large ``|r|`` only if it edits the attribute consistently across digits.
    :meth:`sweep_correlations` (per digit, sign-free) and :meth:`effect_sizes` (change
    per sweep in standard deviations of the attribute over the digits) complete the picture.

    Attributes
    ----------
    alphas : ndarray of shape (m,)
        Step along each unit direction (0 included).
    directions : list of str
        ``'sv1' ... 'svr'`` then ``'rand1' ... 'randk'``.
    deltas : ndarray of shape (n_digits, n_directions, m, n_attributes)
        Attribute of the edited, denoised digit minus that of the unedited one
        (the direction oriented as above).
    baseline : ndarray of shape (n_digits, n_attributes)
        Attributes of the unedited denoised digits.
    output_norms : ndarray of shape (n_digits, n_directions)
        ``||D(x_t + a u) - D(x_t - a u)|| / 2``: how far the largest step moves the output.
    singular_values : ndarray of shape (n_digits, r)
    attributes : tuple of str
    t : float
    """

    alphas: np.ndarray
    directions: list
    deltas: np.ndarray = field(repr=False)
    baseline: np.ndarray = field(repr=False)
    output_norms: np.ndarray = field(repr=False)
    singular_values: np.ndarray = field(repr=False)
    attributes: tuple = ATTRIBUTES
    t: float = 0.0

    @property
    def n_singular(self):
        return sum(d.startswith("sv") for d in self.directions)

    def correlations(self):
        """Correlation of the step with each attribute's change, pooled over digits and steps.

        Returns
        -------
        r : ndarray of shape (n_directions, n_attributes)
            0 where the attribute never changed; unmeasurable (blank) digits are left out.
        """
        n_digits, n_dirs, m, n_attr = self.deltas.shape
        alphas = np.broadcast_to(self.alphas[None, :], (n_digits, m))
        r = np.zeros((n_dirs, n_attr))
        for k in range(n_dirs):
            for j in range(n_attr):
                d = self.deltas[:, k, :, j]
                keep = np.isfinite(d)
                r[k, j] = _pearson(alphas[keep], d[keep])
        return r

    def sweep_correlations(self):
        """Per-digit correlation over one sweep, shape (n_digits, n_directions, n_attributes).

        Sign-free by nature (the sign of a direction flips ``r``); 0 where the
        attribute did not change. Unlike :meth:`correlations` it does not see the
        size of a change, only its regularity along the sweep.
        """
        a = self.alphas - self.alphas.mean()
        d = self.deltas - np.nanmean(self.deltas, axis=2, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            num = np.nansum(a[None, None, :, None] * d, axis=2)
            den = np.sqrt(np.sum(a**2) * np.nansum(d**2, axis=2))
            r = num / den
        return np.where(np.isfinite(r), r, 0.0)

    def effect_sizes(self):
        """Mean absolute change over the sweep, in standard deviations of the attribute.

        The per-digit least-squares slope times the largest step, ``|slope| * a``,
        averaged over digits and divided by the spread of the attribute over the
        unedited digits. Shape (n_directions, n_attributes).
        """
        a = self.alphas
        d = np.nan_to_num(self.deltas)
        slope = np.einsum("s,idsj->idj", a, d) / np.sum(a**2)
        spread = np.nanstd(self.baseline, axis=0)
        spread = np.where(spread > 0, spread, np.nan)
        return np.abs(slope).mean(0) * a.max() / spread

    def best_singular(self, attribute):
        """``(direction, |r|)`` of the singular direction with the largest pooled ``|r|``."""
        j = self.attributes.index(attribute)
        scores = np.abs(self.correlations()[: self.n_singular, j])
        k = int(np.argmax(scores))
        return self.directions[k], float(scores[k])

    def random_control(self, attribute):
        """Pooled ``|r|`` averaged over the random directions (NaN without any)."""
        j = self.attributes.index(attribute)
        scores = np.abs(self.correlations()[self.n_singular:, j])
        return float(scores.mean()) if scores.size else float("nan")

    def table(self):
        """Pooled ``r`` per direction (rows) and attribute (columns), with the output motion."""
        table = Table(title=f"corr(step, attribute change) pooled over {self.deltas.shape[0]} "
                            f"digits, t = {self.t:g} (directions oriented to add ink)")
        scores = self.correlations()
        motion = self.output_norms.mean(0)
        for k, name in enumerate(self.directions):
            row = {"direction": name}
            row.update({a: float(scores[k, j]) for j, a in enumerate(self.attributes)})
            row["output_motion"] = float(motion[k])
            table.add_row(**row)
        sweep = np.abs(self.sweep_correlations()).mean(0)
        effect = self.effect_sizes()
        s = self.n_singular
        for j, a in enumerate(self.attributes):
            best, value = self.best_singular(a)
            table.notes.append(
                f"{a}: best {best} |r| = {value:.3f}, random mean |r| = "
                f"{self.random_control(a):.3f}; per-sweep |r| singular {sweep[:s, j].max():.2f} "
                f"random {sweep[s:, j].mean():.2f}; effect (sd) singular {effect[:s, j].max():.2f} "
                f"random {effect[s:, j].mean():.2f}"
            )
        return table

    def __str__(self):
        return str(self.table())

    def plot(self):
        """Heatmap of the pooled ``|r|``, directions against attributes."""
        from matplotlib.figure import Figure

        scores = np.abs(self.correlations())
        fig = Figure(figsize=(6, 0.35 * len(self.directions) + 1.5), layout="constrained")
        ax = fig.subplots()
        image = ax.imshow(scores, vmin=0, vmax=1, cmap="magma", aspect="auto")
        ax.set_xticks(range(len(self.attributes)), self.attributes, rotation=30)
        ax.set_yticks(range(len(self.directions)), self.directions)
        for i in range(scores.shape[0]):
            for j in range(scores.shape[1]):
                ax.text(j, i, f"{scores[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if scores[i, j] < 0.5 else "black")
        ax.set(title=f"|corr(step, attribute change)|, t = {self.t:g}")
        fig.colorbar(image, ax=ax, shrink=0.8)
        return fig


def _pearson(x, y):
    x, y = x - x.mean(), y - y.mean()
    den = np.sqrt(np.sum(x**2) * np.sum(y**2))
    return float(np.sum(x * y) / den) if den > 0 else 0.0


def attribute_correspondence(denoiser, X, t, rank=5, n_random=5, steps=7, amplitude=6.0,
                             generator=0, threshold=0.5, scale=4, batch_size=256):
    """Edit noisy digits along Jacobian singular vectors and random directions; measure attributes.

    Each direction is oriented to add ink (``sum(u) >= 0``; see
    :class:`AttributeCorrespondence`). For every digit ``x_t`` (a row of ``X``, already
    noisy, in the denoiser's space) and every unit direction ``u`` (its top ``rank``
    right singular vectors, then ``n_random`` random unit vectors), the
    digits ``D(x_t + alpha u, t)`` for ``alpha`` in
    ``linspace(-amplitude, amplitude, steps)`` are measured
    (:func:`measure_digits`) and compared with ``D(x_t, t)``.

    Parameters
    ----------
    denoiser : callable ``denoiser(x_t, t)`` on flat rows of square images
    X : array-like of shape (n_digits, n_features)
        Noisy digits ``x_t``.
    t : float
    rank : int, default=5
    n_random : int, default=5
    steps : int, default=7
        Steps of the sweep (odd, so that 0 is one of them).
    amplitude : float, default=6.0
        Largest step, in the units of ``x_t``.
    generator : int, default=0
        Random directions and the probes of the Jacobian.
    threshold, scale : see :func:`measure_digit`
    batch_size : int, default=256

    Returns
    -------
    result : AttributeCorrespondence
    """
    import torch

    from subclust.bridge.jacobian import _as_points, jacobian_basis

    if not isinstance(steps, numbers.Integral) or steps < 3 or steps % 2 == 0:
        raise ValueError(
            f"steps must be an odd integer >= 3 (0 is the middle step), got {steps!r}."
        )
    if not amplitude > 0:
        raise ValueError(f"amplitude must be positive, got {amplitude}.")
    if not isinstance(n_random, numbers.Integral) or n_random < 0:
        raise ValueError(f"n_random must be a non-negative integer, got {n_random!r}.")
    Xt, _ = _as_points(denoiser, X)
    n_digits, n = Xt.shape
    jbs = jacobian_basis(denoiser, Xt, t, rank=rank, method="randomized",
                         generator=generator, batch_size=batch_size)
    rng = np.random.default_rng(generator)
    alphas = np.linspace(-amplitude, amplitude, steps)
    names = [f"sv{k + 1}" for k in range(rank)] + [f"rand{k + 1}" for k in range(n_random)]
    deltas = np.empty((n_digits, len(names), steps, len(ATTRIBUTES)))
    baseline = np.empty((n_digits, len(ATTRIBUTES)))
    motion = np.empty((n_digits, len(names)))
    side = int(round(np.sqrt(n)))
    dtype = Xt.dtype
    for i, jb in enumerate(jbs):
        R = rng.standard_normal((n, n_random))
        R /= np.linalg.norm(R, axis=0, keepdims=True)
        U = np.hstack([jb.right_vectors[:, :rank], R])  # (n, n_dirs)
        U = U * np.where(U.sum(0) < 0, -1.0, 1.0)  # every direction adds ink: the sign rule
        x = Xt[i].double().numpy()
        edited = x[None, None] + alphas[None, :, None] * U.T[:, None, :]  # (dirs, steps, n)
        rows = torch.as_tensor(edited.reshape(-1, n), dtype=dtype)
        with torch.no_grad():
            out = []
            for start in range(0, rows.shape[0], batch_size):
                chunk = rows[start:start + batch_size]
                tt = torch.full((chunk.shape[0],), float(t), dtype=torch.float64)
                out.append(denoiser(chunk, tt).double().numpy())
        out = np.concatenate(out).reshape(len(names), steps, n)
        measures = measure_digits(out.reshape(-1, side, side), threshold, scale)
        measures = measures.reshape(len(names), steps, len(ATTRIBUTES))
        middle = measures[:, steps // 2]
        deltas[i] = measures - middle[:, None]
        baseline[i] = middle[0]
        motion[i] = np.linalg.norm(out[:, -1] - out[:, 0], axis=1) / 2
    return AttributeCorrespondence(
        alphas=alphas, directions=names, deltas=deltas, baseline=baseline, output_norms=motion,
        singular_values=np.array([jb.singular_values for jb in jbs]), t=float(t),
    )
