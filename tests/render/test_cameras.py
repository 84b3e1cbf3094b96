"""The camera planner covers interacting groups with little overlap, better than naive placement."""

import numpy as np

from mpgenie.render import Renderer, RenderSettings
from mpgenie.render.cameras import CameraPlan, orbit_cameras, plan_cameras
from mpgenie.world import World, WorldConfig
from mpgenie.world import geometry as geo


def clustered_world() -> World:
    world = World(WorldConfig(seed=1, radius=100.0, num_collectibles=0, num_beacons=0, num_hazards=0))
    world.add_players(9)
    centres = [(0.0, 0.0), (0.0, 90.0), (45.0, -60.0)]
    sizes = [4, 3, 2]
    k = 0
    for (lat, lon), size in zip(centres, sizes, strict=True):
        for j in range(size):
            p = geo.latlon_to_vec(lat + 0.01 * j, lon)
            world.teleport(k, p, geo.heading_from_bearing(p, 0.0))
            k += 1
    world.step()
    return world


def test_greedy_plan_covers_each_group_once() -> None:
    world = clustered_world()
    plan = plan_cameras(world, k=3)
    assert plan.coverage == 1.0 and plan.overlap == 1.0
    assert sorted(len(c) for c in plan.covers) == [2, 3, 4]  # biggest group first, every group, no repeats
    two = plan_cameras(world, k=2)
    assert two.coverage == 7 / 9 and [len(c) for c in two.covers] == [4, 3]


def test_planner_beats_naive_placement() -> None:
    world = clustered_world()
    plan = plan_cameras(world, k=2)
    naive = CameraPlan(world.pos[[0, 1]], [np.array([0, 1, 2, 3]), np.array([0, 1, 2, 3])], plan.interacting)
    assert plan.coverage > naive.coverage and plan.overlap < naive.overlap


def test_orbit_cameras_render_and_look_at_their_group() -> None:
    world = clustered_world()
    plan = plan_cameras(world, k=3)
    cam = orbit_cameras(world, plan.targets)
    assert np.allclose(np.linalg.norm(cam.forward, axis=1), 1.0)
    to_target = plan.targets * (world.cfg.radius + 1.0) - cam.eye
    cos = np.sum(normalize_rows(to_target) * cam.forward, axis=1)
    assert np.all(cos > 0.999)
    frames = Renderer(world, RenderSettings(resolution=32)).render_cameras(cam)
    assert frames.shape == (3, 32, 32, 3) and frames.std() > 5


def normalize_rows(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=1, keepdims=True)
