"""Context assembler (budget, priority order, relative geometry), frame consistency, procedural backend."""

import numpy as np
import pytest

from mpgenie.genie.backends import ProceduralWorldModel
from mpgenie.genie.consistency import FrameConsistencyManager
from mpgenie.genie.context import EVENT_BYTES, OWN_BYTES, PLAYER_BYTES, ContextAssembler
from mpgenie.render import RenderSettings
from mpgenie.world import World, WorldConfig


def scene() -> World:
    world = World(WorldConfig(seed=3, radius=100.0, num_collectibles=4, num_beacons=2, num_hazards=0))
    world.add_players(4)
    p0, h0 = world.pos[0], world.fwd[0]
    right = np.cross(h0, p0)
    world.teleport(1, p0 + 0.05 * h0, h0)  # 5 m ahead
    world.teleport(2, p0 + 0.10 * right, -h0)  # 10 m to the right, facing the other way
    world.teleport(3, -p0, h0)  # the other side of the planet
    world.step()
    return world


def frames(n: int, size: int = 16) -> list[np.ndarray]:
    return [np.full((size, size, 3), i, dtype=np.uint8) for i in range(n)]


def test_relative_geometry_and_visibility() -> None:
    world = scene()
    ctx = ContextAssembler(world).assemble(0, frames(3))
    assert [p.player for p in ctx.players] == [1, 2]  # nearest first; player 3 is out of range
    ahead, side = ctx.players
    assert ahead.forward_m == pytest.approx(5.0, abs=0.1) and abs(ahead.right_m) < 0.1
    assert side.right_m == pytest.approx(10.0, abs=0.1) and abs(abs(side.relative_heading_deg) - 180) < 1
    assert ctx.own["position"] == pytest.approx(world.pos[0].tolist())
    assert len(ctx.frames) == 3 and ctx.frames[-1][0, 0, 0] == 2  # oldest first, newest last
    assert all(o.distance_m <= world.cfg.render_distance for o in ctx.objects)


def test_budget_and_priority_order() -> None:
    world = scene()
    frame_bytes = 16 * 16 * 3
    my_event = {"kind": "pickup", "players": (0,), "position": world.pos[0]}
    far_event = {"kind": "beacon", "players": (3,), "position": world.pos[3]}
    near_event = {"kind": "attack", "players": (1, 2), "position": world.pos[1]}
    events = [far_event, near_event, my_event]
    # Room for: own state, the newest frame, my event and one nearby player; nothing else.
    budget = OWN_BYTES + frame_bytes + EVENT_BYTES + PLAYER_BYTES
    ctx = ContextAssembler(world, budget_bytes=budget).assemble(0, frames(5), events)
    assert ctx.size_bytes <= budget
    assert len(ctx.frames) == 1 and ctx.frames[0][0, 0, 0] == 4  # the newest frame survives
    assert [e["kind"] for e in ctx.events] == ["pickup"]  # events naming me outrank everything else
    assert [p.player for p in ctx.players] == [1]  # then the nearest player
    assert ctx.dropped["frames"] == 4 and ctx.dropped["players"] == 1 and ctx.dropped["events"] == 1
    roomy = ContextAssembler(world, budget_bytes=10**6).assemble(0, frames(5), events)
    assert [e["kind"] for e in roomy.events] == ["pickup", "attack"]  # far events are not "near the player"
    assert not roomy.dropped and len(roomy.frames) == 5
    with pytest.raises(ValueError, match="budget"):
        ContextAssembler(world, budget_bytes=10)


def test_frame_history_is_bounded_and_resets_on_breaks() -> None:
    m = FrameConsistencyManager(capacity=4, view_change_deg=60, jump_m=5.0, radius_m=100.0)
    p = np.array([1.0, 0.0, 0.0])
    h = np.array([0.0, 1.0, 0.0])
    step = 0.2 / 100.0
    for i in range(10):  # walking: continuous
        assert not m.observe(7, frames(1)[0] + i, p + np.array([0, i * step, 0]), h)
    assert len(m.history(7)) == 4 and m.resets(7) == 0
    assert m.observe(7, frames(1)[0], p, h, teleported=True) and len(m.history(7)) == 1
    assert m.observe(7, frames(1)[0], p, h, respawned=True)
    turned = np.array([0.0, 0.0, 1.0])  # 90 degrees in one tick: a cut
    assert m.observe(7, frames(1)[0], p, turned)
    assert m.observe(7, frames(1)[0], np.array([0.0, 1.0, 0.0]), turned)  # jumped across the planet
    slight = np.array([0.0, 0.05, 1.0]) / np.linalg.norm([0.0, 0.05, 1.0])
    assert not m.observe(7, frames(1)[0], np.array([0.0, 1.0, 0.0]), slight)
    assert m.resets(7) == 4
    m.forget(7)
    assert m.history(7) == []


def test_procedural_backend_draws_the_players_view() -> None:
    world = scene()
    model = ProceduralWorldModel(world, RenderSettings(resolution=32))
    ctx = ContextAssembler(world).assemble(0, [])
    model.start(ctx)
    frame = model.step(ctx, 1)
    assert frame.shape == (32, 32, 3) and frame.dtype == np.uint8 and frame.std() > 5
