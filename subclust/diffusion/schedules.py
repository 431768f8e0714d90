"""Noise in three parts: the forward process, the training noise levels, the sampling grid.

**The forward process** (a *schedule*) is

    x_t = s(t) x_0 + g(t) eps,        eps ~ N(0, I),

with ``sigma(t) = g(t) / s(t)`` the noise level of the rescaled variable
``x_t / s(t) = x_0 + sigma eps`` and ``t(sigma)`` its inverse. It has no time
range: which noise levels a denoiser is trained on, and which ones a sampler
visits, are chosen separately (Karras et al., NeurIPS 2022, keep the three
apart in the same way).

- VP (variance preserving, DDPM): ``s = sqrt(abar)``, ``g = sqrt(1 - abar)``,
  so ``s^2 + g^2 = 1``. :func:`vp_linear` is the continuous limit of DDPM's
  linear betas (Ho et al. 2020; Song et al., ICLR 2021: ``beta(t) = beta_min
  + t (beta_max - beta_min)``); :func:`vp_cosine` is the cosine schedule of
  Nichol & Dhariwal (ICML 2021).
- VE (variance exploding, Song et al. 2021): ``s = 1``,
  ``g = sigma_min (sigma_max / sigma_min)^t``.
- EDM (Karras et al., NeurIPS 2022): ``s = 1``, ``g = sigma = t``.

The functions are pure (tensors in, tensors out, computed in float64); the
frozen dataclasses :class:`VPLinear`, :class:`VPCosine`, :class:`VE` and
:class:`EDM` bundle their parameters with ``t(sigma)``.

**The training noise levels** are a distribution of times that the training
loss draws from: :class:`UniformTime` (``t`` uniform on a range, the loss of
DDPM and of Wang et al., arXiv:2409.02426) and :class:`LogNormalSigma`
(EDM's ``log sigma ~ N(P_mean, P_std^2)``, mapped to the time of the process).

**The sampling grid** is the decreasing sequence of times at which a sampler
calls the denoiser, a plain tensor: :func:`uniform_times` (DDPM's ``t = i / T``)
and :func:`karras_times` (EDM's noise levels :func:`karras_sigmas`, as times of
a process).

Time convention. Denoisers are called as ``denoiser(x_t, t)`` with the
continuous ``t`` of their own schedule (a tensor of shape ``(batch,)``).
DDPM with ``T`` discrete steps is the VP schedule evaluated at ``t = i / T``,
``i = T, ..., 1``: ``uniform_times(T, t_min=1 / T)`` (the default
``t_min=1e-3`` is DDPM's ``T = 1000``).
"""

import math
from numbers import Integral, Real
from dataclasses import dataclass

import torch

from subclust.utils.validation import (
    HasMethods,
    Interval,
    StrOptions,
    check_positive_int,
    validate_params,
)

__all__ = [
    "vp_linear",
    "vp_cosine",
    "ve",
    "edm",
    "Schedule",
    "VPLinear",
    "VPCosine",
    "VE",
    "EDM",
    "get_schedule",
    "UniformTime",
    "LogNormalSigma",
    "karras_sigmas",
    "karras_times",
    "uniform_times",
]


#: Times accepted by the schedule functions: a number, an array or a tensor.
_TIMES = [torch.Tensor, "array-like", Real]


def _check_range(low, high, name, *, zero_allowed=False):
    """Check ``0 < low < high`` (``0 <= low`` with ``zero_allowed``) of a ``name_min, name_max``."""
    if not (0 <= low if zero_allowed else 0 < low) or not low < high:
        raise ValueError(
            f"Need 0 {'<=' if zero_allowed else '<'} {name}_min < {name}_max, "
            f"got {name}_min={low}, {name}_max={high}."
        )


def _as_time(t):
    return torch.as_tensor(t, dtype=torch.float64)


