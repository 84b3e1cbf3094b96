import numpy as np

from mpgenie.world import Respawn, RespawnReason, World, WorldConfig
from mpgenie.world import geometry as geo
from mpgenie.world.layout import generate_layout
from mpgenie.world.spawn import SpawnManager


def _manager(**overrides: object) -> SpawnManager:
    cfg = WorldConfig.from_mapping({"seed": 4, **overrides})
    return SpawnManager(cfg, generate_layout(cfg))


def test_spawn_points_are_landmarks_clear_of_hazards() -> None:
    cfg = WorldConfig(seed=4, num_hazards=40)
    layout = generate_layout(cfg)
    mgr = SpawnManager(cfg, layout)
    assert len(mgr) > 0
    for p in mgr.points:
        assert np.min(geo.central_angle(p, layout.landmark_pos)) < 1e-12
        clearance = np.min(geo.great_circle_distance(p, layout.hazard_pos, cfg.radius))
        assert clearance >= cfg.hazard_radius + cfg.spawn_protection_radius


def test_simultaneous_joins_are_spread_evenly() -> None:
    mgr = _manager()
    crowd = np.zeros(len(mgr), dtype=np.int64)
    crowd[:5] = 3  # some points are already busy
    out = mgr.choose(crowd, None, 3 * len(mgr), np.random.default_rng(0))
    load = crowd + np.bincount(out.spawn_point, minlength=len(mgr))
    assert load.max() - load.min() <= 1


def test_no_respawn_at_the_point_a_player_died_near() -> None:
    mgr = _manager()
    cfg = mgr.cfg
    rng = np.random.default_rng(1)
    crowd = np.zeros(len(mgr), dtype=np.int64)
    for s in range(len(mgr)):
        # died 3 m from spawn point s, which is also the emptiest point
        death, _ = geo.move_along(mgr.points[s][None], geo.random_tangents(rng, mgr.points[s][None]), 3.0 / cfg.radius)
        busy = crowd + 5
        busy[s] = 0
        out = mgr.choose(busy, death, 1, rng)
        assert out.spawn_point[0] != s


def test_spawned_players_do_not_stack() -> None:
    world = World(WorldConfig(seed=2))
    world.add_players(200)
    p = world.pos[:200]
    d = geo.central_angle(p[:, None, :], p[None, :, :]) * world.cfg.radius
    np.fill_diagonal(d, np.inf)
    assert d.min() > 0.01
    events = world.step().events
    joins = [e for e in events if isinstance(e, Respawn) and e.reason is RespawnReason.JOIN]
    assert len(joins) == 200


def test_joins_avoid_crowded_points() -> None:
    world = World(WorldConfig(seed=2))
    first = world.add_players(len(world.spawns))
    world.step()
    crowded = {int(np.argmax(world.spawns.points @ world.pos[i])) for i in first}
    assert len(crowded) == len(world.spawns)  # one per point before any doubles up


def test_players_appear_one_to_three_metres_from_their_spawn_point() -> None:
    """protocol.md 7.3 (``respawn``): the position is 1.0 m up to (not including) 3.0 m of great-circle distance
    from the named spawn point, in a random direction, with a random heading, on the ground."""
    world = World(WorldConfig(seed=2, num_hazards=0))
    ids = world.add_players(400)
    events = world.step().events
    joins = {e.player: e.spawn_point for e in events if isinstance(e, Respawn) and e.reason is RespawnReason.JOIN}
    points = world.spawns.points[[joins[int(i)] for i in ids]]
    d = geo.great_circle_distance(world.pos[ids], points, world.cfg.radius)
    assert d.min() >= 1.0 - 1e-9 and d.max() < 3.0
    assert d.min() < 1.1 and d.max() > 2.9  # the whole range is used
    assert np.all(world.height[ids] == 0.0)
