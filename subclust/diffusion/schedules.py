"""Noise schedules: the scale ``s(t)`` and noise level ``g(t)`` of the forward process.

Every schedule describes the forward (noising) process

    x_t = s(t) x_0 + g(t) eps,        eps ~ N(0, I),

for a continuous time ``t`` in ``[t_min, t_max]``; ``sigma(t) = g(t) / s(t)``
is the noise level of the rescaled variable ``x_t / s(t) = x_0 + sigma eps``.

- VP (variance preserving, DDPM): ``s = sqrt(abar)``, ``g = sqrt(1 - abar)``,
  so ``s^2 + g^2 = 1``. :func:`vp_linear` is the continuous limit of DDPM's
  linear betas (Ho et al. 2020; Song et al., ICLR 2021: ``beta(t) = beta_min
  + t (beta_max - beta_min)``); :func:`vp_cosine` is the cosine schedule of
  Nichol & Dhariwal (ICML 2021).
- VE (variance exploding, Song et al. 2021): ``s = 1``,
  ``g = sigma_min (sigma_max / sigma_min)^t``.
- EDM (Karras et al., NeurIPS 2022): ``s = 1``, ``g = sigma = t``; sampled on
  the grid of :func:`karras_sigmas`.

The functions are pure (tensors in, tensors out, computed in float64); the
small frozen dataclasses :class:`VPLinear`, :class:`VPCosine`, :class:`VE` and
:class:`EDM` bundle their parameters with the time domain and the inverse
map ``t(sigma)``, which the samplers and the training loss use.

Time convention. Denoisers are called as ``denoiser(x_t, t)`` with the
continuous ``t`` of the schedule (a tensor of shape ``(batch,)``). DDPM with
``T`` discrete steps is the VP schedule evaluated at ``t = i / T``,
``i = T, ..., 1``: :meth:`Schedule.time_grid` with ``t_min = 1 / T``
(the default ``t_min=1e-3`` is DDPM's ``T = 1000``).
"""

import math
from dataclasses import dataclass

import torch

__all__ = [
    "vp_linear",
    "vp_cosine",
    "ve",
    "edm",
    "karras_sigmas",
    "Schedule",
    "VPLinear",
    "VPCosine",
    "VE",
    "EDM",
    "get_schedule",
]


