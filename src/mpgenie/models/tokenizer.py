"""The video tokenizer: a convolutional autoencoder with an FSQ bottleneck. A 64x64 frame becomes an 8x8 grid of
discrete tokens (codebook 8*5*5*5 = 1000 in ``tiny``), which the dynamics model predicts.

Two designs: ``plain`` (strided convolutions both ways, one width) and ``residual`` (a residual block before the
bottleneck and after every upsampling, the decoder widest at the tokens and tapering towards full resolution, where
a wide convolution costs most). At equal steps and about equal CPU per step, ``residual`` with six FSQ digits
reconstructs 1.4-1.6 dB better than ``tiny``'s plain one (BENCHMARKS.md, "Tokenizer designs"): the tokenizer caps
every frame the world model makes."""

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
    residual: bool = False  # the residual design (module docstring); False: plain (checkpoints before it)
    decoder_channels: int = 0  # residual: the decoder's width at the tokens, halved per upsampling (0: channels)

    @property
    def grid(self) -> int:
        return self.resolution // 2**self.downsample

    @property
    def design(self) -> str:
        """``plain`` or ``residual`` (genie.TOKENIZERS)."""
        return "residual" if self.residual else "plain"


class ResidualBlock(nn.Module):
    """``x + conv(gelu(conv(gelu(x))))`` at one width and resolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.a = nn.Conv2d(channels, channels, 3, padding=1)
        self.b = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.b(F.gelu(self.a(F.gelu(x))))


MIN_DECODER_CHANNELS = 16


def _plain_coders(cfg: TokenizerConfig, dim: int) -> tuple[nn.Sequential, nn.Sequential]:
    """Strided convolutions down, transposed ones up, one width (layers made in the order the first checkpoints
    were initialised in, so a seed gives the same weights)."""
    c = cfg.channels
    enc: list[nn.Module] = [nn.Conv2d(3, c, 3, padding=1), nn.GELU()]
    up: list[nn.Module] = []
    for _ in range(cfg.downsample):
        enc += [nn.Conv2d(c, c, 4, stride=2, padding=1), nn.GELU()]
        up += [nn.ConvTranspose2d(c, c, 4, stride=2, padding=1), nn.GELU()]
    encoder = nn.Sequential(*enc, nn.Conv2d(c, dim, 1))
    decoder = nn.Sequential(nn.Conv2d(dim, c, 3, padding=1), nn.GELU(), *up, nn.Conv2d(c, 3, 3, padding=1))
    return encoder, decoder


def _residual_coders(cfg: TokenizerConfig, dim: int) -> tuple[nn.Sequential, nn.Sequential]:
    """A residual block before the bottleneck and after every upsampling; the decoder halves its width per
    upsampling, down to MIN_DECODER_CHANNELS."""
    c = cfg.channels
    enc: list[nn.Module] = [nn.Conv2d(3, c, 3, padding=1)]
    for _ in range(cfg.downsample):
        enc += [nn.Conv2d(c, c, 4, stride=2, padding=1), nn.GELU()]
    encoder = nn.Sequential(*enc, ResidualBlock(c), nn.Conv2d(c, dim, 1))
    width = cfg.decoder_channels or c
    dec: list[nn.Module] = [nn.Conv2d(dim, width, 3, padding=1), ResidualBlock(width)]
    for _ in range(cfg.downsample):
        narrower = max(width // 2, MIN_DECODER_CHANNELS)
        dec += [nn.ConvTranspose2d(width, narrower, 4, stride=2, padding=1), ResidualBlock(narrower)]
        width = narrower
    decoder = nn.Sequential(*dec, nn.GELU(), nn.Conv2d(width, 3, 3, padding=1))
    return encoder, decoder


class Tokenizer(nn.Module):
    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.fsq = FSQ(cfg.levels)
        coders = _residual_coders if cfg.residual else _plain_coders
        self.encoder, self.decoder = coders(cfg, self.fsq.dim)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) -> (quantized (B, d, g, g), codes (B, g, g))."""
        z = self.encoder(x).permute(0, 2, 3, 1)
        q, codes = self.fsq(z)
        return q.permute(0, 3, 1, 2), codes

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B, g, g) -> image (B, 3, H, W) in about [-1, 1]."""
        return self.decoder(self.fsq.decode_codes(codes).permute(0, 3, 1, 2))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """decode(encode(x)) through the discrete codes, clamped to the image range: what the dynamics' frames can
        at best look like (the tokenizer PSNR of ``eval worldmodel`` and ``bench tokenizer``)."""
        return self.decode_codes(self.encode(x)[1]).clamp(-1, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q, codes = self.encode(x)
        recon = self.decoder(q)
        return F.mse_loss(recon, x), codes
