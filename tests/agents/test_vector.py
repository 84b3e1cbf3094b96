"""The vectorised path is the PettingZoo env, batched: same actions and seeds, same observations and rewards."""

from __future__ import annotations

import numpy as np
import pytest

from mpgenie.agents.config import EnvConfig
from mpgenie.agents.vector import VectorSnowball
from mpgenie.world.actions import NUM_ACTIONS

pytest.importorskip("pettingzoo")
from mpgenie.agents.env import SnowballEnv


@pytest.mark.parametrize(
    "options",
    [
        {"players": 6, "scenario": "mixed"},
        {"players": 5, "scenario": "compete", "on_hazard": "terminate"},
        {"players": 3, "observation": "pixels", "scenario": "explore"},
    ],
    ids=["state", "terminate", "pixels"],
)
def test_vectorised_path_agrees_with_the_env(options: dict) -> None:
    cfg = EnvConfig(max_steps=40, **options)
    worlds, n, seed = 3, cfg.players, 100
    vec = VectorSnowball(cfg, num_worlds=worlds, seed=seed, autoreset=False)
    vobs = vec.reset()
    envs = [SnowballEnv(cfg) for _ in range(worlds)]
    firsts = [env.reset(seed=seed + i)[0] for i, env in enumerate(envs)]
    for i in range(worlds):
        np.testing.assert_array_equal(vobs[i], np.stack([firsts[i][a] for a in envs[i].possible_agents]))
    rng = np.random.default_rng(5)
    for _ in range(40):
        actions = rng.integers(0, NUM_ACTIONS, (worlds, n))
        vobs, vrew, vterm, vtrunc = vec.step(actions)
        for i, env in enumerate(envs):
            live = list(env.agents)
            obs, rew, term, trunc, _ = env.step({a: int(actions[i, j]) for j, a in enumerate(env.possible_agents)})
            idx = [env.possible_agents.index(a) for a in live]
            np.testing.assert_array_equal(vobs[i, idx], np.stack([obs[a] for a in live]))
            assert vrew[i, idx].tolist() == [rew[a] for a in live]
            assert vterm[i, idx].tolist() == [term[a] for a in live]
            assert vtrunc[i, idx].tolist() == [trunc[a] for a in live]
            assert vec.worlds[i].digest() == env.core.worlds[0].digest()
    assert vtrunc.any()


def test_autoreset_starts_the_next_episode_in_the_same_step() -> None:
    cfg = EnvConfig(players=4, max_steps=5)
    vec = VectorSnowball(cfg, num_worlds=2, seed=9)
    first = vec.reset()
    for _ in range(4):
        vec.step(np.ones((2, 4), dtype=np.int64))
    obs, _, term, trunc = vec.step(np.ones((2, 4), dtype=np.int64))
    assert trunc.all() and not term.any()
    assert vec.seeds.tolist() == [11, 12]  # next episodes: seed + number of worlds
    assert all(w.tick == 0 for w in vec.worlds) and vec.alive.all()
    assert set(vec.final_observation) == {0, 1}
    assert not np.array_equal(vec.final_observation[0], obs[0])
    assert obs.shape == first.shape


def test_bad_actions_are_refused() -> None:
    vec = VectorSnowball(EnvConfig(players=2), num_worlds=2)
    with pytest.raises(RuntimeError):
        vec.step(np.zeros((2, 2), dtype=np.int64))
    vec.reset()
    for bad in (np.zeros((2, 3), dtype=np.int64), np.full((2, 2), NUM_ACTIONS), np.zeros((2, 2))):
        with pytest.raises(ValueError):
            vec.step(bad)
