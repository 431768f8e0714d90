"""Samplers: DDPM ancestral, DDIM, and Euler and Heun on the EDM noise levels.

Every sampler has the same signature,

    sampler(denoiser, noise, schedule, steps, generator=None, callback=None, disable=None,
            **options)

where ``denoiser(x_t, t) -> x0_hat``, ``noise`` is standard normal of the
shape of the samples (vectors ``(batch, n)`` or images ``(batch, c, h, w)``),
``schedule`` is VP-linear unless given, and the chain starts at
``x = g(t_max) * noise``. A denoiser reads ``t`` on its own ``schedule``: a
sampler refuses one whose ``(s, g)`` differ from its own (a denoiser trained
on a narrower time range of the same process is fine). Each returns clean
samples after ``steps`` denoiser evaluations (Heun: ``2 steps - 1``), the
last one mapping to ``t = 0``. ``callback`` receives ``{'x', 'i', 't', 'denoised'}``
after every step; ``disable`` turns the tqdm progress bar off (None: off when
not on a terminal). Samplers never print and run without gradients.

All updates are written in the ``(s, g)`` of the forward process
``x_t = s x_0 + g eps``, so they serve every schedule. For a step from ``t``
to ``t' < t`` let ``r = s / s'`` and ``v = g^2 - r^2 g'^2`` (the variance of
``x_t`` given ``x_t'``).

- DDPM ancestral (Ho et al. 2020): draw from the Gaussian posterior
  ``q(x_t' | x_t, x_0 = x0_hat)``:
  ``x_t' = (r g'^2 / g^2) x_t + (s' v / g^2) x0_hat + sqrt(g'^2 v / g^2) z``.
- DDIM (Song, Meng, Ermon, ICLR 2021), with ``eps_hat = (x_t - s x0_hat) / g``
  and ``sigma_eta^2 = eta^2 g'^2 v / g^2``:
  ``x_t' = s' x0_hat + sqrt(g'^2 - sigma_eta^2) eps_hat + sigma_eta z``
  (``eta = 0`` is deterministic; ``eta = 1`` is DDPM in distribution).
- Euler and Heun (Karras et al., NeurIPS 2022, Algorithm 1 without churn)
  integrate the probability-flow ODE of ``x~ = x_t / s`` in ``sigma = g / s``,
  ``dx~/dsigma = (x~ - D(s x~, t(sigma))) / sigma``, on the noise levels of
  :func:`~subclust.diffusion.schedules.karras_sigmas`.
"""

import torch
from tqdm.auto import trange

from subclust.diffusion.schedules import _check_steps, get_schedule

__all__ = ["sample_ddpm", "sample_ddim", "sample_euler", "sample_heun", "SAMPLERS", "sample"]


def _call(denoiser, x, t):
    return denoiser(x, torch.full((x.shape[0],), float(t), dtype=x.dtype, device=x.device))


def _randn_like(x, generator):
    device = "cpu" if generator is None else generator.device
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=device).to(x.device)


def _start(denoiser, noise, schedule, steps):
    if not isinstance(noise, torch.Tensor) or not noise.is_floating_point() or noise.ndim < 2:
        raise ValueError(
            "noise must be a float tensor of shape (batch, ...) of standard normal draws."
        )
    _check_steps(steps)
    schedule = get_schedule(schedule)
    own = getattr(denoiser, "schedule", None)
    if own is not None and not _same_process(get_schedule(own), schedule):
        raise ValueError(
            f"The sampler's schedule {schedule!r} is not the forward process of the denoiser, "
            f"{own!r}, which reads t on its own: pass schedule=denoiser.schedule (or the same "
            "process over a wider time range)."
        )
    return schedule


def _same_process(a, b):
    """Whether two schedules give the same ``(s, g)`` where their time ranges overlap.

    Only the range may differ: a denoiser trained on low noise levels
    (``VPLinear(t_max=0.02)``) is sampled on the whole ``VPLinear()``.
    """
    lo, hi = max(a.t_min, b.t_min), min(a.t_max, b.t_max)
    if lo > hi:
        return False
    t = torch.linspace(lo, hi, 5, dtype=torch.float64)
    return all(torch.allclose(u, v, rtol=1e-6, atol=1e-12)
               for u, v in zip(a.s_and_g(t), b.s_and_g(t)))


def _posterior_step(x, x0_hat, s, g, s_next, g_next, eta, generator):
    """One step of the DDIM family from (s, g) to (s_next, g_next); eta=1 is DDPM's posterior."""
    r = s / s_next
    v = g**2 - r**2 * g_next**2
    var = eta**2 * g_next**2 * v / g**2
    # s' x0_hat + k eps_hat with eps_hat = (x - s x0_hat) / g, in place
    k = max(g_next**2 - var, 0.0) ** 0.5
    out = torch.mul(x, k / g).add_(x0_hat, alpha=s_next - k * s / g)
    if var > 0:
        out.add_(_randn_like(x, generator), alpha=var**0.5)
    return out


