"""Scenario helpers: worlds with hand-placed players."""

import numpy as np

from mpgenie.world import World, WorldConfig
from mpgenie.world import geometry as geo


def quiet_config(**overrides: object) -> WorldConfig:
    """A world without random objects, so a test places exactly what it needs."""
    base = {"seed": 11, "num_collectibles": 0, "num_beacons": 0, "num_hazards": 0}
    base.update(overrides)
    return WorldConfig.from_mapping(base)


def place(world: World, player: int, lat: float, lon: float, bearing: float = 0.0) -> None:
    p = geo.latlon_to_vec(lat, lon)
    world.teleport(player, p, geo.heading_from_bearing(p, bearing))


def offset(lat: float, lon: float, metres_north: float, radius: float) -> tuple[float, float]:
    return lat + float(np.degrees(metres_north / radius)), lon


def actions(world: World, **by_player: int) -> np.ndarray:
    a = np.zeros(world.num_slots, dtype=np.int8)
    for key, value in by_player.items():
        a[int(key.lstrip("p"))] = value
    return a