def _vp_linear(t, beta_min, beta_max):
    """Unchecked :func:`vp_linear`, for the schedules' methods."""
    t = _as_time(t)
    B = beta_min * t + 0.5 * (beta_max - beta_min) * t**2
    return torch.exp(-0.5 * B), torch.sqrt(-torch.expm1(-B))


def _vp_cosine(t, offset):
    """Unchecked :func:`vp_cosine`, for the schedules' methods."""
    t = _as_time(t)
    a = offset / (1 + offset) * math.pi / 2
    b = (t + offset) / (1 + offset) * math.pi / 2
    s = torch.cos(b) / math.cos(a)
    g_sq = torch.sin(b - a) * torch.sin(b + a) / math.cos(a) ** 2
    return s, torch.sqrt(torch.clamp(g_sq, min=0.0))


def _ve(t, sigma_min, sigma_max):
    """Unchecked :func:`ve`, for the schedules' methods."""
    t = _as_time(t)
    return torch.ones_like(t), sigma_min * (sigma_max / sigma_min) ** t


def _edm(t):
    """Unchecked :func:`edm`, for the schedules' methods."""
    t = _as_time(t)
    return torch.ones_like(t), t.clone()


@validate_params(
    {
        "t": _TIMES,
        "beta_min": [Interval(Real, 0, None, closed="neither")],
        "beta_max": [Interval(Real, 0, None, closed="neither")],
    },
    prefer_skip_nested_validation=True,
)
def vp_linear(t, beta_min=0.1, beta_max=20.0):
    """Variance-preserving schedule with linear ``beta(t)``.

    ``abar(t) = exp(-B(t))`` with ``B(t) = beta_min t + (beta_max - beta_min) t^2 / 2``;
    ``s = sqrt(abar) = exp(-B/2)``, ``g = sqrt(1 - abar) = sqrt(-expm1(-B))``.
    The defaults reproduce DDPM's ``beta_1 = 1e-4 ... beta_T = 0.02`` for ``T = 1000``.

    Returns
    -------
    s, g : tensors of float64, of the shape of ``t``

    Examples
    --------
    >>> s, g = vp_linear(0.5)
    >>> round(float(s**2 + g**2), 12)
    1.0
    """
    return _vp_linear(t, beta_min, beta_max)


@validate_params(
    {
        "t": _TIMES,
        "offset": [Interval(Real, 0, None, closed="neither")],
    },
    prefer_skip_nested_validation=True,
)
def vp_cosine(t, offset=0.008):
    """Variance-preserving cosine schedule (Nichol & Dhariwal, ICML 2021).

    ``abar(t) = f(t) / f(0)``, ``f(t) = cos^2((t + offset) / (1 + offset) * pi / 2)``.
    ``1 - abar`` is computed as ``sin(b - a) sin(b + a) / cos^2(a)`` (with
    ``a``, ``b`` the angles at 0 and ``t``) to avoid cancellation at small ``t``.

    Returns
    -------
    s, g : tensors of float64

    Examples
    --------
    The process starts at clean data (``s = 1``, ``g = 0`` exactly) and
    preserves the variance:

    >>> import torch
    >>> s, g = vp_cosine(torch.tensor([0.0, 0.5, 0.9]))
    >>> float(s[0]), float(g[0])
    (1.0, 0.0)
    >>> bool(torch.allclose(s**2 + g**2, torch.ones(3, dtype=torch.float64)))
    True
    """
    return _vp_cosine(t, offset)


@validate_params(
    {
        "t": _TIMES,
        "sigma_min": [Interval(Real, 0, None, closed="neither")],
        "sigma_max": [Interval(Real, 0, None, closed="neither")],
    },
    prefer_skip_nested_validation=True,
)
def ve(t, sigma_min=0.01, sigma_max=50.0):
    """Variance-exploding schedule: ``s = 1``, ``g = sigma_min (sigma_max / sigma_min)^t``.

    Returns
    -------
    s, g : tensors of float64, of the shape of ``t``

    Examples
    --------
    The noise level is geometric in ``t``, from ``sigma_min`` to ``sigma_max``:

    >>> import torch
    >>> s, g = ve(torch.tensor([0.0, 0.5, 1.0]))
    >>> s.tolist(), [round(v, 6) for v in g.tolist()]
    ([1.0, 1.0, 1.0], [0.01, 0.707107, 50.0])
    """
    return _ve(t, sigma_min, sigma_max)


