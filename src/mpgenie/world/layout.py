"""The static world derived from the seed: landmarks (keypoints), biomes, and where objects sit.

Everything here is a pure function of the config, so a client, the server and a dataset reader that know the
seed rebuild the identical planet without shipping it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from mpgenie.world.config import WorldConfig
from mpgenie.world.geometry import Vec, move_along, normalize, random_tangents, random_unit_vectors


class Biome(IntEnum):
    SNOWFIELD = 0
    TUNDRA = 1
    GLACIER = 2
    PINE_FOREST = 3
    ROCKLANDS = 4
    FROZEN_LAKE = 5


class LandmarkKind(IntEnum):
    PINE = 0
    BOULDER = 1
    ICE_SPIRE = 2
    IGLOO = 3
    TOTEM = 4


# Independent random streams per purpose: adding, say, more hazards never moves the landmarks.
_STREAM_LANDMARKS, _STREAM_BIOMES, _STREAM_COLLECTIBLES, _STREAM_BEACONS, _STREAM_HAZARDS = range(5)


def _rng(cfg: WorldConfig, stream: int) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, stream])


def fibonacci_sphere(n: int, rng: np.random.Generator, jitter: float = 0.25) -> Vec:
    """``n`` well-spread points: a Fibonacci lattice, randomly rotated, each point nudged by up to ``jitter``
    times the mean spacing so the planet does not look machine-made."""
    if n == 0:
        return np.zeros((0, 3))
    i = np.arange(n, dtype=np.float64) + 0.5
    z = 1.0 - 2.0 * i / n
    phi = np.pi * (1.0 + 5.0**0.5) * i
    r = np.sqrt(np.clip(1.0 - z * z, 0.0, 1.0))
    pts = np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)
    spacing = np.sqrt(4.0 * np.pi / n)
    nudge, _ = move_along(pts, random_tangents(rng, pts), rng.uniform(0.0, jitter * spacing, n))
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return normalize(nudge @ q.T)


@dataclass(frozen=True, slots=True)
class WorldLayout:
    landmark_pos: Vec
    landmark_kind: NDArray[np.int8]
    biome_centers: Vec
    collectible_pos: Vec
    beacon_pos: Vec
    hazard_pos: Vec

    def biome_at(self, p: Vec) -> NDArray[np.int8]:
        """Biome of each unit position: the nearest biome centre (a spherical Voronoi diagram)."""
        pts = np.asarray(p, dtype=np.float64).reshape(-1, 3)
        return np.argmax(pts @ self.biome_centers.T, axis=1).astype(np.int8) % len(Biome)

    def biome_shares(self, samples: int = 20_000) -> dict[str, float]:
        """Fraction of the surface in each biome, estimated from a fixed uniform sample (deterministic)."""
        counts = np.bincount(
            self.biome_at(random_unit_vectors(np.random.default_rng(0), samples)), minlength=len(Biome)
        )
        return {b.name.lower(): float(counts[b] / samples) for b in Biome}


#: Rows per block when dot products must be computed: bounds the temporary matrix to ``_BLOCK x len(avoid)``.
_BLOCK = 1024
_MARGIN = 1e-9  # relative: nearest-neighbour distances this close to the threshold are decided by dot products


def too_close(points: Vec, avoid: Vec, cos_min: float, tree: cKDTree | None = None) -> NDArray[np.bool_]:
    """Whether each point's largest dot product with ``avoid`` exceeds ``cos_min`` (it lies within that angle).

    A k-d tree gives each point's nearest obstacle (chord distance) in O(N log M) instead of the N x M matrix
    (149 GiB for the old maxima); only points whose nearest distance is within a hair of the threshold are
    decided by the exact dot products, so the answer is the same as ``max(points @ avoid.T) > cos_min``.
    ``tree``: a ``cKDTree(avoid)`` to reuse across calls."""
    out = np.zeros(points.shape[0], dtype=bool)
    if avoid.shape[0] == 0 or points.shape[0] == 0:
        return out
    chord = math.sqrt(max(0.0, 2.0 - 2.0 * cos_min))
    nearest, _ = (tree if tree is not None else cKDTree(avoid)).query(points, k=1)
    out[nearest < chord * (1.0 - _MARGIN) - 1e-12] = True
    unsure = np.flatnonzero(np.abs(nearest - chord) <= chord * _MARGIN + 1e-12)
    for start in range(0, unsure.size, _BLOCK):
        rows = unsure[start : start + _BLOCK]
        out[rows] = np.max(points[rows] @ avoid.T, axis=1) > cos_min
    return out


def _away_from(points: Vec, avoid: Vec, min_angle: float, rng: np.random.Generator) -> Vec:
    """Re-draw points closer than ``min_angle`` radians to any of ``avoid`` (bounded tries, then keep).

    Only the points re-drawn in the previous try are tested again (a point that passed never changes), which
    gives the same planet as testing all of them every time at a fraction of the cost."""
    pts = points.copy()
    if avoid.shape[0] == 0 or pts.shape[0] == 0:
        return pts
    cos_min = float(np.cos(min_angle))
    todo = np.arange(pts.shape[0])
    tree = cKDTree(avoid)
    for _ in range(32):
        bad = todo[too_close(pts[todo], avoid, cos_min, tree)]
        if bad.size == 0:
            break
        pts[bad] = random_unit_vectors(rng, int(bad.size))
        todo = bad
    return pts


def generate_layout(cfg: WorldConfig) -> WorldLayout:
    """The planet for ``cfg``: deterministic in ``cfg`` alone."""
    rng_l = _rng(cfg, _STREAM_LANDMARKS)
    landmarks = fibonacci_sphere(cfg.num_landmarks, rng_l)
    kinds = rng_l.integers(0, len(LandmarkKind), size=cfg.num_landmarks).astype(np.int8)
    centers = random_unit_vectors(_rng(cfg, _STREAM_BIOMES), cfg.num_biomes)
    collectibles = random_unit_vectors(_rng(cfg, _STREAM_COLLECTIBLES), cfg.num_collectibles)
    beacons = fibonacci_sphere(cfg.num_beacons, _rng(cfg, _STREAM_BEACONS)) if cfg.num_beacons else np.zeros((0, 3))
    rng_h = _rng(cfg, _STREAM_HAZARDS)
    hazards = random_unit_vectors(rng_h, cfg.num_hazards)
    # Hazards keep clear of landmarks (spawn points) and beacons, so a spawn is never a death trap.
    clearance = (cfg.hazard_radius + cfg.spawn_protection_radius) / cfg.radius
    hazards = _away_from(hazards, np.concatenate([landmarks, beacons]), clearance, rng_h)
    return WorldLayout(landmarks, kinds, centers, collectibles, beacons, hazards)
