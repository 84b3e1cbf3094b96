"""The video tokenizer: a convolutional autoencoder with an FSQ bottleneck. A 64x64 frame becomes an 8x8 grid of
discrete tokens (codebook 8*5*5*5 = 1000), which the dynamics model predicts."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mpgenie.models.fsq import FSQ


@dataclass(frozen=True)
class TokenizerConfig:
    resolution: int = 64
    channels: int = 64
    downsample: int = 3  # 2**3 = 8: 64x64 -> 8x8 tokens
    levels: tuple[int, ...] = (8, 5, 5, 5)

    @property
    def grid(self) -> int:
        return self.resolution // 2**self.downsample


class Tokenizer(nn.Module):
    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        enc: list[nn.Module] = [nn.Conv2d(3, c, 3, padding=1), nn.GELU()]
        dec: list[nn.Module] = []
        for _ in range(cfg.downsample):
            enc += [nn.Conv2d(c, c, 4, stride=2, padding=1), nn.GELU()]
            dec += [nn.ConvTranspose2d(c, c, 4, stride=2, padding=1), nn.GELU()]
        self.fsq = FSQ(cfg.levels)
        self.encoder = nn.Sequential(*enc, nn.Conv2d(c, self.fsq.dim, 1))
        self.decoder = nn.Sequential(
            nn.Conv2d(self.fsq.dim, c, 3, padding=1), nn.GELU(), *dec, nn.Conv2d(c, 3, 3, padding=1)
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) -> (quantized (B, d, g, g), codes (B, g, g))."""
        z = self.encoder(x).permute(0, 2, 3, 1)
        q, codes = self.fsq(z)
        return q.permute(0, 3, 1, 2), codes

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B, g, g) -> image (B, 3, H, W) in about [-1, 1]."""
        return self.decoder(self.fsq.decode_codes(codes).permute(0, 3, 1, 2))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q, codes = self.encode(x)
        recon = self.decoder(q)
        return F.mse_loss(recon, x), codes
