from rich.console import Console

from mpgenie.headless import run_headless


def test_headless_session_produces_multiplayer_events() -> None:
    stats = run_headless(players=150, seconds=30, seed=1, realtime=False, console=Console(quiet=True))
    assert stats.players == 150
    assert stats.tick == 600
    for kind in ("pickup", "aoi_enter", "respawn"):
        assert stats.events[kind] > 0, kind
    assert stats.beacons_lit > 0  # seekers co-operate