def _as_time(t):
    return torch.as_tensor(t, dtype=torch.float64)


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
    t = _as_time(t)
    B = beta_min * t + 0.5 * (beta_max - beta_min) * t**2
    return torch.exp(-0.5 * B), torch.sqrt(-torch.expm1(-B))


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
    t = _as_time(t)
    a = offset / (1 + offset) * math.pi / 2
    b = (t + offset) / (1 + offset) * math.pi / 2
    s = torch.cos(b) / math.cos(a)
    g_sq = torch.sin(b - a) * torch.sin(b + a) / math.cos(a) ** 2
    return s, torch.sqrt(torch.clamp(g_sq, min=0.0))


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
    t = _as_time(t)
    return torch.ones_like(t), sigma_min * (sigma_max / sigma_min) ** t


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
    t = _as_time(t)
    return torch.ones_like(t), t.clone()


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
    if n < 1:
        raise ValueError(f"n must be >= 1 noise levels, got {n}.")
    if not 0 < sigma_min < sigma_max:
        raise ValueError(f"Need 0 < sigma_min < sigma_max, got {sigma_min} and {sigma_max}.")
    if n == 1:
        return torch.tensor([float(sigma_max)], dtype=torch.float64)
    ramp = torch.linspace(0, 1, n, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (hi + ramp * (lo - hi)) ** rho
    sigmas[0], sigmas[-1] = sigma_max, sigma_min  # exact endpoints despite rounding
    return sigmas


class Schedule:
    """A forward process ``x_t = s(t) x_0 + g(t) eps`` on ``t`` in ``[t_min, t_max]``.

    Subclasses implement :meth:`s_and_g` and :meth:`t_of_sigma`; the rest is shared.
    Time values are tensors (or floats); results are float64 tensors.

    Examples
    --------
    A subclass gives ``s``, ``g``, the inverse ``t(sigma)`` and the domain;
    the noise levels and the samplers' grids follow:

    >>> import torch
    >>> class Linear(Schedule):  # s = 1, g = 2 t on [0.01, 10]
    ...     t_min, t_max = 0.01, 10.0
    ...     def s_and_g(self, t):
    ...         t = torch.as_tensor(t, dtype=torch.float64)
    ...         return torch.ones_like(t), 2 * t
    ...     def t_of_sigma(self, sigma):
    ...         return torch.as_tensor(sigma, dtype=torch.float64) / 2
    >>> sched = Linear()
    >>> sched.sigma_min, sched.sigma_max
    (0.02, 20.0)
    >>> [round(t, 4) for t in sched.time_grid(3).tolist()]
    [10.0, 5.005, 0.01]
    >>> grid = sched.sigma_grid(5)
    >>> bool(torch.allclose(sched.sigma(grid), karras_sigmas(5, 0.02, 20.0)))
    True
    """

    t_min: float
    t_max: float

    def s_and_g(self, t):
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

    @property
    def sigma_min(self):
        return float(self.sigma(self.t_min))

    @property
    def sigma_max(self):
        return float(self.sigma(self.t_max))

    def time_grid(self, steps):
        """Times at which a DDPM/DDIM sampler calls the denoiser, from ``t_max`` down to ``t_min``.

        Uniform in ``t`` (so ``T`` steps with ``t_min = 1/T``, ``t_max = 1``
        evaluate DDPM's ``t = i / T``); the samplers then take one last step
        to clean data.
        """
        _check_steps(steps)
        if steps == 1:
            return torch.tensor([float(self.t_max)], dtype=torch.float64)
        return torch.linspace(self.t_max, self.t_min, steps, dtype=torch.float64)

    def sigma_grid(self, steps, rho=7.0):
        """Times of the EDM noise levels (:func:`karras_sigmas`), ``sigma_max`` to ``sigma_min``."""
        _check_steps(steps)
        sigmas = karras_sigmas(steps, self.sigma_min, self.sigma_max, rho)
        return self.clip(self.t_of_sigma(sigmas))

    def clip(self, t):
        return torch.clamp(_as_time(t), self.t_min, self.t_max)

    def _check_domain(self):
        if not self.t_min < self.t_max:
            raise ValueError(f"Need t_min < t_max, got t_min={self.t_min}, t_max={self.t_max}.")
        s, g = self.s_and_g(torch.tensor([self.t_min, self.t_max], dtype=torch.float64))
        if not (torch.all(s > 0) and torch.all(g > 0)):
            raise ValueError(
                f"{type(self).__name__}: s(t) and g(t) must be positive on "
                f"[t_min, t_max] = [{self.t_min}, {self.t_max}]; raise t_min above 0 "
                "(the denoiser is undefined without noise) or lower t_max."
            )


def _check_steps(steps):
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}.")


@dataclass(frozen=True)
class VPLinear(Schedule):
    """DDPM's variance-preserving schedule with linear betas in continuous time (:func:`vp_linear`).

    Parameters
    ----------
    beta_min, beta_max : float, default=0.1, 20.0
    t_min, t_max : float, default=1e-3, 1.0
        ``t_min = 1/T`` is the last step of a ``T``-step DDPM.

    Examples
    --------
    >>> sched = VPLinear()
    >>> round(sched.sigma_max, 1), round(sched.sigma_min, 4)
    (152.2, 0.0105)
    """

    beta_min: float = 0.1
    beta_max: float = 20.0
    t_min: float = 1e-3
    t_max: float = 1.0

    def __post_init__(self):
        if not 0 < self.beta_min < self.beta_max:
            raise ValueError(f"Need 0 < beta_min < beta_max, got {self.beta_min}, {self.beta_max}.")
        self._check_domain()

    def s_and_g(self, t):
        return vp_linear(t, self.beta_min, self.beta_max)

    def t_of_sigma(self, sigma):
        # sigma^2 = exp(B) - 1, B(t) = b0 t + (b1 - b0) t^2 / 2; the root, free of cancellation.
        B = torch.log1p(_as_time(sigma) ** 2)
        b0, db = self.beta_min, self.beta_max - self.beta_min
        return 2 * B / (b0 + torch.sqrt(b0**2 + 2 * db * B))


