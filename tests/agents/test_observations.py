"""State and pixel observations: shapes, dtypes, the agent's frame, and the features against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from mpgenie.agents.config import EnvConfig
from mpgenie.agents.observations import OWN_FEATURES, SLOT_FEATURES, cell_index, cells_per_face, state_size
from mpgenie.agents.vector import VectorSnowball
from mpgenie.render.renderer import Renderer, RenderSettings
from mpgenie.world.geometry import great_circle_distance, random_unit_vectors
from tests.agents.helpers import offset, park_far, tangent_at

pytest.importorskip("pettingzoo")
from mpgenie.agents.env import SnowballEnv


def test_state_shapes_dtype_and_spaces() -> None:
    env = SnowballEnv(players=5)
    obs, infos = env.reset(seed=3)
    d = state_size(4, 4, 2, 2)
    assert d == OWN_FEATURES + SLOT_FEATURES * 12
    assert set(obs) == set(env.possible_agents) == set(infos)
    for agent, o in obs.items():
        assert o.shape == (d,) and o.dtype == np.float32
        assert env.observation_space(agent).contains(o)
    obs, *_ = env.step({a: 1 for a in env.agents})
    assert all(env.observation_space(a).contains(o) for a, o in obs.items())


def test_pixel_observations_are_the_renderers_first_person_views() -> None:
    env = SnowballEnv(players=3, observation="pixels")
    obs, _ = env.reset(seed=5)
    obs, *_ = env.step({a: 1 for a in env.agents})
    world = env.core.worlds[0]
    views = Renderer(world, RenderSettings(resolution=64)).render(np.arange(3))
    for i, agent in enumerate(env.possible_agents):
        assert obs[agent].shape == (64, 64, 3) and obs[agent].dtype == np.uint8
        assert env.observation_space(agent).contains(obs[agent])
        np.testing.assert_array_equal(obs[agent], views[i])


def _brute_force_slots(p, h, targets, valid, k, radius, rng_m, extras=None):
    """Per target: great-circle distance and bearing from the heading, by the textbook formulas."""
    right = np.cross(h, p)
    rows = []
    for m, q in enumerate(targets):
        if not valid[m]:
            continue
        dist = float(great_circle_distance(p, q, radius))
        t = q - np.dot(q, p) * p
        bearing = np.arctan2(np.dot(t, right), np.dot(t, h))
        rows.append((dist, m, dist * np.cos(bearing), dist * np.sin(bearing)))
    rows.sort()
    out = np.zeros((k, SLOT_FEATURES))
    for s, (dist, m, f, r) in enumerate(rows[:k]):
        if dist <= rng_m:
            ex = extras[m] if extras is not None else (0.0, 0.0)
            out[s] = (1.0, f / rng_m, r / rng_m, dist / rng_m, *ex)
    return out


def test_relative_features_match_a_brute_force_computation() -> None:
    # A crowded little planet so that every kind of slot has things in range.
    cfg = EnvConfig(players=12, k_players=5, k_collectibles=3, k_beacons=2, k_hazards=2, obs_range=25.0)
    core = VectorSnowball(cfg, num_worlds=2, seed=11, autoreset=False)
    core.reset()
    rng = np.random.default_rng(0)
    for _ in range(30):
        obs, *_ = core.step(rng.integers(0, 10, (2, 12)))
    for wi, world in enumerate(core.worlds):
        radius = world.cfg.radius
        lay = world.layout
        for j in range(12):
            p, h = world.pos[j], world.fwd[j]
            o = obs[wi, j]
            np.testing.assert_allclose(o[0:3], p, atol=1e-6)
            np.testing.assert_allclose(o[3:6], h, atol=1e-6)
            others = np.ones(12, dtype=bool)
            others[j] = False
            right = np.cross(h, p)
            heading_extra = np.stack([world.fwd[:12] @ h, world.fwd[:12] @ right], axis=1)
            heading_extra /= np.linalg.norm(heading_extra, axis=1, keepdims=True)
            ready = (world.beacon_ready_at <= world.tick + 1).astype(float)
            expected = [
                _brute_force_slots(p, h, world.pos[:12], others, 5, radius, 25.0, heading_extra),
                _brute_force_slots(p, h, lay.collectible_pos, world.collectible_active, 3, radius, 25.0),
                _brute_force_slots(
                    p,
                    h,
                    lay.beacon_pos,
                    np.ones(len(lay.beacon_pos), bool),
                    2,
                    radius,
                    25.0,
                    np.stack([ready, np.zeros_like(ready)], axis=1),
                ),
                _brute_force_slots(p, h, lay.hazard_pos, np.ones(len(lay.hazard_pos), bool), 2, radius, 25.0),
            ]
            got = o[OWN_FEATURES:].reshape(-1, SLOT_FEATURES)
            np.testing.assert_allclose(got, np.concatenate(expected), atol=2e-5)
    assert obs[..., OWN_FEATURES].sum() > 0  # some players were in range


def test_positions_are_in_the_agents_tangent_frame() -> None:
    core = VectorSnowball(EnvConfig(players=3, k_players=2, k_collectibles=0, k_beacons=0, k_hazards=0), 1, 2)
    core.reset()
    world = core.worlds[0]
    radius, rng_m = world.cfg.radius, world.cfg.render_distance
    p = random_unit_vectors(np.random.default_rng(4), 1)[0]
    h = tangent_at(p)
    world.teleport(0, p, h)
    ahead, h_ahead = offset(p, h, 5.0, radius)
    right_dir = np.cross(h, p)
    side, _ = offset(p, right_dir, 8.0, radius)
    world.teleport(1, ahead, h_ahead)
    world.teleport(2, side, h)
    o = core.observe()[0, 0, OWN_FEATURES:].reshape(-1, SLOT_FEATURES)
    np.testing.assert_allclose(o[0, :4], [1.0, 5.0 / rng_m, 0.0, 5.0 / rng_m], atol=1e-9)
    np.testing.assert_allclose(o[1, :4], [1.0, 0.0, 8.0 / rng_m, 8.0 / rng_m], atol=1e-9)
    np.testing.assert_allclose(o[0, 4:], [1.0, 0.0], atol=1e-6)  # same heading: cos 1, sin 0
    # Turning the agent round turns its view of the world: the one ahead is now behind.
    world.teleport(0, p, -h)
    o = core.observe()[0, 0, OWN_FEATURES:].reshape(-1, SLOT_FEATURES)
    np.testing.assert_allclose(o[0, 1:3], [-5.0 / rng_m, 0.0], atol=1e-9)
    np.testing.assert_allclose(o[1, 1:3], [0.0, -8.0 / rng_m], atol=1e-9)
    # Out of range: absent (zeros).
    park_far(world, [1, 2], p)
    o = core.observe()[0, 0, OWN_FEATURES:]
    assert not o.any()


def test_exploration_cells_cover_the_sphere_evenly() -> None:
    g = cells_per_face(100.0, 4.0)
    assert g == 40
    cells = cell_index(random_unit_vectors(np.random.default_rng(1), 200_000), g)
    assert cells.min() >= 0 and cells.max() < 6 * g * g
    counts = np.bincount(cells, minlength=6 * g * g)
    assert counts.min() > 0 and counts.max() < 3 * counts.mean()
