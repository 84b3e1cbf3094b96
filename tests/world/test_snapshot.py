"""World.snapshot / World.restore: a restored world is the original, bit for bit, and steps on identically.

This is what failover rests on (a realtime node restores a dead node's sessions from their last checkpoint), so it
is a property test over seeds, populations, joins and leaves at any point, and snapshots taken in the awkward
places: with join events still pending, with slots in quarantine, between ``advance`` and ``refresh_aoi``.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpgenie.agents.scripted import ScriptedBots
from mpgenie.world import World, WorldConfig
from mpgenie.world.actions import NUM_ACTIONS
from mpgenie.world.simulation import SnapshotError

SMALL = {"radius": 25.0, "num_beacons": 4, "num_hazards": 6, "num_collectibles": 20, "num_landmarks": 12}


def _hidden_state(world: World) -> list[np.ndarray]:
    """State that ``digest()`` leaves out but the next ticks read (or report)."""
    n = world.num_slots
    return [
        world.last_action[:n],
        world.teleported[:n],
        world._moved_far[:n],
        world._prev_pos[:n],
        world.beacon_activations,
        np.array(world._free, dtype=np.int64),
        np.array(world._quarantine, dtype=np.int64),
        np.array(world._aoi_hints, dtype=np.int64),
    ]


def _assert_same(a: World, b: World) -> None:
    assert a.digest() == b.digest()
    for x, y in zip(_hidden_state(a), _hidden_state(b), strict=True):
        np.testing.assert_array_equal(x, y)
    assert a._pending == b._pending


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    players=st.integers(0, 40),
    before=st.integers(0, 60),
    after=st.integers(1, 40),
    churn=st.booleans(),
    mid_tick=st.booleans(),
)
def test_restored_world_steps_on_bit_identically(
    seed: int, players: int, before: int, after: int, churn: bool, mid_tick: bool
) -> None:
    world = World(WorldConfig(seed=seed, **SMALL))  # type: ignore[arg-type]
    world.add_players(players)
    rng = np.random.default_rng(seed)
    for _ in range(before):
        world.step(rng.integers(0, NUM_ACTIONS, world.num_slots).astype(np.int8))
    if churn:  # pending join events and quarantined slots in the snapshot
        if world.num_players:
            world.remove_player(int(world.active_ids()[0]))
        world.add_players(3)
    if mid_tick:  # between the rules and the AOI refresh (the benchmark's split)
        world.advance(rng.integers(0, NUM_ACTIONS, world.num_slots).astype(np.int8))
    restored = World.restore(world.cfg, world.snapshot())
    _assert_same(world, restored)
    if mid_tick:
        x, y = world.refresh_aoi(), restored.refresh_aoi()
        assert x.enter_observer.tolist() == y.enter_observer.tolist()
        assert x.enter_subject.tolist() == y.enter_subject.tolist()
    for t in range(after):
        if t == after // 2 and world.num_players > 1:
            victim = int(world.active_ids()[-1])
            world.remove_player(victim)
            restored.remove_player(victim)
            assert world.add_player() == restored.add_player()
        a = rng.integers(0, NUM_ACTIONS, world.num_slots).astype(np.int8)
        ra, rb = world.step(a), restored.step(a)
        assert ra.events == rb.events
        assert ra.aoi.leave_observer.tolist() == rb.aoi.leave_observer.tolist()
        assert world.digest() == restored.digest()
    _assert_same(world, restored)


def test_a_busy_world_round_trips_with_scripted_bots() -> None:
    """Beacons lit, pickups taken, hazards hit: the state with every rule in play survives a snapshot."""
    world = World(WorldConfig(seed=3, radius=30.0, num_beacons=6, num_hazards=8, num_collectibles=30))
    world.add_players(60)
    bots = ScriptedBots(world, 3)
    for _ in range(300):
        world.step(bots.act())
    assert world.score.sum() > 0 and world.beacon_activations.sum() > 0
    data = world.snapshot()
    restored = World.restore(None, data)
    assert restored.digest() == world.digest()
    assert restored.snapshot() == data  # the format is canonical: snapshot(restore(x)) == x
    replay = ScriptedBots(restored, 4)
    live = ScriptedBots(world, 4)
    for _ in range(200):
        a = live.act()
        np.testing.assert_array_equal(a, replay.act())
        world.step(a)
        restored.step(a)
    assert restored.digest() == world.digest()


def test_restore_refuses_other_configs_and_garbage() -> None:
    world = World(WorldConfig(seed=1, **SMALL))  # type: ignore[arg-type]
    world.add_players(2)
    data = world.snapshot()
    with pytest.raises(SnapshotError, match="another config"):
        World.restore(WorldConfig(seed=2, **SMALL), data)  # type: ignore[arg-type]
    for bad in (b"", b"nope", data[:4] + b"\xff\xff\xff\x00{}", data[: len(data) // 2]):
        with pytest.raises(SnapshotError):
            World.restore(None, bad)
