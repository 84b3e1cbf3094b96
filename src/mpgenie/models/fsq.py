"""Finite scalar quantization (Mentzer et al., 2023): each latent channel is bounded and rounded to a few levels;
the code is the tuple of levels. No codebook to learn or collapse, straight-through gradients."""

from __future__ import annotations

import torch
from torch import nn


class FSQ(nn.Module):
    def __init__(self, levels: tuple[int, ...]) -> None:
        super().__init__()
        if not levels or any(level < 2 for level in levels):
            raise ValueError("every FSQ level count must be >= 2")
        self.levels = levels
        self.register_buffer("_levels", torch.tensor(levels, dtype=torch.float32), persistent=False)
        basis = torch.cumprod(torch.tensor((1, *levels[:-1])), dim=0)
        self.register_buffer("_basis", basis, persistent=False)

    @property
    def dim(self) -> int:
        return len(self.levels)

    @property
    def codebook_size(self) -> int:
        return int(torch.prod(torch.tensor(self.levels)).item())

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z (..., dim) -> (quantized values in [-1, 1], integer codes (...))."""
        levels = self._levels
        half_l = (levels - 1) * (1 + 1e-3) / 2
        offset = torch.where(levels % 2 == 0, 0.5, 0.0)  # even level counts: L values around zero, off by half
        shift = torch.atanh(offset / half_l)
        bounded = torch.tanh(z + shift) * half_l - offset
        quantized = bounded + (torch.round(bounded) - bounded).detach()  # straight-through
        half_width = torch.div(levels, 2, rounding_mode="floor")
        digits = (torch.round(bounded) + half_width).long()
        codes = (digits * self._basis).sum(dim=-1)
        return quantized / half_width, codes

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Integer codes (...) -> quantized values (..., dim) in [-1, 1]."""
        half_width = torch.div(self._levels, 2, rounding_mode="floor")
        digits = (codes.unsqueeze(-1) // self._basis) % self._levels.long()
        return (digits.float() - half_width) / half_width
