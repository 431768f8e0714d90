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

from subclust.utils.tables import Table
from subclust.utils.validation import Interval, validate_params

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


#: How a digit image is binarized before it is measured.
_BINARIZE_CONSTRAINTS = {
    "threshold": [Interval(numbers.Real, 0, 1, closed="neither")],
    "scale": [Interval(numbers.Integral, 1, None, closed="left")],
}


@validate_params(
    {"image": ["array-like"], **_BINARIZE_CONSTRAINTS}, prefer_skip_nested_validation=True
)
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
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D (h, w), got shape {image.shape}.")
    if not np.all(np.isfinite(image)):
        raise ValueError("image contains NaN or infinity.")
    return _measure_binary(_binarize(image, threshold, scale), scale, _skeletonize())


@validate_params(
    {"images": ["array-like"], **_BINARIZE_CONSTRAINTS}, prefer_skip_nested_validation=True
)
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
    """Which directions at a noisy digit edit which attributes of the denoised digit.

    Every digit ``x_t`` is edited ``n_edits`` times, each time along all its
    directions at once: ``x_t + sum_k c_k u_k`` with independent steps ``c_k``
    drawn uniformly in ``[-amplitude, amplitude]``. The correlation of direction
    ``k`` with an attribute at that digit is Pearson's ``r`` between the steps
    ``c_k`` and the attribute of the denoised edits. Because every direction moves
    at once, ``r^2`` is about the share of the attribute's variation that the
    direction drives: a direction the denoiser barely responds to (a random one) is
    drowned by those it does respond to, however regular its own small effect.
    (One direction at a time, ``r`` would only measure how smooth an effect is,
    which is high for any direction.)

    ``|r|`` is free of the sign of a singular vector, which has none of its own,
    and is taken per digit: singular vectors are local, ``sv2`` of one digit has
    nothing to do with ``sv2`` of another. :meth:`best_singular` therefore asks, digit
    by digit, whether one of the top singular directions edits the attribute;
    :meth:`best_random` asks the same of the random directions (the like-for-like
    control) and :meth:`random_control` averages them.

    Attributes
    ----------
    steps : ndarray of shape (n_digits, n_edits, n_directions)
        The steps ``c`` of every edit.
    measures : ndarray of shape (n_digits, n_edits, n_attributes)
        Attributes of the denoised edits (NaN for a blank digit).
    baseline : ndarray of shape (n_digits, n_attributes)
        Attributes of the unedited denoised digits.
    directions : list of str
        ``'sv1' ... 'svr'`` then ``'rand1' ... 'randk'``.
    singular_values : ndarray of shape (n_digits, r)
    attributes : tuple of str
    t, amplitude : float
    """

    steps: np.ndarray = field(repr=False)
    measures: np.ndarray = field(repr=False)
    baseline: np.ndarray = field(repr=False)
    directions: list = field(default_factory=list)
    singular_values: np.ndarray = field(repr=False, default=None)
    attributes: tuple = ATTRIBUTES
    t: float = 0.0
    amplitude: float = 1.0
    _r: np.ndarray = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self):
        # Every summary reads the per-digit correlations: compute them once.
        self._r = self._correlations()

    @property
    def n_singular(self):
        return sum(d.startswith("sv") for d in self.directions)

    def correlations(self):
        """Per-digit ``r`` between each direction's steps and each attribute.

        Returns
        -------
        r : ndarray of shape (n_digits, n_directions, n_attributes)
            Edits whose attribute could not be measured are left out; 0 where the
            attribute did not change (or fewer than three edits remain).
        """
        return self._r.copy()

    def _correlations(self):
        n_digits, _, n_dirs = self.steps.shape
        r = np.zeros((n_digits, n_dirs, len(self.attributes)))
        for i in range(n_digits):
            for j in range(len(self.attributes)):
                keep = np.isfinite(self.measures[i, :, j])
                if keep.sum() >= 3:
                    r[i, :, j] = _pearson_columns(self.steps[i, keep], self.measures[i, keep, j])
        return r

    def mean_abs_correlations(self):
        """``|r|`` averaged over the digits, shape (n_directions, n_attributes)."""
        return np.abs(self._r).mean(0)

    def null_level(self):
        """Mean ``|r|`` of a direction without effect, ``sqrt(2 / (pi (n_edits - 1)))``."""
        return float(np.sqrt(2 / (np.pi * (self.steps.shape[1] - 1))))

    def _best(self, attribute, rows):
        j = self.attributes.index(attribute)
        scores = np.abs(self._r[:, rows, j])
        return float(scores.max(1).mean()) if scores.size else float("nan")

    def best_singular(self, attribute):
        """Mean over the digits of the largest ``|r|`` among the singular directions."""
        return self._best(attribute, slice(0, self.n_singular))

    def best_random(self, attribute):
        """Mean over the digits of the largest ``|r|`` among the random directions."""
        return self._best(attribute, slice(self.n_singular, None))

    def random_control(self, attribute):
        """``|r|`` averaged over the digits and the random directions (NaN without any)."""
        j = self.attributes.index(attribute)
        scores = np.abs(self._r[:, self.n_singular:, j])
        return float(scores.mean()) if scores.size else float("nan")

    def _rows(self):
        """Row names and values: mean ``|r|`` per direction, then the per-digit bests."""
        names = list(self.directions) + ["best sv"]
        rows = [*self.mean_abs_correlations(), [self.best_singular(a) for a in self.attributes]]
        if len(self.directions) > self.n_singular:
            names.append("best rand")
            rows.append([self.best_random(a) for a in self.attributes])
        return names, np.array(rows)

    def table(self):
        """Mean ``|r|`` per direction (rows) and attribute (columns), then the per-digit bests."""
        n_digits, n_edits, _ = self.steps.shape
        table = Table(title=f"|corr(step, attribute)| per digit, mean over {n_digits} digits, "
                            f"{n_edits} joint edits each, t = {self.t:g}")
        names, scores = self._rows()
        for name, row in zip(names, scores):
            table.add_row(direction=name, **{a: float(v) for a, v in zip(self.attributes, row)})
        table.notes.append(f"a direction without effect has mean |r| about "
                           f"{self.null_level():.3f}; 'best' rows: the largest |r| at each "
                           "digit, averaged over the digits")
        return table

    def __str__(self):
        return str(self.table())

    def plot(self):
        """Heatmap of the rows of :meth:`table`, directions against attributes."""
        from matplotlib.figure import Figure

        names, scores = self._rows()
        fig = Figure(figsize=(6, 0.35 * len(names) + 1.5), layout="constrained")
        ax = fig.subplots()
        image = ax.imshow(scores, vmin=0, vmax=1, cmap="magma", aspect="auto")
        ax.set_xticks(range(len(self.attributes)), self.attributes, rotation=30)
        ax.set_yticks(range(len(names)), names)
        for i in range(scores.shape[0]):
            for j in range(scores.shape[1]):
                ax.text(j, i, f"{scores[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if scores[i, j] < 0.5 else "black")
        ax.set(title=f"mean |corr(step, attribute)| per digit, t = {self.t:g}")
        fig.colorbar(image, ax=ax, shrink=0.8)
        return fig


def _pearson_columns(A, y):
    """Pearson's ``r`` between every column of ``A`` and ``y`` (0 where either is constant)."""
    A = A - A.mean(0)
    y = y - y.mean()
    den = np.sqrt(np.sum(A**2, axis=0) * np.sum(y**2))
    return np.divide(A.T @ y, den, out=np.zeros(A.shape[1]), where=den > 0)


@validate_params(
    {
        "denoiser": [callable],
        "X": ["array-like"],
        "t": [Interval(numbers.Real, 0, None, closed="neither")],
        "rank": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_random": [Interval(numbers.Integral, 0, None, closed="left")],
        "n_edits": [Interval(numbers.Integral, 3, None, closed="left")],
        "amplitude": [Interval(numbers.Real, 0, None, closed="neither")],
        "random_state": [Interval(numbers.Integral, 0, None, closed="left"), None],
        "threshold": [Interval(numbers.Real, 0, 1, closed="neither")],
        "scale": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def attribute_correspondence(denoiser, X, t, rank=5, n_random=5, n_edits=96, amplitude=3.0,
                             random_state=0, threshold=0.5, scale=4, batch_size=256):
    """Edit noisy digits along Jacobian singular vectors and random directions; measure attributes.

    For every digit ``x_t`` (a row of ``X``, already noisy, in the denoiser's
    space) the directions are its top ``rank`` right singular vectors and
    ``n_random`` random unit vectors. The digit is edited ``n_edits`` times along
    all of them at once, ``x_t + sum_k c_k u_k`` with ``c_k`` uniform in
    ``[-amplitude, amplitude]``, each edit is denoised, ``D(., t)``, and measured
    (:func:`measure_digits`). See :class:`AttributeCorrespondence` for what the
    correlations mean.

    Parameters
    ----------
    denoiser : callable ``denoiser(x_t, t)`` on flat rows of square images
    X : array-like of shape (n_digits, n_features)
        Noisy digits ``x_t``.
    t : float
    rank : int, default=5
    n_random : int, default=5
    n_edits : int, default=96
        Edits per digit (a direction without effect then has mean ``|r|`` about 0.08).
    amplitude : float, default=3.0
        Largest step along each direction, in the units of ``x_t``.
    random_state : int or None, default=0
        Seed of the steps, the random directions and the probes of the Jacobian.
    threshold, scale : see :func:`measure_digit`
    batch_size : int, default=256

    Returns
    -------
    result : AttributeCorrespondence

    Examples
    --------
    A denoiser that keeps only the part of ``x_t`` along the two columns flanking a
    stroke (its Jacobian is ``v v^T``): its singular direction thickens the stroke.

    >>> import numpy as np, torch
    >>> from subclust.bridge import attribute_correspondence
    >>> flank = np.zeros((28, 28)); flank[4:24, [11, 16]] = 1
    >>> v = torch.as_tensor(flank.ravel() / np.linalg.norm(flank))
    >>> bar = -torch.ones(784); bar.view(28, 28)[4:24, 12:16] = 1
    >>> def denoiser(x, t):
    ...     return bar + ((x @ v)[:, None] - 2) * v
    >>> result = attribute_correspondence(denoiser, np.zeros((2, 784)), 0.5, rank=1,
    ...                                   n_random=2, n_edits=32, amplitude=12.0)
    >>> result.best_singular("thickness") > 0.8 > 0.3 > result.random_control("thickness")
    True
    """
    from subclust.bridge.jacobian import _as_points, denoise_rows, jacobian_basis

    Xt, _ = _as_points(denoiser, X)
    n_digits, n = Xt.shape
    jbs = jacobian_basis(denoiser, Xt, t, rank=rank, method="randomized",
                         random_state=random_state, batch_size=batch_size)
    rng = np.random.default_rng(random_state)
    names = [f"sv{k + 1}" for k in range(rank)] + [f"rand{k + 1}" for k in range(n_random)]
    steps = rng.uniform(-amplitude, amplitude, (n_digits, n_edits, len(names)))
    measures = np.empty((n_digits, n_edits, len(ATTRIBUTES)))
    baseline = np.empty((n_digits, len(ATTRIBUTES)))
    side = int(round(np.sqrt(n)))
    for i, jb in enumerate(jbs):
        R = rng.standard_normal((n, n_random))
        R /= np.linalg.norm(R, axis=0, keepdims=True)
        U = np.hstack([jb.right_vectors[:, :rank], R])  # (n, n_directions)
        x = Xt[i].double().numpy()
        rows = np.vstack([x[None], x[None] + steps[i] @ U.T])  # the unedited digit first
        out = denoise_rows(denoiser, rows, t, batch_size)
        measured = measure_digits(out.reshape(-1, side, side), threshold, scale)
        baseline[i], measures[i] = measured[0], measured[1:]
    return AttributeCorrespondence(
        steps=steps, measures=measures, baseline=baseline, directions=names,
        singular_values=np.array([jb.singular_values[:rank] for jb in jbs]), t=float(t),
        amplitude=float(amplitude),
    )

