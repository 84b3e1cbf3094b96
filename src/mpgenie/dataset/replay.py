"""Replay recorded episodes: re-simulate one from its ``episode.json`` and render its views again.

Recording is deterministic given an episode's metadata (seed, scenario, exploration share, world config), so the
views a recording should contain can be produced again at any time: the ground truth that QC's sync check, the
sync tests and the world-model evaluation compare against. Writing episodes lives in
:mod:`mpgenie.dataset.recorder`; this module only reads their metadata.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from mpgenie.agents.policy import Observation, ScriptedPolicy
from mpgenie.dataset.recorder import EpisodeSpec
from mpgenie.render import Renderer, RenderSettings
from mpgenie.world.config import WorldConfig
from mpgenie.world.simulation import World


def _replay(meta: dict[str, Any]) -> tuple[World, np.ndarray, ScriptedPolicy, Renderer]:
    """A fresh world, its agents, their policy and a full-detail renderer, as the episode started."""
    spec = EpisodeSpec(
        int(meta["episode_index"]),
        int(meta["num_agents"]),
        int(meta["num_frames"]),
        int(meta["seed"]),
        int(meta["resolution"]),
        str(meta["codec"]),
        str(meta["scenario"]),
        explore=float(meta.get("explore", 0.0)),
    )
    world = World(WorldConfig.from_mapping(meta["world"]))
    agents = world.add_players(spec.players)
    return world, agents, spec.policy(), Renderer(world, RenderSettings(resolution=spec.resolution))


def _advance(world: World, agents: np.ndarray, policy: ScriptedPolicy, override: tuple[int, int] | None = None) -> None:
    """One recorded tick: every agent acts by its policy (``override``: agent, action replaces one of them)."""
    actions = np.zeros(world.num_slots, dtype=np.int8)
    actions[agents] = policy.act(Observation.of(world, agents))
    if override is not None:
        actions[override[0]] = override[1]
    world.step(actions)


def rerender(meta: dict[str, Any], frames: set[int]) -> dict[int, np.ndarray]:
    """Re-simulate an episode from its ``episode.json`` and render every agent's view again at ``frames``
    (full detail): the ground truth that QC and the sync test compare recorded frames with."""
    world, agents, policy, renderer = _replay(meta)
    out: dict[int, np.ndarray] = {}
    for i in range(max(frames, default=-1) + 1):
        _advance(world, agents, policy)
        if i in frames:
            out[i] = renderer.render(agents)
    return out


def counterfactual_views(
    meta: dict[str, Any], starts: np.ndarray, agents: np.ndarray, actions: np.ndarray
) -> np.ndarray:
    """Re-simulate an episode and, for each request i, fork it before frame ``starts[i]``: agent ``agents[i]``
    takes ``actions[i]`` (one per frame) instead of its own, the others follow their policies. Returns that agent's
    views of the forked frames, (N, len(actions[i]), H, W, 3): what a world model given those actions should draw.
    """
    world, ids, policy, renderer = _replay(meta)
    out = np.zeros(
        (len(starts), actions.shape[1], renderer.settings.resolution, renderer.settings.resolution, 3), np.uint8
    )
    done = 0  # frames simulated on the main line
    for i in np.argsort(starts, kind="stable"):
        while done < starts[i]:
            _advance(world, ids, policy)
            done += 1
        fork_world, fork_policy, fork_renderer = copy.deepcopy((world, policy, renderer))
        for j, action in enumerate(actions[i]):
            _advance(fork_world, ids, fork_policy, (int(agents[i]), int(action)))
            out[i, j] = fork_renderer.render(np.array([agents[i]]))[0]
    return out
