"""The players each gameplay event involves, and the one table from world kind names to wire/dataset names."""

import typing

from mpgenie.world.events import (
    WIRE_KIND,
    AttackHit,
    BeaconActivated,
    GameplayEvent,
    HazardHit,
    Pickup,
    Respawn,
    RespawnReason,
)

ONE_OF_EACH: list[GameplayEvent] = [
    Pickup(5, 3, 7),
    BeaconActivated(5, 2, (1, 4, 9)),
    HazardHit(5, 6, 0),
    Respawn(5, 8, 2, RespawnReason.HAZARD),
    AttackHit(5, 11, 4),
]


def test_players_names_everyone_involved_in_a_documented_order() -> None:
    """Routing and recording reach exactly these players: a wrong or reordered id misroutes an event."""
    assert [ev.players for ev in ONE_OF_EACH] == [(3,), (1, 4, 9), (6,), (8,), (11, 4)]
    assert all(type(ev.players) is tuple for ev in ONE_OF_EACH)


def test_every_gameplay_event_kind_has_a_wire_name() -> None:
    """A new event type without a WIRE_KIND entry would raise in the server's tick and the recorder."""
    assert len(ONE_OF_EACH) == len(typing.get_args(GameplayEvent))
    assert {ev.kind for ev in ONE_OF_EACH} == set(WIRE_KIND)
    assert WIRE_KIND == {
        "pickup": "pickup",
        "beacon_activated": "beacon",
        "hazard_hit": "hazard",
        "respawn": "respawn",
        "attack_hit": "attack",
    }
