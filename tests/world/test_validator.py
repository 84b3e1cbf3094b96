"""Anti-cheat: cheats are caught with the right reason; legitimate play is never flagged."""

import math

import numpy as np
import pytest

from mpgenie.agents.scripted import ScriptedBots
from mpgenie.world import Action, Reason, Validator, World, WorldConfig
from mpgenie.world import geometry as geo


@pytest.fixture
def validator() -> Validator:
    return Validator(WorldConfig())


def _walk(cfg: WorldConfig, metres: float) -> tuple[np.ndarray, np.ndarray]:
    p = geo.latlon_to_vec(12.0, 34.0)
    q, _ = geo.move_along(p[None], geo.heading_from_bearing(p, 70.0)[None], metres / cfg.radius)
    return p, q[0]


def test_speedhack_is_caught(validator: Validator) -> None:
    cfg = validator.cfg
    p, q = _walk(cfg, cfg.walk_speed * cfg.dt * 2.0)
    verdict = validator.check_motion(p, q, ticks=1)
    assert not verdict and verdict.reason is Reason.SPEED
    p, q = _walk(cfg, cfg.walk_speed * cfg.dt)
    assert validator.check_motion(p, q, ticks=1)


def test_teleport_is_caught(validator: Validator) -> None:
    p, q = _walk(validator.cfg, 50.0)
    verdict = validator.check_motion(p, q, ticks=1)
    assert not verdict and verdict.reason is Reason.TELEPORT
    assert validator.check_motion(p, q, ticks=1, authorized=True)  # the server's own respawn


def test_a_sustained_flood_is_rate_limited(validator: Validator) -> None:
    """200 inputs a second (10x the 20 Hz tick rate) for 3 s: all but the burst and the refill are refused."""
    pv = validator.for_player()
    verdicts = [pv.check_input(seq, 100, int(Action.FORWARD), now=seq / 200) for seq in range(1, 601)]
    rejected = [v for v in verdicts if not v]
    assert len(rejected) >= 600 - 200 - 180 - 1  # minus a 10 s burst and 3 s of 3x refill
    assert {v.reason for v in rejected} == {Reason.RATE_LIMIT}
    # a well-behaved client (one input per tick, 20 per second) after the flood is fine again
    assert all(pv.check_input(1000 + t, 200 + t, 0, now=10.0 + t / 20) for t in range(100))


def test_honest_timing_anomalies_are_never_violations(validator: Validator) -> None:
    """A 5 s stall then everything at once, a client clock far ahead of a late server, and the nominal rate while
    the server ticks at half of it: all accepted."""
    pv = validator.for_player()
    seq = 0
    for t in range(100):  # 5 s of nominal input arriving in one burst after a stall
        seq += 1
        assert pv.check_input(seq, t, 0, now=5.0 + t * 1e-4)
    for t in range(400):  # then 20 s at the nominal 20 Hz, ticks 500 ahead of a server that fell behind
        seq += 1
        assert pv.check_input(seq, 1000 + t, 0, now=6.0 + t / 20)
    assert pv.clock_skewed(1000, 500) and not pv.clock_skewed(510, 500)


def test_replays_are_caught(validator: Validator) -> None:
    pv = validator.for_player()
    assert pv.check_input(5, 10, 0, now=0.5)
    assert pv.check_input(5, 11, 0, now=0.55).reason is Reason.REPLAY
    assert pv.check_input(6, 10_000, 0, now=0.6)  # a client tick far off is not a violation


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        (10, Reason.UNKNOWN_ACTION),
        (-1, Reason.UNKNOWN_ACTION),
        ("forward", Reason.UNKNOWN_ACTION),
        (None, Reason.UNKNOWN_ACTION),
        (True, Reason.UNKNOWN_ACTION),
        (1.5, Reason.UNKNOWN_ACTION),
        (2**70, Reason.UNKNOWN_ACTION),
    ],
)
def test_garbage_actions(validator: Validator, action: object, reason: Reason) -> None:
    verdict = validator.for_player().check_input(1, 0, action, now=0.0)
    assert not verdict and verdict.reason is reason


@pytest.mark.parametrize(
    ("before", "after", "altitude", "reason"),
    [
        ([math.nan, 0, 1], [0, 0, 1], 0.0, Reason.NON_FINITE),
        ([0, 0, 1], [math.inf, 0, 0], 0.0, Reason.NON_FINITE),
        ([0, 0, 1], [0, 0, 1], math.nan, Reason.NON_FINITE),
        ([0, 0, 5], [0, 0, 5], 0.0, Reason.OUT_OF_RANGE),
        ([0, 0, 1], [0, 0, 1], 1e6, Reason.OUT_OF_RANGE),
        ([0, 0, 1], [0, 0, 1], -1.0, Reason.OUT_OF_RANGE),
        ("garbage", [0, 0, 1], 0.0, Reason.MALFORMED),
        ([0, 1], [0, 0, 1], 0.0, Reason.MALFORMED),
        ([0, 0, 1], [0, 0, 1], "high", Reason.MALFORMED),
    ],
)
def test_garbage_state(validator: Validator, before: object, after: object, altitude: object, reason: Reason) -> None:
    verdict = validator.check_motion(before, after, ticks=1, altitude=altitude)
    assert not verdict and verdict.reason is reason


@pytest.mark.parametrize(("seq", "tick"), [("1", 0), (1.0, 0), (1, None), (-1, 0), (2**64, 0)])
def test_garbage_input_fields(validator: Validator, seq: object, tick: object) -> None:
    verdict = validator.for_player().check_input(seq, tick, 0, now=0.0)
    assert not verdict and verdict.reason in (Reason.MALFORMED, Reason.OUT_OF_RANGE)


def test_legitimate_bots_produce_no_false_positives() -> None:
    """Thousands of ticks of bots: every input and every per-tick move they make passes."""
    cfg = WorldConfig(seed=3, radius=50.0)
    world = World(cfg)
    world.add_players(150)
    bots = ScriptedBots(world, 3)
    validator = Validator(cfg)
    per_player = [validator.for_player() for _ in range(150)]
    world.step(bots.act())
    checked = 0
    for _ in range(2000):
        before = world.pos[:150].copy()
        tick = world.tick
        actions = bots.act()
        for i in range(150):
            verdict = per_player[i].check_input(tick + 1, tick + 1, int(actions[i]), now=(tick + 1) * cfg.dt)
            assert verdict, verdict
        world.step(actions)
        for i in range(150):
            verdict = validator.check_motion(
                before[i], world.pos[i], 1, float(world.height[i]), authorized=bool(world.teleported[i])
            )
            assert verdict, verdict
            checked += 1
    assert checked == 300_000
