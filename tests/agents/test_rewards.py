"""Each reward in a hand-made situation: a pickup, a beacon lit by two agents (shared), a hit, a hazard, exploring."""

from __future__ import annotations

import numpy as np
import pytest

from mpgenie.agents.config import REWARD_SCENARIOS, EnvConfig, RewardWeights
from mpgenie.agents.observations import cell_index
from mpgenie.agents.vector import VectorSnowball
from mpgenie.errors import UsageError
from mpgenie.world.actions import NUM_ACTIONS, Action
from tests.agents.helpers import offset, park_far, tangent_at


def _core(scenario: str = "mixed", players: int = 3, **kw) -> VectorSnowball:
    core = VectorSnowball(EnvConfig(players=players, scenario=scenario, **kw), num_worlds=1, seed=21, autoreset=False)
    core.reset()
    core.step(np.zeros((1, players), dtype=np.int64))  # joins settle, the AOI grid exists
    return core


def _safe(world, points: np.ndarray) -> int:
    """Index of the first of ``points`` with no hazard nearby."""
    lay = world.layout
    for m, q in enumerate(points):
        d = np.arccos(np.clip(lay.hazard_pos @ q, -1, 1)) * world.cfg.radius
        if d.min() > world.cfg.hazard_radius + 4.0:
            return m
    raise AssertionError("no safe object")


def test_a_pickup_pays_the_collector() -> None:
    core = _core("collect")
    world = core.worlds[0]
    c = _safe(world, world.layout.collectible_pos)
    target = world.layout.collectible_pos[c]
    park_far(world, [1, 2], target)
    world.teleport(0, target, tangent_at(target))
    _, rew, term, trunc = core.step(np.zeros((1, 3), dtype=np.int64))
    assert rew[0].tolist() == [REWARD_SCENARIOS["collect"].pickup, 0.0, 0.0]
    assert not world.collectible_active[c]
    assert not term.any() and not trunc.any()


def test_a_beacon_lit_by_two_agents_pays_both_the_shared_reward() -> None:
    core = _core("cooperate")
    world = core.worlds[0]
    b = _safe(world, world.layout.beacon_pos)
    beacon = world.layout.beacon_pos[b]
    t = tangent_at(beacon)
    park_far(world, [2], beacon)
    for j, side in ((0, 1.0), (1, -1.0)):
        p, _ = offset(beacon, side * t, 1.0, world.cfg.radius)
        world.teleport(j, p, tangent_at(p))
    actions = np.array([[Action.INTERACT, Action.INTERACT, Action.INTERACT]])
    _, rew, *_ = core.step(actions)
    assert world.beacon_activations[b] == 1
    w = REWARD_SCENARIOS["cooperate"].beacon
    assert rew[0].tolist() == [w, w, 0.0]  # the third interacted too, but at no beacon


def test_a_hit_pays_the_attacker_and_costs_the_target() -> None:
    core = _core("compete")
    world = core.worlds[0]
    p = world.layout.beacon_pos[_safe(world, world.layout.beacon_pos)]
    h = tangent_at(p)
    q, hq = offset(p, h, 1.5, world.cfg.radius)
    world.teleport(0, p, h)
    world.teleport(1, q, hq)
    park_far(world, [2], p)
    core.step(np.zeros((1, 3), dtype=np.int64))  # the grid learns where they are
    _, rew, *_ = core.step(np.array([[Action.ATTACK, Action.NOOP, Action.NOOP]]))
    w = REWARD_SCENARIOS["compete"]
    assert rew[0].tolist() == [w.hit, w.hit_taken, 0.0]


def _onto_hazard(core: VectorSnowball) -> None:
    world = core.worlds[0]
    hz = world.layout.hazard_pos[0]
    park_far(world, [1, 2], hz)
    world.teleport(0, hz, tangent_at(hz))


def test_a_hazard_costs_and_respawns_or_terminates() -> None:
    core = _core("collect")
    _onto_hazard(core)
    _, rew, term, _ = core.step(np.zeros((1, 3), dtype=np.int64))
    assert rew[0, 0] == REWARD_SCENARIOS["collect"].hazard and not term.any()
    assert core.alive.all() and core.worlds[0].deaths[0] == 1

    core = _core("collect", on_hazard="terminate")
    _onto_hazard(core)
    _, rew, term, _ = core.step(np.zeros((1, 3), dtype=np.int64))
    assert term[0].tolist() == [True, False, False]
    assert core.alive[0].tolist() == [False, True, True]
    assert not core.worlds[0].active[0]  # the player left the world
    _, rew, term, _ = core.step(np.full((1, 3), Action.FORWARD, dtype=np.int64))
    assert rew[0, 0] == 0.0 and not term[0, 0]


def test_exploring_pays_once_per_new_cell() -> None:
    core = VectorSnowball(EnvConfig(players=1, rewards=RewardWeights(explore=1.0), explore_cell_m=2.0), 1, 8, False)
    core.reset()
    world = core.worlds[0]
    seen = {int(cell_index(world.pos[0], core._cells))}
    _, rew, *_ = core.step(np.zeros((1, 1), dtype=np.int64))
    assert rew[0, 0] == 0.0  # standing still: nothing new
    total = 0.0
    for _ in range(60):
        _, rew, *_ = core.step(np.full((1, 1), Action.FORWARD, dtype=np.int64))
        total += float(rew[0, 0])
        seen.add(int(cell_index(world.pos[0], core._cells)))
    assert total == len(seen) - 1 > 3


