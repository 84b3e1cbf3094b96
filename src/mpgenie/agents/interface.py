"""The one Policy interface: scripted bots, learned policies and remote players all act through it.

A policy acts for a batch of agents at once (one vectorised call per tick, no per-agent Python): it gets an
:class:`Observation` (the agents' own state, the world for scripted policies to query, and the environment's
state vectors or rendered views when the caller has them) and returns one action per agent, in the order of
``obs.agents``. What implements it:

- :class:`mpgenie.agents.scripted.ScriptedBots` (the realtime server's and the benchmarks' bots) and
  :class:`mpgenie.agents.policy.ScriptedPolicy` (the styled agents that ``mpgenie generate`` records);
- :class:`LearnedPolicy`: any function of the state vectors or frames (a network's forward pass);
- :class:`RemotePolicy`: actions that arrive from elsewhere (a client, another process), held like keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from mpgenie.world.actions import NUM_ACTIONS, Action
from mpgenie.world.simulation import World


@dataclass(frozen=True, slots=True)
class Observation:
    tick: int
    agents: NDArray[np.int64]  # player ids, in the order actions are returned
    position: NDArray[np.float64]  # (N, 3) unit vectors
    heading: NDArray[np.float64]  # (N, 3)
    world: World  # read-only use: scripted policies look up objects and other players
    frames: NDArray[np.uint8] | None = None  # (N, H, W, 3) first-person views, when rendered
    state: NDArray[np.float32] | None = None  # (N, D) the environment's state vectors, when computed

    @staticmethod
    def of(
        world: World,
        agents: NDArray[np.int64],
        frames: NDArray[np.uint8] | None = None,
        state: NDArray[np.float32] | None = None,
    ) -> Observation:
        return Observation(world.tick, agents, world.pos[agents], world.fwd[agents], world, frames, state)


@runtime_checkable
class Policy(Protocol):
    def act(self, obs: Observation) -> NDArray[np.int8]:
        """One action per agent of ``obs.agents``."""
        ...


class LearnedPolicy:
    """A learned policy: ``fn`` maps the batch's state vectors (or frames) to actions or to action scores.

    Scores (``(N, 10)``: logits, Q-values) are turned into actions greedily, or sampled from their softmax with
    ``sample=True`` (seeded). ``fn`` is any callable on NumPy arrays, e.g. a PyTorch module behind ``torch.no_grad``.
    """

    def __init__(
        self,
        fn: Callable[[NDArray], NDArray],
        inputs: Literal["state", "frames"] = "state",
        sample: bool = False,
        seed: int = 0,
    ) -> None:
        self.fn = fn
        self.inputs = inputs
        self.sample = sample
        self.rng = np.random.default_rng([seed, 17])

    def act(self, obs: Observation) -> NDArray[np.int8]:
        x = obs.state if self.inputs == "state" else obs.frames
        if x is None:
            raise ValueError(f"this policy needs {self.inputs} in its observations")
        out = np.asarray(self.fn(x))
        if out.ndim == 1:
            return out.astype(np.int8)
        if out.shape != (obs.agents.shape[0], NUM_ACTIONS):
            raise ValueError(f"expected actions (N,) or scores (N, {NUM_ACTIONS}), got shape {out.shape}")
        if not self.sample:
            return np.argmax(out, axis=1).astype(np.int8)
        z = out - out.max(axis=1, keepdims=True)
        p = np.exp(z)
        cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
        u = np.asarray(self.rng.random(size=out.shape[0]))[:, None]
        return np.minimum((u > cdf).sum(axis=1), NUM_ACTIONS - 1).astype(np.int8)


class RemotePolicy:
    """Actions sent from elsewhere (a network client, another process): each agent keeps its last action, as a
    held key, until a new one arrives; ``hold=False`` uses each action for one tick only. Unknown agents idle."""

    def __init__(self, hold: bool = True) -> None:
        self.hold = hold
        self._pending: dict[int, int] = {}

    def submit(self, agent: int, action: int) -> None:
        self._pending[int(agent)] = int(Action(action))

    def act(self, obs: Observation) -> NDArray[np.int8]:
        agents = obs.agents.tolist()
        actions = np.array([self._pending.get(a, Action.NOOP) for a in agents], dtype=np.int8)
        if not self.hold:
            self._pending.clear()
        return actions
