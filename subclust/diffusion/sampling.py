"""Samplers: DDPM ancestral, DDIM, and Euler and Heun on the probability-flow ODE.

Every sampler has the same signature, as in k-diffusion,

    sampler(model, x, grid, *, generator=None, callback=None, disable=None, **options)

where ``model(x_t, t) -> x0_hat`` is a denoiser with a ``schedule`` attribute
(its forward process, which also gives the meaning of ``t``), ``grid`` the
decreasing times at which it is called (:func:`~subclust.diffusion.uniform_times`,
:func:`~subclust.diffusion.karras_times`) and ``x`` the state at ``grid[0]``:
``g(grid[0]) * noise`` to generate from pure noise. Samples are vectors
``(batch, n)`` or images ``(batch, c, h, w)``. Each sampler calls the model
once per time of the grid (Heun: ``2 len(grid) - 1`` times) and returns clean
samples: after the last time it steps to ``t = 0``. ``callback`` receives
``{'x', 'i', 't', 'denoised'}`` after every step; ``disable`` turns the tqdm
progress bar off (None: off when not on a terminal). Samplers never print and
run without gradients.

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
  ``dx~/dsigma = (x~ - D(s x~, t(sigma))) / sigma``.
"""

from numbers import Real

import torch
from tqdm.auto import trange

from subclust.utils.validation import TORCH_RANDOM_STATE, Interval, StrOptions, validate_params

__all__ = ["sample_ddpm", "sample_ddim", "sample_euler", "sample_heun", "SAMPLERS", "sample"]


def _call(model, x, t):
    return model(x, torch.full((x.shape[0],), float(t), dtype=x.dtype, device=x.device))


def _randn_like(x, generator):
    device = "cpu" if generator is None else generator.device
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=device).to(x.device)


def _check(model, x, grid):
    """The model's schedule and the grid as float64, after checking the sampler's input."""
    schedule = getattr(model, "schedule", None)
    if schedule is None:
        raise ValueError(
            "model has no schedule attribute: a sampler reads the forward process (and the "
            "meaning of t) from the denoiser; set model.schedule."
        )
    if not x.is_floating_point() or x.ndim < 2:
        raise ValueError(
            "x must be a float tensor of shape (batch, ...): the state at grid[0], "
            "g(grid[0]) * noise to start from pure noise."
        )
    grid = torch.as_tensor(grid, dtype=torch.float64).cpu()
    if grid.ndim != 1 or grid.numel() == 0 or not bool(torch.all(grid[1:] < grid[:-1])):
        raise ValueError(
            "grid must be a non-empty 1-D sequence of decreasing times, e.g. "
            f"uniform_times(steps) or karras_times(schedule, steps); got {grid.tolist()}."
        )
    return schedule, grid


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


def _ancestral(model, x, grid, eta, generator, callback, disable, desc):
    schedule, grid = _check(model, x, grid)
    s_all, g_all = (v.tolist() for v in schedule.s_and_g(grid))
    steps = len(grid)
    for i in trange(steps, disable=disable, desc=desc):
        x0_hat = _call(model, x, grid[i])
        if i == steps - 1:
            x = x0_hat  # the last step lands on clean data: s' = 1, g' = 0
        else:
            x = _posterior_step(
                x, x0_hat, s_all[i], g_all[i], s_all[i + 1], g_all[i + 1], eta, generator
            )
        if callback is not None:
            callback({"x": x, "i": i, "t": float(grid[i]), "denoised": x0_hat})
    return x


#: Constraints of the parameters every sampler takes.
_SAMPLER_CONSTRAINTS = {
    "model": [callable],
    "x": [torch.Tensor],
    "grid": [torch.Tensor, "array-like"],
    "generator": TORCH_RANDOM_STATE,
    "callback": [callable, None],
    "disable": ["boolean", None],
}


