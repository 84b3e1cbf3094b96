"""The assembled world model: tokenizer + latent action model + dynamics, their presets, and how a rollout is made.

The dynamics model takes true actions (ids 0 .. TRUE_ACTIONS - 1, the world's actions: 0..9 now) when labels exist
and latent actions (the ids after them, 10..17 now, from the latent action model) otherwise; it is trained on both,
half the batches each, so it can be evaluated and driven either way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
from torch import nn

from mpgenie.errors import UsageError
from mpgenie.models.designs import DEFAULT_TOKENIZER, TOKENIZERS
from mpgenie.models.dynamics import Dynamics, DynamicsConfig
from mpgenie.models.lam import LatentActionConfig, LatentActionModel
from mpgenie.models.tokenizer import Tokenizer, TokenizerConfig
from mpgenie.world.actions import NUM_ACTIONS

# The true action ids are the world's actions, so their count comes from the world: a hard-coded copy would let a
# new action silently collide with the first latent action id.
TRUE_ACTIONS = NUM_ACTIONS


@dataclass(frozen=True)
class GenieConfig:
    name: str
    tokenizer: TokenizerConfig
    lam: LatentActionConfig
    dynamics: DynamicsConfig
    batch: int = 16
    lr: float = 1e-3

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, object]) -> GenieConfig:
        t, a, y = (dict(d[k]) for k in ("tokenizer", "lam", "dynamics"))  # type: ignore[call-overload]
        t["levels"] = tuple(t["levels"])
        a["levels"] = tuple(a["levels"])
        y["levels"] = tuple(y["levels"])
        return GenieConfig(
            str(d["name"]),
            TokenizerConfig(**t),
            LatentActionConfig(**a),
            DynamicsConfig(**y),
            int(d["batch"]),
            float(d["lr"]),
        )  # type: ignore[arg-type]


RESIDUAL_LEVELS = (8, 8, 8, 5, 5, 5)


def preset(name: str, resolution: int = 64, tokenizer: str = DEFAULT_TOKENIZER) -> GenieConfig:
    sizes = {"tiny": (32, 24, 128, 2, 4, 16), "small": (64, 48, 256, 4, 8, 32), "base": (128, 96, 512, 8, 8, 64)}
    if name not in sizes:
        raise UsageError(f"unknown config {name!r} (tiny, small, base)")
    if tokenizer not in TOKENIZERS:
        raise UsageError(f"unknown tokenizer {tokenizer!r} ({', '.join(TOKENIZERS)})")
    tok_c, lam_c, dim, layers, heads, batch = sizes[name]
    down = 3 if resolution >= 64 else 2
    tok = TokenizerConfig(resolution=resolution, channels=tok_c, downsample=down)
    if tokenizer == "residual":
        tok = replace(tok, levels=RESIDUAL_LEVELS, residual=True, decoder_channels=2 * tok_c)
    elif tokenizer == "reference":
        tok = replace(tok, reference=True)
    lam = LatentActionConfig(resolution=resolution, channels=lam_c)
    grid = resolution // 2**down
    latent = 1
    for level in lam.levels:
        latent *= level
    dyn = DynamicsConfig(
        levels=tok.levels,
        grid=grid,
        context_frames=2,
        num_actions=TRUE_ACTIONS + latent,
        dim=dim,
        layers=layers,
        heads=heads,
    )
    return GenieConfig(name, tok, lam, dyn, batch=batch)


class Genie(nn.Module):
    def __init__(self, cfg: GenieConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tokenizer = Tokenizer(cfg.tokenizer)
        self.lam = LatentActionModel(cfg.lam)
        self.dynamics = Dynamics(cfg.dynamics)

    @torch.no_grad()
    def rollout(
        self,
        frames: torch.Tensor,
        actions: torch.Tensor,
        steps: int,
        others: torch.Tensor | None = None,
        guidance: float | None = None,
    ) -> torch.Tensor:
        """frames (B, C, 3, H, W) in [-1, 1] as context; actions (B, steps) dynamics action ids; others
        (B, steps, K, F) the other players at each predicted frame (models/visible_players.py) or None ->
        predicted frames (B, steps, 3, H, W). ``guidance``: the action guidance (default: the config's). Each frame is
        decoded from the one before (the last context frame, then the model's own; only the reference tokenizer
        uses it)."""
        c = self.cfg.dynamics.context_frames
        b = frames.shape[0]
        codes = [self.tokenizer.encode(frames[:, i])[1] for i in range(frames.shape[1])][-c:]
        out = []
        last = frames[:, -1]
        for t in range(steps):
            seen = None if others is None else others[:, t]
            nxt = self.dynamics.sample(torch.stack(codes[-c:], dim=1), actions[:, t], seen, guidance=guidance)
            codes.append(nxt)
            last = self.tokenizer.decode_codes(nxt, last).clamp(-1, 1)
            out.append(last)
        return torch.stack(out, dim=1) if out else torch.zeros(b, 0, *frames.shape[2:])
