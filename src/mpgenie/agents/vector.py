"""The vectorised fast path for training: all agents of many worlds stepped as arrays.

:class:`VectorSnowball` holds W worlds of N agents each (one :class:`EnvConfig`; world ``i`` of the first
episode has seed ``seed + i``). Actions go in as one ``(W, N)`` array; observations ``(W, N, D)`` (state) or
``(W, N, res, res, 3)`` (pixels), rewards, terminations and truncations ``(W, N)`` come out. The only Python
loops are over worlds (one :meth:`World.step` and, for pixels, one batched render call each) and over the
tick's few gameplay events; observations of all worlds are computed together. The PettingZoo environment
(:mod:`mpgenie.agents.env`) is this class with one world and no autoreset, so both follow the same rules.

Agents and players: agent ``j`` of a world is its player ``j`` (joined together at reset; no one else joins,
so ids are never reused). ``alive[w, j]`` says whether the agent is still in its episode: with
``on_hazard="terminate"`` a hazard ends it (the player leaves the world), and at ``max_steps`` every agent is
truncated. With ``autoreset`` a world whose agents are all done starts its next episode (seed + W) in the same
step; the observations of the ended episode are kept in :attr:`final_observation`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from mpgenie.agents.config import EnvConfig
from mpgenie.agents.interface import Observation
from mpgenie.agents.observations import Scales, cell_index, cells_per_face, state_observations, state_size
from mpgenie.render.renderer import Renderer, RenderSettings
from mpgenie.world.actions import NUM_ACTIONS, Action
from mpgenie.world.config import MAX_SEED
from mpgenie.world.events import AttackHit, BeaconActivated, HazardHit, Pickup
from mpgenie.world.simulation import World


class VectorSnowball:
    """W worlds of ``config.players`` agents, stepped together."""

    def __init__(self, config: EnvConfig | None = None, num_worlds: int = 1, seed: int = 0, autoreset: bool = True):
        if num_worlds < 1:
            raise ValueError(f"num_worlds must be >= 1, got {num_worlds}")
        self.config = config or EnvConfig()
        self.num_worlds = num_worlds
        self.num_agents = self.config.players
        self.autoreset = autoreset
        c = self.config
        self._k = (c.k_players, c.k_collectibles, c.k_beacons, c.k_hazards)
        self.state_size = state_size(*self._k)
        self.observation_shape: tuple[int, ...] = (
            (self.state_size,) if c.observation == "state" else (c.resolution, c.resolution, 3)
        )
        self._render = RenderSettings(resolution=c.resolution)
        self._action_bonus = np.asarray(c.action_bonus, dtype=np.float64)  # reward per action (empty: none)
        self.worlds: list[World] = []
        self.renderers: list[Renderer | None] = []
        self.seeds = np.zeros(num_worlds, dtype=np.uint64)
        self.alive = np.zeros((num_worlds, self.num_agents), dtype=bool)
        self.final_observation: dict[int, NDArray] = {}
        self._seed = seed
        self.last_events: list[list[Any]] = []  # the gameplay events of each world's last step
        self._visited: NDArray[np.bool_] | None = None

    # --- episodes ----------------------------------------------------------------------------------------------

    def reset(self, seed: int | None = None) -> NDArray:
        """Start every world's episode (world ``i``: seed ``seed + i``); returns the first observations."""
        if seed is not None:
            self._seed = int(seed)
        self.worlds = [None] * self.num_worlds  # type: ignore[list-item]
        self.renderers = [None] * self.num_worlds
        self._visited = None
        for i in range(self.num_worlds):
            self._reset_world(i, (self._seed + i) % (MAX_SEED + 1))
        self.final_observation = {}
        return self.observe()

    def _reset_world(self, i: int, seed: int) -> None:
        world = World(self.config.world_config(seed))
        world.add_players(self.num_agents)
        self._attach(i, world, seed)

    @staticmethod
    def observer(world: World, config: EnvConfig) -> VectorSnowball:
        """State observations of a world another loop steps (``mpgenie generate``'s recorder, the realtime
        server's bots): its players ``0..config.players-1`` are the agents; use :meth:`policy_observation` and
        never :meth:`step`. The config's ``max_steps`` only scales the steps-left feature."""
        v = VectorSnowball(config, num_worlds=1, autoreset=False)
        v.worlds = [world]
        v.renderers = [None]
        v._attach(0, world, world.cfg.seed)
        v.alive[0] = world.active[: v.num_agents]
        return v

    def _attach(self, i: int, world: World, seed: int) -> None:
        c = self.config
        if self._visited is None:
            self._init_statics(world)
        elif world.layout.collectible_pos.shape != self._coll_pos.shape[1:]:
            raise ValueError("all worlds of a VectorSnowball must have the same object counts")
        self.worlds[i] = world
        self.renderers[i] = Renderer(world, self._render) if c.observation == "pixels" else None
        self.seeds[i] = seed
        self.alive[i] = True
        lay = world.layout
        self._coll_pos[i] = lay.collectible_pos
        self._beacon_pos[i] = lay.beacon_pos
        self._hazard_pos[i] = lay.hazard_pos
        assert self._visited is not None
        self._visited[i] = False
        self._balance[i] = 0
        cells = cell_index(world.pos[: self.num_agents], self._cells)
        self._visited[i, np.arange(self.num_agents), cells] = True
        if self.config.weights.flank:
            self._last_advantage[i] = self._advantage(np.array([i]))[0]

    def _init_statics(self, world: World) -> None:
        cfg = world.cfg
        c = self.config
        lay = world.layout
        w = self.num_worlds
        self._coll_pos = np.zeros((w, *lay.collectible_pos.shape))
        self._beacon_pos = np.zeros((w, *lay.beacon_pos.shape))
        self._hazard_pos = np.zeros((w, *lay.hazard_pos.shape))
        self._cells = cells_per_face(cfg.radius, c.explore_cell_m)
        self._visited = np.zeros((w, self.num_agents, 6 * self._cells * self._cells), dtype=bool)
        self._last_advantage = np.zeros((w, self.num_agents))
        self._balance = np.zeros((w, self.num_agents), dtype=np.int64)  # hits landed - hits taken - hazards
        self.scales = Scales(
            radius=cfg.radius,
            obs_range=c.obs_range if c.obs_range is not None else cfg.render_distance,
            jump_apex=max(cfg.jump_speed**2 / (2.0 * cfg.gravity), 1e-6),
            jump_speed=max(cfg.jump_speed, 1e-6),
            cooldown=max(cfg.attack_cooldown_ticks, 1),
            max_steps=c.max_steps,
        )

    @property
    def cells(self) -> int:
        """Exploration cells per cube-map face edge (``6 * cells**2`` cells on the sphere); after reset."""
        return self._cells

    # --- the step ----------------------------------------------------------------------------------------------

    def step(
        self, actions: NDArray[np.integer]
    ) -> tuple[NDArray, NDArray[np.float32], NDArray[np.bool_], NDArray[np.bool_]]:
        """One tick of every world: ``(observations, rewards, terminated, truncated)``, all ``(W, N, ...)``.

        Actions of agents that are done are ignored (they idle). With ``autoreset``, worlds whose agents are all
        done restart before the observations are taken (see :attr:`final_observation`)."""
        if not self.worlds:
            raise RuntimeError("call reset() before step()")
        a = np.asarray(actions)
        shape = (self.num_worlds, self.num_agents)
        if a.shape != shape or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"actions must be integers of shape {shape}, got {a.dtype} {a.shape}")
        if a.size and (a.min() < 0 or a.max() >= NUM_ACTIONS):
            raise ValueError(f"actions must be in 0..{NUM_ACTIONS - 1}")
        a = np.where(self.alive, a, 0).astype(np.int8)
        wts = self.config.weights
        rewards = np.zeros(shape, dtype=np.float64)
        hazard = np.zeros(shape, dtype=bool)
        self.last_events = [world.step(a[i]).events for i, world in enumerate(self.worlds)]
        for i, events in enumerate(self.last_events):
            r = rewards[i]
            for e in events:
                if isinstance(e, Pickup):
                    r[e.player] += wts.pickup
                elif isinstance(e, BeaconActivated):
                    r[list(e.players)] += wts.beacon  # shared: every participant
                elif isinstance(e, AttackHit):
                    r[e.attacker] += wts.hit
                    r[e.target] += wts.hit_taken
                    self._balance[i, e.attacker] += 1
                    self._balance[i, e.target] -= 1
                elif isinstance(e, HazardHit):
                    r[e.player] += wts.hazard
                    hazard[i, e.player] = True
                    self._balance[i, e.player] -= 1
        if wts.explore:
            assert self._visited is not None
            cells = cell_index(self._stack("pos"), self._cells)
            wi, ai = np.nonzero(self.alive)
            seen = self._visited[wi, ai, cells[wi, ai]]
            rewards[wi, ai] += wts.explore * ~seen
            self._visited[wi, ai, cells[wi, ai]] = True
        if wts.beacon_press:
            rewards += wts.beacon_press * self._pressing_at_ready_beacon(a)
        if wts.flank:
            advantage = self._advantage()
            rewards += wts.flank * (advantage - self._last_advantage)
            self._last_advantage = advantage
        if self._action_bonus.size:
            rewards += self._action_bonus[a]
        was_alive = self.alive.copy()
        terminated = hazard & was_alive if self.config.on_hazard == "terminate" else np.zeros(shape, dtype=bool)
        ticks = np.array([w.tick for w in self.worlds])
        truncated = was_alive & ~terminated & (ticks >= self.config.max_steps)[:, None]
        if wts.win or wts.draw:
            rewards += self._outcome(truncated, wts.win, wts.draw)
        for i, j in zip(*np.nonzero(terminated), strict=True):
            self.worlds[i].remove_player(int(j))
        self.alive &= ~(terminated | truncated)
        rewards *= was_alive
        obs = self.observe(viewers=was_alive, present=was_alive & ~terminated)
        if self.autoreset:
            for i in np.flatnonzero(~self.alive.any(axis=1)).tolist():
                self.final_observation[i] = obs[i].copy()
                self._reset_world(i, (int(self.seeds[i]) + self.num_worlds) % (MAX_SEED + 1))
                obs[i] = self._observe_world(i)
        return obs, rewards.astype(np.float32), terminated, truncated

    def _pressing_at_ready_beacon(self, actions: NDArray[np.int8]) -> NDArray[np.bool_]:
        """``(W, N)``: the agent pressed ``interact`` within ``beacon_radius`` of a beacon that is ready."""
        if self._beacon_pos.shape[1] == 0:
            return np.zeros(actions.shape, dtype=bool)
        cfg = self.worlds[0].cfg
        pos = self._stack("pos")
        cos = np.einsum("wnd,wbd->wnb", pos, self._beacon_pos)
        near = cos >= np.cos(cfg.beacon_radius / cfg.radius)
        ready = np.stack([w.beacon_ready_at <= w.tick for w in self.worlds])[:, None, :]
        return (actions == Action.INTERACT) & (near & ready).any(axis=2)

    def _outcome(self, ending: NDArray[np.bool_], win: float, draw: float) -> NDArray[np.float64]:
        """``(W, N)``: the match result of each agent whose episode ends now (truncated at ``max_steps``), by its
        hit balance against the best of its world's other agents: ``win`` above it, ``-win`` below, ``draw`` equal
        (the result ``eval agents`` scores duels by). An agent alone in its world has no result."""
        n = self.num_agents
        if n < 2 or not ending.any():
            return np.zeros(ending.shape)
        others = np.where(np.eye(n, dtype=bool)[None], np.iinfo(np.int64).min, self._balance[:, None, :])
        best = others.max(axis=2)
        result = np.where(self._balance > best, win, np.where(self._balance < best, -win, draw))
        return np.where(ending, result, 0.0)

    def _advantage(self, rows: NDArray[np.int64] | None = None) -> NDArray[np.float64]:
        """``(W, N)``: each live agent's position advantage over its nearest live rival, in [-1, 1]: how squarely it
        faces the rival minus how squarely the rival faces it (cosines of the angles between heading and the
        great-circle direction to the other), times a closeness that falls from 1 at contact to 0 at four attack
        ranges. Rewarding its change (``flank``) is potential-based shaping (Ng et al. 1999): it pays for getting
        beside or behind a rival while facing it, and adds nothing over a whole approach and retreat, so the
        optimal policy of the game is unchanged."""
        rows = np.arange(self.num_worlds) if rows is None else rows
        worlds = [self.worlds[i] for i in rows.tolist()]
        n = self.num_agents
        pos = np.stack([w.pos[:n] for w in worlds])
        fwd = np.stack([w.fwd[:n] for w in worlds])
        alive = self.alive[rows]
        cos = np.einsum("wjd,wkd->wjk", pos, pos)
        rivals = alive[:, None, :] & alive[:, :, None] & ~np.eye(n, dtype=bool)[None]
        nearest = np.argmax(np.where(rivals, cos, -2.0), axis=2)  # (W, N)
        has = rivals.any(axis=2)
        other_pos = np.take_along_axis(pos, nearest[..., None], axis=1)
        other_fwd = np.take_along_axis(fwd, nearest[..., None], axis=1)
        c = np.sum(pos * other_pos, axis=2, keepdims=True)
        to_other = other_pos - pos * c  # tangent at the agent, towards the rival
        to_me = pos - other_pos * c  # tangent at the rival, towards the agent
        aim = np.sum(fwd * _unit(to_other), axis=2)
        exposure = np.sum(other_fwd * _unit(to_me), axis=2)
        cfg = worlds[0].cfg
        distance = np.arccos(np.clip(c[..., 0], -1.0, 1.0)) * cfg.radius
        closeness = np.clip(1.0 - distance / (4.0 * cfg.attack_range), 0.0, 1.0)
        return np.where(has, closeness * (aim - exposure) / 2.0, 0.0)

    # --- observations ------------------------------------------------------------------------------------------

    def _stack(self, name: str) -> NDArray:
        n = self.num_agents
        return np.stack([getattr(w, name)[:n] for w in self.worlds])

    def observe(self, viewers: NDArray[np.bool_] | None = None, present: NDArray[np.bool_] | None = None) -> NDArray:
        """Observations of every agent now (``viewers``: whose to compute, the rest are zeros; ``present``: the
        players others see, default both the live agents)."""
        view = self.alive if viewers is None else viewers
        if self.config.observation == "pixels":
            out = np.zeros((self.num_worlds, self.num_agents, *self.observation_shape), dtype=np.uint8)
            for i, renderer in enumerate(self.renderers):
                ids = np.flatnonzero(view[i])
                if ids.size:
                    assert renderer is not None
                    out[i, ids] = renderer.render(ids)
            return out
        obs = self._state(self.worlds, self.alive if present is None else present)
        obs *= view[..., None]
        return obs

    def _observe_world(self, i: int) -> NDArray:
        if self.config.observation == "pixels":
            renderer = self.renderers[i]
            assert renderer is not None
            return renderer.render(np.arange(self.num_agents))
        return self._state([self.worlds[i]], self.alive[i : i + 1], np.array([i]))[0]

    def _state(
        self, worlds: list[World], present: NDArray[np.bool_], rows: NDArray[np.int64] | None = None
    ) -> NDArray[np.float32]:
        n = self.num_agents
        rows = np.arange(self.num_worlds) if rows is None else rows

        def stack(name: str) -> NDArray:
            return np.stack([getattr(w, name)[:n] for w in worlds])

        ticks = np.array([w.tick for w in worlds], dtype=np.float64)
        wait = np.maximum(stack("attack_ready_at") - (ticks[:, None] + 1), 0).astype(np.float64)
        return state_observations(
            pos=stack("pos"),
            fwd=stack("fwd"),
            height=stack("height"),
            vz=stack("vz"),
            attack_wait=wait,
            steps_left=np.maximum(self.config.max_steps - ticks, 0.0),
            alive=present,
            collectible_pos=self._coll_pos[rows],
            collectible_active=np.stack([w.collectible_active for w in worlds]),
            beacon_pos=self._beacon_pos[rows],
            beacon_ready=np.stack([w.beacon_ready_at <= w.tick + 1 for w in worlds]),
            hazard_pos=self._hazard_pos[rows],
            k=self._k,
            scales=self.scales,
        )

    def policy_observation(self, i: int = 0, frames: NDArray[np.uint8] | None = None) -> Observation:
        """World ``i``'s live agents as a :class:`Observation` for any :class:`Policy` (scripted ones query the
        world; learned ones read ``state``, or ``frames`` when given)."""
        ids = np.flatnonzero(self.alive[i]).astype(np.int64)
        state = (
            self._state([self.worlds[i]], self.alive[i : i + 1], np.array([i]))[0][ids]
            if self.config.observation == "state"
            else None
        )
        return Observation.of(self.worlds[i], ids, frames=frames, state=state)


class WorldStates:
    """State vectors of a world another loop steps, its players ``0..players-1`` the agents (learned bots in the
    demo, a BC policy wherever it plays): one :meth:`VectorSnowball.observer`, rebuilt when the world or the number
    of players changes (players joined), its live agents synced with the world's before each use."""

    def __init__(self, config: EnvConfig) -> None:
        self.config = config
        self._observer: VectorSnowball | None = None

    def observer(self, world: World, players: int) -> VectorSnowball:
        o = self._observer
        if o is None or o.worlds[0] is not world or o.num_agents != players:
            o = self._observer = VectorSnowball.observer(world, self.config.replace(players=players))
        o.alive[0] = world.active[:players]
        return o


def _unit(v: NDArray[np.float64]) -> NDArray[np.float64]:
    """Rows of ``v`` (last axis) scaled to length 1 (zero rows stay zero)."""
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