@validate_params(_SAMPLER_CONSTRAINTS, prefer_skip_nested_validation=True)
@torch.no_grad()
def sample_ddpm(model, x, grid, *, generator=None, callback=None, disable=None):
    """DDPM ancestral sampling.

    Parameters
    ----------
    model : callable with a ``schedule`` attribute
        ``model(x_t, t) -> x0_hat`` with ``t`` of shape ``(batch,)``, times of
        ``model.schedule``.
    x : tensor of shape (batch, ...)
        The state at ``grid[0]``: ``g(grid[0]) * noise`` to start from pure noise.
    grid : 1-D tensor or sequence of float
        Decreasing times of ``model.schedule`` at which the model is called
        (:func:`~subclust.diffusion.uniform_times` is DDPM's); the last step
        goes from ``grid[-1]`` to clean data.
    generator : torch.Generator, optional
        Source of the noise added at every step.
    callback : callable, optional
        Called with ``{'x', 'i', 't', 'denoised'}`` after every step.
    disable : bool or None
        Disable the progress bar (None: when not on a terminal).

    Returns
    -------
    samples : tensor of the shape of ``x``

    Examples
    --------
    >>> import torch
    >>> from subclust.diffusion import MoLRGDenoiser, sample_ddpm, uniform_times
    >>> D = MoLRGDenoiser([torch.eye(4, dtype=torch.float64)[:, :1]])
    >>> grid = uniform_times(50)
    >>> gen = torch.Generator().manual_seed(0)
    >>> x = D.schedule.g(grid[0]) * torch.randn(3, 4, generator=gen, dtype=torch.float64)
    >>> samples = sample_ddpm(D, x, grid, generator=gen, disable=True)
    >>> bool(samples[:, 1:].abs().max() < 1e-12)  # samples lie on span(U)
    True
    """
    return _ancestral(model, x, grid, 1.0, generator, callback, disable, "DDPM")


@validate_params(
    {
        **_SAMPLER_CONSTRAINTS,
        "eta": [Interval(Real, 0, 1, closed="both")],
    },
    prefer_skip_nested_validation=True,
)
@torch.no_grad()
def sample_ddim(model, x, grid, *, generator=None, callback=None, disable=None, eta=0.0):
    """DDIM sampling; ``eta=0`` is deterministic, ``eta=1`` matches DDPM.

    Parameters are those of :func:`sample_ddpm`, plus

    eta : float, default=0.0
        Scale of the noise injected at every step, in [0, 1].

    Examples
    --------
    Along ``U`` the data are ``N(0, 1)``, as is the noise, so on the VP
    schedule the deterministic flow of ``eta=0`` maps the noise to itself there:

    >>> import torch
    >>> from subclust.diffusion import MoLRGDenoiser, sample_ddim, uniform_times
    >>> D = MoLRGDenoiser([torch.eye(4, dtype=torch.float64)[:, :1]])
    >>> grid = uniform_times(50)
    >>> noise = torch.randn(3, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> x = sample_ddim(D, D.schedule.g(grid[0]) * noise, grid, disable=True)
    >>> bool(x[:, 1:].abs().max() < 1e-12), bool((x[:, 0] - noise[:, 0]).abs().max() < 0.1)
    (True, True)
    """
    return _ancestral(model, x, grid, eta, generator, callback, disable, "DDIM")


def _ode(model, x, grid, callback, disable, heun):
    schedule, grid = _check(model, x, grid)
    s_all, g_all = (v.tolist() for v in schedule.s_and_g(grid))
    sigmas = [g / s for s, g in zip(s_all, g_all)] + [0.0]
    steps = len(grid)
    x = x / s_all[0]  # x~ = x_t / s
    for i in trange(steps, disable=disable, desc="Heun" if heun else "Euler"):
        x0_hat = _call(model, s_all[i] * x, grid[i])
        d = (x - x0_hat) / sigmas[i]
        dt = sigmas[i + 1] - sigmas[i]
        x_next = x + dt * d
        if heun and sigmas[i + 1] > 0:
            d_next = (x_next - _call(model, s_all[i + 1] * x_next, grid[i + 1])) / sigmas[i + 1]
            x_next = x + dt * 0.5 * (d + d_next)
        x = x_next
        if callback is not None:
            callback({"x": x, "i": i, "t": float(grid[i]), "denoised": x0_hat})
    return x


