"""Event delivery's mapping from world events to the wire, checked against the world's one WIRE_KIND table."""

import numpy as np

from mpgenie.net import protocol as p
from mpgenie.net.delivery import to_wire
from mpgenie.world import AttackHit, BeaconActivated, HazardHit, Pickup, Respawn, RespawnReason, World, WorldConfig
from mpgenie.world.events import WIRE_KIND


def test_wire_events_carry_the_wire_kind_names_and_happen_where_the_event_did() -> None:
    """The protocol's tags and the dataset's kinds must agree (both come from WIRE_KIND): a struct with another
    tag would reach clients under a name the dataset does not use."""
    world = World(WorldConfig.from_mapping({"seed": 4, "radius": 20.0, "num_landmarks": 8}))
    a, b = world.add_players(2).tolist()
    lay = world.layout
    cases = [
        (Pickup(1, a, 0), lay.collectible_pos[0]),
        (BeaconActivated(1, 0, (a, b)), lay.beacon_pos[0]),
        (HazardHit(1, b, 0), lay.hazard_pos[0]),
        (Respawn(1, a, 0, RespawnReason.JOIN), world.pos[a]),
        (AttackHit(1, a, b), world.pos[b]),
    ]
    tags = set()
    for ev, where in cases:
        msg, at = to_wire(ev, world)
        tag = type(msg).__struct_config__.tag
        assert tag == WIRE_KIND[ev.kind]
        np.testing.assert_array_equal(at, where)
        decoded = p.decode_server(p.encode(p.Events(1, [msg])))  # what a client reads back
        assert isinstance(decoded, p.Events) and decoded.events == [msg]
        tags.add(tag)
    assert tags == set(WIRE_KIND.values())
