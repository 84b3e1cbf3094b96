"""The dynamics model (MaskGIT-style): predicts the next frame's tokens from the previous frames' tokens, an
action (a latent action code, or the true action when labels exist) and — for multiplayer — the visible other
players (relative position, heading, last action; models/visible_players.py), so it can draw other players where
they are.

One bidirectional transformer sees [past frame tokens | action token | other-player tokens | next frame tokens,
some replaced by MASK]; training masks a random share of the next frame and predicts it (cross-entropy per
digit); sampling fills the frame in a few rounds, keeping the most confident tokens each round.

Every next-frame token's input also carries the action and the previous frame's token at the same place (as
Genie adds action embeddings to the video tokens). Most tokens move by less than one cell per tick, so "copy the
token here, moved as the action says" becomes a short path for the network; with the action as one token among
~200 and no per-token copy path, the same 5,000 steps reached a next-frame PSNR of 28.2 dB instead of 29.6 dB
(BENCHMARKS.md).

A token is the tuple of the tokenizer's FSQ digits (levels 8, 5, 5, 5), and the model embeds and predicts it digit
by digit (summed embeddings, one small classifier per digit) rather than as one of 1,000 unrelated classes: a patch
that moved a little keeps most of its digits, and what is learned about one digit value is shared by every code
that has it.

Classifier-free guidance on the action: training replaces the action by a "no action" id in a share of examples,
so the model also learns what the next frame looks like whatever the action; sampling can then push each digit's
logits away from that prediction, ``unguided + w * (conditioned - unguided)``. ``w = 1`` is plain sampling;
BENCHMARKS.md measures what larger ``w`` does to the controllability metric and to accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class DynamicsConfig:
    levels: tuple[int, ...] = (8, 5, 5, 5)  # the tokenizer's FSQ levels: a token is one digit per level
    grid: int = 8
    context_frames: int = 2
    num_actions: int = 10  # true actions (10) or latent actions (8)
    other_features: int = 5  # forward_m, right_m, sin/cos relative heading, last action (scaled)
    max_others: int = 4
    dim: int = 128
    layers: int = 2
    heads: int = 4
    # Classifier-free guidance on the action: training drops the action (a "no action" id) in this share of
    # examples, and sampling pushes each digit's logits away from the no-action prediction by this factor
    # (1: no guidance; each round then costs one forward pass instead of two).
    action_dropout: float = 0.1
    guidance: float = 2.0

    @property
    def tokens(self) -> int:
        return self.grid * self.grid

    @property
    def codebook(self) -> int:
        return math.prod(self.levels)


class Dynamics(nn.Module):
    def __init__(self, cfg: DynamicsConfig) -> None:
        super().__init__()
        self.cfg = cfg
        n = cfg.tokens
        self.mask_id = cfg.codebook
        levels = torch.tensor(cfg.levels)
        self.register_buffer("_levels", levels, persistent=False)
        self.register_buffer(
            "_basis", torch.cumprod(torch.cat([torch.ones(1, dtype=levels.dtype), levels[:-1]]), 0), persistent=False
        )
        # One embedding per digit (plus MASK), summed: codes that share digits share what was learned about them.
        self.token_embed = nn.ModuleList(nn.Embedding(level + 1, cfg.dim) for level in cfg.levels)
        self.no_action = cfg.num_actions
        self.action_embed = nn.Embedding(cfg.num_actions + 1, cfg.dim)
        self.action_on_tokens = nn.Embedding(cfg.num_actions + 1, cfg.dim)
        self.previous_on_tokens = nn.ModuleList(nn.Embedding(level, cfg.dim) for level in cfg.levels)
        self.other_proj = nn.Linear(cfg.other_features, cfg.dim)
        length = (cfg.context_frames + 1) * n + 1 + cfg.max_others
        self.position = nn.Parameter(torch.zeros(1, length, cfg.dim))
        nn.init.normal_(self.position, std=0.02)
        layer = nn.TransformerEncoderLayer(
            cfg.dim, cfg.heads, 4 * cfg.dim, dropout=0.0, batch_first=True, norm_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, sum(cfg.levels))  # one classifier per digit

    def _digits(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes (...) -> digits (..., D); MASK -> each level's own MASK digit (its level count)."""
        digits = (codes.unsqueeze(-1) // self._basis) % self._levels
        return torch.where((codes == self.mask_id).unsqueeze(-1), self._levels, digits)

    def _embed(self, codes: torch.Tensor, tables: nn.ModuleList) -> torch.Tensor:
        digits = self._digits(codes)
        return sum(table(digits[..., i]) for i, table in enumerate(tables))  # type: ignore[return-value]

    def _digit_logits(self, logits: torch.Tensor) -> list[torch.Tensor]:
        return list(logits.split(list(self.cfg.levels), dim=-1))

    def logits(
        self, past: torch.Tensor, action: torch.Tensor, target: torch.Tensor, others: torch.Tensor | None = None
    ) -> torch.Tensor:
        """past (B, T, g, g) codes, action (B,), target (B, g, g) codes with MASK where unknown,
        others (B, K, F) or None -> logits (B, g*g, sum(levels)) for the next frame: each digit's, one after
        another."""
        b = past.shape[0]
        cfg = self.cfg
        seq = [self._embed(past.reshape(b, -1), self.token_embed), self.action_embed(action)[:, None]]
        if others is None:
            others = torch.zeros(b, cfg.max_others, cfg.other_features, device=past.device)
        seq.append(self.other_proj(others[:, : cfg.max_others]))
        seq.append(
            self._embed(target.reshape(b, -1), self.token_embed)
            + self._embed(past[:, -1].reshape(b, -1), self.previous_on_tokens)
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
        dropped = torch.rand(b, device=action.device) < self.cfg.action_dropout
        action = torch.where(dropped, torch.full_like(action, self.no_action), action)
        logits = self.logits(past, action, inputs.reshape_as(target), others)[masked]
        digits = self._digits(flat[masked])
        return sum(  # type: ignore[return-value]
            F.cross_entropy(part, digits[:, i]) for i, part in enumerate(self._digit_logits(logits))
        )

    @torch.no_grad()
    def sample(
        self,
        past: torch.Tensor,
        action: torch.Tensor,
        others: torch.Tensor | None = None,
        steps: int = 4,
        guidance: float | None = None,
    ) -> torch.Tensor:
        """Next-frame codes (B, g, g): start all masked, keep the most confident share each round (argmax).
        ``guidance`` (default: the config's) scales the action's effect on the logits."""
        b, g = past.shape[0], self.cfg.grid
        n = g * g
        w = self.cfg.guidance if guidance is None else guidance
        codes = torch.full((b, n), self.mask_id, dtype=torch.long, device=past.device)
        for step in range(steps):
            logits = self.logits(past, action, codes.reshape(b, g, g), others)
            if w != 1.0:
                unguided = self.logits(past, torch.full_like(action, self.no_action), codes.reshape(b, g, g), others)
                logits = unguided + w * (logits - unguided)
            conf = torch.ones(b, n, device=past.device)
            pred = torch.zeros(b, n, dtype=torch.long, device=past.device)
            for part, base in zip(self._digit_logits(logits), self._basis, strict=True):
                p, digit = part.softmax(-1).max(-1)
                conf, pred = conf * p, pred + digit * base
            unknown = codes == self.mask_id
            conf = torch.where(unknown, conf, torch.full_like(conf, -1.0))
            keep = n - int(n * math.cos(math.pi / 2 * (step + 1) / steps))  # total known after this round
            known_now = int((~unknown[0]).sum())
            take = max(0, keep - known_now)
            if take:
                idx = conf.topk(take, dim=-1).indices
                codes.scatter_(1, idx, pred.gather(1, idx))
        return codes.reshape(b, g, g)
