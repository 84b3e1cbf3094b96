"""``snowball_v0``: the world as a PettingZoo ``ParallelEnv`` (extra ``agents``: pettingzoo, gymnasium).

Every player is an agent (``player_0`` .. ``player_{N-1}``) with the 10 discrete actions of
:class:`mpgenie.world.Action`. Observations (``EnvConfig.observation``): ``"state"``, the float32 vector of
:mod:`mpgenie.agents.observations`, or ``"pixels"``, the agent's first-person view (res x res x 3 uint8) from the
batched renderer. Rewards: the scenario's :class:`~mpgenie.agents.config.RewardWeights` (collect, co-operate at
beacons, compete, explore). Agents leave as PettingZoo says: an agent reported terminated (a hazard, with
``on_hazard="terminate"``) or truncated (``max_steps``) is gone from :attr:`agents` after that step and never
comes back; the episode is over when :attr:`agents` is empty. With ``on_hazard="respawn"`` (default) the world
puts a hazard's victim back at a spawn point and the agent plays on (``infos[agent]["respawned"]``).

The rules are those of :class:`~mpgenie.agents.vector.VectorSnowball` (this env is one world of it, without
autoreset), so a policy trained on the vectorised path sees the same environment here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray
from pettingzoo import ParallelEnv

from mpgenie.agents.config import EnvConfig
from mpgenie.agents.interface import Observation
from mpgenie.agents.vector import VectorSnowball
from mpgenie.render.renderer import Renderer, RenderSettings
from mpgenie.world.actions import NUM_ACTIONS
from mpgenie.world.config import MAX_SEED

NAME = "snowball_v0"


class SnowballEnv(ParallelEnv):
    """One world, every player an agent. ``parallel_env(players=8, observation="pixels", scenario="collect")``."""

    metadata = {"name": NAME, "render_modes": ["rgb_array"], "is_parallelizable": True}  # noqa: RUF012

    def __init__(self, config: EnvConfig | None = None, render_mode: str | None = None, **options: Any) -> None:
        cfg = config or EnvConfig()
        self.config = cfg.replace(**options) if options else cfg
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self.core = VectorSnowball(self.config, num_worlds=1, seed=0, autoreset=False)
        self.possible_agents = [f"player_{i}" for i in range(self.config.players)]
        self.agents: list[str] = []
        self._index = {a: i for i, a in enumerate(self.possible_agents)}
        if self.config.observation == "state":
            space: spaces.Space = spaces.Box(-np.inf, np.inf, shape=self.core.observation_shape, dtype=np.float32)
            self._obs_spaces = {a: space for a in self.possible_agents}
        else:
            self._obs_spaces = {
                a: spaces.Box(0, 255, shape=self.core.observation_shape, dtype=np.uint8) for a in self.possible_agents
            }
        self._act_spaces = {a: spaces.Discrete(NUM_ACTIONS) for a in self.possible_agents}
        self._next_seed: int | None = None
        self._seeder = np.random.default_rng()

    def observation_space(self, agent: str) -> spaces.Space:
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self._act_spaces[agent]

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, NDArray], dict[str, dict[str, Any]]]:
        """A new episode. ``seed`` fixes the world (same seed, same actions: the same episode); without one, the
        next seed of the sequence the last ``seed`` started (or a random one)."""
        if seed is not None:
            self._seeder = np.random.default_rng(seed)
            world_seed = int(seed) % (MAX_SEED + 1)
        else:
            world_seed = int(self._seeder.integers(0, 2**63))
        obs = self.core.reset(world_seed)[0]
        self.agents = list(self.possible_agents)
        return {a: obs[i] for i, a in enumerate(self.agents)}, {a: {} for a in self.agents}

    def step(self, actions: dict[str, int]) -> tuple[dict, dict, dict, dict, dict]:
        """Actions of live agents (missing ones idle; actions for agents that are gone are ignored)."""
        if not self.agents:
            return {}, {}, {}, {}, {}
        a = np.zeros((1, self.config.players), dtype=np.int64)
        for agent, action in actions.items():
            a[0, self._index[agent]] = int(action)
        world = self.core.worlds[0]
        deaths_before = world.deaths[: self.config.players].copy()
        obs, rew, term, trunc = self.core.step(a)
        respawned = world.deaths[: self.config.players] > deaths_before
        live = self.agents
        idx = [self._index[x] for x in live]
        o, r, te, tr = obs[0], rew[0].tolist(), term[0].tolist(), trunc[0].tolist()
        result = (
            {x: o[i] for x, i in zip(live, idx, strict=True)},
            {x: r[i] for x, i in zip(live, idx, strict=True)},
            {x: te[i] for x, i in zip(live, idx, strict=True)},
            {x: tr[i] for x, i in zip(live, idx, strict=True)},
            {x: ({"respawned": True} if respawned[i] else {}) for x, i in zip(live, idx, strict=True)},
        )
        alive = self.core.alive[0]
        self.agents = [x for x, i in zip(live, idx, strict=True) if alive[i]]
        return result

    def policy_observation(self, frames: NDArray[np.uint8] | None = None) -> Observation:
        """The live agents (player ids = agent numbers) as an :class:`Observation` for any Policy."""
        return self.core.policy_observation(0, frames)

    def render(self) -> NDArray[np.uint8] | None:
        """``rgb_array``: every agent's first-person view side by side (one row of tiles)."""
        if self.render_mode is None or not self.core.worlds:
            return None
        world = self.core.worlds[0]
        views = Renderer(world, RenderSettings(resolution=self.config.resolution)).render(
            np.arange(self.config.players)
        )
        return np.concatenate(list(views), axis=1)

    def close(self) -> None:
        self.core.worlds = []


def parallel_env(config: EnvConfig | None = None, render_mode: str | None = None, **options: Any) -> SnowballEnv:
    """The PettingZoo constructor of ``snowball_v0``; ``options`` are :class:`EnvConfig` fields."""
    return SnowballEnv(config, render_mode=render_mode, **options)
