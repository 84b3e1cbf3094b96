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
    collectible_respawn_ticks: int = 200
    beacon_radius: float = 4.0
    beacon_window_ticks: int = 10
    beacon_min_players: int = 2
    beacon_cooldown_ticks: int = 100
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


_POSITIVE_FLOATS = (
    "radius",
    "render_distance",
    "walk_speed",
    "turn_rate_deg",
    "gravity",
    "pickup_radius",
    "beacon_radius",
    "hazard_radius",
    "attack_range",
    "attack_cone_deg",
)
_NON_NEGATIVE_FLOATS = (
    "eye_height",
    "strafe_speed",
    "backward_speed",
    "jump_speed",
    "knockback_distance",
    "spawn_protection_radius",
)
_POSITIVE_INTS = ("tick_rate", "beacon_window_ticks", "beacon_min_players", "num_biomes", "num_landmarks")
_NON_NEGATIVE_INTS = (
    "collectible_respawn_ticks",
    "beacon_cooldown_ticks",
    "attack_cooldown_ticks",
    "num_collectibles",
    "num_beacons",
    "num_hazards",
)


def _check_number(cfg: WorldConfig, name: str, *, integer: bool, minimum: float, strict: bool) -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(name, f"expected a number, got {type(value).__name__} {value!r}")
    if integer and not isinstance(value, int):
        raise ConfigError(name, f"expected an integer, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(name, f"must be finite, got {value!r}")
    if (strict and value <= minimum) or (not strict and value < minimum):
        relation = ">" if strict else ">="
        raise ConfigError(name, f"must be {relation} {minimum:g}, got {value!r}")


#: Upper bounds: a config is data anyone with a session to create may send; these keep a world buildable.
_MAXIMA = {
    "radius": 100_000.0,
    "tick_rate": 240,
    "num_landmarks": 100_000,
    "num_biomes": 64,
    "num_collectibles": 1_000_000,
    "num_beacons": 100_000,
    "num_hazards": 100_000,
}


def _validate(cfg: WorldConfig) -> None:
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or cfg.seed < 0:
        raise ConfigError("seed", f"must be a non-negative integer, got {cfg.seed!r}")
    for name in _POSITIVE_FLOATS:
        _check_number(cfg, name, integer=False, minimum=0.0, strict=True)
    for name in _NON_NEGATIVE_FLOATS:
        _check_number(cfg, name, integer=False, minimum=0.0, strict=False)
    for name in _POSITIVE_INTS:
        _check_number(cfg, name, integer=True, minimum=0, strict=True)
    for name in _NON_NEGATIVE_INTS:
        _check_number(cfg, name, integer=True, minimum=0, strict=False)
    for name, maximum in _MAXIMA.items():
        if getattr(cfg, name) > maximum:
            raise ConfigError(name, f"must be <= {maximum:g}, got {getattr(cfg, name)!r}")
    half_circumference = math.pi * cfg.radius
    if cfg.render_distance >= half_circumference:
        raise ConfigError(
            "render_distance",
            f"{cfg.render_distance:g} m reaches past the antipode of a planet of radius {cfg.radius:g} m "
            f"(must be < {half_circumference:.1f} m)",
        )
    if cfg.attack_cone_deg > 180.0:
        raise ConfigError("attack_cone_deg", f"must be <= 180, got {cfg.attack_cone_deg!r}")
    if cfg.beacon_min_players < 2:
        raise ConfigError("beacon_min_players", "beacons are cooperative: need at least 2 players")
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
