"""State observations and exploration cells, for all agents of many worlds in one set of array operations.

The state vector of an agent (float32, :func:`state_size` long):

- own state (``OWN_FEATURES``): position (3, unit vector), heading (3), height over the ground (over the apex of
  a jump), vertical speed (over the jump speed), attack cooldown left (over the cooldown), steps left (over
  ``max_steps``);
- then the nearest ``k_players`` other players, ``k_collectibles`` active collectibles, ``k_beacons`` beacons and
  ``k_hazards`` hazards, nearest first, ``SLOT_FEATURES`` each: ``present``, ``forward``, ``right``,
  ``distance`` (metres over the observation range) and two extras (players: the other's heading projected into the
  agent's frame, as the cos and sin of its angle; beacons: ready to light, 0; others 0, 0). Slots with nothing
  within the range are zeros.

Positions are in the agent's tangent frame (azimuthal equidistant: the great-circle distance along the bearing
from the agent's heading), so the vector is the same wherever on the planet the agent stands and whichever way
it faces the world. Everything here works on ``(W, N, ...)`` arrays: W worlds of N agents.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

OWN_FEATURES = 10
SLOT_FEATURES = 6


@dataclass(frozen=True, slots=True)
class Scales:
    """Per-config normalisers of the state vector."""

    radius: float
    obs_range: float
    jump_apex: float
    jump_speed: float
    cooldown: float
    max_steps: int


def state_size(k_players: int, k_collectibles: int, k_beacons: int, k_hazards: int) -> int:
    return OWN_FEATURES + SLOT_FEATURES * (k_players + k_collectibles + k_beacons + k_hazards)


def _cross(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """``np.cross`` over the last axis, without its per-call overhead (these arrays are small)."""
    ax, ay, az = a[..., 0], a[..., 1], a[..., 2]
    bx, by, bz = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx], axis=-1)


def tangent_coordinates(
    p: NDArray[np.float64], h: NDArray[np.float64], q: NDArray[np.float64], radius: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """``(forward, right, distance)`` in metres of unit positions ``q`` (..., K, 3) seen from ``p`` with
    heading ``h`` (..., 3): the great-circle distance, split along the bearing relative to the heading."""
    r = _cross(h, p)
    qp = np.einsum("...kc,...c->...k", q, p)
    qh = np.einsum("...kc,...c->...k", q, h)
    qr = np.einsum("...kc,...c->...k", q, r)
    t = np.sqrt(qh * qh + qr * qr)  # |tangent part of q|
    distance = np.arctan2(t, qp) * radius
    scale = np.where(t > 0.0, distance / np.where(t > 0.0, t, 1.0), 0.0)
    return qh * scale, qr * scale, distance


def _nearest(score: NDArray[np.float64], k: int) -> NDArray[np.int64]:
    """Indices (W, N, k') of the ``k' = min(k, M)`` largest ``score`` (W, N, M), largest first."""
    m = score.shape[-1]
    kk = min(k, m)
    if kk == 0:
        return np.zeros((*score.shape[:-1], 0), dtype=np.int64)
    idx = np.argpartition(-score, kk - 1, axis=-1)[..., :kk] if kk < m else np.broadcast_to(np.arange(m), score.shape)
    top = np.take_along_axis(score, idx, axis=-1)
    order = np.argsort(-top, axis=-1, kind="stable")
    return np.take_along_axis(np.asarray(idx), order, axis=-1).astype(np.int64)


def _candidates(
    p: NDArray[np.float64],
    q: NDArray[np.float64],
    valid: NDArray[np.bool_],
    k: int,
    extra: NDArray[np.float64] | None,
) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.float64]]:
    """The ``k`` nearest valid ``q`` (W, M, 3) of each agent: points (W, N, k, 3), valid (W, N, k) and extras
    (W, N, k, 2) (``extra``: (W, N, M, 2) per candidate, or None for zeros). Missing slots are invalid."""
    w, n = p.shape[:2]
    pts = np.zeros((w, n, k, 3))
    ok = np.zeros((w, n, k), dtype=bool)
    ex = np.zeros((w, n, k, 2))
    m = q.shape[1]
    if k == 0 or m == 0:
        return pts, ok, ex
    score = np.where(valid, np.matmul(p, q.transpose(0, 2, 1)), -9.0)  # cosine of the central angle
    idx = _nearest(score, k)  # (W, N, k')
    kk = idx.shape[-1]
    wi = np.arange(w)[:, None, None]
    ni = np.arange(n)[None, :, None]
    pts[:, :, :kk] = q[wi, idx]
    ok[:, :, :kk] = valid[wi, ni, idx]
    if extra is not None:
        ex[:, :, :kk] = extra[wi, ni, idx]
    return pts, ok, ex


def state_observations(
    *,
    pos: NDArray[np.float64],
    fwd: NDArray[np.float64],
    height: NDArray[np.float64],
    vz: NDArray[np.float64],
    attack_wait: NDArray[np.float64],
    steps_left: NDArray[np.float64],
    alive: NDArray[np.bool_],
    collectible_pos: NDArray[np.float64],
    collectible_active: NDArray[np.bool_],
    beacon_pos: NDArray[np.float64],
    beacon_ready: NDArray[np.bool_],
    hazard_pos: NDArray[np.float64],
    k: tuple[int, int, int, int],
    scales: Scales,
) -> NDArray[np.float32]:
    """The state vectors (W, N, D) of every agent of W worlds (inputs (W, N, ...) per agent, (W, M, ...) per
    object, ``steps_left`` (W,)). Other players count only while ``alive``."""
    w, n = pos.shape[:2]
    sc = scales
    kp, kc, kb, kh = k
    out = np.empty((w, n, state_size(*k)), dtype=np.float32)
    out[..., 0:3] = pos
    out[..., 3:6] = fwd
    out[..., 6] = height / sc.jump_apex
    out[..., 7] = vz / sc.jump_speed
    out[..., 8] = attack_wait / sc.cooldown
    out[..., 9] = (steps_left / sc.max_steps)[:, None]
    parts = []
    if kp:
        others = alive[:, None, :] & ~np.eye(n, dtype=bool)[None]
        r = _cross(fwd, pos)
        extra = np.stack([np.matmul(fwd, fwd.transpose(0, 2, 1)), np.matmul(r, fwd.transpose(0, 2, 1))], axis=-1)
        norm = np.sqrt(np.sum(extra * extra, axis=-1, keepdims=True))
        extra /= np.where(norm > 0.0, norm, 1.0)  # the other's heading as an angle in the agent's frame
        parts.append(_candidates(pos, pos, others, kp, extra))
    if kc:
        valid = np.broadcast_to(collectible_active[:, None, :], (w, n, collectible_active.shape[1]))
        parts.append(_candidates(pos, collectible_pos, valid, kc, None))
    if kb:
        m = beacon_pos.shape[1]
        valid = np.ones((w, n, m), dtype=bool)
        extra = np.zeros((w, n, m, 2))
        extra[..., 0] = beacon_ready[:, None, :]
        parts.append(_candidates(pos, beacon_pos, valid, kb, extra))
    if kh:
        parts.append(_candidates(pos, hazard_pos, np.ones((w, n, hazard_pos.shape[1]), dtype=bool), kh, None))
    if not parts:
        return out
    pts = np.concatenate([x[0] for x in parts], axis=2)
    ok = np.concatenate([x[1] for x in parts], axis=2)
    ex = np.concatenate([x[2] for x in parts], axis=2)
    fwd_m, right_m, dist = tangent_coordinates(pos, fwd, pts, sc.radius)
    present = ok & (dist <= sc.obs_range)
    inv = 1.0 / sc.obs_range
    slots = np.stack([present.astype(np.float64), fwd_m * inv, right_m * inv, dist * inv, ex[..., 0], ex[..., 1]], -1)
    slots *= present[..., None]
    out[..., OWN_FEATURES:] = slots.reshape(w, n, -1)
    return out


def cells_per_face(radius: float, cell_m: float) -> int:
    """Cells along a cube-map face edge so that a cell is about ``cell_m`` metres across."""
    return max(1, math.ceil(0.5 * math.pi * radius / cell_m))


def cell_index(pos: NDArray[np.float64], g: int) -> NDArray[np.int64]:
    """The exploration cell (0 .. 6 g^2 - 1) of unit positions (..., 3): a cube map with equal-angle cells."""
    mag = np.abs(pos)
    axis = np.argmax(mag, axis=-1)
    major = np.take_along_axis(pos, axis[..., None], axis=-1)[..., 0]
    u = np.take_along_axis(pos, ((axis + 1) % 3)[..., None], axis=-1)[..., 0] / np.abs(major)
    v = np.take_along_axis(pos, ((axis + 2) % 3)[..., None], axis=-1)[..., 0] / np.abs(major)
    iu = np.clip(np.floor((np.arctan(u) / (0.5 * np.pi) + 0.5) * g), 0, g - 1).astype(np.int64)
    iv = np.clip(np.floor((np.arctan(v) / (0.5 * np.pi) + 0.5) * g), 0, g - 1).astype(np.int64)
    face = 2 * axis + (major < 0)
    return (face * g + iu) * g + iv
