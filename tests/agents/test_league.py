"""Matches between policies, PPO against a league opponent, learned members in recorded data (replay, QC, stats)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from mpgenie.agents.config import EnvConfig
from mpgenie.agents.evaluate import member_behaviour
from mpgenie.agents.interface import LearnedPolicy
from mpgenie.agents.match import Team, TeamStats, halves, outcomes, play
from mpgenie.agents.mixture import LearnedBots, ViewBots, parse_agents
from mpgenie.agents.pbt import plot_lines, policy_maker
from mpgenie.agents.policy import scripted_policy
from mpgenie.agents.ppo import PPOConfig, train
from mpgenie.agents.vector import VectorSnowball
from mpgenie.dataset.format import episode_dir
from mpgenie.dataset.generate import GenerateConfig, generate
from mpgenie.dataset.qc import check_dataset
from mpgenie.dataset.reader import MultiplayerVideoDataset
from mpgenie.dataset.replay import recorded_actions, rerender
from mpgenie.dataset.stats import dataset_stats
from mpgenie.errors import UsageError
from mpgenie.render import Renderer, RenderSettings
from mpgenie.world.actions import NUM_ACTIONS, Action
from mpgenie.world.simulation import World
from tests.agents.population_helpers import make_population


def idle(_: int) -> LearnedPolicy:
    return LearnedPolicy(lambda x: np.full(x.shape[0], Action.NOOP))


def test_a_duel_counts_what_the_rewards_pay() -> None:
    """Compete scores are hits landed minus hits taken minus hazards, per world; the competitor beats idlers."""
    env = EnvConfig(players=2, scenario="compete", max_steps=300)
    a, b = halves(2)
    comp, idler = play(env, [Team.of(lambda i: scripted_policy("competitor", 2, i), a, 6), Team.of(idle, b, 6)])
    assert comp.hits > 0 and comp.hits_taken == 0 and idler.hits == 0 and idler.hits_taken == comp.hits
    assert comp.score.sum() == comp.hits - comp.hits_taken - comp.hazards
    assert idler.score.sum() == -idler.hits_taken - idler.hazards
    assert comp.agent_steps == idler.agent_steps == 6 * 300
    assert comp.actions.shape == (6, NUM_ACTIONS) and comp.actions.sum() == 6 * 300
    assert idler.actions[:, Action.NOOP].sum() == 6 * 300
    r = outcomes(comp, idler)
    assert set(r.tolist()) <= {0.5, 1.0} and r.mean() > 0.5
    assert np.all((r == 1.0) == (comp.score > idler.score))
    assert np.all(idler.coverage > 0) and np.all(comp.coverage >= idler.coverage)


def test_the_observer_sees_what_the_environment_sees() -> None:
    """State vectors of a world stepped elsewhere (the recorder's) equal the environment's own."""
    config = EnvConfig(players=3, max_steps=50)
    envs = VectorSnowball(config, num_worlds=1, autoreset=False)
    obs = envs.reset(seed=5)
    rng = np.random.default_rng(0)
    for _ in range(12):
        obs, *_ = envs.step(rng.integers(0, NUM_ACTIONS, size=(1, 3)))
    seen = VectorSnowball.observer(envs.worlds[0], config).policy_observation(0)
    np.testing.assert_array_equal(seen.state, obs[0])


def test_ppo_against_a_frozen_opponent_learns_only_from_its_own_agents() -> None:
    config = PPOConfig(players=3, num_worlds=2, num_steps=8, max_steps=10, minibatches=1, update_epochs=1, hidden=8)
    team = Team.of(idle, [2], 2)
    result = train(config, iterations=2, opponent=team)
    assert [e["batch"] for e in result.curve] == [2 * 2 * 8] * 2  # 2 learners of 3 agents, 2 worlds, 8 ticks
    alone = train(config, iterations=1)
    assert alone.curve[0]["batch"] == 3 * 2 * 8


def test_parse_agents() -> None:
    assert parse_agents(None).population is None and parse_agents("scripted").text == "scripted"
    for bad in ("learned", "population:/nonexistent", "population:/tmp@2"):
        with pytest.raises(UsageError):
            parse_agents(bad)


def test_learned_members_in_the_data_replay_and_pass_qc(tmp_path: Path) -> None:
    """An episode driven by learned members (share 1) and one half scripted: what drove each agent is recorded,
    replay from the recorded actions matches the video exactly, QC passes, stats report per policy."""
    run = make_population(tmp_path / "run")
    out = tmp_path / "ds"
    agents = parse_agents(f"population:{run.root}@1")
    generate(GenerateConfig(out=out, episodes=1, players=3, steps=30, resolution=32, codec="lossless", agents=agents))
    meta = json.loads((episode_dir(out, 0) / "episode.json").read_text())
    assert meta["agents"] == f"population:{run.root}@1"
    assert meta["styles"] == ["learned"] * 3
    for d in meta["drivers"]:
        assert d["policy"] in ("learned:m0", "learned:m1")
        member = d["policy"].split(":")[1]
        assert d["checkpoint"] == str(run.checkpoint_path(member)) and len(d["sha256"]) == 64
        assert d["rating"] == run.league.ratings[member]
    truth = rerender(meta, recorded_actions(episode_dir(out, 0)), {0, 29})
    ds = MultiplayerVideoDataset(out)
    for f in (0, 29):
        assert np.array_equal(ds.clip(0, f, 1).frames[:, 0], truth[f])
    assert check_dataset(out).ok

    half = tmp_path / "half"
    generate(
        GenerateConfig(
            out=half, episodes=2, players=6, steps=20, resolution=32, agents=parse_agents(f"population:{run.root}")
        )
    )
    kinds = [json.loads((episode_dir(half, e) / "episode.json").read_text())["drivers"] for e in range(2)]
    policies = [d["policy"] for ep in kinds for d in ep]
    assert any(p.startswith("learned:") for p in policies) and any(p.startswith("scripted:") for p in policies)
    stats = dataset_stats(half)
    assert set(stats["per_policy"]) == set(policies)
    assert sum(p["agents"] for p in stats["per_policy"].values()) == 12
    assert check_dataset(half).ok
    # the same run again: the same agents (drawn from the episode's seed)
    again = tmp_path / "again"
    generate(
        GenerateConfig(
            out=again, episodes=2, players=6, steps=20, resolution=32, agents=parse_agents(f"population:{run.root}")
        )
    )
    for e in range(2):
        assert np.array_equal(recorded_actions(episode_dir(again, e)), recorded_actions(episode_dir(half, e)))


def test_a_snapshot_plays_through_policy_maker(tmp_path: Path) -> None:
    run = make_population(tmp_path / "run")
    make = policy_maker(run.spec("m0"), 2, seed=3)
    env = EnvConfig(players=2, scenario="compete", max_steps=20)
    a, b = halves(2)
    sa, sb = play(env, [Team.of(make, a, 2), Team.of(policy_maker(run.spec(run.league.anchor), 2, 0), b, 2)])
    assert sa.agent_steps == sb.agent_steps == 40
    assert (tmp_path / "run" / "curves.png").stat().st_size > 0
    assert (tmp_path / "run" / "curves.csv").read_text().startswith("round,member,")


def test_plot_lines_draws_every_line() -> None:
    img = plot_lines([[(0, 0), (1, 1)], [(0, 1), (1, 0)], []], width=50, height=40)
    assert img.shape == (40, 50, 3)
    colours = {tuple(c) for c in img.reshape(-1, 3).tolist()} - {(255, 255, 255), (160, 160, 160)}
    assert len(colours) == 2


def test_learned_bots_overwrite_the_actions_of_their_players(tmp_path: Path) -> None:
    """The demo's learned bots: bots drawn as learned get their member's action for their player, others keep
    theirs; players not yet joined (-1) are left alone."""
    run = make_population(tmp_path / "run")
    spec = parse_agents(f"population:{run.root}@0.5")
    world = World(EnvConfig(players=6).world_config(3))
    world.add_players(6)
    players = np.array([5, 4, 3, 2, 1, -1])  # bot i is player players[i]
    bots = LearnedBots(6, spec, seed=4)
    twin = LearnedBots(6, spec, seed=4)
    assert (bots.assigned >= 0).any() and (bots.assigned < 0).any()
    actions = np.full(6, 99, dtype=np.int8)
    bots.act(world, actions, players)
    learned = (bots.assigned >= 0) & (players >= 0)
    assert np.all(actions[~learned] == 99) and np.all(actions[learned] < NUM_ACTIONS)
    again = np.full(6, 99, dtype=np.int8)
    twin.act(world, again, players)
    assert np.array_equal(actions, again)


def test_view_bots_act_on_the_rendered_views_of_the_joined_players() -> None:
    """The demo's `bc:CKPT` bots: the policy gets each joined bot's first-person view of the server's world (as the
    renderer draws it for that player) and its action goes to that bot; bots not joined yet (-1) are left alone."""
    world = World(EnvConfig(players=4).world_config(5))
    world.add_players(4)
    seen: list[np.ndarray] = []

    def brightness_policy(frames: np.ndarray) -> np.ndarray:
        seen.append(frames.copy())
        return (frames.reshape(len(frames), -1).mean(axis=1) > 0).astype(np.int8) * Action.FORWARD

    bots = ViewBots(LearnedPolicy(brightness_policy, inputs="frames"), resolution=32)
    players = np.array([3, -1, 0])
    actions = np.full(3, 99, dtype=np.int8)
    bots.act(world, actions, players)
    assert actions.tolist() == [Action.FORWARD, 99, Action.FORWARD] and bots.driven == 2
    expected = Renderer(world, RenderSettings(resolution=32)).render(np.array([3, 0]))
    np.testing.assert_array_equal(seen[0], expected)
    bots.act(world, actions, np.array([-1, -1, -1]))  # nobody joined: nothing asked, nothing changed
    assert len(seen) == 1 and bots.driven == 2


def test_member_behaviour_is_its_agents_pooled_action_distribution() -> None:
    counts = np.zeros((2, NUM_ACTIONS), dtype=np.int64)  # two agents of one member
    counts[0, Action.NOOP], counts[1, Action.NOOP], counts[1, Action.FORWARD] = 500, 250, 250
    counts[1, Action.JUMP] = 5  # under 1 %: left out of the shares
    b = member_behaviour(TeamStats(agents=1, score=np.zeros(2), actions=counts))
    assert b["action_shares"] == {"noop": round(750 / 1005, 3), "forward": round(250 / 1005, 3)}
    p = np.array([750, 250, 5]) / 1005
    assert b["action_entropy_bits"] == round(float(-(p * np.log2(p)).sum()), 3)
