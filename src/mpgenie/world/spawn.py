"""Spawn points: where players enter the world and come back after a hazard.

Rules (tested in tests/world/test_spawn.py):
- Spawn points sit at landmarks (keypoints) that are clear of hazards.
- The least crowded point wins (players within ``spawn_protection_radius``); a batch of simultaneous joins is
  spread by counting each assignment as it is made (water filling), ties broken by the seeded generator.
- No spawn camping: a player who died within ``spawn_protection_radius`` of a spawn point is never sent back
  to that point (unless it is the only one there is).
- Players appear 1-3 m from the point in a random direction with a random heading, so a crowd never stacks.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mpgenie.world.config import WorldConfig
from mpgenie.world.geometry import Vec, move_along, random_tangents, renormalize
from mpgenie.world.layout import WorldLayout, too_close

SPAWN_JITTER_M = (1.0, 3.0)


@dataclass(frozen=True, slots=True)
class SpawnAssignment:
    spawn_point: NDArray[np.int64]
    position: Vec
    heading: Vec


class SpawnManager:
    def __init__(self, cfg: WorldConfig, layout: WorldLayout) -> None:
        self.cfg = cfg
        clearance = np.cos((cfg.hazard_radius + cfg.spawn_protection_radius) / cfg.radius)
        candidates = layout.landmark_pos
        if layout.hazard_pos.shape[0]:
            safe = ~too_close(candidates, layout.hazard_pos, float(np.nextafter(clearance, -np.inf)))
            if np.any(safe):
                candidates = candidates[safe]
        self.points: Vec = candidates
        self._cos_protect = float(np.cos(cfg.spawn_protection_radius / cfg.radius))

    def __len__(self) -> int:
        return int(self.points.shape[0])

    def choose(
        self,
        crowd: NDArray[np.int64],
        deaths: Vec | None,
        count: int,
        rng: np.random.Generator,
    ) -> SpawnAssignment:
        """Pick spawn points for ``count`` players.

        ``crowd``: players currently near each spawn point. ``deaths``: (count, 3) positions where each player
        died, or None for fresh joins (no camping rule applies).
        """
        load = np.asarray(crowd, dtype=np.int64).copy()
        tiebreak = rng.random(len(self))
        if deaths is None:
            chosen = self._water_fill(load, tiebreak, count)
        else:
            chosen = np.empty(count, dtype=np.int64)
            near_death = (np.asarray(deaths, dtype=np.float64) @ self.points.T) >= self._cos_protect
            for k in range(count):
                score = load + tiebreak  # crowd first, random among equals
                allowed = ~near_death[k]
                if not np.any(allowed):
                    allowed = np.ones(len(self), dtype=bool)
                pick = int(np.argmin(np.where(allowed, score, np.inf)))
                chosen[k] = pick
                load[pick] += 1
        base = self.points[chosen]
        direction = random_tangents(rng, base)
        angle = rng.uniform(*SPAWN_JITTER_M, size=count) / self.cfg.radius
        pos, _ = move_along(base, direction, angle)
        heading = random_tangents(rng, pos)
        pos, heading = renormalize(pos, heading)
        return SpawnAssignment(chosen, pos, heading)

    @staticmethod
    def _water_fill(load: NDArray[np.int64], tiebreak: NDArray[np.float64], count: int) -> NDArray[np.int64]:
        heap = [(int(c), float(t), i) for i, (c, t) in enumerate(zip(load, tiebreak, strict=True))]
        heapq.heapify(heap)
        chosen = np.empty(count, dtype=np.int64)
        for k in range(count):
            c, t, i = heapq.heappop(heap)
            chosen[k] = i
            heapq.heappush(heap, (c + 1, t, i))
        return chosen
