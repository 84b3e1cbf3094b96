"""``mpgenie bench env``: every case reported, in JSON and as a table; bad numbers refused."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mpgenie.cli import app

pytest.importorskip("pettingzoo")
runner = CliRunner()
SMALL = ["bench", "env", "--players", "3", "--worlds", "2", "--steps", "3", "--pixel-steps", "1", "--warmup", "1"]


def test_bench_env_json_reports_every_case() -> None:
    result = runner.invoke(app, [*SMALL, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data["cases"]) == {"pettingzoo_state", "pettingzoo_pixels", "vector_state", "vector_pixels"}
    for name, case in data["cases"].items():
        assert case["agent_steps"] == case["steps"] * case["agents"]
        assert case["agent_steps_per_s_per_core"] > 0
        assert isinstance(data["meets_target"][name], bool)
    assert data["cases"]["vector_state"]["agents"] == 6
    assert data["targets_per_core"] == {"state": 50_000, "pixels": 3_000}


def test_bench_env_table_and_bad_arguments() -> None:
    result = runner.invoke(app, SMALL)
    assert result.exit_code == 0, result.output
    assert "Neural MMO" in result.stdout
    result = runner.invoke(app, ["bench", "env", "--players", "0"])
    assert result.exit_code == 2
    result = runner.invoke(app, ["bench", "env", "--scenario", "nope", "--steps", "1"])
    assert result.exit_code == 2 and "scenario" in result.output
