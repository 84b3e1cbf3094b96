"""World configuration: every tunable of the simulation in one validated, immutable dataclass.

Validation lives here (not scattered through the simulation) so that a bad value is refused once, at the door,
with a message that names the field; the CLI turns :class:`ConfigError` into a one-line error, never a traceback.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import Any

from mpgenie.errors import UsageError

MIN_SCALED_RADIUS = 20.0


class ConfigError(UsageError):
    """A configuration value is invalid. ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"invalid world config: {field}: {message}")
        self.field = field


@dataclass(frozen=True, slots=True)
class WorldConfig:
    """Physical constants, rules and population of one world. Units: metres, seconds, ticks."""

    seed: int = 0
    radius: float = 100.0
    tick_rate: int = 20
    render_distance: float = 30.0
    eye_height: float = 1.7

    walk_speed: float = 4.0
    strafe_speed: float = 3.0
    backward_speed: float = 2.5
    turn_rate_deg: float = 180.0
    jump_speed: float = 5.0
    gravity: float = 9.81

    pickup_radius: float = 1.5
    pickup_score: int = 1  # points for a collectible
    collectible_respawn_ticks: int = 200
    beacon_radius: float = 4.0
    beacon_window_ticks: int = 10
    beacon_min_players: int = 2
    beacon_cooldown_ticks: int = 100
    beacon_score: int = 3  # points for each player who lit a beacon together (co-operation pays more)
    hazard_radius: float = 2.0
    attack_range: float = 2.5
    attack_cone_deg: float = 60.0
    attack_cooldown_ticks: int = 10
    knockback_distance: float = 3.0
    spawn_protection_radius: float = 10.0

    num_landmarks: int = 48
    num_biomes: int = 6
    num_collectibles: int = 64
    num_beacons: int = 12
    num_hazards: int = 16

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def dt(self) -> float:
        """Seconds per tick."""
        return 1.0 / self.tick_rate

    @property
    def circumference(self) -> float:
        return 2.0 * math.pi * self.radius

    def replace(self, **changes: Any) -> WorldConfig:
        """A copy with ``changes`` applied (and validated). Unknown names raise :class:`ConfigError`."""
        known = {f.name for f in fields(self)}
        for name in changes:
            if name not in known:
                raise ConfigError(name, f"unknown field (known: {', '.join(sorted(known))})")
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> WorldConfig:
        """Build from a plain mapping (JSON, CLI), refusing unknown keys and wrongly typed values."""
        return cls().replace(**values)

    @classmethod
    def scaled_for_density(cls, players: int, **overrides: Any) -> WorldConfig:
        """A world whose radius grows with ``players`` so that density stays at R = 100 m per 1,000 players.

        Tiny populations get a planet of at least ``MIN_SCALED_RADIUS`` so that the default render distance fits.
        Object counts scale with the surface area too, so that per-player interaction rates are comparable
        across sizes (used by the benchmark and the demo).
        """
        scale = max(players, 1) / 1000.0
        radius = max(MIN_SCALED_RADIUS, 100.0 * math.sqrt(scale))
        base = cls()
        counts = {
            "radius": radius,
            "num_landmarks": max(8, round(base.num_landmarks * scale)),
            "num_collectibles": max(4, round(base.num_collectibles * scale)),
            "num_beacons": max(2, round(base.num_beacons * scale)),
            "num_hazards": max(2, round(base.num_hazards * scale)),
        }
        counts.update(overrides)
        return cls().replace(**counts)


@dataclass(frozen=True, slots=True)
class Bound:
    """The accepted range of one field: ``low`` (excluded when ``low_open``) to ``high`` (included)."""

    low: float
    high: float
    low_open: bool = False

    def admits(self, value: float) -> bool:
        return (value > self.low if self.low_open else value >= self.low) and value <= self.high

    def describe(self) -> str:
        return f"{'>' if self.low_open else '>='} {self.low:g} and <= {self.high:g}"


#: Largest seed: the realtime wire (MessagePack, ``Welcome.config``) carries integers up to uint64.
MAX_SEED = 2**64 - 1
_MAX_TICKS = 1_000_000  # 14 hours at 20 Hz: any longer is "never"; keeps tick arithmetic far from int64 limits
_MAX_DISTANCE = 1_000.0  # metres, for every reach (render distance, radii, knockback)
_MAX_SPEED = 100.0  # m/s