@validate_params(_SAMPLER_CONSTRAINTS, prefer_skip_nested_validation=True)
@torch.no_grad()
def sample_euler(model, x, grid, *, generator=None, callback=None, disable=None):
    """Euler integration of the probability-flow ODE.

    Parameters are those of :func:`sample_ddpm` (``generator`` is unused: the
    sampler is deterministic); :func:`~subclust.diffusion.karras_times` is
    EDM's grid.

    Examples
    --------
    With ``U`` one direction of unit variance, the exact flow from
    ``x = sigma_max * noise`` scales the ``U``-coordinate by
    ``1 / sqrt(1 + sigma_max^2)``; the last step lands on span(U):

    >>> import torch
    >>> from subclust.diffusion import MoLRGDenoiser, karras_times, sample_euler
    >>> D = MoLRGDenoiser([torch.eye(4, dtype=torch.float64)[:, :1]], schedule="edm")
    >>> noise = torch.randn(3, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> x = sample_euler(D, 80.0 * noise, karras_times(D.schedule, 50), disable=True)
    >>> exact = noise[:, 0] * 80.0 / (1 + 80.0**2) ** 0.5
    >>> bool(x[:, 1:].abs().max() < 1e-12), bool((x[:, 0] - exact).abs().max() < 0.1)
    (True, True)
    """
    return _ode(model, x, grid, callback, disable, heun=False)


@validate_params(_SAMPLER_CONSTRAINTS, prefer_skip_nested_validation=True)
@torch.no_grad()
def sample_heun(model, x, grid, *, generator=None, callback=None, disable=None):
    """Heun's second-order method on the probability-flow ODE (EDM's deterministic sampler).

    A grid of ``n`` times takes ``2 n - 1`` model evaluations: the last step,
    to ``sigma = 0``, is an Euler step. Parameters as :func:`sample_euler`.

    Examples
    --------
    On the model of :func:`sample_euler`'s example, with the same 18 noise
    levels, Heun's error is a fraction of Euler's:

    >>> import torch
    >>> from subclust.diffusion import MoLRGDenoiser, karras_times, sample_euler, sample_heun
    >>> D = MoLRGDenoiser([torch.eye(4, dtype=torch.float64)[:, :1]], schedule="edm")
    >>> noise = torch.randn(3, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> grid = karras_times(D.schedule, 18)
    >>> exact = noise[:, 0] * 80.0 / (1 + 80.0**2) ** 0.5
    >>> heun = sample_heun(D, 80.0 * noise, grid, disable=True)
    >>> euler = sample_euler(D, 80.0 * noise, grid, disable=True)
    >>> error_heun = (heun[:, 0] - exact).abs().max()
    >>> bool(error_heun < 0.1), bool(error_heun < 0.5 * (euler[:, 0] - exact).abs().max())
    (True, True)
    """
    return _ode(model, x, grid, callback, disable, heun=True)


SAMPLERS = {"ddpm": sample_ddpm, "ddim": sample_ddim, "euler": sample_euler, "heun": sample_heun}


@validate_params(
    {
        "name": [StrOptions(set(SAMPLERS))],
        **_SAMPLER_CONSTRAINTS,
    },
    prefer_skip_nested_validation=True,
)
def sample(name, model, x, grid, *, generator=None, callback=None, disable=None, **options):
    """Run the sampler called ``name`` (one of :data:`SAMPLERS`).

    Extra keyword ``options`` go to the sampler (``eta`` of DDIM).

    Examples
    --------
    >>> import torch
    >>> from subclust.diffusion import SAMPLERS, MoLRGDenoiser, sample, sample_ddim, uniform_times
    >>> sorted(SAMPLERS)
    ['ddim', 'ddpm', 'euler', 'heun']
    >>> D = MoLRGDenoiser([torch.eye(4, dtype=torch.float64)[:, :1]])
    >>> x = torch.randn(3, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> out = sample("ddim", D, x, uniform_times(10), disable=True, eta=0.0)
    >>> bool(torch.equal(out, sample_ddim(D, x, uniform_times(10), disable=True)))
    True
    """
    return SAMPLERS[name](
        model, x, grid, generator=generator, callback=callback, disable=disable, **options
    )
