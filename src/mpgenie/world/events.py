"""Typed events produced by a world tick.

Gameplay events are few per tick and are plain frozen dataclasses. Each names the players it involves in
``players`` (the order is documented per class), so that whoever must reach them (the realtime server's event
routing, the dataset recorder's full-detail views) needs no per-type code. Area-of-interest changes can number in
the tens of thousands per tick at 100k players, so they travel as one columnar :class:`AoiChanges` (NumPy arrays)
and become :class:`AoiEnter`/:class:`AoiLeave` objects only when someone iterates them.

Every event has a ``kind``: the world's name for it (what headless runs and benchmarks count). The wire protocol
and the recorded dataset use shorter names for some; :data:`WIRE_KIND` is the one table between the two.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray


class RespawnReason(StrEnum):
    JOIN = "join"
    HAZARD = "hazard"


@dataclass(frozen=True, slots=True)
class Pickup:
    tick: int
    player: int
    collectible: int
    kind: str = "pickup"

    @property
    def players(self) -> tuple[int, ...]:
        """``(player,)``: the collector."""
        return (self.player,)


@dataclass(frozen=True, slots=True)
class BeaconActivated:
    """A beacon lit by co-operation: ``players`` (ascending) all interacted with it inside the window.

    ``players`` is a field here, and doubles as the involved players every gameplay event names."""

    tick: int
    beacon: int
    players: tuple[int, ...]
    kind: str = "beacon_activated"


@dataclass(frozen=True, slots=True)
class HazardHit:
    tick: int
    player: int
    hazard: int
    kind: str = "hazard_hit"

    @property
    def players(self) -> tuple[int, ...]:
        """``(player,)``: the one who was hit."""
        return (self.player,)


@dataclass(frozen=True, slots=True)
class Respawn:
    tick: int
    player: int
    spawn_point: int
    reason: RespawnReason
    kind: str = "respawn"

    @property
    def players(self) -> tuple[int, ...]:
        """``(player,)``: the one who respawned."""
        return (self.player,)


@dataclass(frozen=True, slots=True)
class AttackHit:
    tick: int
    attacker: int
    target: int
    kind: str = "attack_hit"

    @property
    def players(self) -> tuple[int, ...]:
        """``(attacker, target)``, in that order."""
        return (self.attacker, self.target)


@dataclass(frozen=True, slots=True)
class AoiEnter:
    """``subject`` came within the render distance of ``observer``."""

    tick: int
    observer: int
    subject: int
    kind: str = "aoi_enter"


@dataclass(frozen=True, slots=True)
class AoiLeave:
    tick: int
    observer: int
    subject: int
    kind: str = "aoi_leave"


GameplayEvent = Pickup | BeaconActivated | HazardHit | Respawn | AttackHit

# The world's event kind -> its name on the wire (the tag of its ``mpgenie.net.protocol`` event, docs/protocol.md)
# and in the dataset's ``events`` table (``kind``, docs/dataset-format.md). Both formats are documented with the
# short names, so they keep them. The recorder takes its names from here; the realtime server sends protocol
# structs whose tags are these names, which tests/net/test_delivery.py checks event by event against this table.
WIRE_KIND: dict[str, str] = {
    "pickup": "pickup",
    "beacon_activated": "beacon",
    "hazard_hit": "hazard",
    "respawn": "respawn",
    "attack_hit": "attack",
}
Event = GameplayEvent | AoiEnter | AoiLeave


def _empty() -> NDArray[np.int64]:
    return np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class AoiChanges:
    """Who entered and left whose area of interest this tick (directional: one entry per observer).

    Arrays are sorted by observer then subject.
    """

    tick: int
    enter_observer: NDArray[np.int64] = field(default_factory=_empty)
    enter_subject: NDArray[np.int64] = field(default_factory=_empty)
    leave_observer: NDArray[np.int64] = field(default_factory=_empty)
    leave_subject: NDArray[np.int64] = field(default_factory=_empty)

    @property
    def num_enter(self) -> int:
        return int(self.enter_observer.shape[0])

    @property
    def num_leave(self) -> int:
        return int(self.leave_observer.shape[0])

    def events(self) -> Iterator[AoiEnter | AoiLeave]:
        for o, s in zip(self.enter_observer.tolist(), self.enter_subject.tolist(), strict=True):
            yield AoiEnter(self.tick, o, s)
        for o, s in zip(self.leave_observer.tolist(), self.leave_subject.tolist(), strict=True):
            yield AoiLeave(self.tick, o, s)


@dataclass(frozen=True, slots=True)
class StepResult:
    """Everything one tick produced."""

    tick: int
    events: list[GameplayEvent]
    aoi: AoiChanges

    def all_events(self) -> Iterator[Event]:
        yield from self.events
        yield from self.aoi.events()
