"""The discrete action set. Small on purpose: inverse dynamics and latent-action models must learn it."""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

from mpgenie.errors import UsageError


class Action(IntEnum):
    """One action per player per tick. Values are stable: they appear on the wire and in datasets."""

    NOOP = 0
    FORWARD = 1
    BACKWARD = 2
    LEFT = 3
    RIGHT = 4
    TURN_LEFT = 5
    TURN_RIGHT = 6
    JUMP = 7
    ATTACK = 8
    INTERACT = 9


NUM_ACTIONS = len(Action)
ACTION_NAMES: tuple[str, ...] = tuple(a.name.lower() for a in Action)


class UnknownActionError(UsageError):
    """An action name or number that is not part of :class:`Action`."""


def parse_action(value: str | int) -> Action:
    """Accept an action by name (``"turn_left"``, case-insensitive) or number; refuse anything else clearly."""
    if isinstance(value, bool):
        raise UnknownActionError(f"unknown action {value!r}")
    if isinstance(value, int):
        if 0 <= value < NUM_ACTIONS:
            return Action(value)
        raise UnknownActionError(f"unknown action number {value} (valid: 0..{NUM_ACTIONS - 1})")
    if isinstance(value, str):
        key = value.strip().upper()
        if key in Action.__members__:
            return Action[key]
        raise UnknownActionError(f"unknown action {value!r} (valid: {', '.join(ACTION_NAMES)})")
    raise UnknownActionError(f"unknown action {value!r}")


def parse_actions(values: Iterable[str | int]) -> NDArray[np.int8]:
    """Parse a sequence of action names/numbers into the int8 array that :meth:`World.step` takes."""
    return np.array([parse_action(v) for v in values], dtype=np.int8)