@validate_params(
    {
        "t": _TIMES,
    },
    prefer_skip_nested_validation=True,
)
def edm(t):
    """EDM schedule of Karras et al. (NeurIPS 2022): ``s = 1``, ``g = sigma = t``.

    Returns
    -------
    s, g : tensors of float64, of the shape of ``t``

    Examples
    --------
    >>> s, g = edm([0.002, 1.0, 80.0])
    >>> s.tolist(), g.tolist()
    ([1.0, 1.0, 1.0], [0.002, 1.0, 80.0])
    """
    return _edm(t)


class Schedule:
    """A forward process ``x_t = s(t) x_0 + g(t) eps``.

    Subclasses implement :meth:`s_and_g` and :meth:`t_of_sigma`; the rest is
    shared. Time values are tensors (or floats); results are float64 tensors.

    Examples
    --------
    A subclass gives ``s``, ``g`` and the inverse ``t(sigma)``:

    >>> import torch
    >>> class Linear(Schedule):  # s = 1, g = 2 t
    ...     def s_and_g(self, t):
    ...         t = torch.as_tensor(t, dtype=torch.float64)
    ...         return torch.ones_like(t), 2 * t
    ...     def t_of_sigma(self, sigma):
    ...         return torch.as_tensor(sigma, dtype=torch.float64) / 2
    >>> process = Linear()
    >>> float(process.sigma(0.5)), float(process.t_of_sigma(1.0))
    (1.0, 0.5)
    >>> karras_times(process, 3, sigma_min=0.02, sigma_max=20.0)[[0, -1]].tolist()
    [10.0, 0.01]
    """

    def s_and_g(self, t):
        """Signal scale ``s(t)`` and noise standard deviation ``g(t)``."""
        raise NotImplementedError

    def t_of_sigma(self, sigma):
        """The time at which ``g(t) / s(t) = sigma`` (the inverse of :meth:`sigma`)."""
        raise NotImplementedError

    def s(self, t):
        """Signal scale ``s(t)``."""
        return self.s_and_g(t)[0]

    def g(self, t):
        """Noise standard deviation ``g(t)``."""
        return self.s_and_g(t)[1]

    def sigma(self, t):
        """Noise level of the rescaled variable ``x_t / s(t)``: ``g(t) / s(t)``."""
        s, g = self.s_and_g(t)
        return g / s


@dataclass(frozen=True)
class VPLinear(Schedule):
    """DDPM's variance-preserving schedule with linear betas in continuous time (:func:`vp_linear`).

    ``t`` runs over ``[0, 1]``; DDPM's ``T`` steps are ``t = i / T``.

    Parameters
    ----------
    beta_min, beta_max : float, default=0.1, 20.0

    Examples
    --------
    >>> import torch
    >>> process = VPLinear()
    >>> round(float(process.sigma(1.0)), 1), round(float(process.sigma(1e-3)), 4)
    (152.2, 0.0105)
    >>> t = torch.tensor([0.01, 0.5, 1.0], dtype=torch.float64)
    >>> bool(torch.allclose(process.t_of_sigma(process.sigma(t)), t))  # t(sigma) inverts sigma(t)
    True
    """

    beta_min: float = 0.1
    beta_max: float = 20.0

    def __post_init__(self):
        _check_range(self.beta_min, self.beta_max, "beta")

    def s_and_g(self, t):
        return _vp_linear(t, self.beta_min, self.beta_max)

    def t_of_sigma(self, sigma):
        # sigma^2 = exp(B) - 1, B(t) = b0 t + (b1 - b0) t^2 / 2; the root, free of cancellation.
        B = torch.log1p(_as_time(sigma) ** 2)
        b0, db = self.beta_min, self.beta_max - self.beta_min
        return 2 * B / (b0 + torch.sqrt(b0**2 + 2 * db * B))


