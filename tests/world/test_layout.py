import numpy as np

from mpgenie.world import WorldConfig
from mpgenie.world.geometry import random_unit_vectors
from mpgenie.world.layout import Biome, generate_layout


def test_layout_is_a_function_of_the_seed() -> None:
    a, b = generate_layout(WorldConfig(seed=8)), generate_layout(WorldConfig(seed=8))
    for name in ("landmark_pos", "landmark_kind", "biome_centers", "collectible_pos", "beacon_pos", "hazard_pos"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    c = generate_layout(WorldConfig(seed=9))
    assert not np.array_equal(a.landmark_pos, c.landmark_pos)


def test_streams_are_independent() -> None:
    """More hazards must not move the landmarks or the collectibles."""
    a = generate_layout(WorldConfig(seed=8, num_hazards=4))
    b = generate_layout(WorldConfig(seed=8, num_hazards=40))
    np.testing.assert_array_equal(a.landmark_pos, b.landmark_pos)
    np.testing.assert_array_equal(a.collectible_pos, b.collectible_pos)


def test_landmarks_are_spread_and_biomes_cover_the_planet() -> None:
    cfg = WorldConfig(seed=1, num_landmarks=100)
    lay = generate_layout(cfg)
    cos = lay.landmark_pos @ lay.landmark_pos.T
    np.fill_diagonal(cos, -1.0)
    nearest_deg = np.degrees(np.arccos(np.max(cos, axis=1)))
    assert nearest_deg.min() > 5.0  # a lattice, not clumps (uniform random would give ~1 deg)
    biomes = lay.biome_at(random_unit_vectors(np.random.default_rng(0), 5000))
    assert set(np.unique(biomes).tolist()) == {int(b) for b in Biome}
