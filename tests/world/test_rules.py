"""Gameplay rules: pickups, co-operative beacons, hazards, attacks and AOI events, each in a staged scene."""

import numpy as np
import pytest

from mpgenie.agents.scripted import ScriptedBots
from mpgenie.world import (
    Action,
    AttackHit,
    BeaconActivated,
    HazardHit,
    Pickup,
    Respawn,
    RespawnReason,
    World,
)
from mpgenie.world import geometry as geo
from mpgenie.world.spatial import Neighbors, diff_neighbors

from .helpers import actions, offset, place, quiet_config


def _world_with_object(kind: str, **cfg: object) -> tuple[World, np.ndarray]:
    """A world whose only object of ``kind`` sits at a known place; returns it and its position."""
    counts = {"num_collectibles": 0, "num_beacons": 0, "num_hazards": 0, f"num_{kind}": 1}
    world = World(quiet_config(**counts, **cfg))
    pos = {
        "collectibles": world.layout.collectible_pos,
        "beacons": world.layout.beacon_pos,
        "hazards": world.layout.hazard_pos,
    }[kind][0]
    return world, pos


def _near(world: World, player: int, target: np.ndarray, metres: float, bearing: float = 0.0) -> None:
    d = geo.heading_from_bearing(target, 0.0)
    p, _ = geo.move_along(target[None], d[None], metres / world.cfg.radius)
    world.teleport(player, p[0], geo.heading_from_bearing(p[0], bearing))


def test_pickup_goes_to_the_nearest_player_and_respawns() -> None:
    world, coll = _world_with_object("collectibles", collectible_respawn_ticks=5)
    a, b = world.add_players(2)
    _near(world, a, coll, 0.5)
    _near(world, b, coll, 1.0)
    result = world.step()
    pickups = [e for e in result.events if isinstance(e, Pickup)]
    assert pickups == [Pickup(1, int(a), 0)]
    assert world.score[a] == 1 and world.score[b] == 0
    assert not world.collectible_active[0]
    for _ in range(5):
        assert not any(isinstance(e, Pickup) for e in world.step().events) or world.collectible_active[0]
    assert world.collectible_active[0] or world.score[a] + world.score[b] == 2


def test_beacon_needs_two_players_within_the_window() -> None:
    world, beacon = _world_with_object("beacons", beacon_window_ticks=5)
    a, b, c = world.add_players(3)
    _near(world, a, beacon, 1.0)
    _near(world, b, beacon, 2.0)
    place(world, int(c), -45.0, 0.0)
    world.step()
    # One player alone: nothing, however often.
    for _ in range(10):
        ev = world.step(actions(world, **{f"p{a}": Action.INTERACT})).events
        assert not any(isinstance(e, BeaconActivated) for e in ev)
    # The second player joins in within the window: it lights, naming both.
    ev = world.step(actions(world, **{f"p{b}": Action.INTERACT})).events
    lit = [e for e in ev if isinstance(e, BeaconActivated)]
    assert len(lit) == 1 and lit[0].players == tuple(sorted((int(a), int(b))))
    assert world.score[a] == 3 and world.score[b] == 3 and world.score[c] == 0


def test_beacon_interactions_outside_the_window_do_not_combine() -> None:
    world, beacon = _world_with_object("beacons", beacon_window_ticks=3)
    a, b = world.add_players(2)
    _near(world, a, beacon, 1.0)
    _near(world, b, beacon, 1.5)
    world.step()
    world.step(actions(world, **{f"p{a}": Action.INTERACT}))
    for _ in range(3):
        world.step()
    ev = world.step(actions(world, **{f"p{b}": Action.INTERACT})).events
    assert not any(isinstance(e, BeaconActivated) for e in ev)


def test_beacon_ignores_interactions_out_of_radius() -> None:
    world, beacon = _world_with_object("beacons")
    a, b = world.add_players(2)
    _near(world, a, beacon, 1.0)
    _near(world, b, beacon, world.cfg.beacon_radius + 1.0)
    world.step()
    ev = world.step(actions(world, **{f"p{a}": Action.INTERACT, f"p{b}": Action.INTERACT})).events
    assert not any(isinstance(e, BeaconActivated) for e in ev)


def test_hazard_sends_player_to_a_spawn_point() -> None:
    world, hazard = _world_with_object("hazards")
    (a,) = world.add_players(1)
    world.step()
    _near(world, a, hazard, 0.5)
    ev = world.step().events
    assert HazardHit(2, int(a), 0) in ev
    respawns = [e for e in ev if isinstance(e, Respawn)]
    assert len(respawns) == 1 and respawns[0].reason is RespawnReason.HAZARD
    assert geo.great_circle_distance(world.pos[a], hazard, world.cfg.radius) > world.cfg.hazard_radius
    assert world.deaths[a] == 1 and world.teleported[a]


