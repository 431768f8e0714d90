"""Parameter constraints shared by the experiments that train a denoiser network."""

from numbers import Integral, Real

from subclust.utils.validation import Interval

__all__ = []

_POSITIVE_INT = [Interval(Integral, 1, None, closed="left")]

#: The network (``hidden`` units, ``depth`` layers) and its training by Adam.
TRAINING_CONSTRAINTS = {
    "steps": _POSITIVE_INT,
    "batch_size": _POSITIVE_INT,
    "lr": [Interval(Real, 0, None, closed="neither")],
    "hidden": _POSITIVE_INT,
    "depth": _POSITIVE_INT,
}

#: The sampler that draws from the trained network, and its number of steps.
SAMPLING_CONSTRAINTS = {"sampler": [str], "sampler_steps": _POSITIVE_INT}
