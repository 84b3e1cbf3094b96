"""Anti-cheat: checks what a client proposes against the rules, before the server accepts it.

The server is authoritative (clients send actions, the server moves them), so most cheats reduce to input the
rules forbid: unknown or malformed actions, input floods far above the tick rate, input sequence numbers that go
backwards (replays), and, where a client reports its own predicted state, a position that moved faster than
walking allows or jumped across the planet. Every check returns a :class:`Verdict` with a machine-readable
:class:`Reason`, so the server can count, answer and kick by reason.

Only what no honest client can produce is a violation. An overloaded server ticks slower than the wall clock while
its clients keep sending at the nominal rate, their tick estimates run ahead, and a stalled connection delivers a
burst: none of that is the client's doing, so the input rate is judged in the caller's wall-clock seconds (a flood
is a *sustained* rate several times the nominal tick rate), and a client tick far from the server's is reported
(:meth:`PlayerValidator.clock_skewed`) but never refused. Extra inputs gain a cheater nothing: the server applies
one per player per tick and drops the surplus.

Pure: time is what the caller passes in (server ticks, seconds), never a clock read here.
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


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: Reason
    detail: str = ""

    def __bool__(self) -> bool:
        return self.ok


ACCEPT = Verdict(True, Reason.OK)
_SEQ_LIMIT = 2**63  # input seq and tick are non-negative int64


def _reject(reason: Reason, detail: str) -> Verdict:
    return Verdict(False, reason, detail)


@dataclass(frozen=True, slots=True)
class ValidatorLimits:
    """Tolerances. ``speed_tolerance`` absorbs float rounding and client/server tick skew.

    ``flood_factor``: inputs per wall-clock second, as a multiple of the nominal tick rate, that a client may keep
    up (an honest one sends 1x, or less when the server announces it runs slower). ``burst_s``: how many seconds of
    nominal-rate inputs may arrive at once (a connection that stalled for that long and then delivers everything:
    saved-up inputs gain nothing, the server applies one per tick and drops the surplus, so a generous burst costs
    no fairness; a flood at 10x still empties the bucket within two seconds).
    ``clock_window_ticks``: how far a client's tick may stray from the server's before it counts as skewed (counted
    for the metrics, never refused: an overloaded server is what skews honest clients)."""

    speed_tolerance: float = 1.10
    teleport_m: float = 10.0
    flood_factor: float = 3.0
    burst_s: float = 10.0
    clock_window_ticks: int = 40
    max_altitude_slack_m: float = 0.05


class InputRateLimiter:
    """Token bucket per player in wall-clock seconds: ``flood_factor`` x the tick rate sustained, ``burst_s``
    seconds of inputs at once.

    An honest client sends one input per tick of the server (nominal or announced); jitter and stalls bunch them
    together (the burst). Only a flood far above the tick rate, kept up for seconds, empties the bucket.
    """

    def __init__(self, limits: ValidatorLimits, tick_rate: int) -> None:
        self.rate = tick_rate * limits.flood_factor
        self.capacity = max(1.0, limits.burst_s * tick_rate)
        self._tokens = self.capacity
        self._at: float | None = None

    def allow(self, now: float) -> bool:
        if self._at is not None and now > self._at:  # refill for the time since the last input
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class PlayerValidator:
    """Per-connection checks with memory: rate, sequence order, and (optionally) reported motion."""

    def __init__(self, validator: Validator) -> None:
        self.validator = validator
        self.rate = InputRateLimiter(validator.limits, validator.cfg.tick_rate)
        self.last_seq: int | None = None

    def check_input(self, seq: object, client_tick: object, action: object, now: float) -> Verdict:
        """Validate one input message: types, action, sequence order and (in seconds ``now``) its rate."""
        v = self.validator
        for name, value in (("seq", seq), ("client_tick", client_tick)):
            if isinstance(value, bool) or not isinstance(value, int):
                return _reject(Reason.MALFORMED, f"{name} must be an integer, got {type(value).__name__}")
            if not 0 <= value < _SEQ_LIMIT:
                return _reject(Reason.OUT_OF_RANGE, f"{name} {value} out of range")
        verdict = v.check_action(action)
        if not verdict:
            return verdict
        assert isinstance(seq, int) and isinstance(client_tick, int)
        return self.check_typed(seq, client_tick, int(action), now)  # type: ignore[call-overload]

    def check_typed(self, seq: int, client_tick: int, action: int, now: float) -> Verdict:
        """:meth:`check_input` for an input whose fields a typed wire decoder has already made ``int`` (the server's
        msgspec structs): the same rules and verdicts, without re-checking types on the per-input path."""
        if not (0 <= seq < _SEQ_LIMIT and 0 <= client_tick < _SEQ_LIMIT and 0 <= action < NUM_ACTIONS):
            return self.check_input(seq, client_tick, action, now)  # rejects, with check_input's reason
        if self.last_seq is not None and seq <= self.last_seq:
            return _reject(Reason.REPLAY, f"seq {seq} not after {self.last_seq}")
        if not self.rate.allow(now):
            lim = self.validator.limits
            return _reject(Reason.RATE_LIMIT, f"more than {lim.flood_factor:g}x the tick rate of inputs, sustained")
        self.last_seq = seq
        return ACCEPT

    def clock_skewed(self, client_tick: int, server_tick: int) -> bool:
        """Whether a client's tick strays beyond ``clock_window_ticks`` from the server's (a statistic, not a
        violation: a late server and honest clients produce it)."""
        return abs(client_tick - server_tick) > self.validator.limits.clock_window_ticks


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