def test_jumping_over_a_hazard_is_safe() -> None:
    world, hazard = _world_with_object("hazards")
    (a,) = world.add_players(1)
    world.step()
    _near(world, a, hazard, 0.5)
    world.height[a] = 1.0
    ev = world.step().events
    assert not any(isinstance(e, HazardHit) for e in ev)


def test_attack_hits_player_in_front_and_knocks_back() -> None:
    world = World(quiet_config())
    a, b, c = world.add_players(3)
    place(world, int(a), 0.0, 0.0, bearing=0.0)  # facing north
    place(world, int(b), *offset(0.0, 0.0, 2.0, world.cfg.radius))  # 2 m north: in front
    place(world, int(c), *offset(0.0, 0.0, -1.0, world.cfg.radius))  # 1 m south: behind, nearer
    world.step()
    before = world.pos[b].copy()
    ev = world.step(actions(world, **{f"p{a}": Action.ATTACK})).events
    assert [e for e in ev if isinstance(e, AttackHit)] == [AttackHit(2, int(a), int(b))]
    moved = float(geo.great_circle_distance(before, world.pos[b], world.cfg.radius))
    assert moved == pytest.approx(world.cfg.knockback_distance, rel=1e-6)
    # pushed away from the attacker
    assert geo.great_circle_distance(world.pos[a], world.pos[b], world.cfg.radius) > 4.9
    # the cooldown stops an immediate second hit
    ev = world.step(actions(world, **{f"p{a}": Action.ATTACK})).events
    assert not any(isinstance(e, AttackHit) for e in ev)


def test_attack_out_of_range_misses() -> None:
    world = World(quiet_config())
    a, b = world.add_players(2)
    place(world, int(a), 10.0, 10.0)
    place(world, int(b), *offset(10.0, 10.0, world.cfg.attack_range + 0.5, world.cfg.radius))
    world.step()
    assert not any(isinstance(e, AttackHit) for e in world.step(actions(world, **{f"p{a}": Action.ATTACK})).events)


def test_aoi_enter_and_leave_events() -> None:
    world = World(quiet_config())
    a, b = world.add_players(2)
    place(world, int(a), 0.0, 0.0, bearing=0.0)
    place(world, int(b), *offset(0.0, 0.0, 30.1, world.cfg.radius), bearing=0.0)
    first = world.step()
    assert first.aoi.num_enter == 0 and world.aoi_of(int(a)).size == 0
    entered = world.step(actions(world, **{f"p{a}": Action.FORWARD}))
    assert sorted(zip(entered.aoi.enter_observer.tolist(), entered.aoi.enter_subject.tolist(), strict=True)) == [
        (int(a), int(b)),
        (int(b), int(a)),
    ]
    assert world.aoi_of(int(a)).tolist() == [int(b)]
    left = world.step(actions(world, **{f"p{a}": Action.BACKWARD}))
    assert left.aoi.num_leave == 2
    world.step(actions(world, **{f"p{a}": Action.FORWARD}))
    world.remove_player(int(b))
    gone = world.step()
    assert (int(a), int(b)) in set(zip(gone.aoi.leave_observer.tolist(), gone.aoi.leave_subject.tolist(), strict=True))


def test_removed_slot_is_reused_only_after_its_leaves_are_reported() -> None:
    world = World(quiet_config())
    _, b = world.add_players(2)
    world.step()
    world.remove_player(int(b))
    c = world.add_player()
    assert c != b
    world.step()
    assert world.add_player() == b


def test_tracked_aoi_changes_equal_full_diff_with_churn() -> None:
    """The fast path (temporal test in the scan + teleport/removal fix-ups) against a full set difference."""
    world = World(quiet_config(num_hazards=20, num_beacons=10, num_collectibles=30, radius=60.0))
    world.add_players(600)
    bots = ScriptedBots(world, 4)
    rng = np.random.default_rng(0)
    for i in range(150):
        old = world.aoi
        if i % 7 == 3:
            for r in rng.choice(world.active_ids(), 5, replace=False):
                world.remove_player(int(r))
        if i % 11 == 5:
            world.add_players(4)
        result = world.step(bots.act())
        new = world.aoi
        row_of = np.full(new.row_of.shape[0], -1, dtype=np.int64)
        row_of[: old.row_of.shape[0]] = old.row_of
        er, ec, lr, lc = diff_neighbors(Neighbors(old.indptr, old.indices, old.row_ids, row_of), new)
        np.testing.assert_array_equal(er, result.aoi.enter_observer)
        np.testing.assert_array_equal(ec, result.aoi.enter_subject)
        np.testing.assert_array_equal(lr, result.aoi.leave_observer)
        np.testing.assert_array_equal(lc, result.aoi.leave_subject)


