"""Small tensor helpers shared by the diffusion modules."""

import math
from numbers import Integral

import numpy as np
import torch

from subclust.utils.validation import TORCH_RANDOM_STATE, Interval, validate_params

__all__ = ["append_dims", "as_generator", "check_device"]


def _append_dims(x, target_dims):
    """Unchecked :func:`append_dims`, for the layer's inner loops."""
    missing = target_dims - x.ndim
    if missing < 0:
        raise ValueError(f"x has {x.ndim} dimensions, more than target_dims={target_dims}.")
    return x[(...,) + (None,) * missing]


@validate_params(
    {
        "x": [torch.Tensor],
        "target_dims": [Interval(Integral, 0, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def append_dims(x, target_dims):
    """Append trailing singleton dimensions to ``x`` until it has ``target_dims`` dimensions.

    Lets per-sample quantities of shape ``(batch,)`` broadcast against
    vectors ``(batch, n)`` and images ``(batch, c, h, w)`` alike.

    Examples
    --------
    >>> append_dims(torch.ones(4), 3).shape
    torch.Size([4, 1, 1])
    """
    return _append_dims(x, target_dims)


def as_tensor(X, dtype=None, device=None, name="X"):
    """A floating tensor from an array or tensor (float32 and float64 kept), checked finite."""
    if isinstance(X, torch.Tensor):
        T = X
    else:
        T = torch.as_tensor(np.asarray(X))
    if not T.is_floating_point():
        T = T.to(torch.get_default_dtype() if dtype is None else dtype)
    if dtype is not None or device is not None:
        T = T.to(dtype=dtype or T.dtype, device=device)
    if T.dtype not in (torch.float32, torch.float64):
        T = T.to(torch.float32)
    if not bool(torch.isfinite(T).all()):
        raise ValueError(f"{name} contains NaN or infinity; remove or impute those values first.")
    return T


def per_sample(value, batch, like):
    """A per-sample tensor of shape ``(batch,)`` in the dtype and device of ``like``."""
    if isinstance(value, torch.Tensor):
        value = value.to(like.device)
    else:  # Python numbers keep double precision (a float32 round-off of t moves s(t), g(t))
        value = torch.as_tensor(value, dtype=torch.float64, device=like.device)
    if value.ndim == 0:
        value = value.expand(batch)
    elif value.shape != (batch,):
        raise ValueError(
            f"t must be a scalar or have shape ({batch},) to match the batch, "
            f"got {tuple(value.shape)}."
        )
    return value


def schedule_coefficients(schedule, t, x):
    """``(s(t), g(t))`` as per-sample tensors of shape ``(batch,)`` in the dtype of ``x``.

    The schedule is evaluated in float64 and then cast, so float32 inputs keep
    float32 arithmetic without losing accuracy at small ``t``.
    """
    t = per_sample(t, x.shape[0], x).to(torch.float64)
    s, g = schedule.s_and_g(t)
    return s.to(x.dtype), g.to(x.dtype)


@validate_params(
    {
        "random_state": TORCH_RANDOM_STATE,
        "device": [str, torch.device, None],
    },
    prefer_skip_nested_validation=True,
)
def as_generator(random_state, device=None):
    """A ``torch.Generator`` from a generator, an int seed, or None (fresh OS entropy).

    The one place where the diffusion layer turns a ``random_state`` into a
    generator. Never touches torch's global random state.

    Parameters
    ----------
    random_state : int, torch.Generator or None
        A generator is returned as it is (and advanced by whoever draws from
        it); an int seeds a new one; None seeds a new one from fresh OS entropy.
    device : str or torch.device, optional
        Where a new generator lives (default: the CPU).

    Returns
    -------
    generator : torch.Generator

    Examples
    --------
    >>> gen = as_generator(0)
    >>> bool(torch.equal(torch.rand(3, generator=gen),
    ...                  torch.rand(3, generator=torch.Generator().manual_seed(0))))
    True
    >>> as_generator(gen) is gen
    True
    """
    if isinstance(random_state, torch.Generator):
        return random_state
    if random_state is None:
        seed = int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0] >> 1)
    else:
        seed = int(random_state)
    return torch.Generator(device=device or "cpu").manual_seed(seed)


@validate_params({"device": [str, torch.device]}, prefer_skip_nested_validation=True)
def check_device(device):
    """``device`` as a ``torch.device`` that this PyTorch can allocate on.

    The diffusion layer's estimators and experiments check the device they
    are given here, once, so that a device the machine lacks gets one clear
    line rather than an error from deep inside PyTorch.

    Parameters
    ----------
    device : str or torch.device
        Such as 'cpu', 'cuda', 'cuda:1' or 'mps'.

    Returns
    -------
    device : torch.device

    Raises
    ------
    ValueError
        If PyTorch does not know the device, or cannot allocate on it here
        (a build without CUDA, no GPU visible, no such GPU index).

    Examples
    --------
    >>> check_device("cpu")
    device(type='cpu')
    """
    try:
        device = torch.device(device)
        torch.empty(0, device=device)
    except (RuntimeError, TypeError, AssertionError) as error:  # AssertionError: no CUDA build
        raise ValueError(f"device {str(device)!r} cannot be used here ({error}); use 'cpu' or "
                         "a device this PyTorch has.") from None
    return device


def reset_layer_(layer, generator):
    """Initialize a linear or convolution layer as PyTorch does, drawing from ``generator``.

    Kaiming-uniform weights (``a = sqrt(5)``) and a bias uniform on
    ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]``: the initialization of
    :class:`torch.nn.Linear` and :class:`torch.nn.Conv2d`, without torch's
    global generator.
    """
    torch.nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
    bound = 1 / math.sqrt(layer.weight[0].numel())
    torch.nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