def _ancestral(denoiser, noise, schedule, steps, eta, generator, callback, disable, desc):
    schedule = _start(denoiser, noise, schedule, steps)
    ts = schedule.time_grid(steps)
    s_all, g_all = (v.tolist() for v in schedule.s_and_g(ts))
    x = g_all[0] * noise
    for i in trange(steps, disable=disable, desc=desc):
        x0_hat = _call(denoiser, x, ts[i])
        if i == steps - 1:
            x = x0_hat  # the last step lands on clean data: s' = 1, g' = 0
        else:
            x = _posterior_step(
                x, x0_hat, s_all[i], g_all[i], s_all[i + 1], g_all[i + 1], eta, generator
            )
        if callback is not None:
            callback({"x": x, "i": i, "t": float(ts[i]), "denoised": x0_hat})
    return x


@torch.no_grad()
def sample_ddpm(
    denoiser, noise, schedule=None, steps=1000, generator=None, callback=None, disable=None
):
    """DDPM ancestral sampling on the schedule's :meth:`~Schedule.time_grid`.

    Parameters
    ----------
    denoiser : callable
        ``denoiser(x_t, t) -> x0_hat`` with ``t`` of shape ``(batch,)``.
    noise : tensor of shape (batch, ...)
        Standard normal draws; the chain starts at ``g(t_max) * noise``.
    schedule : Schedule or str, default=VPLinear()
        The forward process of the denoiser (see the module docstring).
    steps : int, default=1000
    generator : torch.Generator, optional
        Source of the noise added at every step.
    callback : callable, optional
        Called with ``{'x', 'i', 't', 'denoised'}`` after every step.
    disable : bool or None
        Disable the progress bar (None: when not on a terminal).

    Returns
    -------
    samples : tensor of the shape of ``noise``

    Examples
    --------
    >>> import torch
    >>> from subclust.diffusion import MoLRGDenoiser, sample_ddpm
    >>> U = torch.eye(4, dtype=torch.float64)[:, :1]
    >>> gen = torch.Generator().manual_seed(0)
    >>> noise = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    >>> x = sample_ddpm(MoLRGDenoiser([U]), noise, steps=50, generator=gen, disable=True)
    >>> bool(x[:, 1:].abs().max() < 1e-12)  # samples lie on span(U)
    True
    """
    return _ancestral(denoiser, noise, schedule, steps, 1.0, generator, callback, disable, "DDPM")


@torch.no_grad()
def sample_ddim(
    denoiser, noise, schedule=None, steps=50, generator=None, callback=None, disable=None, eta=0.0
):
    """DDIM sampling; ``eta=0`` is deterministic, ``eta=1`` matches DDPM.

    Parameters are those of :func:`sample_ddpm`, plus

    eta : float, default=0.0
        Scale of the noise injected at every step, in [0, 1].

    Examples
    --------
    Along ``U`` the data are ``N(0, 1)``, as is the noise, so on the VP
    schedule the deterministic flow of ``eta=0`` maps the noise to itself there:

    >>> import torch
    >>> from subclust.diffusion import MoLRGDenoiser, sample_ddim
    >>> U = torch.eye(4, dtype=torch.float64)[:, :1]
    >>> D = MoLRGDenoiser([U])
    >>> noise = torch.randn(3, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> x = sample_ddim(D, noise, steps=50, disable=True)
    >>> bool(x[:, 1:].abs().max() < 1e-12), bool((x[:, 0] - noise[:, 0]).abs().max() < 0.1)
    (True, True)
    >>> bool(torch.equal(x, sample_ddim(D, noise, steps=50, disable=True)))  # no randomness
    True
    """
    if not 0 <= eta <= 1:
        raise ValueError(f"eta must lie in [0, 1], got {eta}.")
    return _ancestral(denoiser, noise, schedule, steps, eta, generator, callback, disable, "DDIM")


def _ode(denoiser, noise, schedule, steps, callback, disable, rho, heun):
    schedule = _start(denoiser, noise, schedule, steps)
    ts = schedule.sigma_grid(steps, rho)
    s_all, g_all = (v.tolist() for v in schedule.s_and_g(ts))
    sigmas = [g / s for s, g in zip(s_all, g_all)] + [0.0]
    x = sigmas[0] * noise  # x~ = x_t / s; then x_t = g(t_max) * noise
    for i in trange(steps, disable=disable, desc="Heun" if heun else "Euler"):
        x0_hat = _call(denoiser, s_all[i] * x, ts[i])
        d = (x - x0_hat) / sigmas[i]
        dt = sigmas[i + 1] - sigmas[i]
        x_next = x + dt * d
        if heun and sigmas[i + 1] > 0:
            d_next = (x_next - _call(denoiser, s_all[i + 1] * x_next, ts[i + 1])) / sigmas[i + 1]
            x_next = x + dt * 0.5 * (d + d_next)
        x = x_next
        if callback is not None:
            callback({"x": x, "i": i, "t": float(ts[i]), "denoised": x0_hat})
    return x


