"""The per-tick movement kernel: turn, walk along great circles, re-project, jump. Compiled with Numba.

This is the hot loop of every tick, so it is one pass over the players in compiled code instead of a dozen
NumPy passes. It computes exactly what the reference functions in :mod:`mpgenie.world.geometry` do
(``rotate_about``, ``move_along``, ``transport``, ``renormalize``); tests/world/test_kinematics.py checks the two
agree, so the readable NumPy version stays the specification.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

from mpgenie.world.actions import NUM_ACTIONS, Action
from mpgenie.world.config import WorldConfig


class MotionModel:
    """Per-action movement tables for one config, and the step that applies them.

    The server's :class:`~mpgenie.world.simulation.World` and the client's prediction both move players through
    this one object, so a client replaying its own inputs computes bit-for-bit what the server computed.
    """

    def __init__(self, cfg: WorldConfig) -> None:
        self.cfg = cfg
        # Per-action lookup tables (radians per tick), indexed by the action array: cheaper than masks.
        turn_step = math.radians(cfg.turn_rate_deg) * cfg.dt
        self.turn_by_action = np.zeros(NUM_ACTIONS)
        self.turn_by_action[[Action.TURN_LEFT, Action.TURN_RIGHT]] = [turn_step, -turn_step]
        self.along_by_action = np.zeros(NUM_ACTIONS)
        self.along_by_action[[Action.FORWARD, Action.BACKWARD]] = [cfg.walk_speed, -cfg.backward_speed]
        self.along_by_action *= cfg.dt / cfg.radius
        self.side_by_action = np.zeros(NUM_ACTIONS)
        self.side_by_action[[Action.RIGHT, Action.LEFT]] = [cfg.strafe_speed, -cfg.strafe_speed]
        self.side_by_action *= cfg.dt / cfg.radius

    def step(
        self,
        actions: NDArray[np.int8],
        active: NDArray[np.bool_],
        pos: NDArray[np.float64],
        fwd: NDArray[np.float64],
        height: NDArray[np.float64],
        vz: NDArray[np.float64],
    ) -> None:
        """Advance the given players one tick, in place (arrays as in :func:`step_kinematics`)."""
        cfg = self.cfg
        step_kinematics(
            actions,
            active,
            pos,
            fwd,
            height,
            vz,
            self.turn_by_action,
            self.along_by_action,
            self.side_by_action,
            int(Action.JUMP),
            cfg.jump_speed,
            cfg.gravity * cfg.dt,
            cfg.dt,
        )


@njit(cache=True)
def step_kinematics(
    actions: NDArray[np.int8],
    active: NDArray[np.bool_],
    pos: NDArray[np.float64],
    fwd: NDArray[np.float64],
    height: NDArray[np.float64],
    vz: NDArray[np.float64],
    turn_by_action: NDArray[np.float64],
    along_by_action: NDArray[np.float64],
    side_by_action: NDArray[np.float64],
    jump_action: int,
    jump_speed: float,
    gravity_dt: float,
    dt: float,
) -> None:
    """Advance every active player in place. Angles in the tables are radians per tick."""
    for i in range(actions.shape[0]):
        if not active[i]:
            continue
        a = actions[i]
        px, py, pz = pos[i, 0], pos[i, 1], pos[i, 2]
        hx, hy, hz = fwd[i, 0], fwd[i, 1], fwd[i, 2]
        moved = False
        turn = turn_by_action[a]
        if turn != 0.0:
            # Rodrigues about p (h . p = 0): h cos + (p x h) sin.
            c, s = math.cos(turn), math.sin(turn)
            cx, cy, cz = py * hz - pz * hy, pz * hx - px * hz, px * hy - py * hx
            hx, hy, hz = hx * c + cx * s, hy * c + cy * s, hz * c + cz * s
            moved = True
        along = along_by_action[a]
        side = side_by_action[a]
        if along != 0.0 or side != 0.0:
            if side != 0.0:
                dx, dy, dz = hy * pz - hz * py, hz * px - hx * pz, hx * py - hy * px  # right = h x p
                angle = side
            else:
                dx, dy, dz = hx, hy, hz
                angle = along
            c, s = math.cos(angle), math.sin(angle)
            npx, npy, npz = px * c + dx * s, py * c + dy * s, pz * c + dz * s
            ndx, ndy, ndz = dx * c - px * s, dy * c - py * s, dz * c - pz * s
            k = hx * dx + hy * dy + hz * dz  # transport: the heading's component along the motion rotates
            hx, hy, hz = hx + k * (ndx - dx), hy + k * (ndy - dy), hz + k * (ndz - dz)
            px, py, pz = npx, npy, npz
            moved = True
        if moved:
            norm = math.sqrt(px * px + py * py + pz * pz)
            px, py, pz = px / norm, py / norm, pz / norm
            d = hx * px + hy * py + hz * pz
            hx, hy, hz = hx - d * px, hy - d * py, hz - d * pz
            norm = math.sqrt(hx * hx + hy * hy + hz * hz)
            hx, hy, hz = hx / norm, hy / norm, hz / norm
            pos[i, 0], pos[i, 1], pos[i, 2] = px, py, pz
            fwd[i, 0], fwd[i, 1], fwd[i, 2] = hx, hy, hz
        if a == jump_action and height[i] <= 0.0:
            vz[i] = jump_speed
        if height[i] > 0.0 or vz[i] > 0.0:
            v = vz[i] - gravity_dt
            h_new = height[i] + v * dt
            if h_new <= 0.0:
                vz[i] = 0.0
                height[i] = 0.0
            else:
                vz[i] = v
                height[i] = h_new
