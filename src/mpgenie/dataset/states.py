"""The environment's state vectors of a recorded episode, rebuilt from what the dataset recorded — without its actions.

Behavioural cloning may read each player's own state vector (:mod:`mpgenie.agents.observations`: its pose, the
nearest players, collectibles, beacons, hazards) next to its frames. For a dataset whose actions are unknown (the
"unlabelled" video that ``mpgenie label`` annotates) the episode cannot be re-simulated — replay needs the actions —
so the world is rebuilt row by row from the recorded state instead: positions, headings, heights and presence from
``data.parquet``, which collectibles are taken and which beacons rest from the ``pickup`` and ``beacon`` events and
the world's timers, the vertical speed from two heights (the kinematics integrate ``h += vz dt``).

One thing the recording does not hold: attacks that hit nobody (only hits are events), which the attack cooldown
depends on. The caller passes the labels it trusts (``attacks``: the pseudo-labels for pseudo-labelled data) and
the cooldown follows the world's rule from them. tests/dataset/test_states.py checks the rebuilt vectors against a
replay of the same episode with its true actions.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from numpy.typing import NDArray

from mpgenie.agents.config import EnvConfig
from mpgenie.agents.vector import WorldStates
from mpgenie.world.actions import Action
from mpgenie.world.config import WorldConfig
from mpgenie.world.simulation import World


def _column(table: object, name: str, dtype: type, shape: tuple[int, ...]) -> NDArray:
    return np.array(table.column(name).to_pylist(), dtype=dtype).reshape(shape)  # type: ignore[attr-defined]


def _events_by_tick(episode: Path, kind: str) -> dict[int, list[int]]:
    events = pq.read_table(episode / "events.parquet", columns=["tick", "kind", "object"]).to_pydict()
    out: dict[int, list[int]] = defaultdict(list)
    for tick, k, obj in zip(events["tick"], events["kind"], events["object"], strict=True):
        if k == kind and obj >= 0:
            out[int(tick)].append(int(obj))
    return out


def recorded_state_vectors(
    episode: str | Path, config: EnvConfig, attacks: NDArray[np.integer] | None = None
) -> NDArray[np.float32]:
    """``(T, A, D)``: agent ``a``'s state vector (``config``'s layout) in the world after row ``t`` of the episode
    in directory ``episode``, i.e. what it observed before acting at row ``t + 1``. ``attacks`` (T, A): the labels
    that say when each agent attacked (None: never; only the attack-cooldown feature depends on them)."""
    d = Path(episode)
    meta = json.loads((d / "episode.json").read_text())
    world = World(WorldConfig.from_mapping(meta["world"]))
    cfg = world.cfg
    agents = int(meta["num_agents"])
    world.add_players(agents)
    table = pq.read_table(d / "data.parquet", columns=["tick", "position", "heading", "height", "alive"])
    rows = table.num_rows
    tick = np.asarray(table.column("tick").to_pylist(), dtype=np.int64)
    pos = _column(table, "position", np.float64, (rows, agents, 3))
    fwd = _column(table, "heading", np.float64, (rows, agents, 3))
    height = _column(table, "height", np.float64, (rows, agents))
    alive = _column(table, "alive", bool, (rows, agents))
    pickups, beacons = _events_by_tick(d, "pickup"), _events_by_tick(d, "beacon")
    pressed = np.zeros((rows, agents), dtype=bool) if attacks is None else np.asarray(attacks) == Action.ATTACK

    states = WorldStates(config.replace(observation="state"))
    out = np.zeros((rows, agents, states.observer(world, agents).observation_shape[0]), dtype=np.float32)
    ready_at = np.zeros(agents, dtype=np.int64)
    previous = np.zeros(agents)
    for r in range(rows):
        t = int(tick[r])
        for o in pickups.get(t, []):  # World.advance: pickups of tick t, then the respawns due at t
            world.collectible_active[o] = False
            world.collectible_respawn_at[o] = t + cfg.collectible_respawn_ticks
        world.collectible_active |= world.collectible_respawn_at <= t
        for b in beacons.get(t, []):
            world.beacon_ready_at[b] = t + cfg.beacon_cooldown_ticks
        fired = pressed[r] & (ready_at <= t) & alive[r]
        ready_at[fired] = t + cfg.attack_cooldown_ticks
        world.tick = t
        world.pos[:agents], world.fwd[:agents], world.height[:agents] = pos[r], fwd[r], height[r]
        world.vz[:agents] = np.where(height[r] > 0.0, (height[r] - previous) / cfg.dt, 0.0)
        world.attack_ready_at[:agents] = ready_at
        world.active[:agents] = alive[r]
        out[r] = states.observer(world, agents).observe()[0]
        previous = height[r]
    return out
