"""Geometry on a sphere: unit-vector positions, tangent headings, great circles, lat/lon.

Why unit vectors and tangent vectors (not lat/lon, not quaternions): they have no singularity at the poles or
the date line, a move along a great circle is two multiply-adds, and a whole population is a pair of (N, 3)
arrays that NumPy steps at once. The price is drift: repeated rotation lets |p| and p.h wander, so every step
re-projects (:func:`renormalize`), which keeps them exact to float64 rounding over any number of ticks.

Conventions: ``p`` is a unit position vector, ``h`` a unit heading tangent to the sphere at ``p`` (h . p = 0).
"Up" is ``p``; "right" is ``h x p`` (a right-handed frame: looking along ``h`` with ``p`` up, ``right`` is to the
right). Latitude/longitude are in degrees; longitude 0 is +x, latitude 90 is +z. Bearings are degrees clockwise
from north, as on a compass.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

Vec = NDArray[np.float64]

_EPS = 1e-12
NORTH_POLE = np.array([0.0, 0.0, 1.0])


def normalize(v: ArrayLike) -> Vec:
    """Scale vectors (last axis) to unit length."""
    a = np.asarray(v, dtype=np.float64)
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


def latlon_to_vec(lat_deg: ArrayLike, lon_deg: ArrayLike) -> Vec:
    """Unit vectors for latitudes/longitudes in degrees."""
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    lon = np.radians(np.asarray(lon_deg, dtype=np.float64))
    cos_lat = np.cos(lat)
    return np.stack([cos_lat * np.cos(lon), cos_lat * np.sin(lon), np.sin(lat)], axis=-1)


def vec_to_latlon(p: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Latitude and longitude in degrees (longitude in (-180, 180]) of unit vectors."""
    a = np.asarray(p, dtype=np.float64)
    lat = np.degrees(np.arctan2(a[..., 2], np.hypot(a[..., 0], a[..., 1])))
    lon = np.degrees(np.arctan2(a[..., 1], a[..., 0]))
    return lat, lon


def central_angle(p: ArrayLike, q: ArrayLike) -> NDArray[np.float64]:
    """Angle in radians between unit vectors, accurate at every scale (atan2 of |p x q| and p . q)."""
    a = np.asarray(p, dtype=np.float64)
    b = np.asarray(q, dtype=np.float64)
    cross = np.linalg.norm(np.cross(a, b), axis=-1)
    dot = np.sum(a * b, axis=-1)
    return np.arctan2(cross, dot)


def great_circle_distance(p: ArrayLike, q: ArrayLike, radius: float) -> NDArray[np.float64]:
    """Distance in metres along the surface between unit vectors ``p`` and ``q``."""
    return central_angle(p, q) * radius


def east_north(p: ArrayLike) -> tuple[Vec, Vec]:
    """Local east and north unit vectors at ``p``. At the poles, east is chosen as +y (any tangent works)."""
    a = np.asarray(p, dtype=np.float64)
    east = np.cross(NORTH_POLE, a)
    norm = np.linalg.norm(east, axis=-1, keepdims=True)
    at_pole = norm[..., 0] < _EPS
    east = np.where(at_pole[..., None], np.array([0.0, 1.0, 0.0]), east / np.where(norm < _EPS, 1.0, norm))
    north = np.cross(a, east)
    return east, north


def heading_from_bearing(p: ArrayLike, bearing_deg: ArrayLike) -> Vec:
    """Unit tangent heading at ``p`` pointing ``bearing_deg`` clockwise from north."""
    east, north = east_north(p)
    b = np.radians(np.asarray(bearing_deg, dtype=np.float64))[..., None]
    return np.cos(b) * north + np.sin(b) * east


def bearing(p: ArrayLike, q: ArrayLike) -> NDArray[np.float64]:
    """Initial bearing in degrees [0, 360) of the great circle from ``p`` to ``q``."""
    east, north = east_north(p)
    d = np.asarray(q, dtype=np.float64) - np.asarray(p, dtype=np.float64)
    return np.degrees(np.arctan2(np.sum(d * east, axis=-1), np.sum(d * north, axis=-1))) % 360.0


