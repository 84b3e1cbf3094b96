"""``mpgenie loadtest``: a realtime server in one process, N SDK bot clients in another, numbers out.

Unless a URL is given, the server is started as a child process (``mpgenie serve``) on a free loopback port with
a planet sized for N players (the density of the world benchmark), and this process is the load generator. After
a warm-up, the measurement window records, per client: snapshots received, bytes, entity records, and the latency
from sending an input to receiving the first snapshot that acknowledges it; and from the server's ``/stats``:
tick-time quantiles over the window and CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import numpy as np

from mpgenie.errors import UsageError
from mpgenie.net.bots import BotSwarm, SwarmStats
from mpgenie.net.server import new_event_loop
from mpgenie.net.tickets import DEV_SECRET
from mpgenie.net.wireswarm import WireSwarm


class LoadtestError(RuntimeError):
    """The server could not be started or reached."""


def free_port() -> int:
    """A TCP port free on loopback right now (for child servers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http_base(url: str) -> str:
    base = url.replace("ws://", "http://").replace("wss://", "https://")
    return base.rsplit("/", 1)[0] if base.count("/") > 2 else base


def _get_json(url: str, timeout: float = 5.0) -> dict[str, Any]:
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--url must be a ws:// or wss:// server address, got {url!r}")
    # bandit B310: http(s) only, checked above
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # nosec B310
        return json.loads(resp.read())  # type: ignore[no-any-return]


def start_server(
    clients: int, tick_rate: int, secret: str, extra: list[str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "mpgenie.cli",
        "serve",
        "--port",
        str(port),
        "--scale-for",
        str(clients),
        "--tick-rate",
        str(tick_rate),
        "--max-players",
        str(max(clients * 2, 100)),
        "--quiet",
        "--no-api",
        "--frame-resolution",
        "64",
        *(extra or []),
    ]
    env = {**os.environ, "MPGENIE_JOIN_SECRET": secret}
    proc, _log = spawn_until_ready(cmd, env, f"http://127.0.0.1:{port}/healthz", "server")
    return proc, f"ws://127.0.0.1:{port}/ws"


def spawn_until_ready(
    cmd: list[str], env: dict[str, str], probe_url: str, what: str, timeout_s: float = 60.0
) -> tuple[subprocess.Popen[bytes], Any]:
    """Start a child server and wait until ``probe_url`` answers 200. Its log goes to a temporary file, not a
    pipe nobody reads (a full pipe would block the server); the file is returned to live as long as the child."""
    log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server process
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise LoadtestError(f"{what} exited: {log.read().decode(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError):
            _get_json(probe_url, timeout=1.0)  # raises for anything but a 2xx JSON answer
            return proc, log
        time.sleep(0.2)
    proc.kill()
    raise LoadtestError(f"{what} did not become ready within {timeout_s:g} s")


BOT_KINDS = ("wire", "light", "full")


def _window(duration: float, progress: Callable[[str, float], None] | None) -> tuple[float, float]:
    """Wait out the measurement window (reporting progress); returns its wall seconds and this process's CPU."""
    cpu0, t0 = time.process_time(), time.monotonic()
    end = t0 + duration
    while (now := time.monotonic()) < end:
        if progress:
            progress("measuring", (now - t0) / duration)
        time.sleep(min(0.5, end - now))
    return time.monotonic() - t0, time.process_time() - cpu0


def _measure_wire(
    url: str,
    clients: int,
    duration: float,
    warmup: float,
    secret: str,
    progress: Callable[[str, float], None] | None,
    frames: int,
) -> dict[str, Any]:
    base = _http_base(url)
    swarm = WireSwarm(url, clients, secret=secret, name=f"load{os.getpid()}", frames=frames)
    if progress:
        progress("connecting", 0.0)
    swarm.connect_all()
    swarm.start()
    try:
        if progress:
            progress("warm-up", 0.0)
        time.sleep(warmup)
        before = _get_json(f"{base}/stats")
        swarm.reset_measurements()
        elapsed, gen_cpu = _window(duration, progress)
        stats = swarm.stats()
        after = _get_json(f"{base}/stats?since={before['tick']}")
    finally:
        swarm.close()
    return _report(stats, swarm.tick_rate, "wire", elapsed, gen_cpu, before, after)


async def _measure_sdk(
    url: str,
    clients: int,
    duration: float,
    warmup: float,
    light: bool,
    secret: str,
    progress: Callable[[str, float], None] | None,
    frames: int = 0,
) -> dict[str, Any]:
    base = _http_base(url)
    loop = asyncio.get_running_loop()
    swarm = BotSwarm(url, clients, secret=secret, light=light, name=f"load{os.getpid()}", frames=frames)
    if progress:
        progress("connecting", 0.0)
    await swarm.connect_all()
    runner = asyncio.ensure_future(swarm.run())
    if progress:
        progress("warm-up", 0.0)
    await asyncio.sleep(warmup)
    before = await loop.run_in_executor(None, _get_json, f"{base}/stats")
    swarm.reset_measurements()
    # The window waits in a thread while this loop drives the bots (process CPU counts every thread).
    elapsed, gen_cpu = await loop.run_in_executor(None, _window, duration, progress)
    stats = swarm.stats()
    after = await loop.run_in_executor(None, _get_json, f"{base}/stats?since={before['tick']}")
    swarm.stop()
    await runner
    await swarm.close()
    return _report(stats, swarm.tick_rate, "light" if light else "full", elapsed, gen_cpu, before, after)


def _report(
    stats: SwarmStats,
    tick_rate: int,
    bots: str,
    elapsed: float,
    gen_cpu: float,
    before: dict[str, Any],
    after: dict[str, Any],
) -> dict[str, Any]:
    lat = stats.latencies_s * 1000.0
    q = (lambda x: float(np.percentile(lat, x))) if lat.size else (lambda x: float("nan"))
    connected = max(stats.connected, 1)
    server_elapsed = max(after["uptime_s"] - before["uptime_s"], 1e-9)
    return {
        "clients": stats.clients,
        "connected": stats.connected,
        "dropped": stats.dropped,
        "failed_to_connect": stats.failed_to_connect,
        "duration_s": round(elapsed, 2),
        "tick_rate": tick_rate,
        "bots": bots,
        "light_clients": bots != "full",
        "snapshot_hz": stats.snapshots / connected / elapsed,
        "latency_ms_p50": q(50),
        "latency_ms_p95": q(95),
        "latency_ms_p99": q(99),
        "latency_samples": int(lat.size),
        "bytes_per_client_s": stats.bytes_in / connected / elapsed,
        "bytes_per_entity_update": stats.bytes_in / max(stats.entity_records, 1),
        "entity_updates_per_client_s": stats.entity_records / connected / elapsed,
        "frames_per_client_s": stats.frames / connected / elapsed,  # world-model frames (with --frames)
        # Entity bytes actually sent (deltas) over what full snapshots would have sent, same ticks, same views.
        "delta_vs_full_entity_bytes": (after["entity_bytes_sent"] - before["entity_bytes_sent"])
        / max(after["entity_bytes_full"] - before["entity_bytes_full"], 1),
        "tick_ms_p50": after["tick_ms_p50"],
        "tick_ms_p99": after["tick_ms_p99"],
        "tick_ms_max": after["tick_ms_max"],
        "late_ticks": after["late_ticks"] - before["late_ticks"],
        "server_cpu_pct": 100.0 * (after["cpu_s"] - before["cpu_s"]) / server_elapsed,
        "loadgen_cpu_pct": 100.0 * gen_cpu / elapsed,
        # CPU per unit of work, comparable across machines and loads: microseconds per client per server tick.
        "server_cpu_us_per_client_tick": 1e6 * (after["cpu_s"] - before["cpu_s"]) / max(after["ticks"] * connected, 1),
        "loadgen_cpu_us_per_client_tick": 1e6 * gen_cpu / max(after["ticks"] * connected, 1),
        "server_tick_hz": after["ticks"] / server_elapsed,  # the effective rate (below nominal when overloaded)
        "server_rejected": after["rejected"],
        "server_absorbed": {k: v - before["absorbed"].get(k, 0.0) for k, v in after["absorbed"].items()},
        "snapshots_skipped": after["snapshots_skipped"] - before["snapshots_skipped"],
    }


def run_loadtest(
    clients: int,
    duration: float,
    url: str | None = None,
    warmup: float = 5.0,
    tick_rate: int = 20,
    bots: str = "wire",
    secret: str | None = None,
    progress: Callable[[str, float], None] | None = None,
    frames: int = 0,
) -> dict[str, Any]:
    if clients < 1 or duration <= 0 or warmup < 0 or frames < 0:
        raise UsageError("clients must be >= 1, duration > 0 and warmup >= 0")
    if bots not in BOT_KINDS:
        raise UsageError(f"--bots must be one of {', '.join(BOT_KINDS)}, got {bots!r}")
    secret = secret or os.environ.get("MPGENIE_JOIN_SECRET", DEV_SECRET)
    proc = None
    if url is None:
        proc, url = start_server(clients, tick_rate, secret)
    loop = new_event_loop() if bots != "wire" else None
    try:
        if loop is None:
            return _measure_wire(url, clients, duration, warmup, secret, progress, frames)
        measure = _measure_sdk(url, clients, duration, warmup, bots == "light", secret, progress, frames)
        return loop.run_until_complete(measure)
    finally:
        if loop is not None:
            loop.close()
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
