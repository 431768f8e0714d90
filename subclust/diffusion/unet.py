"""A small convolutional U-Net denoiser for square one-channel images (MNIST), trainable on CPU.

The network ``F`` is a two-level U-Net (Ronneberger, Fischer, Brox, MICCAI
2015) with residual blocks, group normalization and a sinusoidal embedding
of the noise level added inside every block, as in the denoisers of Ho,
Jain, Abbeel (NeurIPS 2020), scaled down: at the default ``channels=32`` it
has about 0.5M parameters and one training step at batch 128 on 28 x 28
images takes a fraction of a second on two cores. It is the raw network
``F(x, c_noise)``: :class:`~subclust.diffusion.Preconditioned` wraps it in the
EDM preconditioning of Karras et al. (NeurIPS 2022) to give a denoiser
``D(x_t, t)``.

Every sample is processed on its own (group normalization, no batch
statistics), so ``D`` applied to a batch of copies of one image is the same
function of each copy: the Jacobian code relies on that to compute many
Jacobian-vector products in one batched pass.
"""

import torch
from torch import nn

from subclust.diffusion.networks import (
    _RawNetwork,
    _check_embedding_dim,
    _embed_noise,
    _noise_frequencies,
)
from subclust.utils.validation import check_positive_int

__all__ = ["UNetDenoiser"]


def _groups(channels):
    """The largest of 8, 4, 2, 1 dividing ``channels``."""
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


class _ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the noise embedding added in between, with a skip path."""

    def __init__(self, c_in, c_out, emb_dim, factory):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(c_in), c_in, **factory)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, **factory)
        self.emb = nn.Linear(emb_dim, c_out, **factory)
        self.norm2 = nn.GroupNorm(_groups(c_out), c_out, **factory)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, **factory)
        self.skip = nn.Conv2d(c_in, c_out, 1, **factory) if c_in != c_out else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(nn.functional.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(nn.functional.silu(self.norm2(h)))
        return self.skip(x) + h


class UNetDenoiser(_RawNetwork):
    """The raw network ``F(x, c_noise)`` of a small U-Net denoiser of one-channel square images.

    Two resolutions below the input (28 -> 14 -> 7 for MNIST), ``blocks``
    residual blocks per level on the way down and up, skip connections by
    concatenation.

    Parameters
    ----------
    image_size : int, default=28
        Side of the square images; must be divisible by 4.
    channels : int, default=32
        Channels at full resolution; ``2 * channels`` at the two lower ones.
    blocks : int, default=1
        Residual blocks per level and direction.
    embedding_dim : int, default=64
        Size of the embedding of the noise level (even).
    random_state, dtype, device
        As in :class:`~subclust.diffusion.MLPDenoiser`.

    Notes
    -----
    ``forward`` takes images ``(batch, 1, h, w)`` or flat rows
    ``(batch, h * w)`` and returns the same shape. The last convolution
    starts at zero, so the untrained denoiser is the optimal one for Gaussian
    data of scale ``sigma_data`` (0.5 suits images in [-1, 1]).

    Examples
    --------
    >>> import torch
    >>> from subclust.diffusion import Preconditioned, UNetDenoiser
    >>> net = Preconditioned(UNetDenoiser(channels=8, random_state=0), sigma_data=0.5)
    >>> x = torch.zeros(2, 784)
    >>> net(x, torch.tensor([0.3, 0.5])).shape
    torch.Size([2, 784])
    """

    def __init__(
        self,
        image_size=28,
        channels=32,
        blocks=1,
        embedding_dim=64,
        random_state=None,
        dtype=torch.float32,
        device=None,
    ):
        super().__init__()
        self.image_size = check_positive_int(image_size, "image_size")
        if image_size % 4:
            raise ValueError(
                f"image_size must be divisible by 4 (two halvings), got {image_size}; "
                "pad the images first."
            )
        self.channels = channels = check_positive_int(channels, "channels")
        self.blocks = blocks = check_positive_int(blocks, "blocks")
        embedding_dim = _check_embedding_dim(embedding_dim)
        self.embedding_dim = embedding_dim
        # Built on the meta device, so that construction draws nothing from torch's
        # global generator; reset_parameters then initializes every weight from ``random_state``.
        meta = {"dtype": dtype, "device": "meta"}
        c1, c2 = channels, 2 * channels
        emb = 2 * embedding_dim
        self.embed = nn.Sequential(
            nn.Linear(embedding_dim, emb, **meta), nn.SiLU(), nn.Linear(emb, emb, **meta)
        )
        self.stem = nn.Conv2d(1, c1, 3, padding=1, **meta)
        self.down = nn.ModuleList([
            nn.ModuleList(_ResBlock(c1, c1, emb, meta) for _ in range(blocks)),
            nn.ModuleList(_ResBlock(c1 if i == 0 else c2, c2, emb, meta) for i in range(blocks)),
            nn.ModuleList(_ResBlock(c2, c2, emb, meta) for _ in range(blocks)),
        ])
        self.downsample = nn.ModuleList([
            nn.Conv2d(c1, c1, 3, stride=2, padding=1, **meta),
            nn.Conv2d(c2, c2, 3, stride=2, padding=1, **meta),
        ])
        self.middle = _ResBlock(c2, c2, emb, meta)
        self.up = nn.ModuleList([
            nn.ModuleList(_ResBlock(c2, c2, emb, meta) for _ in range(blocks)),
            nn.ModuleList(
                _ResBlock(2 * c2 if i == 0 else c2, c2, emb, meta) for i in range(blocks)
            ),
            nn.ModuleList(
                _ResBlock(c2 + c1 if i == 0 else c1, c1, emb, meta) for i in range(blocks)
            ),
        ])
        self.upsample = nn.ModuleList([
            nn.Conv2d(c2, c2, 3, padding=1, **meta), nn.Conv2d(c2, c2, 3, padding=1, **meta)
        ])
        self.out_norm = nn.GroupNorm(_groups(c1), c1, **meta)
        self.out = nn.Conv2d(c1, 1, 3, padding=1, **meta)
        self.to_empty(device=device or "cpu")
        # After to_empty, which leaves every tensor of the module uninitialized, buffers too.
        self.register_buffer("frequencies", _noise_frequencies(embedding_dim, dtype, device))
        self.reset_parameters(random_state)

    @property
    def n_features(self):
        return self.image_size**2

    def _output_layer(self):
        return self.out

    def forward(self, x, c_noise):
        """``F(x, c_noise)``, of the shape of ``x``; ``c_noise`` of shape ``(batch,)``."""
        side = self.image_size
        if x.ndim == 2 and x.shape[1] == side * side:
            images = x.reshape(-1, 1, side, side)
        elif x.ndim == 4 and tuple(x.shape[1:]) == (1, side, side):
            images = x
        else:
            raise ValueError(
                f"x must have shape (batch, 1, {side}, {side}) or (batch, {side * side}), "
                f"got {tuple(x.shape)}."
            )
        emb = self.embed(_embed_noise(c_noise, self.frequencies))
        h = self.stem(images)
        skips = []
        for level, blocks in enumerate(self.down):
            for block in blocks:
                h = block(h, emb)
            if level < 2:
                skips.append(h)
                h = self.downsample[level](h)
        h = self.middle(h, emb)
        for level, blocks in enumerate(self.up):
            if level > 0:
                h = nn.functional.interpolate(h, scale_factor=2, mode="nearest")
                h = self.upsample[level - 1](h)
                h = torch.cat([h, skips.pop()], dim=1)
            for block in blocks:
                h = block(h, emb)
        return self.out(nn.functional.silu(self.out_norm(h))).reshape(x.shape)
