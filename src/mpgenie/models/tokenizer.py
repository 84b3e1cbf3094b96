"""The video tokenizer: a convolutional autoencoder with an FSQ bottleneck. A 64x64 frame becomes an 8x8 grid of
discrete tokens (codebook 8*5*5*5 = 1000 in ``tiny``), which the dynamics model predicts.

Three designs: ``plain`` (strided convolutions both ways, one width), ``residual`` (a residual block before the
bottleneck and after every upsampling, the decoder widest at the tokens and tapering towards full resolution, where
a wide convolution costs most) and ``reference`` (plain's encoder; a decoder that also sees the previous frame).
At equal steps and about equal CPU per step, ``residual`` with six FSQ digits reconstructs 1.4-1.6 dB better than
``tiny``'s plain one (BENCHMARKS.md, "Tokenizer designs"): the tokenizer caps every frame the world model makes.

Why ``reference``: 64 tokens of ~10 bits cannot carry a 64x64 frame's detail (~31 dB), while consecutive frames
are mostly the same picture (repeating the last frame scores ~29 dB), so a decoder that draws the next frame *from
the previous one*, corrected where the tokens say the scene differs, can keep the detail the tokens drop, as a
video codec's predicted frames do. The tokens stay what they were (the encoder sees one frame: the dynamics model
and the latent action model are unchanged); only decoding takes the previous frame: the true one when it is known
(teacher forcing, the tokenizer's own score), the model's last frame in a rollout or a served stream. The decoder's
last layer starts at zero, so an untrained decoder repeats the previous frame; a share of training examples get no
previous frame (all zeros) so the decoder also draws from the tokens alone."""

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
    reference: bool = False  # the reference design: decoding also sees the previous frame (module docstring)

    @property
    def grid(self) -> int:
        return self.resolution // 2**self.downsample

    @property
    def design(self) -> str:
        """``plain``, ``residual`` or ``reference`` (designs.TOKENIZERS)."""
        if self.reference:
            return "reference"
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


# Share of the reference design's training examples decoded without a previous frame (all zeros): a stream whose
# context has no frame yet starts from the tokens alone.
REFERENCE_DROPOUT = 0.1


class ReferenceDecoder(nn.Module):
    """Plain's decoder, told the previous frame: a pyramid of the reference frame's features (plain's encoder layers,
    kept at every resolution) joins the tokens at the grid and is added after every upsampling; the output is the
    reference plus a correction whose last layer starts at zero."""

    def __init__(self, cfg: TokenizerConfig, dim: int) -> None:
        super().__init__()
        c = cfg.channels
        self.ref_in = nn.Conv2d(3, c, 3, padding=1)
        self.ref_down = nn.ModuleList(nn.Conv2d(c, c, 4, stride=2, padding=1) for _ in range(cfg.downsample))
        self.tokens_in = nn.Conv2d(dim + c, c, 3, padding=1)
        self.up = nn.ModuleList(nn.ConvTranspose2d(c, c, 4, stride=2, padding=1) for _ in range(cfg.downsample))
        self.out = nn.Conv2d(c, 3, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, q: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """q (B, d, g, g) quantized tokens, reference (B, 3, H, W) in [-1, 1] -> image (B, 3, H, W)."""
        pyramid = [F.gelu(self.ref_in(reference))]
        for down in self.ref_down:
            pyramid.append(F.gelu(down(pyramid[-1])))
        h = F.gelu(self.tokens_in(torch.cat([q, pyramid[-1]], dim=1)))
        for k, up in enumerate(self.up):
            h = F.gelu(up(h)) + pyramid[-2 - k]
        return reference + self.out(h)


class Tokenizer(nn.Module):
    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.fsq = FSQ(cfg.levels)
        if cfg.reference:
            self.encoder = _plain_coders(cfg, self.fsq.dim)[0]
            self.decoder: nn.Module = ReferenceDecoder(cfg, self.fsq.dim)
        else:
            coders = _residual_coders if cfg.residual else _plain_coders
            self.encoder, self.decoder = coders(cfg, self.fsq.dim)

    def _decode(self, q: torch.Tensor, reference: torch.Tensor | None) -> torch.Tensor:
        if not self.cfg.reference:
            return self.decoder(q)  # type: ignore[no-any-return]
        if reference is None:
            h = self.cfg.resolution
            reference = torch.zeros(q.shape[0], 3, h, h, dtype=q.dtype, device=q.device)
        return self.decoder(q, reference)  # type: ignore[no-any-return]

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) -> (quantized (B, d, g, g), codes (B, g, g))."""
        z = self.encoder(x).permute(0, 2, 3, 1)
        q, codes = self.fsq(z)
        return q.permute(0, 3, 1, 2), codes

    def decode_codes(self, codes: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
        """codes (B, g, g) -> image (B, 3, H, W) in about [-1, 1]. ``reference`` (B, 3, H, W): the frame before
        (the reference design draws from it; None: from the tokens alone; other designs ignore it)."""
        return self._decode(self.fsq.decode_codes(codes).permute(0, 3, 1, 2), reference)

    def reconstruct(self, x: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
        """decode(encode(x)) through the discrete codes, clamped to the image range: what the dynamics' frames can
        at best look like (the tokenizer PSNR of ``eval worldmodel`` and ``bench tokenizer``); ``reference`` as in
        :meth:`decode_codes`."""
        return self.decode_codes(self.encode(x)[1], reference).clamp(-1, 1)

    def forward(self, x: torch.Tensor, reference: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The training loss of frames ``x`` (and, for the reference design, the frames before them; a
        ``REFERENCE_DROPOUT`` share of them is dropped while training) and their codes."""
        q, codes = self.encode(x)
        if self.cfg.reference and reference is not None and self.training:
            kept = torch.rand(x.shape[0], 1, 1, 1, device=x.device) >= REFERENCE_DROPOUT
            reference = reference * kept
        recon = self._decode(q, reference)
        return F.mse_loss(recon, x), codes
