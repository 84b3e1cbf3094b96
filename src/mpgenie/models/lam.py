"""The latent action model: infers, without action labels, a discrete action (8 codes by default) that explains
the change from frame t to t+1 — an encoder sees both frames and their difference, an FSQ with levels (2, 2, 2)
gives the 8 codes, and a decoder must predict frame t+1 from frame t and that code alone. Genie uses these to
control the dynamics model where true actions are unknown.

Three details keep the codebook alive on short CPU runs (each found by a run where it was not: every transition
got one code): the FSQ bound is symmetric for two levels (fsq.py), the encoder keeps its spatial layout instead of
averaging it away, and each latent dimension is centred over the batch before quantization."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mpgenie.models.fsq import FSQ


@dataclass(frozen=True)
class LatentActionConfig:
    resolution: int = 64
    channels: int = 48
    levels: tuple[int, ...] = (2, 2, 2)  # 8 latent actions


_DOWNSAMPLE = 3  # stride-2 steps of the encoders (the decoder mirrors them): 64x64 -> 8x8


def _down(c_in: int, c: int, steps: int) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c, 3, padding=1), nn.GELU()]
    for _ in range(steps):
        layers += [nn.Conv2d(c, c, 4, stride=2, padding=1), nn.GELU()]
    return nn.Sequential(*layers)


class LatentActionModel(nn.Module):
    def __init__(self, cfg: LatentActionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        self.fsq = FSQ(cfg.levels)
        self.encoder = _down(9, c, _DOWNSAMPLE)
        grid = cfg.resolution // 2**_DOWNSAMPLE
        self.to_action = nn.Linear(c * grid * grid, self.fsq.dim)
        # Centre each latent dimension over the batch (running statistics at inference): the two-level quantizer
        # keeps only the sign, and without this one sign wins for almost every pair — the codebook collapses to
        # one or two codes and carries nothing the decoder could use.
        self.balance = nn.BatchNorm1d(self.fsq.dim, affine=False)
        self.context = _down(3, c, _DOWNSAMPLE)
        self.action_embed = nn.Linear(self.fsq.dim, c)
        up: list[nn.Module] = []
        for _ in range(_DOWNSAMPLE):
            up += [nn.ConvTranspose2d(c, c, 4, stride=2, padding=1), nn.GELU()]
        self.decoder = nn.Sequential(*up)
        # Full-resolution refinement that sees frame t itself: a turn or a step moves fine detail by a few pixels,
        # which the 8x8 path alone cannot redraw — without this skip the action barely lowers the loss and the
        # encoder has no reason to put anything into it.
        self.refine = nn.Sequential(
            nn.Conv2d(c + 3, c, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(c, c, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(c, 3, 3, padding=1),
        )

    @property
    def num_actions(self) -> int:
        return self.fsq.codebook_size

    def infer(self, x0: torch.Tensor, x1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames (B, 3, H, W) at t and t+1 -> (latent action values (B, d), codes (B,))."""
        # The change itself is an input, and the features keep their place (no global average): at
        # initialisation an averaged encoding is the same for every pair to two decimals, every transition gets the
        # same code and the decoder learns to do without it.
        h = self.encoder(torch.cat([x0, x1, x1 - x0], dim=1)).flatten(1)
        return self.fsq(self.balance(self.to_action(h)))

    def predict(self, x0: torch.Tensor, action_values: torch.Tensor) -> torch.Tensor:
        h = self.context(x0) + self.action_embed(action_values)[:, :, None, None]
        return x0 + self.refine(torch.cat([self.decoder(h), x0], dim=1))  # predict the change

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        values, codes = self.infer(x0, x1)
        return F.mse_loss(self.predict(x0, values), x1), codes