@dataclass(frozen=True)
class VPCosine(Schedule):
    """The cosine variance-preserving schedule (:func:`vp_cosine`).

    ``t`` runs over ``[0, 1)``: at ``t = 1``, ``s = 0`` and the noise level is
    infinite, so grids stop short of it (``t = 0.995`` is ``sigma`` about 128;
    Nichol & Dhariwal clip the betas for the same reason).

    Parameters
    ----------
    offset : float, default=0.008

    Examples
    --------
    >>> import torch
    >>> process = VPCosine()
    >>> round(float(process.sigma(0.995)), 1)
    128.3
    >>> t = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    >>> bool(torch.allclose(process.t_of_sigma(process.sigma(t)), t))  # t(sigma) inverts sigma(t)
    True
    """

    offset: float = 0.008

    def __post_init__(self):
        if self.offset < 0:
            raise ValueError(f"offset must be non-negative, got {self.offset}.")

    def s_and_g(self, t):
        return _vp_cosine(t, self.offset)

    def t_of_sigma(self, sigma):
        # abar = 1 / (1 + sigma^2) = cos^2(b) / cos^2(a)
        a = self.offset / (1 + self.offset) * math.pi / 2
        cos_b = math.cos(a) / torch.sqrt(1 + _as_time(sigma) ** 2)
        return torch.arccos(cos_b) * (1 + self.offset) * 2 / math.pi - self.offset


@dataclass(frozen=True)
class VE(Schedule):
    """Variance-exploding schedule (:func:`ve`): ``sigma`` geometric in ``t``.

    Parameters
    ----------
    sigma_min, sigma_max : float, default=0.01, 50.0
        Noise levels at ``t = 0`` and ``t = 1``.

    Examples
    --------
    >>> import torch
    >>> process = VE()
    >>> [round(float(process.sigma(t)), 6) for t in (0.0, 1.0)]
    [0.01, 50.0]
    >>> t = torch.tensor([0.0, 0.3, 1.0], dtype=torch.float64)
    >>> bool(torch.allclose(process.t_of_sigma(process.sigma(t)), t))  # t(sigma) inverts sigma(t)
    True
    """

    sigma_min: float = 0.01
    sigma_max: float = 50.0

    def __post_init__(self):
        _check_range(self.sigma_min, self.sigma_max, "sigma")

    def s_and_g(self, t):
        return _ve(t, self.sigma_min, self.sigma_max)

    def t_of_sigma(self, sigma):
        return torch.log(_as_time(sigma) / self.sigma_min) / math.log(
            self.sigma_max / self.sigma_min
        )


@dataclass(frozen=True)
class EDM(Schedule):
    """The EDM schedule (:func:`edm`): ``t = sigma``.

    Examples
    --------
    >>> EDM().t_of_sigma(2.5).item()
    2.5
    """

    def s_and_g(self, t):
        return _edm(t)

    def t_of_sigma(self, sigma):
        return _as_time(sigma).clone()


_SCHEDULES = {"vp-linear": VPLinear, "vp-cosine": VPCosine, "ve": VE, "edm": EDM}


@validate_params(
    {
        "schedule": [Schedule, StrOptions(set(_SCHEDULES)), None],
    },
    prefer_skip_nested_validation=True,
)
def get_schedule(schedule):
    """A :class:`Schedule` from an instance or a name: 'vp-linear', 'vp-cosine', 've', 'edm'.

    None gives the default :class:`VPLinear`; an instance is returned as is.

    Examples
    --------
    >>> get_schedule("edm")
    EDM()
    >>> get_schedule(None) == VPLinear()
    True
    >>> process = VE(sigma_max=80.0)
    >>> get_schedule(process) is process
    True
    """
    if schedule is None:
        return VPLinear()
    if isinstance(schedule, Schedule):
        return schedule
    return _SCHEDULES[schedule]()