def heading_bearing(p: ArrayLike, h: ArrayLike) -> NDArray[np.float64]:
    """Compass bearing in degrees [0, 360) of the tangent heading ``h`` at ``p``."""
    east, north = east_north(p)
    hh = np.asarray(h, dtype=np.float64)
    return np.degrees(np.arctan2(np.sum(hh * east, axis=-1), np.sum(hh * north, axis=-1))) % 360.0


def right_of(p: ArrayLike, h: ArrayLike) -> Vec:
    """The unit tangent to the right of heading ``h`` at ``p``."""
    return np.cross(np.asarray(h, dtype=np.float64), np.asarray(p, dtype=np.float64))


def relative_to(
    p: NDArray[np.float64], h: NDArray[np.float64], points: NDArray[np.float64], radius: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Where ``points`` (unit vectors) lie as seen from ``p`` facing ``h``: metres forward and right (the
    great-circle distance split along the direction towards each point) and the distance itself."""
    p, h = np.asarray(p, dtype=np.float64), np.asarray(h, dtype=np.float64)
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    r = right_of(p[None], h[None])[0]
    ang = np.arccos(np.clip(points @ p, -1.0, 1.0))
    tangent = points - np.outer(points @ p, p)
    norm = np.linalg.norm(tangent, axis=1)
    unit = tangent / np.where(norm > 0, norm, 1.0)[:, None]
    dist = ang * radius
    return unit @ h * dist, unit @ r * dist, dist


def relative_heading_deg(p: NDArray[np.float64], h: NDArray[np.float64], headings: NDArray[np.float64]) -> NDArray:
    """Headings (unit tangents of nearby players) relative to ``h`` at ``p``: degrees, positive to the right."""
    h = np.asarray(h, dtype=np.float64)
    r = right_of(np.asarray(p, dtype=np.float64)[None], h[None])[0]
    headings = np.asarray(headings, dtype=np.float64).reshape(-1, 3)
    return np.degrees(np.arctan2(headings @ r, headings @ h))


def move_along(p: Vec, direction: Vec, angle: NDArray[np.float64] | float) -> tuple[Vec, Vec]:
    """Move unit vectors ``p`` along the great circle through tangent ``direction`` by ``angle`` radians.

    Returns the new positions and the transported direction (tangent at the new position). Negative angles
    move backwards. Both arrays are (N, 3); ``angle`` broadcasts.
    """
    a = np.asarray(angle, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    c, s = np.cos(a), np.sin(a)
    new_p = p * c + direction * s
    new_d = direction * c - p * s
    return new_p, new_d


def transport(v: Vec, direction: Vec, new_direction: Vec) -> Vec:
    """Parallel-transport tangent vectors ``v`` along the great-circle step that took ``direction`` to
    ``new_direction``: the component along the motion rotates with it, the normal component is unchanged."""
    along = np.sum(v * direction, axis=-1, keepdims=True)
    return v + along * (new_direction - direction)


def rotate_about(v: Vec, axis: Vec, angle: NDArray[np.float64] | float) -> Vec:
    """Rotate tangent vectors ``v`` about the unit ``axis`` (their position) by ``angle`` radians,
    counter-clockwise seen from outside the sphere (Rodrigues, with v . axis = 0)."""
    a = np.asarray(angle, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    return v * np.cos(a) + np.cross(axis, v) * np.sin(a)


def renormalize(p: Vec, h: Vec) -> tuple[Vec, Vec]:
    """Project ``p`` back to the unit sphere and ``h`` back to a unit tangent at ``p`` (Gram-Schmidt).

    Degenerate headings (parallel to ``p``, which only garbage input produces) are replaced by local north.
    """
    p = p / np.linalg.norm(p, axis=-1, keepdims=True)
    h = h - np.sum(h * p, axis=-1, keepdims=True) * p
    norm = np.linalg.norm(h, axis=-1, keepdims=True)
    bad = norm[..., 0] < 1e-9
    if np.any(bad):
        _, north = east_north(p[bad])
        h[bad] = north
        norm[bad] = 1.0
    return p, h / norm


def random_unit_vectors(rng: np.random.Generator, n: int) -> Vec:
    """``n`` points uniformly distributed on the unit sphere."""
    return normalize(rng.normal(size=(n, 3)))


def random_tangents(rng: np.random.Generator, p: Vec) -> Vec:
    """A uniformly random unit tangent heading at each of ``p``."""
    bearings = rng.uniform(0.0, 360.0, size=p.shape[0])
    return heading_from_bearing(p, bearings)
