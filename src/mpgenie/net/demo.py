"""``mpgenie demo``: the realtime server on localhost with SDK bots walking, co-operating at beacons and
collecting, and a live summary. Other clients can join at the printed address with a ticket from
``mpgenie ticket``. Ctrl-C (or ``seconds``) stops it: bots leave, the server says goodbye and shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from dataclasses import dataclass

import numpy as np
from rich.console import Console
from rich.live import Live
from rich.table import Table

from mpgenie.net.bots import BotSwarm
from mpgenie.net.core import ServerSettings
from mpgenie.net.server import RealtimeServer, new_event_loop
from mpgenie.world.config import WorldConfig

WORLD_EVENT_EVERY_S = 10.0


@dataclass
class DemoSummary:
    url: str
    ticks: int
    players: int
    events: dict[str, int]
    beacons_lit: int
    pickups: int
    latency_ms_p50: float
    max_correction_m: float
    tick_ms_p99: float


def _table(s: DemoSummary, elapsed: float) -> Table:
    t = Table(title=f"mpgenie realtime demo — {s.url}", header_style="bold cyan")
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_row("running for", f"{elapsed:.0f} s")
    t.add_row("tick", str(s.ticks))
    t.add_row("players connected", str(s.players))
    t.add_row("tick time p99 (ms)", f"{s.tick_ms_p99:.2f}")
    t.add_row("input -> ack latency p50 (ms)", f"{s.latency_ms_p50:.1f}")
    t.add_row("largest prediction correction (m)", f"{s.max_correction_m:.3f}")
    for kind, n in sorted(s.events.items()):
        t.add_row(f"events: {kind}", str(n))
    t.add_row("beacons lit (co-op)", str(s.beacons_lit))
    t.add_row("collectibles picked up", str(s.pickups))
    return t


async def _demo(
    bots: int, seconds: float, seed: int, host: str, port: int, console: Console, stop: asyncio.Event
) -> DemoSummary:
    cfg = WorldConfig.scaled_for_density(max(bots, 1), seed=seed)
    server = RealtimeServer(cfg, ServerSettings(), host, port)
    await server.start()
    console.print(f"server at [bold]{server.url}[/] — join with a ticket from `mpgenie ticket`; Ctrl-C stops")
    swarm = BotSwarm(server.url, bots, seed=seed, name="demo")
    await swarm.connect_all()
    runner = asyncio.ensure_future(swarm.run())
    start = time.monotonic()
    next_event = start + WORLD_EVENT_EVERY_S
    summary = _summary(server, swarm)
    with Live(_table(summary, 0.0), console=console, refresh_per_second=4) as live:
        while not stop.is_set() and (seconds <= 0 or time.monotonic() - start < seconds):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
            now = time.monotonic()
            if now >= next_event:
                server.core.announce("snowfall", {"intensity": round(float(np.random.default_rng().random()), 2)})
                next_event = now + WORLD_EVENT_EVERY_S
            summary = _summary(server, swarm)
            live.update(_table(summary, now - start))
    swarm.stop()
    await runner
    await swarm.close()
    await server.stop()
    console.print("\ndemo stopped: bots left, server shut down cleanly")
    return summary


def _summary(server: RealtimeServer, swarm: BotSwarm) -> DemoSummary:
    core = server.core
    stats = swarm.stats()
    recent = [d for _, d in list(server.tick_times)[-200:]]
    return DemoSummary(
        url=server.url,
        ticks=core.world.tick,
        players=stats.connected,
        events=dict(core.event_counts),
        beacons_lit=int(core.world.beacon_activations.sum()),
        pickups=int(core.event_counts.get("pickup", 0)),
        latency_ms_p50=float(np.median(stats.latencies_s[-2000:]) * 1000) if stats.latencies_s.size else 0.0,
        max_correction_m=stats.corrections_m,
        tick_ms_p99=float(np.percentile(recent, 99) * 1000) if recent else 0.0,
    )


def run_network_demo(
    bots: int = 12,
    seconds: float = 0.0,
    seed: int = 0,
    host: str = "127.0.0.1",
    port: int = 7777,
    console: Console | None = None,
) -> DemoSummary:
    """Serve with ``bots`` SDK bots until Ctrl-C, or for ``seconds`` when positive."""
    if bots < 1:
        raise ValueError("bots must be >= 1")
    if seconds < 0:
        raise ValueError("seconds must be >= 0 (0: until Ctrl-C)")
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        return loop.run_until_complete(_demo(bots, seconds, seed, host, port, console or Console(), stop))
    finally:
        loop.close()
