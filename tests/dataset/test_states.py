"""State vectors rebuilt from a recording (no actions but the attacks) equal those of a replay with the true actions;
``--agents scripted:STYLE`` records every agent with one style."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from mpgenie.agents.config import EnvConfig
from mpgenie.agents.mixture import AgentsSpec, parse_agents
from mpgenie.agents.vector import VectorSnowball
from mpgenie.dataset.format import episode_dir
from mpgenie.dataset.generate import GenerateConfig, generate
from mpgenie.dataset.replay import _advance, _replay, recorded_actions
from mpgenie.dataset.states import recorded_state_vectors
from mpgenie.errors import UsageError
from mpgenie.world.actions import Action


def test_rebuilt_state_vectors_match_a_replay_with_the_true_actions(tmp_path: Path) -> None:
    generate(
        GenerateConfig(
            out=tmp_path, episodes=1, players=6, steps=240, resolution=32, explore=0.3, seed=3,
            scenario="coop_beacon_rush",
        )
    )  # fmt: skip
    d = episode_dir(tmp_path, 0)
    kinds = set(pq.read_table(d / "events.parquet", columns=["kind"]).column("kind").to_pylist())
    actions = recorded_actions(d)
    # What the rebuild has to get right happened: objects taken and lit, attacks, jumps.
    assert {"pickup", "beacon", "attack"} <= kinds
    assert (actions == Action.ATTACK).sum() > 5 and (actions == Action.JUMP).sum() > 5
    config = EnvConfig(players=6, max_steps=240)
    rebuilt = recorded_state_vectors(d, config, attacks=actions)

    meta = json.loads((d / "episode.json").read_text())
    world, agents, _ = _replay(meta)
    observer = VectorSnowball.observer(world, config)
    truth = np.zeros_like(rebuilt)
    for r, row in enumerate(actions):
        _advance(world, agents, row)
        observer.alive[0] = world.active[: agents.size]
        truth[r] = observer.observe()[0]
    assert rebuilt.shape == (240, 6, observer.observation_shape[0])
    np.testing.assert_allclose(rebuilt, truth, atol=2e-4)  # positions are recorded as float32


def test_without_attacks_only_the_cooldown_feature_differs(tmp_path: Path) -> None:
    generate(GenerateConfig(out=tmp_path, episodes=1, players=4, steps=80, resolution=32, explore=0.5, seed=1))
    d = episode_dir(tmp_path, 0)
    config = EnvConfig(players=4, max_steps=80)
    with_attacks = recorded_state_vectors(d, config, attacks=recorded_actions(d))
    without = recorded_state_vectors(d, config)
    differs = np.flatnonzero(np.abs(with_attacks - without).max(axis=(0, 1)) > 0)
    assert differs.tolist() == [8]  # own state: ..., height, vertical speed, attack cooldown left, steps left


def test_one_scripted_style_for_every_agent(tmp_path: Path) -> None:
    spec = parse_agents("scripted:cooperator")
    assert spec == AgentsSpec(style="cooperator") and spec.text == "scripted:cooperator"
    generate(GenerateConfig(out=tmp_path, episodes=2, players=3, steps=5, resolution=32, agents=spec))
    for e in (0, 1):
        meta = json.loads((episode_dir(tmp_path, e) / "episode.json").read_text())
        assert meta["styles"] == ["cooperator"] * 3 and meta["agents"] == "scripted:cooperator"
    with pytest.raises(UsageError, match="unknown style 'nobody'"):
        parse_agents("scripted:nobody")
