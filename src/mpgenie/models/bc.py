"""The behavioural-cloning policy of VPT (PyTorch, extra ``learn``): causal, it sees only the frames a player has
already seen — the last ``history`` frames before it acts — and, if chosen (``BCConfig.state``), its own state
vector of that moment (:mod:`mpgenie.agents.observations`: its pose, the nearest players, collectibles, beacons
and hazards), and names the action to take now.

Why the state vector: a scripted teacher steers by where things are (the nearest beacon, even one behind it), which
four 64x64 frames rarely show; cloned from frames alone, a co-operator earned 8 % of its teacher's reward, from
frames and state 88 % (BENCHMARKS.md). The steps-left feature is zeroed: how long an episode runs is the
recorder's setting, not something a player knows.

Timing, the one thing to get right: frame i of a dataset shows the state *after* the action of row i, so the
action of row i was chosen having seen frames ..., i-2, i-1. The trainer (models/bc_train.py) therefore pairs
frames i-h .. i-1 with the label of row i, and :class:`BCPolicy` acts on the frames it has been shown so far —
at an episode's start the first frame stands in for those not seen yet, as in training.

:class:`BCPolicy` implements the agents' :class:`~mpgenie.agents.interface.Policy` (``act(obs)`` with
``obs.frames``), so it plays wherever a policy does: the pixel environment, ``mpgenie generate --agents bc:CKPT``
and the realtime server's bots. It lives here, not in ``mpgenie.agents``, because the layers run
models > agents: the agents package defines the interface and knows no networks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from mpgenie.agents.config import EnvConfig
from mpgenie.agents.interface import Observation
from mpgenie.agents.observations import OWN_FEATURES
from mpgenie.agents.vector import WorldStates
from mpgenie.models.checkpoint import load_model
from mpgenie.models.frames import to_tensor
from mpgenie.models.framestack import FrameStackEncoder
from mpgenie.world.actions import NUM_ACTIONS


@dataclass(frozen=True)
class BCConfig:
    resolution: int = 64
    history: int = 4  # frames before the decision
    channels: int = 32
    features: int = 256
    lr: float = 1e-3
    batch: int = 64
    state: int = 0  # length of the own state vector read beside the frames (0: frames only)
    state_env: dict[str, Any] = field(default_factory=dict)  # the EnvConfig fields that vector was made with

    def env(self) -> EnvConfig:
        """The environment config whose state vectors this policy reads (``players`` is set by the caller)."""
        return EnvConfig(**self.state_env)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> BCConfig:
        return BCConfig(**d)


STEPS_LEFT = OWN_FEATURES - 1  # the state vector's steps-left feature, zeroed (module docstring)
#: The state vector BC reads by default: the environment's default nearest-k layout over the whole render distance.
STATE_ENV: dict[str, Any] = {"k_players": 4, "k_collectibles": 4, "k_beacons": 2, "k_hazards": 2}


def policy_state(state: NDArray[np.float32]) -> NDArray[np.float32]:
    """The state vectors (..., D) as BC reads them: steps left zeroed."""
    out = np.array(state, dtype=np.float32)
    out[..., STEPS_LEFT] = 0.0
    return out


class BCNet(nn.Module):
    def __init__(self, cfg: BCConfig) -> None:
        super().__init__()
        self.cfg = cfg
        f = cfg.features
        self.encoder = FrameStackEncoder(cfg.history, cfg.resolution, cfg.channels, f)
        self.state_net: nn.Module | None = None
        self.fuse: nn.Module | None = None
        if cfg.state:
            self.state_net = nn.Sequential(nn.Linear(cfg.state, f), nn.GELU(), nn.Linear(f, f), nn.GELU())
            self.fuse = nn.Sequential(nn.Linear(2 * f, f), nn.GELU())
        self.head = nn.Linear(f, NUM_ACTIONS)

    def forward(self, frames: torch.Tensor, state: torch.Tensor | None = None) -> torch.Tensor:
        """(B, history, 3, H, W) past frames in [-1, 1], oldest first, and with ``cfg.state`` the (B, state)
        state vectors of the last of them -> action logits (B, 10)."""
        x = self.encoder(frames)
        if self.state_net is not None and self.fuse is not None:
            if state is None:
                raise ValueError("this BC network reads state vectors beside its frames")
            x = self.fuse(torch.cat([x, self.state_net(state)], dim=1))
        return self.head(x)  # type: ignore[no-any-return]

    def loss(self, logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, actions)


def past_indices(centres: NDArray[np.int64], history: int) -> NDArray[np.int64]:
    """Frame indices (N, history) a decision at row ``t`` has seen: t-history .. t-1, clamped to frame 0."""
    return np.maximum(centres[:, None] + np.arange(-history, 0), 0)


class BCPolicy:
    """A BC checkpoint behind the Policy interface. Keeps each agent's last ``history`` frames (an agent id it
    has not seen, or a tick not after the last one, starts a fresh history); samples from the logits with a
    seeded generator (``sample=True``, the default: a cloned mixture of players) or takes the argmax."""

    def __init__(self, model: BCNet, sample: bool = True, seed: int = 0, device: str = "cpu") -> None:
        self.model = model.to(device).eval()
        self.device = device
        self.sample = sample
        self.generator = torch.Generator().manual_seed(seed)
        self.history: dict[int, list[NDArray[np.uint8]]] = {}
        self.last_tick: int | None = None
        self.states = WorldStates(model.cfg.env()) if model.cfg.state else None  # of the world being played

    def _state(self, obs: Observation) -> torch.Tensor:
        """The agents' state vectors, computed from the world in ``obs`` with the layout the policy learned."""
        assert self.states is not None
        players = int(obs.agents.max()) + 1 if obs.agents.size else 1
        vectors = self.states.observer(obs.world, players).observe()[0][obs.agents]
        return torch.from_numpy(policy_state(vectors))

    def act(self, obs: Observation) -> NDArray[np.int8]:
        if obs.frames is None:
            raise ValueError("the BC policy needs frames in its observations (pixel observations)")
        size = self.model.cfg.resolution
        if obs.frames.shape[1:] != (size, size, 3):
            raise ValueError(f"this BC policy was trained on {size}x{size} frames, got {obs.frames.shape[1:]}")
        if self.last_tick is not None and obs.tick <= self.last_tick:
            self.history.clear()  # a new episode
        self.last_tick = obs.tick
        h = self.model.cfg.history
        stacks = []
        for i, agent in enumerate(obs.agents.tolist()):
            past = self.history.setdefault(agent, [])
            past.append(np.asarray(obs.frames[i]))
            del past[:-h]
            stacks.append(np.stack([past[0]] * (h - len(past)) + past))
        state = self._state(obs).to(self.device) if self.states is not None else None
        with torch.no_grad():
            logits = self.model(to_tensor(np.stack(stacks)).to(self.device), state).float().cpu()
        if not self.sample:
            return logits.argmax(dim=1).numpy().astype(np.int8)
        return torch.multinomial(torch.softmax(logits, 1), 1, generator=self.generator)[:, 0].numpy().astype(np.int8)


def load_bc(path: str | Path) -> tuple[BCNet, dict[str, Any]]:
    return load_model(path, "bc", lambda config: BCNet(BCConfig.from_dict(config)))


def load_policy(path: str | Path, sample: bool = True, seed: int = 0, device: str = "cpu") -> BCPolicy:
    """``bc:CKPT`` wherever a policy is named: the checkpoint's network behind :class:`BCPolicy`."""
    return BCPolicy(load_bc(path)[0], sample=sample, seed=seed, device=device)


def _seeded(path: str, seed: int) -> BCPolicy:
    return load_policy(path, seed=seed)


def policy_factory(path: str | Path) -> Callable[[int], BCPolicy]:
    """``seed -> BCPolicy`` for ``mpgenie generate --agents bc:CKPT``: picklable, so worker processes (or Ray)
    load the checkpoint themselves, each episode sampling with its own seed."""
    return functools.partial(_seeded, str(path))
