"""An SB3 features extractor for NetHack's Dict observations (ONI-style, small and CPU-able).

Three streams, concatenated and mixed by one linear layer (the ONI / Sample Factory NetHack
encoder keeps the same three inputs at a larger scale; Zheng et al. 2024, App. A):

- ``glyphs``: a ``crop x crop`` window centred on the agent (blstats x, y), glyph ids embedded
  and passed through two 3x3 convolutions;
- ``blstats``: signed log1p-scaled status line, one linear layer;
- ``message``: the message bytes through :class:`~advrl.agents.oni.models.ByteEncoder`;
- ``extra_keys`` (optional): other Box entries, flattened, through one linear layer (e.g.
  the cheap-talk channel that :class:`~advrl.envs.cheap_talk.AddCheapTalk` adds).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn
from torch.nn import functional as F

from advrl.agents.oni.models import ByteEncoder

MAX_GLYPH = 5976
"""nle's ``nethack.MAX_GLYPH`` (kept here so the extractor imports without nle)."""

REQUIRED_KEYS = ("glyphs", "blstats", "message")


def crop_around(glyphs: th.Tensor, x: th.Tensor, y: th.Tensor, size: int, pad: int) -> th.Tensor:
    """``size x size`` windows of ``glyphs: shape (batch, rows, cols)`` centred on column
    ``x`` and row ``y`` (shape (batch,) each); cells off the map read ``pad``."""
    half = size // 2
    padded = F.pad(glyphs, (half, half, half, half), value=pad)
    offsets = th.arange(size, device=glyphs.device)
    rows = (y.long().clamp(0, glyphs.shape[1] - 1)[:, None] + offsets)[:, :, None]
    cols = (x.long().clamp(0, glyphs.shape[2] - 1)[:, None] + offsets)[:, None, :]
    batch = th.arange(glyphs.shape[0], device=glyphs.device)[:, None, None]
    return padded[batch, rows, cols]


class NetHackExtractor(BaseFeaturesExtractor):
    """Glyph crop + blstats + message -> ``features_dim`` features for SB3 policies.

    Use with ``MultiInputPolicy``: ``policy_kwargs=dict(features_extractor_class=
    NetHackExtractor)``. Other observation keys are ignored.

    Args:
        observation_space: a Dict space with ``glyphs`` (rows, cols), ``blstats`` (27,) and
            ``message`` (256,).
        features_dim: output width.
        crop: side of the glyph window around the agent (odd).
        glyph_dim: glyph embedding width.
        extra_keys: further Box keys to read (flattened, as floats).

    Example:
        >>> import numpy as np
        >>> space = gym.spaces.Dict({
        ...     "glyphs": gym.spaces.Box(0, MAX_GLYPH, (21, 79), np.int16),
        ...     "blstats": gym.spaces.Box(-2**31, 2**31 - 1, (27,), np.int64),
        ...     "message": gym.spaces.Box(0, 255, (256,), np.uint8)})
        >>> extractor = NetHackExtractor(space, features_dim=32)
        >>> obs = {k: th.as_tensor(v, dtype=th.float32)[None] for k, v in space.sample().items()}
        >>> tuple(extractor(obs).shape)
        (1, 32)
    """

    def __init__(
        self,
        observation_space: gym.spaces.Dict,
        features_dim: int = 256,
        crop: int = 9,
        glyph_dim: int = 16,
        extra_keys: tuple[str, ...] = (),
    ) -> None:
        needed = (*REQUIRED_KEYS, *extra_keys)
        if not isinstance(observation_space, gym.spaces.Dict) or any(
            k not in observation_space.spaces for k in needed
        ):
            raise ValueError(
                f"NetHackExtractor needs a Dict space with keys {list(needed)}, "
                f"got {observation_space}"
            )
        if crop < 1 or crop % 2 == 0:
            raise ValueError(f"crop must be a positive odd number, got {crop!r}")
        super().__init__(observation_space, features_dim)
        self.crop = crop
        self.glyph_embed = nn.Embedding(MAX_GLYPH + 1, glyph_dim)  # index MAX_GLYPH = off-map
        self.glyph_net = nn.Sequential(
            nn.Conv2d(glyph_dim, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 16, 3, padding=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        n_blstats = observation_space.spaces["blstats"].shape[0]
        self.blstats_net = nn.Sequential(nn.Linear(n_blstats, 64), nn.ReLU())
        self.message_net = ByteEncoder(64)
        self.extra_keys = tuple(extra_keys)
        n_extra = sum(int(np.prod(observation_space.spaces[k].shape)) for k in self.extra_keys)
        self.extra_net = nn.Sequential(nn.Linear(n_extra, 32), nn.ReLU()) if n_extra else None
        width = 16 * crop * crop + 64 + 64 + (32 if n_extra else 0)
        self.mix = nn.Sequential(nn.Linear(width, features_dim), nn.ReLU())

    def forward(self, obs: dict[str, th.Tensor]) -> th.Tensor:
        blstats = obs["blstats"].float()
        glyphs = obs["glyphs"].long().clamp(0, MAX_GLYPH)
        window = crop_around(glyphs, blstats[:, 0], blstats[:, 1], self.crop, MAX_GLYPH)
        g = self.glyph_net(self.glyph_embed(window).permute(0, 3, 1, 2))
        b = self.blstats_net(th.sign(blstats) * th.log1p(blstats.abs()))
        m = self.message_net(obs["message"].long())
        parts = [g, b, m]
        if self.extra_net is not None:
            extra = [obs[k].float().flatten(1) for k in self.extra_keys]
            parts.append(self.extra_net(th.cat(extra, dim=1)))
        return self.mix(th.cat(parts, dim=1))
