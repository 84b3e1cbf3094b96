"""End to end, on a local Ray: `train agents` (2 members, a few rounds, resumed), `eval agents`, `generate` one
episode with the learned members, and the learned members as the demo's bots through the realtime server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("ray")

from mpgenie.agents.ppo import load_checkpoint
from mpgenie.cli import app
from mpgenie.dataset.qc import check_dataset
from tests.ports import free_port

runner = CliRunner()

TRAIN = ["--population", "2", "--interval", "1", "--worlds", "2", "--max-steps", "40", "--workers", "2"]


def test_train_eval_generate_and_demo(tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["train", "agents", "--scenario", "compete", "--out", str(run), *TRAIN, "--diversity", "0.05"]
    args += ["--min-entropy", "0.5"]
    args += ["--time-limit", "600"]  # --rounds bounds the run; the limit only guards a loaded machine
    result = runner.invoke(app, [*args, "--rounds", "2", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rounds"] == 2 and summary["best"] in ("m0", "m1")
    assert {r["kind"] for r in summary["table"]} == {"member", "scripted"}  # snapshots every 3 rounds
    league = json.loads((run / "league.json").read_text())
    assert league["cpu_s"] > 0 and len(league["rounds"]) == 2
    assert sum(len(r["games"]) for r in league["rounds"]) >= 2 * 2 * 2  # each member: a member and the anchor
    assert all((run / "members" / f"{m}.pt").is_file() for m in ("m0", "m1"))
    # the diversity term: action counts from the rating games, and round 2 trained with a bonus from them
    assert set(league["action_counts"]) == {"m0", "m1"} and all(sum(c) > 0 for c in league["action_counts"].values())
    trained = load_checkpoint(run / "members" / "m0.pt")["config"]
    options = trained["env_options"]
    assert trained["min_entropy"] == 0.5  # the entropy floor reaches every member's PPO
    assert len(options["action_bonus"]) == 10 and max(options["action_bonus"]) <= 0.05 * 0.6932
    curve = (run / "curves.csv").read_text().splitlines()
    assert curve[0].startswith("round,member") and len(curve) == 1 + 2 * 2
    assert (run / "curves.png").read_bytes()[:4] == b"\x89PNG"

    # a re-run continues the same league (one more round); other settings are refused
    result = runner.invoke(app, [*args, "--rounds", "1", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rounds"] == 3 and summary["rounds_this_run"] == 1
    assert {r["id"] for r in summary["table"] if r["kind"] == "snapshot"} == {"m0@r3", "m1@r3"}
    result = runner.invoke(app, [*args[:-2], "--time-limit", "5", "--population", "3"])
    assert result.exit_code == 2 and "population" in result.output

    result = runner.invoke(
        app, ["eval", "agents", str(run), "--games", "2", "--worlds", "1", "--max-steps", "40", "--json"]
    )
    assert result.exit_code == 0, result.output
    ev = json.loads(result.stdout)
    duel = ev["duel_vs_scripted_competitor"]
    assert duel["games"] == 2 and duel["win_rate"] + duel["draw_rate"] + duel["loss_rate"] == pytest.approx(1.0)
    assert ev["coop"]["scripted_beacons_per_agent_hour"] >= 0 and ev["rounds"] == 3
    for side in ("population", "scripted_mixture"):
        assert set(ev["diversity"][side]) == {"action_entropy_bits", "diversity_js_bits", "sphere_coverage"}
    assert set(ev["members"]) == {"m0", "m1"}  # what each member did in the diversity games
    for member in ev["members"].values():
        assert 0.9 <= sum(member["action_shares"].values()) <= 1.0 + 1e-9 and member["style"] == ""

    ds = tmp_path / "ds"
    result = runner.invoke(
        app,
        [
            "generate",
            "--episodes",
            "1",
            "--players",
            "3",
            "--steps",
            "20",
            "--resolution",
            "32",
            "--agents",
            f"population:{run}@1",
            "--out",
            str(ds),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    meta = json.loads((ds / "episodes" / "episode_000000" / "episode.json").read_text())
    assert all(d["policy"].startswith("learned:") for d in meta["drivers"])
    assert check_dataset(ds).ok

    demo = subprocess.run(
        [
            sys.executable,
            "-m",
            "mpgenie.cli",
            "demo",
            "--bots",
            "3",
            "--seconds",
            "3",
            "--port",
            str(free_port()),
            "--api-port",
            str(free_port()),
            "--agents",
            f"population:{run}@1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert demo.returncode == 0, demo.stderr
    assert "3 of 3 bots are learned members" in demo.stdout and "actions chosen by learned bots" in demo.stdout


def test_train_agents_refuses_bad_arguments(tmp_path: Path) -> None:
    for extra, needle in (
        (["--population", "0"], "population"),
        (["--scenario", "nope"], "scenario"),
        (["--time-limit", "0"], "time-limit"),
        (["--workers", "0"], "workers"),
        (["--min-entropy", "5"], "min_entropy"),
    ):
        result = runner.invoke(app, ["train", "agents", "--out", str(tmp_path / "x"), *extra])
        assert result.exit_code == 2 and needle in result.output, (extra, result.output)
    result = runner.invoke(app, ["eval", "agents", str(tmp_path)])
    assert result.exit_code == 2 and "league.json" in result.output
