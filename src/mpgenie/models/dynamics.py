"""The dynamics model (MaskGIT-style): predicts the next frame's tokens from the previous frames' tokens, an
action (a latent action code, or the true action when labels exist) and — for multiplayer — the visible other
players (relative position, heading, last action; models/others.py), so it can draw other players where they are.

One bidirectional transformer sees [past frame tokens | action token | other-player tokens | next frame tokens,
some replaced by MASK]; training masks a random share of the next frame and predicts it (cross-entropy); sampling
fills the frame in a few rounds, keeping the most confident tokens each round.

Every next-frame token's input also carries the action and the previous frame's token at the same place (as
Genie adds action embeddings to the video tokens). Most tokens move by less than one cell per tick, so "copy the
token here, moved as the action says" becomes a short path for the network; with the action as one token among
~200 and no per-token copy path, the same 5,000 steps reached a next-frame PSNR of 28.2 dB instead of 29.6 dB
(BENCHMARKS.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class DynamicsConfig:
    codebook: int = 1000
    grid: int = 8
    context_frames: int = 2
    num_actions: int = 10  # true actions (10) or latent actions (8)
    other_features: int = 5  # forward_m, right_m, sin/cos relative heading, last action (scaled)
    max_others: int = 4
    dim: int = 128
    layers: int = 2
    heads: int = 4

    @property
    def tokens(self) -> int:
        return self.grid * self.grid


class Dynamics(nn.Module):
    def __init__(self, cfg: DynamicsConfig) -> None:
        super().__init__()
        self.cfg = cfg
        n = cfg.tokens
        self.mask_id = cfg.codebook
        self.token_embed = nn.Embedding(cfg.codebook + 1, cfg.dim)
        self.action_embed = nn.Embedding(cfg.num_actions, cfg.dim)
        self.action_on_tokens = nn.Embedding(cfg.num_actions, cfg.dim)
        self.previous_on_tokens = nn.Embedding(cfg.codebook, cfg.dim)
        self.other_proj = nn.Linear(cfg.other_features, cfg.dim)
        length = (cfg.context_frames + 1) * n + 1 + cfg.max_others
        self.position = nn.Parameter(torch.zeros(1, length, cfg.dim))
        nn.init.normal_(self.position, std=0.02)
        layer = nn.TransformerEncoderLayer(
            cfg.dim, cfg.heads, 4 * cfg.dim, dropout=0.0, batch_first=True, norm_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.codebook)

    def logits(
        self, past: torch.Tensor, action: torch.Tensor, target: torch.Tensor, others: torch.Tensor | None = None
    ) -> torch.Tensor:
        """past (B, T, g, g) codes, action (B,), target (B, g, g) codes with MASK where unknown,
        others (B, K, F) or None -> logits (B, g*g, codebook) for the next frame."""
        b = past.shape[0]
        cfg = self.cfg
        seq = [self.token_embed(past.reshape(b, -1)), self.action_embed(action)[:, None]]
        if others is None:
            others = torch.zeros(b, cfg.max_others, cfg.other_features, device=past.device)
        seq.append(self.other_proj(others[:, : cfg.max_others]))
        seq.append(
            self.token_embed(target.reshape(b, -1))
            + self.previous_on_tokens(past[:, -1].reshape(b, -1))
            + self.action_on_tokens(action)[:, None]
        )
        x = torch.cat(seq, dim=1) + self.position
        h = self.norm(self.transformer(x))
        return self.head(h[:, -cfg.tokens :])

    def loss(
        self, past: torch.Tensor, action: torch.Tensor, target: torch.Tensor, others: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Masked-token prediction with a random mask ratio per sample (cosine schedule, as MaskGIT)."""
        b = target.shape[0]
        flat = target.reshape(b, -1)
        ratio = torch.cos(torch.rand(b, 1, device=target.device) * math.pi / 2)
        masked = torch.rand_like(flat, dtype=torch.float32) < ratio.clamp(min=1.0 / flat.shape[1])
        inputs = torch.where(masked, torch.full_like(flat, self.mask_id), flat)
        logits = self.logits(past, action, inputs.reshape_as(target), others)
        return F.cross_entropy(logits[masked], flat[masked])

    @torch.no_grad()
    def sample(
        self, past: torch.Tensor, action: torch.Tensor, others: torch.Tensor | None = None, steps: int = 4
    ) -> torch.Tensor:
        """Next-frame codes (B, g, g): start all masked, keep the most confident share each round (argmax)."""
        b, g = past.shape[0], self.cfg.grid
        n = g * g
        codes = torch.full((b, n), self.mask_id, dtype=torch.long, device=past.device)
        for step in range(steps):
            logits = self.logits(past, action, codes.reshape(b, g, g), others)
            probs = logits.softmax(-1)
            conf, pred = probs.max(-1)
            unknown = codes == self.mask_id
            conf = torch.where(unknown, conf, torch.full_like(conf, -1.0))
            keep = n - int(n * math.cos(math.pi / 2 * (step + 1) / steps))  # total known after this round
            known_now = int((~unknown[0]).sum())
            take = max(0, keep - known_now)
            if take:
                idx = conf.topk(take, dim=-1).indices
                codes.scatter_(1, idx, pred.gather(1, idx))
        return codes.reshape(b, g, g)
