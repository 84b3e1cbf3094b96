"""The spherical world: pure, deterministic simulation shared by server, clients, data and learning.

No I/O, no wall clock, randomness only from the config's seed. See docs/world.md.
"""

from mpgenie.world.actions import (
    ACTION_NAMES,
    NUM_ACTIONS,
    Action,
    UnknownActionError,
    parse_action,
    parse_actions,
)
from mpgenie.world.config import ConfigError, WorldConfig
from mpgenie.world.events import (
    AoiChanges,
    AoiEnter,
    AoiLeave,
    AttackHit,
    BeaconActivated,
    Event,
    GameplayEvent,
    HazardHit,
    Pickup,
    Respawn,
    RespawnReason,
    StepResult,
)
from mpgenie.world.simulation import World
from mpgenie.world.validator import Reason, Validator, ValidatorLimits, Verdict

__all__ = [
    "ACTION_NAMES",
    "NUM_ACTIONS",
    "Action",
    "AoiChanges",
    "AoiEnter",
    "AoiLeave",
    "AttackHit",
    "BeaconActivated",
    "ConfigError",
    "Event",
    "GameplayEvent",
    "HazardHit",
    "Pickup",
    "Reason",
    "Respawn",
    "RespawnReason",
    "StepResult",
    "UnknownActionError",
    "Validator",
    "ValidatorLimits",
    "Verdict",
    "World",
    "WorldConfig",
    "parse_action",
    "parse_actions",
]
