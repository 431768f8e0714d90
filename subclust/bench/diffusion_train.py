"""Training rate of the diffusion denoisers on this CPU.

``subclust bench diffusion_train`` trains, on float32 MoLRG data
(n=48, K=3, d=4), for ``--steps`` steps at batch 256:

- the 50k-parameter :class:`~subclust.diffusion.MLPDenoiser` (3 hidden
  layers of 128: 49,584 parameters);
- the paper's :class:`~subclust.diffusion.LowRankMixtureDenoiser` (K=3, d=4).

and prints samples per second, the time of 2,000 steps, and the ratio of a
full training step (batching, noising, loss, backward, Adam, retraction) to
a bare forward+backward+Adam step on a fixed batch, measured in the same run:
the overhead of the training loop. Target: 2,000 MLP steps well under a minute.
"""

import time

import numpy as np

from subclust.bench._common import best_time
from subclust.datasets import make_molrg
from subclust.utils.tables import Table


def add_arguments(parser):
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")


def _bare_step_seconds(model, X, batch_size, repeats=20):
    """Best time of forward+backward+Adam on a fixed noisy batch (no data pipeline)."""
    import torch

    gen = torch.Generator().manual_seed(0)
    x0 = torch.as_tensor(X[:batch_size])
    x_t = x0 + 0.5 * torch.randn(x0.shape, generator=gen)
    t = torch.full((batch_size,), 0.5)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        for _ in range(repeats):
            loss = ((model(x_t, t) - x0) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return best_time(step, repeats=3) / repeats


def train_table(steps=2000, batch_size=256):
    """Train each denoiser for ``steps`` steps; return the rates as a table."""
    import torch

    from subclust.diffusion import (
        LowRankMixtureDenoiser, MLPDenoiser, Preconditioned, train_denoiser,
    )

    X, _, _ = make_molrg(n_samples=6000, n_features=48, n_components=3, dims=4,
                         dtype=np.float32, random_state=0)
    sigma_data = float(np.sqrt(np.mean(X**2)))
    models = {
        "MLPDenoiser(48, hidden=128, depth=3)": lambda: Preconditioned(
            MLPDenoiser(48, hidden=128, depth=3, random_state=0), sigma_data=sigma_data
        ),
        "LowRankMixtureDenoiser(48, K=3, d=4)": lambda: LowRankMixtureDenoiser(
            48, 3, 4, random_state=0
        ),
    }
    table = Table(
        title=f"Denoising score matching on this CPU: batch {batch_size}, {steps} steps, "
        f"float32, {torch.get_num_threads()} torch thread(s)"
    )
    for name, make in models.items():
        model = make()
        n_params = sum(p.numel() for p in model.parameters())
        result = train_denoiser(model, X, steps=steps, batch_size=batch_size, lr=1e-3,
                                random_state=0, verbose=0)
        per_step = result.seconds / steps
        bare = _bare_step_seconds(make(), X, batch_size)
        table.add_row(
            model=name, parameters=n_params, samples_per_s=result.samples_per_second,
            seconds_per_2000_steps=per_step * 2000, ratio_to_bare_step=per_step / bare,
        )
    table.notes.append(
        "ratio_to_bare_step: a full training step over forward+backward+Adam on a fixed batch"
    )
    table.notes.append("target: 2,000 MLP steps well under 60 s")
    return table


def main(args):
    from subclust.utils.parallel import torch_threads

    with torch_threads(args.threads):
        start = time.perf_counter()
        print(train_table(args.steps, args.batch_size))
        print(f"total {time.perf_counter() - start:.1f} s")