# --------------------------------------------------------------------------- training noise


def _device(generator):
    return "cpu" if generator is None else generator.device


@dataclass(frozen=True)
class UniformTime:
    """Training times uniform on ``[t_min, t_max]`` of the process.

    The paper's loss (Wang et al., arXiv:2409.02426) and DDPM's draw ``t``
    uniformly; a narrow range at low noise (``t_max = 0.02`` on VP-linear)
    trains the low-rank mixture denoiser where its soft-max is close to the
    K-subspaces assignment.

    Parameters
    ----------
    t_min, t_max : float, default=1e-3, 1.0
        ``t_min > 0`` keeps the noise away from zero, where denoisers are
        ill-conditioned (on VE, ``t = 0`` is still ``sigma_min > 0``).

    Examples
    --------
    >>> import torch
    >>> levels = UniformTime(t_max=0.02)
    >>> t = levels.sample_times(VPLinear(), 1000, generator=torch.Generator().manual_seed(0))
    >>> t.dtype, bool(t.min() >= 1e-3), bool(t.max() <= 0.02)
    (torch.float64, True, True)
    """

    t_min: float = 1e-3
    t_max: float = 1.0

    def __post_init__(self):
        _check_range(self.t_min, self.t_max, "t", zero_allowed=True)

    def sample_times(self, schedule, n, generator=None):
        """``n`` times (float64, shape ``(n,)``) drawn with ``generator``; ``schedule`` unused."""
        n = check_positive_int(n, "n")
        u = torch.rand(n, generator=generator, dtype=torch.float64, device=_device(generator))
        return self.t_min + (self.t_max - self.t_min) * u


@dataclass(frozen=True)
class LogNormalSigma:
    """EDM's training noise levels: ``log sigma ~ N(p_mean, p_std^2)`` (Karras et al., 2022).

    Drawn noise levels are clipped to ``[sigma_min, sigma_max]`` (EDM's
    sampling range by default) and mapped to the times ``t(sigma)`` of the process.

    Parameters
    ----------
    p_mean, p_std : float, default=-1.2, 1.2
    sigma_min, sigma_max : float, default=0.002, 80.0

    Examples
    --------
    >>> import torch
    >>> levels = LogNormalSigma()
    >>> t = levels.sample_times(EDM(), 1000, generator=torch.Generator().manual_seed(0))
    >>> round(float(torch.log(t).median()), 1)  # on EDM t = sigma: log sigma ~ N(-1.2, 1.2^2)
    -1.2
    >>> bool(t.min() >= 0.002), bool(t.max() <= 80.0)
    (True, True)
    """

    p_mean: float = -1.2
    p_std: float = 1.2
    sigma_min: float = 0.002
    sigma_max: float = 80.0

    def __post_init__(self):
        if not self.p_std > 0:
            raise ValueError(f"p_std must be positive, got {self.p_std}.")
        _check_range(self.sigma_min, self.sigma_max, "sigma")

    def sample_times(self, schedule, n, generator=None):
        """``n`` times of ``schedule`` (float64, shape ``(n,)``) drawn with ``generator``."""
        n = check_positive_int(n, "n")
        z = torch.randn(n, generator=generator, dtype=torch.float64, device=_device(generator))
        sigma = torch.exp(self.p_mean + self.p_std * z).clamp(self.sigma_min, self.sigma_max)
        return schedule.t_of_sigma(sigma)


# --------------------------------------------------------------------------- sampling grids


