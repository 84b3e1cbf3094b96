import dataclasses
import tracemalloc

import msgspec
import pytest

from mpgenie.world import ConfigError, UnknownActionError, WorldConfig, parse_action, parse_actions
from mpgenie.world.config import FIELD_BOUNDS, INTEGER_FIELDS, MAX_SEED
from mpgenie.world.simulation import World


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"radius": -5.0}, "radius"),
        ({"radius": 0}, "radius"),
        ({"radius": float("nan")}, "radius"),
        ({"render_distance": 1000.0}, "render_distance"),
        ({"tick_rate": 0}, "tick_rate"),
        ({"tick_rate": 2.5}, "tick_rate"),
        ({"walk_speed": "fast"}, "walk_speed"),
        ({"seed": -1}, "seed"),
        ({"beacon_min_players": 1}, "beacon_min_players"),
        ({"attack_range": 50.0}, "attack_range"),
        ({"num_hazards": -1}, "num_hazards"),
        ({"gravity": True}, "gravity"),
        ({"no_such_field": 1}, "no_such_field"),
        ({"num_hazards": 50_000}, "num_hazards"),
        ({"collectible_respawn_ticks": 10**30}, "collectible_respawn_ticks"),
        ({"gravity": 1e-300}, "gravity"),
    ],
)
def test_bad_config_names_the_field(changes: dict, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        WorldConfig.from_mapping(changes)
    assert info.value.field == field
    assert field in str(info.value)


def test_good_config_and_density_scaling() -> None:
    cfg = WorldConfig.scaled_for_density(10_000)
    assert cfg.radius == pytest.approx(316.227766, rel=1e-6)
    assert cfg.num_collectibles == 640
    small = WorldConfig.scaled_for_density(2)
    assert small.radius == 20.0


def test_action_names() -> None:
    assert parse_action("Turn_Left") == 5
    assert list(parse_actions(["noop", "forward", 9])) == [0, 1, 9]
    with pytest.raises(UnknownActionError, match="fly"):
        parse_action("fly")
    with pytest.raises(UnknownActionError, match="12"):
        parse_action(12)


def test_seed_fits_the_wire() -> None:
    """The realtime wire (MessagePack) carries integers up to uint64: a seed beyond it broke every join."""
    assert WorldConfig(seed=MAX_SEED).seed == 2**64 - 1
    with pytest.raises(ConfigError, match="seed"):
        WorldConfig(seed=2**64)


@pytest.mark.parametrize("end", ["low", "high"])
def test_every_accepted_extreme_encodes(end: str) -> None:
    """Each field at each end of its range (alone, the rest default) is accepted and survives the Welcome
    message's encoding, so nothing WorldConfig accepts can fail on the wire."""
    for name, bound in FIELD_BOUNDS.items():
        value: float = bound.high if end == "high" else bound.low
        if bound.low_open and end == "low":
            value = bound.low + 0.001
        if name not in INTEGER_FIELDS:
            value = float(value)
        try:
            cfg = WorldConfig.from_mapping({name: value})
        except ConfigError as exc:  # allowed only for a rule between fields, never for the field's own range
            assert " and <= " not in str(exc), exc  # the wording of a range (Bound.describe)
            continue
        wire = msgspec.msgpack.encode(dataclasses.asdict(cfg))
        assert msgspec.msgpack.decode(wire)[name] == value


# Every count at its maximum, and the reaches that make layout and spawn placement work hardest.
WORST_WORLDS = {
    "counts at max, R=100": {},
    "counts at max, R=1000": {"radius": 1000.0},
    "reaches at max": {
        "radius": 320.0,
        **dict.fromkeys(("render_distance", "pickup_radius", "beacon_radius", "hazard_radius", "attack_range"), 1000.0),
        "spawn_protection_radius": 1000.0,
    },
    "hazard clearance near the antipode": {
        "render_distance": 300.0,
        "hazard_radius": 150.0,
        "spawn_protection_radius": 164.0,
    },
}


@pytest.mark.parametrize("extra", list(WORST_WORLDS.values()), ids=list(WORST_WORLDS))
def test_the_largest_world_is_cheap_to_build(extra: dict) -> None:
    """Building a world happens on the realtime server's loop at a session's first join. The old maxima built
    objects-by-objects matrices (149 GiB, or 6.9 s): at today's maxima the peak memory of a build stays small, a
    measure that does not depend on how busy the machine is (its time, ~40 ms, is a benchmark, not a test)."""
    counts = {n: int(FIELD_BOUNDS[n].high) for n in FIELD_BOUNDS if n.startswith("num_")}
    cfg = WorldConfig.from_mapping({"radius": 100.0, **counts, **extra})
    World(WorldConfig())  # compiled kernels loaded
    tracemalloc.start()
    try:
        World(cfg)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MiB at the peak"