def test_step_rejects_malformed_action_arrays() -> None:
    world = World(quiet_config())
    world.add_players(2)
    with pytest.raises(ValueError, match="shape"):
        world.step(np.zeros(3, dtype=np.int8))
    with pytest.raises(ValueError, match=r"0\.\.9"):
        world.step(np.array([0, 42]))
    with pytest.raises(ValueError, match="integers"):
        world.step(np.array([0.5, 1.0]))


def test_nearest_players_and_visible_objects() -> None:
    world = World(quiet_config(num_beacons=3))
    a, b, c = world.add_players(3)
    place(world, int(a), 0.0, 0.0)
    place(world, int(b), *offset(0.0, 0.0, 5.0, world.cfg.radius))
    place(world, int(c), *offset(0.0, 0.0, -12.0, world.cfg.radius))
    world.step()
    assert world.nearest_players(world.pos[a], 3).tolist() == [int(a), int(b), int(c)]
    assert world.nearest_players(world.pos[c], 2).tolist() == [int(c), int(a)]
    beacon = world.layout.beacon_pos[1]
    world.teleport(int(a), beacon, geo.heading_from_bearing(beacon, 0.0))
    visible = world.visible_objects(int(a)).tolist()
    expected = [
        i
        for i, p in enumerate(world.object_pos)
        if geo.great_circle_distance(world.pos[a], p, world.cfg.radius) <= world.cfg.render_distance
    ]
    assert visible == expected and 1 in visible  # object index 1 = beacon 1 (no collectibles in this world)


def test_teleport_rejects_garbage() -> None:
    world = World(quiet_config())
    (a,) = world.add_players(1)
    with pytest.raises(ValueError, match="finite"):
        world.teleport(int(a), np.array([np.nan, 0.0, 1.0]), np.array([1.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="parallel"):
        world.teleport(int(a), np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, 1.0]))
    with pytest.raises(KeyError):
        world.teleport(99, np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0]))


def test_teleport_between_ticks_reports_aoi_leaves() -> None:
    """Regression: a teleport() made between ticks must still be settled from the stored AOI lists."""
    world = World(quiet_config())
    a, b = world.add_players(2)
    place(world, int(a), 0.0, 0.0)
    place(world, int(b), *offset(0.0, 0.0, 5.0, world.cfg.radius))
    world.step()
    world.step()
    assert world.aoi_of(int(a)).tolist() == [int(b)]
    place(world, int(b), 0.0, 90.0)
    result = world.step()
    assert world.teleported[b]
    assert sorted(zip(result.aoi.leave_observer.tolist(), result.aoi.leave_subject.tolist(), strict=True)) == [
        (int(a), int(b)),
        (int(b), int(a)),
    ]


def test_departed_player_does_not_count_for_a_reused_slot() -> None:
    """Regression: beacon memory must not merge a departed player with the next occupant of its slot."""
    world, beacon = _world_with_object("beacons", beacon_window_ticks=20)
    a, b = world.add_players(2)
    _near(world, a, beacon, 1.0)
    place(world, int(b), -40.0, 0.0)
    world.step()
    world.step(actions(world, **{f"p{a}": Action.INTERACT}))
    world.remove_player(int(a))
    world.step()
    c = world.add_player()
    assert c == a  # the slot is reused
    _near(world, c, beacon, 1.0)
    world.step()
    ev = world.step(actions(world, **{f"p{c}": Action.INTERACT})).events
    assert not any(isinstance(e, BeaconActivated) for e in ev)  # one live player alone cannot light it
    assert world.score[c] == 0


def test_player_removed_before_its_first_tick_gets_no_join_event() -> None:
    world = World(quiet_config())
    p = world.add_player()
    world.remove_player(p)
    assert world.step().events == []


def test_rewards_are_config_fields() -> None:
    """Scenario designers tune the scores (co-operation worth more or less) without touching the rules."""
    world, beacon = _world_with_object("beacons", beacon_window_ticks=5, beacon_score=7)
    a, b = world.add_players(2)
    _near(world, a, beacon, 1.0)
    _near(world, b, beacon, 2.0)
    world.step()
    world.step(actions(world, **{f"p{a}": Action.INTERACT, f"p{b}": Action.INTERACT}))
    assert world.score[a] == 7 and world.score[b] == 7
    world, item = _world_with_object("collectibles", pickup_score=5)
    (c,) = world.add_players(1)
    _near(world, c, item, 0.5)
    world.step()
    assert world.score[c] == 5
