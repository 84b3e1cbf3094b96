"""snowball_v0 follows PettingZoo: the API and seed tests, agents leaving, and policies driving it."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("pettingzoo")

from pettingzoo.test import parallel_api_test

try:  # pettingzoo 1.27 calls the parallel seed test parallel_seed_test; older releases had only seed_test
    from pettingzoo.test import parallel_seed_test
except ImportError:  # pragma: no cover
    from pettingzoo.test.seed_test import parallel_seed_test

from mpgenie.agents import snowball_v0
from mpgenie.agents.config import EnvConfig
from mpgenie.agents.interface import LearnedPolicy, Policy, RemotePolicy
from mpgenie.agents.policy import ScriptedPolicy, draw_styles
from mpgenie.agents.scripted import ScriptedBots
from mpgenie.errors import UsageError
from mpgenie.world.actions import NUM_ACTIONS, Action
from tests.agents.helpers import park_far, tangent_at

CONFIGS = [
    {},
    {"on_hazard": "terminate", "max_steps": 150, "scenario": "compete"},
    {"observation": "pixels", "players": 3, "max_steps": 20, "scenario": "explore"},
]


@pytest.mark.parametrize("options", CONFIGS, ids=["state", "terminate", "pixels"])
def test_parallel_api_test(options: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the API test reports its softer findings as warnings
        parallel_api_test(snowball_v0.parallel_env(**options), num_cycles=200)


@pytest.mark.parametrize("options", CONFIGS, ids=["state", "terminate", "pixels"])
def test_parallel_seed_test(options: dict) -> None:
    parallel_seed_test(lambda: snowball_v0.parallel_env(**options), num_cycles=50)


def test_same_seed_same_episode_other_seed_other_world() -> None:
    def run(seed: int) -> list[np.ndarray]:
        env = snowball_v0.parallel_env(players=4)
        obs, _ = env.reset(seed=seed)
        rng = np.random.default_rng(1)
        out = [np.stack(list(obs.values()))]
        for _ in range(40):
            obs, *_ = env.step({a: int(rng.integers(NUM_ACTIONS)) for a in env.agents})
            out.append(np.stack(list(obs.values())))
        return out

    a, b, c = run(7), run(7), run(8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])
    env = snowball_v0.parallel_env(players=2)
    env.reset(seed=7)
    first = env.core.seeds[0]
    env.reset()
    second = env.core.seeds[0]
    env.reset(seed=7)
    env.reset()
    assert env.core.seeds[0] == second != first  # unseeded resets continue the seeded sequence


def test_max_steps_truncates_everyone_then_the_episode_is_over() -> None:
    env = snowball_v0.parallel_env(players=3, max_steps=5)
    env.reset(seed=1)
    for step in range(1, 6):
        _, _, term, trunc, _ = env.step({a: Action.FORWARD for a in env.agents})
        assert not any(term.values())
        assert all(trunc.values()) == (step == 5)
    assert env.agents == []
    assert env.step({}) == ({}, {}, {}, {}, {})


def test_a_terminated_agent_leaves_and_never_returns() -> None:
    env = snowball_v0.parallel_env(players=3, on_hazard="terminate", scenario="collect")
    env.reset(seed=2)
    env.step({})
    world = env.core.worlds[0]
    hz = world.layout.hazard_pos[0]
    park_far(world, [1, 2], hz)
    world.teleport(0, hz, tangent_at(hz))
    obs, rew, term, trunc, _ = env.step({a: Action.NOOP for a in env.agents})
    assert term == {"player_0": True, "player_1": False, "player_2": False}
    assert rew["player_0"] < 0 and "player_0" in obs
    assert env.agents == ["player_1", "player_2"]
    obs, rew, term, trunc, infos = env.step({"player_0": Action.FORWARD, "player_1": Action.FORWARD})
    assert set(obs) == set(rew) == set(term) == set(trunc) == set(infos) == {"player_1", "player_2"}


def test_respawn_keeps_the_agent_and_says_so() -> None:
    env = snowball_v0.parallel_env(players=2, scenario="collect")
    env.reset(seed=2)
    env.step({})
    world = env.core.worlds[0]
    hz = world.layout.hazard_pos[0]
    park_far(world, [1], hz)
    world.teleport(0, hz, tangent_at(hz))
    _, _, term, _, infos = env.step({})
    assert infos["player_0"] == {"respawned": True} and infos["player_1"] == {}
    assert not term["player_0"] and env.agents == ["player_0", "player_1"]


def test_scripted_learned_and_remote_policies_drive_the_env_through_one_interface() -> None:
    env = snowball_v0.parallel_env(players=4)
    env.reset(seed=3)
    world = env.core.worlds[0]
    remote = RemotePolicy()
    remote.submit(2, Action.TURN_LEFT)
    policies: list[Policy] = [
        ScriptedPolicy(draw_styles("mixed", 4, np.random.default_rng(0)), seed=1),
        ScriptedBots(world, seed=1),
        LearnedPolicy(lambda x: x[:, :NUM_ACTIONS], inputs="state"),
        LearnedPolicy(lambda x: np.zeros((x.shape[0], NUM_ACTIONS)), sample=True, seed=4),
        remote,
    ]
    for policy in policies:
        assert isinstance(policy, Policy)
        obs = env.policy_observation()
        actions = policy.act(obs)
        assert actions.shape == (4,) and actions.dtype == np.int8
        assert ((actions >= 0) & (actions < NUM_ACTIONS)).all()
        env.step({f"player_{i}": int(a) for i, a in zip(obs.agents, actions, strict=True)})
    assert remote.act(env.policy_observation()).tolist() == [0, 0, Action.TURN_LEFT, 0]


def test_bad_configs_are_refused() -> None:
    for bad in ({"players": 0}, {"observation": "rgb"}, {"scenario": "nope"}, {"world": {"seed": 1}}):
        with pytest.raises(UsageError):
            EnvConfig(**bad)
    with pytest.raises(UsageError, match="radius"):
        EnvConfig(world={"radius": -1.0})


def test_render_tiles_every_agents_view_and_policies_refuse_what_they_cannot_use() -> None:
    env = snowball_v0.parallel_env(players=2, render_mode="rgb_array")
    assert env.render() is None  # nothing to show before reset
    env.reset(seed=1)
    assert env.render().shape == (64, 128, 3)
    assert snowball_v0.parallel_env(players=2).render() is None
    with pytest.raises(ValueError):
        snowball_v0.parallel_env(render_mode="human")
    obs = env.policy_observation()
    with pytest.raises(ValueError):
        LearnedPolicy(lambda x: x, inputs="frames").act(obs)
    with pytest.raises(ValueError):
        LearnedPolicy(lambda x: np.zeros((x.shape[0], 3))).act(obs)
    assert LearnedPolicy(lambda x: np.ones(x.shape[0])).act(obs).tolist() == [1, 1]
    once = RemotePolicy(hold=False)
    once.submit(1, Action.JUMP)
    assert once.act(obs).tolist() == [0, Action.JUMP]
    assert once.act(obs).tolist() == [0, 0]
    env.close()
