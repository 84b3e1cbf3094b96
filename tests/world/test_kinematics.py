"""The compiled movement kernel against the readable NumPy geometry it implements."""

import math

import numpy as np
import pytest

from mpgenie.world import Action, World, WorldConfig
from mpgenie.world import geometry as geo


def _reference_step(cfg: WorldConfig, pos: np.ndarray, fwd: np.ndarray, action: int) -> tuple[np.ndarray, np.ndarray]:
    p, h = pos[None].copy(), fwd[None].copy()
    turn = {Action.TURN_LEFT: 1.0, Action.TURN_RIGHT: -1.0}.get(Action(action), 0.0)
    if turn:
        h = geo.rotate_about(h, p, turn * math.radians(cfg.turn_rate_deg) * cfg.dt)
    speeds = {
        Action.FORWARD: (cfg.walk_speed, False),
        Action.BACKWARD: (-cfg.backward_speed, False),
        Action.RIGHT: (cfg.strafe_speed, True),
        Action.LEFT: (-cfg.strafe_speed, True),
    }
    if Action(action) in speeds:
        speed, lateral = speeds[Action(action)]
        d = geo.right_of(p, h) if lateral else h
        p2, d2 = geo.move_along(p, d, speed * cfg.dt / cfg.radius)
        h = geo.transport(h, d, d2)
        p = p2
    if turn or Action(action) in speeds:
        p, h = geo.renormalize(p, h)
    return p[0], h[0]


@pytest.mark.parametrize("action", list(Action))
def test_kernel_matches_reference_geometry(action: Action) -> None:
    cfg = WorldConfig(seed=3, num_hazards=0, knockback_distance=0.0)
    world = World(cfg)
    world.add_players(64)
    world.step()  # settle spawn bookkeeping
    before_p, before_h = world.pos[:64].copy(), world.fwd[:64].copy()
    world.advance(np.full(64, action, dtype=np.int8))
    for i in range(64):
        ref_p, ref_h = _reference_step(cfg, before_p[i], before_h[i], int(action))
        np.testing.assert_allclose(world.pos[i], ref_p, atol=1e-13)
        np.testing.assert_allclose(world.fwd[i], ref_h, atol=1e-13)


def test_no_drift_over_a_long_run() -> None:
    cfg = WorldConfig(seed=1, num_hazards=0, num_beacons=0, num_collectibles=0)
    world = World(cfg)
    world.add_players(32)
    rng = np.random.default_rng(0)
    moves = np.array(
        [
            Action.FORWARD,
            Action.LEFT,
            Action.RIGHT,
            Action.BACKWARD,
            Action.TURN_LEFT,
            Action.TURN_RIGHT,
            Action.JUMP,
        ],
        dtype=np.int8,
    )
    for _ in range(20_000):
        world.advance(rng.choice(moves, size=32))
    p, h = world.pos[:32], world.fwd[:32]
    assert np.max(np.abs(np.linalg.norm(p, axis=1) - 1.0)) < 1e-14
    assert np.max(np.abs(np.linalg.norm(h, axis=1) - 1.0)) < 1e-14
    assert np.max(np.abs(np.sum(p * h, axis=1))) < 1e-14


def test_jump_follows_radial_gravity_and_lands() -> None:
    cfg = WorldConfig(seed=2, num_hazards=0)
    world = World(cfg)
    pid = world.add_player()
    actions = np.zeros(1, dtype=np.int8)
    actions[0] = Action.JUMP
    world.advance(actions)
    peak = 0.0
    for _ in range(40):
        world.advance(np.zeros(1, dtype=np.int8))
        peak = max(peak, float(world.height[pid]))
    expected_peak = cfg.jump_speed**2 / (2 * cfg.gravity)
    assert peak == pytest.approx(expected_peak, rel=0.1)
    assert world.height[pid] == 0.0
    assert world.vz[pid] == 0.0