@torch.no_grad()
def sample_euler(
    denoiser, noise, schedule=None, steps=50, generator=None, callback=None, disable=None, rho=7.0
):
    """Euler integration of the probability-flow ODE on the EDM noise levels.

    Parameters are those of :func:`sample_ddpm` (``generator`` is unused: the
    sampler is deterministic), plus

    rho : float, default=7.0
        Exponent of :func:`~subclust.diffusion.schedules.karras_sigmas`.

    Examples
    --------
    Give the sampler the denoiser's schedule. With ``U`` one direction of
    unit variance, the exact flow from ``x = sigma_max * noise`` scales the
    ``U``-coordinate by ``1 / sqrt(1 + sigma_max^2)``; the last step lands on span(U):

    >>> import torch
    >>> from subclust.diffusion import MoLRGDenoiser, sample_euler
    >>> U = torch.eye(4, dtype=torch.float64)[:, :1]
    >>> D = MoLRGDenoiser([U], schedule="edm")
    >>> noise = torch.randn(3, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> x = sample_euler(D, noise, schedule="edm", steps=50, disable=True)
    >>> exact = noise[:, 0] * 80.0 / (1 + 80.0**2) ** 0.5
    >>> bool(x[:, 1:].abs().max() < 1e-12), bool((x[:, 0] - exact).abs().max() < 0.1)
    (True, True)
    """
    return _ode(denoiser, noise, schedule, steps, callback, disable, rho, heun=False)


@torch.no_grad()
def sample_heun(
    denoiser, noise, schedule=None, steps=18, generator=None, callback=None, disable=None, rho=7.0
):
    """Heun's second-order method on the EDM noise levels (EDM's deterministic sampler).

    ``steps`` noise levels take ``2 steps - 1`` denoiser evaluations: the
    last step, to ``sigma = 0``, is an Euler step. Parameters as :func:`sample_euler`.

    Examples
    --------
    On the model of :func:`sample_euler`'s example, with the same 18 noise
    levels, Heun's error is a fraction of Euler's:

    >>> import torch
    >>> from subclust.diffusion import MoLRGDenoiser, sample_euler, sample_heun
    >>> U = torch.eye(4, dtype=torch.float64)[:, :1]
    >>> D = MoLRGDenoiser([U], schedule="edm")
    >>> noise = torch.randn(3, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> exact = noise[:, 0] * 80.0 / (1 + 80.0**2) ** 0.5
    >>> heun = sample_heun(D, noise, schedule="edm", steps=18, disable=True)
    >>> euler = sample_euler(D, noise, schedule="edm", steps=18, disable=True)
    >>> error_heun = (heun[:, 0] - exact).abs().max()
    >>> bool(error_heun < 0.1), bool(error_heun < 0.5 * (euler[:, 0] - exact).abs().max())
    (True, True)
    """
    return _ode(denoiser, noise, schedule, steps, callback, disable, rho, heun=True)


SAMPLERS = {"ddpm": sample_ddpm, "ddim": sample_ddim, "euler": sample_euler, "heun": sample_heun}


def sample(name, denoiser, noise, schedule=None, steps=50, generator=None, callback=None,
           disable=None, **options):
    """Run the sampler called ``name`` (one of :data:`SAMPLERS`).

    Extra keyword ``options`` go to the sampler (``eta`` of DDIM, ``rho`` of
    Euler and Heun).

    Examples
    --------
    >>> import torch
    >>> from subclust.diffusion import SAMPLERS, MoLRGDenoiser, sample, sample_ddim
    >>> sorted(SAMPLERS)
    ['ddim', 'ddpm', 'euler', 'heun']
    >>> D = MoLRGDenoiser([torch.eye(4, dtype=torch.float64)[:, :1]])
    >>> noise = torch.randn(3, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> x = sample("ddim", D, noise, steps=10, disable=True, eta=0.0)
    >>> bool(torch.equal(x, sample_ddim(D, noise, steps=10, disable=True)))
    True
    """
    if name not in SAMPLERS:
        raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, got {name!r}.")
    return SAMPLERS[name](denoiser, noise, schedule, steps, generator, callback, disable, **options)
