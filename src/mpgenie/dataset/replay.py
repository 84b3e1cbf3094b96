"""Replay recorded episodes: re-simulate one from its metadata and its recorded actions, and render its views again.

The world is deterministic, so an episode's world config (``episode.json``) plus the actions its table records
(``data.parquet``, one row per tick) reproduce every tick exactly, whatever produced those actions: scripted styles,
exploration, learned or remote agents. That is the ground truth QC's sync check, the sync tests and the world-model
evaluation compare against. Writing episodes lives in :mod:`mpgenie.dataset.recorder`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from mpgenie.render import Renderer, RenderSettings
from mpgenie.world.config import WorldConfig
from mpgenie.world.simulation import World


def recorded_actions(episode_dir: str | Path) -> np.ndarray:
    """The actions an episode recorded, (frames, agents) int8: row i is what each agent did in the tick that
    frame i shows the result of."""
    table = pq.read_table(Path(episode_dir) / "data.parquet", columns=["action"])
    return np.array(table.column("action").to_pylist(), dtype=np.int8)


def _replay(meta: dict[str, Any]) -> tuple[World, np.ndarray, Renderer]:
    """A fresh world with the episode's agents and a full-detail renderer, as the episode started."""
    world = World(WorldConfig.from_mapping(meta["world"]))
    agents = world.add_players(int(meta["num_agents"]))
    # Episodes recorded before the renderer drew action cues say nothing about them: re-render them without.
    settings = RenderSettings(resolution=int(meta["resolution"]), action_cues=bool(meta.get("action_cues", False)))
    return world, agents, Renderer(world, settings)


def _advance(world: World, agents: np.ndarray, row: np.ndarray, override: tuple[int, int] | None = None) -> None:
    """One recorded tick: every agent does what it recorded (``override``: agent, action replaces one of them)."""
    actions = np.zeros(world.num_slots, dtype=np.int8)
    actions[agents] = row
    if override is not None:
        actions[override[0]] = override[1]
    world.step(actions)


def rerender(meta: dict[str, Any], actions: np.ndarray, frames: set[int]) -> dict[int, np.ndarray]:
    """Re-simulate an episode from its ``episode.json`` and recorded ``actions`` (:func:`recorded_actions`) and
    render every agent's view again at ``frames`` (full detail): what QC and the sync test compare with."""
    world, agents, renderer = _replay(meta)
    out: dict[int, np.ndarray] = {}
    for i in range(max(frames, default=-1) + 1):
        _advance(world, agents, actions[i])
        if i in frames:
            out[i] = renderer.render(agents)
    return out


def counterfactual_views(
    meta: dict[str, Any], actions: np.ndarray, starts: np.ndarray, agents: np.ndarray, forked: np.ndarray
) -> np.ndarray:
    """Re-simulate an episode and, for each request i, fork it before frame ``starts[i]``: agent ``agents[i]``
    takes ``forked[i]`` (one per frame) instead of its recorded actions, the others keep doing what they recorded
    (their actions are taken as given: they do not react to the fork). Returns that agent's views of the forked
    frames, (N, len(forked[i]), H, W, 3): what a world model given those actions should draw."""
    world, ids, renderer = _replay(meta)
    out = np.zeros(
        (len(starts), forked.shape[1], renderer.settings.resolution, renderer.settings.resolution, 3), np.uint8
    )
    done = 0  # frames simulated on the main line
    for i in np.argsort(starts, kind="stable"):
        while done < starts[i]:
            _advance(world, ids, actions[done])
            done += 1
        fork_world, fork_renderer = copy.deepcopy((world, renderer))
        for j, action in enumerate(forked[i]):
            _advance(fork_world, ids, actions[starts[i] + j], (int(agents[i]), int(action)))
            out[i, j] = fork_renderer.render(np.array([agents[i]]))[0]
    return out


def views_with_and_without_players(
    meta: dict[str, Any], actions: np.ndarray, frames: np.ndarray, agents: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each request i, agent ``agents[i]``'s view of frame ``frames[i]`` rendered in full and with every other
    player left out, both (N, H, W, 3): where they differ, the simulator shows another player (occlusion by the
    planet and the landmarks included). The ground truth of the world model's multiplayer consistency."""
    world, ids, renderer = _replay(meta)
    res = renderer.settings.resolution
    full = np.zeros((len(frames), res, res, 3), np.uint8)
    empty = np.zeros_like(full)
    wanted = np.asarray(frames, dtype=np.int64)
    for i in range(int(wanted.max(initial=-1)) + 1):
        _advance(world, ids, actions[i])
        rows = np.flatnonzero(wanted == i)
        if rows.size:
            viewers = ids[np.asarray(agents, dtype=np.int64)[rows]]
            full[rows] = renderer.render(viewers)
            empty[rows] = renderer.render(viewers, others=False)
    return full, empty