def test_pressing_at_a_ready_beacon_pays_the_shaping_weight() -> None:
    """``beacon_press``: interact within a ready beacon's radius pays each tick; not elsewhere, not a beacon that
    just lit (cooling down), not other actions there."""
    core = _core("cooperate", rewards=RewardWeights(beacon_press=0.5))
    world = core.worlds[0]
    b = _safe(world, world.layout.beacon_pos)
    beacon = world.layout.beacon_pos[b]
    park_far(world, [1, 2], beacon)
    p, _ = offset(beacon, tangent_at(beacon), 1.0, world.cfg.radius)
    world.teleport(0, p, tangent_at(p))
    _, rew, *_ = core.step(np.array([[Action.INTERACT, Action.INTERACT, Action.NOOP]]))
    assert rew[0].tolist() == [0.5, 0.0, 0.0]  # agent 1 pressed, but far from every beacon
    _, rew, *_ = core.step(np.array([[Action.NOOP, Action.NOOP, Action.NOOP]]))
    assert rew[0].tolist() == [0.0, 0.0, 0.0]
    world.beacon_ready_at[b] = world.tick + 100  # cooling down
    _, rew, *_ = core.step(np.array([[Action.INTERACT, Action.NOOP, Action.NOOP]]))
    assert rew[0, 0] == 0.0


def test_flank_shaping_pays_for_getting_behind_a_rival_while_facing_it() -> None:
    """``flank`` (potential-based): the change of (how squarely I face my nearest rival - how squarely it faces me)
    x closeness. Behind a rival that looks away, facing it: +closeness; face to face: 0; its mirror image: -."""
    core = _core("compete", players=2, rewards=RewardWeights(flank=1.0))
    world = core.worlds[0]
    p = world.layout.beacon_pos[_safe(world, world.layout.beacon_pos)]
    h = tangent_at(p)
    q, hq = offset(p, h, 2.0, world.cfg.radius)  # 2 m ahead of agent 0, looking on in the same direction
    world.teleport(0, p, h)
    world.teleport(1, q, hq)
    closeness = 1.0 - 2.0 / (4.0 * world.cfg.attack_range)
    advantage = core._advantage()[0]
    np.testing.assert_allclose(advantage, [closeness, -closeness], atol=1e-6)
    world.teleport(1, q, -hq)  # now face to face
    np.testing.assert_allclose(core._advantage()[0], [0.0, 0.0], atol=1e-6)
    # The reward is the change since the last step: turning to face agent 0 cost agent 1's disadvantage back.
    core._last_advantage[0] = advantage
    _, rew, *_ = core.step(np.array([[Action.NOOP, Action.NOOP]]))
    np.testing.assert_allclose(rew[0], -advantage, atol=1e-5)
    far, hf = offset(p, h, 4.0 * world.cfg.attack_range + 1.0, world.cfg.radius)
    world.teleport(1, far, hf)
    np.testing.assert_allclose(core._advantage()[0], [0.0, 0.0], atol=1e-9)  # too far apart to matter


def test_the_match_result_is_paid_once_at_the_episodes_end() -> None:
    """``win`` / ``draw``: at max_steps each agent's hit balance (hits landed - taken - hazards) against the best
    rival's: the lead wins, the others lose, a tie draws; nothing before the end."""
    core = _core("compete", players=3, rewards=RewardWeights(win=2.0, draw=-0.5), max_steps=4)
    core._balance[0] = [1, 0, 0]
    _, rew, _, trunc = core.step(np.zeros((1, 3), dtype=np.int64))
    assert not trunc.any() and rew[0].tolist() == [0.0, 0.0, 0.0]
    core.step(np.zeros((1, 3), dtype=np.int64))
    _, rew, _, trunc = core.step(np.zeros((1, 3), dtype=np.int64))
    assert trunc.all() and rew[0].tolist() == [2.0, -2.0, -2.0]
    core.reset()
    assert not core._balance.any()  # a new episode starts level
    core._balance[0] = [1, 1, -1]
    for _ in range(4):  # ticks 1..4
        _, rew, _, trunc = core.step(np.zeros((1, 3), dtype=np.int64))
    assert trunc.all() and rew[0].tolist() == [-0.5, -0.5, -2.0]


def test_action_bonus_pays_each_action_its_bonus() -> None:
    """PBT's diversity term reaches the agents as a reward per action taken, on top of the scenario's."""
    bonus = tuple(0.01 * a for a in range(NUM_ACTIONS))
    quiet = RewardWeights()  # nothing else pays
    envs = VectorSnowball(EnvConfig(players=3, rewards=quiet, action_bonus=bonus), num_worlds=2, seed=0)
    envs.reset(seed=0)
    actions = np.array([[1, 5, 9], [0, 8, 7]])
    _, rewards, _, _ = envs.step(actions)
    assert np.allclose(rewards, 0.01 * actions)
    with pytest.raises(UsageError):
        EnvConfig(players=3, action_bonus=(1.0,))
