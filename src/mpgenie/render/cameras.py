"""Spectator cameras for datasets: a planner places ``k`` orbit cameras where players interact, covering as
many interacting players as possible with as little overlap as possible.

Candidates are the interacting players' own positions (a player is interacting when another is within
``interaction_m``); each candidate covers the interacting players within ``cover_m`` of it (the world's spatial
index answers both queries). Greedy maximum coverage picks the candidate adding the most uncovered players, k times
— the classic (1 - 1/e) approximation, and overlap stays low because covered players add nothing. Each chosen
camera then aims at the centroid of what it covers and circles it (orbit), high enough to look down on the group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mpgenie.render.renderer import Camera
from mpgenie.world.geometry import move_along, normalize
from mpgenie.world.simulation import World


@dataclass(frozen=True, slots=True)
class CameraPlan:
    targets: NDArray[np.float64]  # (k, 3) unit vectors the cameras circle
    covers: list[NDArray[np.int64]]  # player ids each camera covers
    interacting: NDArray[np.int64]  # every interacting player id

    @property
    def coverage(self) -> float:
        """Share of interacting players covered by at least one camera (1.0 when nobody interacts)."""
        if self.interacting.size == 0:
            return 1.0
        covered = np.unique(np.concatenate(self.covers)) if self.covers else np.zeros(0, dtype=np.int64)
        return float(np.isin(self.interacting, covered).mean())

    @property
    def overlap(self) -> float:
        """Cameras per covered player (1.0: no player is filmed twice)."""
        if not self.covers:
            return 0.0
        allc = np.concatenate(self.covers)
        return float(allc.size / max(np.unique(allc).size, 1))


def plan_cameras(world: World, k: int, interaction_m: float = 6.0, cover_m: float = 12.0) -> CameraPlan:
    if k < 1:
        raise ValueError("k must be >= 1")
    ids = world.active_ids()
    empty = np.zeros(0, dtype=np.int64)
    if ids.size == 0:
        return CameraPlan(np.zeros((0, 3)), [], empty)
    near = world.players_within(world.pos[ids], interaction_m)
    interacting = ids[np.diff(near.indptr) > 1]  # someone besides oneself
    if interacting.size == 0:
        return CameraPlan(np.zeros((0, 3)), [], empty)
    cov = world.players_within(world.pos[interacting], cover_m)
    sets = [
        np.intersect1d(cov.indices[cov.indptr[i] : cov.indptr[i + 1]], interacting) for i in range(interacting.size)
    ]
    covered: set[int] = set()
    chosen: list[int] = []
    for _ in range(k):
        gains = [len(set(s.tolist()) - covered) if i not in chosen else -1 for i, s in enumerate(sets)]
        best = int(np.argmax(gains))
        if gains[best] <= 0:
            break
        chosen.append(best)
        covered |= set(sets[best].tolist())
    covers = [sets[i] for i in chosen]
    targets = normalize(np.array([world.pos[c].mean(axis=0) for c in covers])) if covers else np.zeros((0, 3))
    return CameraPlan(targets, covers, interacting)


def orbit_cameras(
    world: World, targets: NDArray[np.float64], height_m: float = 7.0, distance_m: float = 10.0, period_s: float = 20.0
) -> Camera:
    """Cameras circling each target at ``distance_m``, ``height_m`` up, looking at the target (1 m up)."""
    r = world.cfg.radius
    n = targets.shape[0]
    if n == 0:
        z = np.zeros((0, 3))
        return Camera(z, z, z, z)
    phase = 2.0 * math.pi * world.tick * world.cfg.dt / period_s + 2.0 * math.pi * np.arange(n) / n
    helper = np.where(np.abs(targets[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    east = normalize(np.cross(helper, targets))
    north = np.cross(targets, east)
    direction = east * np.cos(phase)[:, None] + north * np.sin(phase)[:, None]
    ground, _ = move_along(targets, direction, distance_m / r)
    eye = ground * (r + height_m)
    look = targets * (r + 1.0)
    forward = normalize(look - eye)
    right = normalize(np.cross(forward, ground))
    up = np.cross(right, forward)
    return Camera(eye, forward, right, up)