@dataclass(frozen=True)
class VPCosine(Schedule):
    """The cosine variance-preserving schedule (:func:`vp_cosine`).

    ``t_max = 0.995`` (sigma about 128) instead of 1, where ``s = 0`` and the
    noise level is infinite; Nichol & Dhariwal clip the betas for the same reason.

    Parameters
    ----------
    offset : float, default=0.008
    t_min, t_max : float, default=1e-3, 0.995

    Examples
    --------
    >>> import torch
    >>> sched = VPCosine()
    >>> round(sched.sigma_max, 1)
    128.3
    >>> t = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    >>> bool(torch.allclose(sched.t_of_sigma(sched.sigma(t)), t))  # t(sigma) inverts sigma(t)
    True
    """

    offset: float = 0.008
    t_min: float = 1e-3
    t_max: float = 0.995

    def __post_init__(self):
        if self.offset < 0:
            raise ValueError(f"offset must be non-negative, got {self.offset}.")
        if self.t_max >= 1:
            raise ValueError(
                f"t_max must be < 1 for the cosine schedule (s(1) = 0), got {self.t_max}."
            )
        self._check_domain()

    def s_and_g(self, t):
        return vp_cosine(t, self.offset)

    def t_of_sigma(self, sigma):
        # abar = 1 / (1 + sigma^2) = cos^2(b) / cos^2(a)
        a = self.offset / (1 + self.offset) * math.pi / 2
        cos_b = math.cos(a) / torch.sqrt(1 + _as_time(sigma) ** 2)
        return torch.arccos(cos_b) * (1 + self.offset) * 2 / math.pi - self.offset


@dataclass(frozen=True)
class VE(Schedule):
    """Variance-exploding schedule (:func:`ve`); ``t`` in ``[0, 1]``.

    Parameters
    ----------
    sigma_lo, sigma_hi : float, default=0.01, 50.0
        Noise levels at ``t = 0`` and ``t = 1``.
    t_min, t_max : float, default=0.0, 1.0

    Examples
    --------
    >>> import torch
    >>> sched = VE()
    >>> round(sched.sigma_min, 6), round(sched.sigma_max, 6)
    (0.01, 50.0)
    >>> t = torch.tensor([0.0, 0.3, 1.0], dtype=torch.float64)
    >>> bool(torch.allclose(sched.t_of_sigma(sched.sigma(t)), t))  # t(sigma) inverts sigma(t)
    True
    """

    sigma_lo: float = 0.01
    sigma_hi: float = 50.0
    t_min: float = 0.0
    t_max: float = 1.0

    def __post_init__(self):
        if not 0 < self.sigma_lo < self.sigma_hi:
            raise ValueError(f"Need 0 < sigma_lo < sigma_hi, got {self.sigma_lo}, {self.sigma_hi}.")
        self._check_domain()

    def s_and_g(self, t):
        return ve(t, self.sigma_lo, self.sigma_hi)

    def t_of_sigma(self, sigma):
        return torch.log(_as_time(sigma) / self.sigma_lo) / math.log(self.sigma_hi / self.sigma_lo)


@dataclass(frozen=True)
class EDM(Schedule):
    """The EDM schedule (:func:`edm`): ``t = sigma`` in ``[0.002, 80]``.

    Its :meth:`time_grid` is the EDM discretization :func:`karras_sigmas`.

    Examples
    --------
    >>> EDM().time_grid(18).shape
    torch.Size([18])
    """

    t_min: float = 0.002
    t_max: float = 80.0
    rho: float = 7.0

    def __post_init__(self):
        self._check_domain()

    def s_and_g(self, t):
        return edm(t)

    def t_of_sigma(self, sigma):
        return _as_time(sigma).clone()

    def time_grid(self, steps):
        return self.sigma_grid(steps, self.rho)


_SCHEDULES = {"vp-linear": VPLinear, "vp-cosine": VPCosine, "ve": VE, "edm": EDM}


def get_schedule(schedule):
    """A :class:`Schedule` from an instance or a name: 'vp-linear', 'vp-cosine', 've', 'edm'.

    None gives the default :class:`VPLinear`; an instance is returned as is.

    Examples
    --------
    >>> get_schedule("edm")
    EDM(t_min=0.002, t_max=80.0, rho=7.0)
    >>> get_schedule(None) == VPLinear()
    True
    >>> sched = VE(sigma_hi=80.0)
    >>> get_schedule(sched) is sched
    True
    """
    if schedule is None:
        return VPLinear()
    if isinstance(schedule, Schedule):
        return schedule
    if isinstance(schedule, str) and schedule in _SCHEDULES:
        return _SCHEDULES[schedule]()
    raise ValueError(
        f"schedule must be a Schedule instance or one of {sorted(_SCHEDULES)}, got {schedule!r}."
    )
