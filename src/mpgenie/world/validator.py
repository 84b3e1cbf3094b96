"""Anti-cheat: checks what a client proposes against the rules, before the server accepts it.

The server is authoritative (clients send actions, the server moves them), so most cheats reduce to input the
rules forbid: unknown or malformed actions, more inputs than ticks (floods, speedhacks by input rate), input
sequence numbers that go backwards (replays), and, where a client reports its own predicted state, a position
that moved faster than walking allows or jumped across the planet. Every check returns a :class:`Verdict` with a
machine-readable :class:`Reason`, so the server can count, answer and kick by reason.

Pure: time is the server tick the caller passes in, never a clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from mpgenie.world.actions import NUM_ACTIONS
from mpgenie.world.config import WorldConfig


class Reason(StrEnum):
    OK = "ok"
    UNKNOWN_ACTION = "unknown_action"
    MALFORMED = "malformed"
    NON_FINITE = "non_finite"
    OUT_OF_RANGE = "out_of_range"
    SPEED = "speed"
    TELEPORT = "teleport"
    RATE_LIMIT = "rate_limit"
    REPLAY = "replay"
    CLOCK = "clock"


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: Reason
    detail: str = ""

    def __bool__(self) -> bool:
        return self.ok


ACCEPT = Verdict(True, Reason.OK)


def _reject(reason: Reason, detail: str) -> Verdict:
    return Verdict(False, reason, detail)


@dataclass(frozen=True, slots=True)
class ValidatorLimits:
    """Tolerances. ``speed_tolerance`` absorbs float rounding and client/server tick skew."""

    speed_tolerance: float = 1.10
    teleport_m: float = 10.0
    max_inputs_per_tick: float = 1.0
    burst_inputs: int = 10
    max_ticks_ahead: int = 40
    max_ticks_behind: int = 200
    max_altitude_slack_m: float = 0.05


class InputRateLimiter:
    """Token bucket per player in ticks: ``max_inputs_per_tick`` sustained, ``burst_inputs`` at once.

    A client sends one input per tick; jitter bunches a few together (the burst), a flood or an input-rate
    speedhack empties the bucket.
    """

    def __init__(self, limits: ValidatorLimits) -> None:
        self.limits = limits
        self._tokens = float(limits.burst_inputs)
        self._tick: int | None = None

    def allow(self, tick: int) -> bool:
        lim = self.limits
        if self._tick is not None:
            self._tokens = min(
                float(lim.burst_inputs), self._tokens + max(0, tick - self._tick) * lim.max_inputs_per_tick
            )
        self._tick = tick
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class PlayerValidator:
    """Per-connection checks with memory: rate, sequence order, and (optionally) reported motion."""

    def __init__(self, validator: Validator) -> None:
        self.validator = validator
        self.rate = InputRateLimiter(validator.limits)
        self.last_seq: int | None = None

    def check_input(self, seq: object, client_tick: object, action: object, server_tick: int) -> Verdict:
        """Validate one input message: types, action, sequence order, tick skew and rate."""
        v = self.validator
        for name, value in (("seq", seq), ("client_tick", client_tick)):
            if isinstance(value, bool) or not isinstance(value, int):
                return _reject(Reason.MALFORMED, f"{name} must be an integer, got {type(value).__name__}")
            if not 0 <= value < 2**63:
                return _reject(Reason.OUT_OF_RANGE, f"{name} {value} out of range")
        verdict = v.check_action(action)
        if not verdict:
            return verdict
        assert isinstance(seq, int) and isinstance(client_tick, int)
        if self.last_seq is not None and seq <= self.last_seq:
            return _reject(Reason.REPLAY, f"seq {seq} not after {self.last_seq}")
        lim = v.limits
        if client_tick > server_tick + lim.max_ticks_ahead or client_tick < server_tick - lim.max_ticks_behind:
            return _reject(Reason.CLOCK, f"client tick {client_tick} too far from server tick {server_tick}")
        if not self.rate.allow(server_tick):
            return _reject(Reason.RATE_LIMIT, "more inputs than ticks")
        self.last_seq = seq
        return ACCEPT


class Validator:
    """Stateless rule checks for one world config; :meth:`for_player` adds per-connection state."""

    def __init__(self, cfg: WorldConfig, limits: ValidatorLimits | None = None) -> None:
        self.cfg = cfg
        self.limits = limits or ValidatorLimits()
        self._max_step_m = max(cfg.walk_speed, cfg.strafe_speed, cfg.backward_speed) * cfg.dt
        self._max_altitude = cfg.jump_speed**2 / (2.0 * cfg.gravity)

    def for_player(self) -> PlayerValidator:
        return PlayerValidator(self)

    def check_action(self, action: object) -> Verdict:
        if isinstance(action, bool) or not isinstance(action, int | np.integer):
            return _reject(
                Reason.UNKNOWN_ACTION,
                f"action must be an integer 0..{NUM_ACTIONS - 1}, got {type(action).__name__}",
            )
        if not 0 <= int(action) < NUM_ACTIONS:
            return _reject(Reason.UNKNOWN_ACTION, f"unknown action {int(action)}")
        return ACCEPT

    def check_motion(
        self, before: object, after: object, ticks: int, altitude: object = 0.0, authorized: bool = False
    ) -> Verdict:
        """Check a reported move from unit position ``before`` to ``after`` over ``ticks`` ticks.

        ``authorized``: the server itself moved the player (respawn, knockback); only sanity checks apply.
        """
        p = _as_vector(before)
        q = _as_vector(after)
        if p is None or q is None:
            return _reject(Reason.MALFORMED, "positions must be 3 numbers")
        if not (np.all(np.isfinite(p)) and np.all(np.isfinite(q))):
            return _reject(Reason.NON_FINITE, "position is NaN or infinite")
        for name, vec in (("before", p), ("after", q)):
            if abs(float(np.linalg.norm(vec)) - 1.0) > 1e-6:
                return _reject(Reason.OUT_OF_RANGE, f"{name} is not a unit vector (|p| = {np.linalg.norm(vec):.6g})")
        if isinstance(altitude, bool) or not isinstance(altitude, int | float | np.floating):
            return _reject(Reason.MALFORMED, "altitude must be a number")
        if not math.isfinite(float(altitude)):
            return _reject(Reason.NON_FINITE, "altitude is NaN or infinite")
        if not 0.0 <= float(altitude) <= self._max_altitude + self.limits.max_altitude_slack_m:
            return _reject(
                Reason.OUT_OF_RANGE, f"altitude {float(altitude):.3g} m outside 0..{self._max_altitude:.3g} m"
            )
        if isinstance(ticks, bool) or not isinstance(ticks, int) or ticks < 1:
            return _reject(Reason.MALFORMED, f"ticks must be a positive integer, got {ticks!r}")
        if authorized:
            return ACCEPT
        angle = math.atan2(float(np.linalg.norm(np.cross(p, q))), float(np.dot(p, q)))
        distance = angle * self.cfg.radius
        allowed = self._max_step_m * ticks * self.limits.speed_tolerance + 1e-9
        if distance > allowed and distance > self.limits.teleport_m:
            return _reject(Reason.TELEPORT, f"moved {distance:.2f} m in {ticks} tick(s)")
        if distance > allowed:
            return _reject(Reason.SPEED, f"moved {distance:.3f} m in {ticks} tick(s), limit {allowed:.3f} m")
        return ACCEPT


def _as_vector(value: object) -> np.ndarray | None:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if arr.shape != (3,):
        return None
    return arr
