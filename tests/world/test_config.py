import pytest

from mpgenie.world import ConfigError, UnknownActionError, WorldConfig, parse_action, parse_actions


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
