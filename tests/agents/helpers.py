"""Hand-made situations for the environment tests: put players where the rules must fire."""

from __future__ import annotations

import numpy as np

from mpgenie.world.geometry import move_along, right_of
from mpgenie.world.simulation import World


def tangent_at(p: np.ndarray) -> np.ndarray:
    """Some unit tangent at ``p``."""
    axis = np.array([0.0, 0.0, 1.0]) if abs(p[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    t = np.cross(axis, p)
    return t / np.linalg.norm(t)


def offset(p: np.ndarray, direction: np.ndarray, metres: float, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """The point ``metres`` from ``p`` along tangent ``direction``, and the direction transported there."""
    q, d = move_along(p[None], direction[None], metres / radius)
    return q[0], d[0]


def park_far(world: World, players: list[int], anchor: np.ndarray) -> None:
    """Move ``players`` to the far side of the planet from ``anchor`` (out of everyone's way), away from hazards."""
    lay = world.layout
    for k, j in enumerate(players):
        base = -anchor
        for tries in range(50):
            h = tangent_at(base)
            q, d = offset(base, h, 3.0 * (k + 1) + 7.0 * tries, world.cfg.radius)
            near = np.arccos(np.clip(lay.hazard_pos @ q, -1, 1)) * world.cfg.radius
            if near.size == 0 or near.min() > world.cfg.hazard_radius + 3.0:
                break
        world.teleport(j, q, d)


def face(world: World, j: int, p: np.ndarray, h: np.ndarray) -> None:
    world.teleport(j, p, h)


def right_vector(p: np.ndarray, h: np.ndarray) -> np.ndarray:
    return right_of(p, h)