#: Every field's range, the one place that says what a world may be. Any config is data that anyone allowed to
#: create a session may send, so the maxima also bound what a world costs: building the largest world (every count
#: and reach at its maximum) takes well under 100 ms (tests/world/test_config.py measures it), where the old maxima
#: (100,000 hazards, a million collectibles) stalled the realtime server's loop for seconds or ran out of memory.
#: The platform API derives its OpenAPI schema from this table (``mpgenie.api.schemas.WorldOverrides``).
FIELD_BOUNDS: dict[str, Bound] = {
    "seed": Bound(0, MAX_SEED),
    "radius": Bound(1.0, 100_000.0),
    "tick_rate": Bound(1, 240),
    "render_distance": Bound(0.0, _MAX_DISTANCE, low_open=True),
    "eye_height": Bound(0.0, 100.0),
    "walk_speed": Bound(0.0, _MAX_SPEED, low_open=True),
    "strafe_speed": Bound(0.0, _MAX_SPEED),
    "backward_speed": Bound(0.0, _MAX_SPEED),
    "turn_rate_deg": Bound(0.0, 3600.0, low_open=True),
    "jump_speed": Bound(0.0, _MAX_SPEED),
    "gravity": Bound(0.1, 1000.0),
    "pickup_radius": Bound(0.0, _MAX_DISTANCE, low_open=True),
    "pickup_score": Bound(0, 1_000_000),
    "collectible_respawn_ticks": Bound(0, _MAX_TICKS),
    "beacon_radius": Bound(0.0, _MAX_DISTANCE, low_open=True),
    "beacon_window_ticks": Bound(1, 1_000),  # remembered interactions per beacon grow with the window
    "beacon_min_players": Bound(2, 1_000),  # beacons are cooperative: at least 2 players
    "beacon_cooldown_ticks": Bound(0, _MAX_TICKS),
    "beacon_score": Bound(0, 1_000_000),
    "hazard_radius": Bound(0.0, _MAX_DISTANCE, low_open=True),
    "attack_range": Bound(0.0, _MAX_DISTANCE, low_open=True),
    "attack_cone_deg": Bound(0.0, 180.0, low_open=True),
    "attack_cooldown_ticks": Bound(0, _MAX_TICKS),
    "knockback_distance": Bound(0.0, _MAX_DISTANCE),
    "spawn_protection_radius": Bound(0.0, _MAX_DISTANCE),
    "num_landmarks": Bound(1, 8_192),
    "num_biomes": Bound(1, 64),
    "num_collectibles": Bound(0, 8_192),
    "num_beacons": Bound(0, 2_048),
    "num_hazards": Bound(0, 2_048),
}
#: Fields that hold integers (the rest take any finite number).
INTEGER_FIELDS = frozenset(f.name for f in fields(WorldConfig) if isinstance(f.default, int))

#: The rules that relate fields to each other, which no per-field range (nor a JSON schema) can state.
CROSS_FIELD_RULES = (
    "render_distance < pi * radius (it must not reach past the antipode)",
    "pickup_radius, beacon_radius, hazard_radius and attack_range < pi * radius",
    "attack_range <= render_distance and spawn_protection_radius <= render_distance",
    "max(walk_speed, strafe_speed, backward_speed) / tick_rate < radius (one tick's step)",
)


def _check_field(cfg: WorldConfig, name: str, bound: Bound) -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(name, f"expected a number, got {type(value).__name__} {value!r}")
    if name in INTEGER_FIELDS and not isinstance(value, int):
        raise ConfigError(name, f"expected an integer, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(name, f"must be finite, got {value!r}")
    if not bound.admits(value):
        raise ConfigError(name, f"must be {bound.describe()}, got {value!r}")


def _validate(cfg: WorldConfig) -> None:
    for name, bound in FIELD_BOUNDS.items():
        _check_field(cfg, name, bound)
    half_circumference = math.pi * cfg.radius
    if cfg.render_distance >= half_circumference:
        raise ConfigError(
            "render_distance",
            f"{cfg.render_distance:g} m reaches past the antipode of a planet of radius {cfg.radius:g} m "
            f"(must be < {half_circumference:.1f} m)",
        )
    for name in ("pickup_radius", "beacon_radius", "hazard_radius", "attack_range"):
        if getattr(cfg, name) >= half_circumference:
            raise ConfigError(name, f"larger than half the planet's circumference ({half_circumference:.1f} m)")
    for name in ("attack_range", "spawn_protection_radius"):
        if getattr(cfg, name) > cfg.render_distance:
            raise ConfigError(
                name, f"must be <= render_distance ({cfg.render_distance:g} m), got {getattr(cfg, name)!r}"
            )
    step = max(cfg.walk_speed, cfg.strafe_speed, cfg.backward_speed) * cfg.dt
    if step >= cfg.radius:
        raise ConfigError("walk_speed", f"moves {step:g} m per tick on a planet of radius {cfg.radius:g} m")
