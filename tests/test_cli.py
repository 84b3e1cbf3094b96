"""The `mpgenie` command: user mistakes give one clear line and exit 2; commands that report numbers do JSON."""

import json
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from typer.testing import CliRunner

from mpgenie.cli import app
from mpgenie.net.tickets import DEV_SECRET, verify_ticket
from tests.ports import free_port

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
        (["simulate", "--players", "0"], "players"),
        (["simulate", "--seconds", "-2"], "seconds"),
        (["demo", "--bots", "0"], "bots"),
        (["serve", "--set", "radius=-3"], "radius"),
        (["serve", "--scale-for", "0"], "scale-for"),
        (["loadtest", "--clients", "0"], "clients"),
        (["ticket", "--ttl", "0"], "ttl"),
        (["serve", "--host", "0.0.0.0"], "development secrets"),
        (["serve", "--renderer", "magic"], "renderer"),
        (["serve", "--renderer", "learned"], "checkpoint"),
        (["serve", "--renderer", "http"], "renderer-url"),
        (["serve", "--frame-resolution", "100"], "frame-resolution"),
        (["loadtest", "--frames", "-1"], "clients"),
        (["generate", "--out", "/tmp/x", "--resolution", "100"], "resolution"),
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


def test_simulate_runs_and_shows_the_summary() -> None:
    result = runner.invoke(app, ["simulate", "--players", "60", "--seconds", "3", "--no-realtime"])
    assert result.exit_code == 0, result.output
    assert "players" in result.stdout and "tick time" in result.stdout
    assert "60" in result.stdout


def test_demo_serves_bots_and_stops_cleanly() -> None:
    port = free_port()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mpgenie.cli",
            "demo",
            "--bots",
            "6",
            "--seconds",
            "4",
            "--port",
            str(port),
            "--api-port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"ws://127.0.0.1:{port}/ws" in result.stdout
    assert "players connected" in result.stdout and "shut down cleanly" in result.stdout
    assert "joined via API tickets" in result.stdout
    assert "/play/?session=" in result.stdout  # the browser client's link into the demo's session


def test_serve_stops_gracefully_on_sigterm(tmp_path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    api_port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mpgenie.cli",
            "serve",
            "--port",
            str(port),
            "--api-port",
            str(api_port),
            "--database-url",
            f"sqlite+aiosqlite:///{tmp_path}/serve.db",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    assert json.loads(r.read()) == {"status": "ok"}
                with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/readyz", timeout=1) as r:
                    assert json.loads(r.read())["status"] == "ready"
                break
            except OSError:
                time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "stopped cleanly" in out and "development secrets" in err


def test_ticket_is_accepted_by_the_verifier() -> None:
    result = runner.invoke(app, ["ticket", "--name", "zoe", "--session", "s9"])
    assert result.exit_code == 0
    assert verify_ticket(DEV_SECRET, result.stdout.strip(), "s9").subject == "zoe"


def test_loadtest_smoke_reports_every_key() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mpgenie.cli",
            "loadtest",
            "--clients",
            "20",
            "--duration",
            "2",
            "--warmup",
            "1",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for key in (
        "clients",
        "connected",
        "dropped",
        "latency_ms_p50",
        "latency_ms_p99",
        "snapshot_hz",
        "bytes_per_client_s",
        "tick_ms_p99",
        "server_cpu_us_per_client_tick",
        "loadgen_cpu_us_per_client_tick",
        "server_tick_hz",
    ):
        assert key in data, key
    assert data["connected"] == 20 and data["dropped"] == 0
    assert data["server_cpu_us_per_client_tick"] > 0 and 15 < data["server_tick_hz"] <= 21
    assert data["server_rejected"] == {}  # honest bots: not one refused input
    assert 15 < data["snapshot_hz"] < 25
    assert 0 < data["latency_ms_p50"] < data["latency_ms_p99"]


def test_bench_api_smoke_reports_every_key() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mpgenie.cli",
            "bench",
            "api",
            "--users",
            "5",
            "--concurrency",
            "4",
            "--duration",
            "1",
            "--argon2-memory-kib",
            "64",
            "--argon2-time-cost",
            "1",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["login_rps"] > 0 and data["join_rps"] > 0 and data["p99_ms"] > 0
    assert data["login_failed"] == 0


def test_json_output_is_not_mixed_with_logs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mpgenie.cli", "bench", "server", "--clients", "20", "--ticks", "5", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["clients"] == 20  # joins are logged, but not onto stdout


def test_an_internal_error_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only UsageError is the user's fault; a ValueError from inside is a bug and must not be disguised as one."""
    import mpgenie.bench.world as bench_world_module  # noqa: PLC0415 - the module the command imports when it runs

    def broken(*_: object, **__: object) -> None:
        raise ValueError("an internal invariant broke")

    monkeypatch.setattr(bench_world_module, "bench_world", broken)
    result = runner.invoke(app, ["bench", "world", "--players", "10", "--ticks", "1", "--json"])
    assert result.exit_code != 2
    assert isinstance(result.exception, ValueError)
    assert "error:" not in result.output


def test_exposure_policy_lives_in_the_settings() -> None:
    from mpgenie.api.settings import InsecureSettingsError, Settings  # noqa: PLC0415

    dev = Settings()
    dev.check_exposure("127.0.0.1", api=True)  # loopback: the embedded default is fine
    with pytest.raises(InsecureSettingsError, match="development secrets"):
        dev.check_exposure("0.0.0.0", api=False)  # the join secret signs tickets even without the API
    realtime_only = Settings(join_secret="a-real-join-secret-0123456789abcdef")
    realtime_only.check_exposure("0.0.0.0", api=False)  # the JWT secret is not used without the API
    with pytest.raises(InsecureSettingsError, match="JWT"):
        realtime_only.check_exposure("0.0.0.0", api=True)
    Settings(join_secret="j" * 40, jwt_secret="w" * 40).check_exposure("10.0.0.5", api=True)
