"""The `mpgenie` command: user mistakes give one clear line and exit 2; commands that report numbers do JSON."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from mpgenie.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["world", "info", "--set", "radius=-1"], "radius"),
        (["world", "info", "--set", "render_distance=1000"], "render_distance"),
        (["world", "info", "--set", "warp_speed=9"], "warp_speed"),
        (["world", "info", "--set", "radius"], "KEY=VALUE"),
        (["bench", "world", "--players", "0", "--ticks", "5"], "players"),
        (["bench", "aoi", "--players", "1"], "players"),
        (["demo", "--players", "0"], "players"),
        (["demo", "--seconds", "-2"], "seconds"),
    ],
)
def test_user_mistakes_are_one_clear_line(args: list[str], needle: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mpgenie.cli", *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 2
    assert needle in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_bench_world_json_has_the_contract_keys() -> None:
    result = runner.invoke(app, ["bench", "world", "--players", "300", "--ticks", "5", "--warmup", "1", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in ("players", "ticks", "tick_ms_p50", "tick_ms_p99", "aoi_ms_p50", "aoi_pairs_mean"):
        assert key in data
    assert data["players"] == 300 and data["ticks"] == 5
    assert data["aoi_pairs_mean"] > 0
    assert data["tick_ms_p99"] >= data["tick_ms_p50"] > 0


def test_bench_aoi_methods_agree() -> None:
    result = runner.invoke(app, ["bench", "aoi", "--players", "2000", "--repeats", "1", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["all_methods_agree"] is True
    assert set(data["methods"]) >= {"cell_grid_numba", "scipy_ckdtree_query_pairs", "brute_force_numpy"}


def test_world_info_json() -> None:
    result = runner.invoke(app, ["world", "info", "--seed", "3", "--set", "num_beacons=5", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["beacons"] == 5 and data["config"]["seed"] == 3
    assert sum(data["biome_share"].values()) == pytest.approx(1.0)


def test_demo_runs_and_shows_the_summary() -> None:
    result = runner.invoke(app, ["demo", "--players", "60", "--seconds", "3", "--no-realtime"])
    assert result.exit_code == 0, result.output
    assert "players" in result.stdout and "tick time" in result.stdout
    assert "60" in result.stdout