@validate_params(
    {
        "n": [Interval(Integral, 1, None, closed="left")],
        "sigma_min": [Interval(Real, 0, None, closed="neither")],
        "sigma_max": [Interval(Real, 0, None, closed="neither")],
        "rho": [Interval(Real, 0, None, closed="neither")],
    },
    prefer_skip_nested_validation=True,
)
def karras_sigmas(n, sigma_min, sigma_max, rho=7.0):
    """The EDM discretization of noise levels, from ``sigma_max`` down to ``sigma_min``.

    ``sigma_i = (sigma_max^(1/rho) + i / (n - 1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho``
    for ``i = 0, ..., n - 1`` (Karras et al., NeurIPS 2022, eq. 5); ``rho = 7``
    spends more steps at low noise.

    Returns
    -------
    sigmas : tensor of float64 of shape (n,), decreasing

    Examples
    --------
    >>> karras_sigmas(3, 0.002, 80.0)[[0, -1]].tolist()
    [80.0, 0.002]
    """
    _check_range(sigma_min, sigma_max, "sigma")
    if n == 1:
        return torch.tensor([float(sigma_max)], dtype=torch.float64)
    ramp = torch.linspace(0, 1, n, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (hi + ramp * (lo - hi)) ** rho
    sigmas[0], sigmas[-1] = sigma_max, sigma_min  # exact endpoints despite rounding
    return sigmas


@validate_params(
    {
        "schedule": [HasMethods(["t_of_sigma"])],
        "steps": [Interval(Integral, 1, None, closed="left")],
        "sigma_min": [Interval(Real, 0, None, closed="neither")],
        "sigma_max": [Interval(Real, 0, None, closed="neither")],
        "rho": [Interval(Real, 0, None, closed="neither")],
    },
    prefer_skip_nested_validation=True,
)
def karras_times(schedule, steps, sigma_min=0.002, sigma_max=80.0, rho=7.0):
    """EDM's sampling grid as times of a process: ``t(sigma_i)`` of :func:`karras_sigmas`.

    Parameters
    ----------
    schedule : Schedule
    steps : int
        Number of noise levels.
    sigma_min, sigma_max : float, default=0.002, 80.0
        Smallest and largest noise level (EDM's).
    rho : float, default=7.0

    Returns
    -------
    times : tensor of float64 of shape (steps,), decreasing

    Examples
    --------
    >>> import torch
    >>> karras_times(EDM(), 18)[[0, -1]].tolist()  # on EDM t = sigma
    [80.0, 0.002]
    >>> t = karras_times(VPLinear(), 5)
    >>> bool(torch.allclose(VPLinear().sigma(t), karras_sigmas(5, 0.002, 80.0)))
    True
    """
    return schedule.t_of_sigma(karras_sigmas(steps, sigma_min, sigma_max, rho))


@validate_params(
    {
        "steps": [Interval(Integral, 1, None, closed="left")],
        "t_min": [Interval(Real, 0, None, closed="left")],
        "t_max": [Interval(Real, 0, None, closed="neither")],
    },
    prefer_skip_nested_validation=True,
)
def uniform_times(steps, t_min=1e-3, t_max=1.0):
    """DDPM's sampling grid: ``steps`` times uniform from ``t_max`` down to ``t_min``.

    ``T`` steps with ``t_min = 1 / T`` are DDPM's ``t = i / T``, ``i = T, ..., 1``.
    Pick ``t_max`` where the process is nearly pure noise (``t_max = 0.995`` for
    :class:`VPCosine`, where ``s(1) = 0``).

    Returns
    -------
    times : tensor of float64 of shape (steps,), decreasing

    Examples
    --------
    >>> uniform_times(4, t_min=0.25).tolist()
    [1.0, 0.75, 0.5, 0.25]
    """
    _check_range(t_min, t_max, "t", zero_allowed=True)
    if steps == 1:
        return torch.tensor([float(t_max)], dtype=torch.float64)
    return torch.linspace(t_max, t_min, steps, dtype=torch.float64)
