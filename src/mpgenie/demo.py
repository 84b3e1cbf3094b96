"""``mpgenie demo``: the platform on localhost — API and realtime server in one process — with SDK bots that
register, log in and join a session created through the API, then walk, co-operate at beacons and collect; a live
summary. Ctrl-C (or ``seconds``) stops it: bots leave, the servers say goodbye and shut down. The demo's database
is a SQLite file in a temporary directory, removed at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from rich.console import Console
from rich.live import Live
from rich.table import Table

from mpgenie.agents.mixture import AgentsSpec, LearnedBots, ViewBots
from mpgenie.api.settings import Settings
from mpgenie.errors import UsageError
from mpgenie.genie.streamer import FrameStreamer
from mpgenie.net.bots import BotSwarm
from mpgenie.net.connections import ServerSettings
from mpgenie.net.core import ServerCore
from mpgenie.net.server import RealtimeServer, new_event_loop
from mpgenie.platform import start_platform, stop_platform
from mpgenie.world.config import WorldConfig

WORLD_EVENT_EVERY_S = 10.0
HUMAN_SEATS = 8  # seats of the demo session left for people joining from the browser (/play)
DEMO_ADMIN = "demo-admin"
# bandit B105: a throw-away database in a temporary directory; nothing else uses it
DEMO_PASSWORD = "demo-password"  # nosec B105


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
    learned_actions: int = 0  # actions the learned bots chose and sent (demo --agents population:DIR or bc:CKPT)


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
    if s.learned_actions:
        t.add_row("actions chosen by learned bots", str(s.learned_actions))
    return t


async def _join_through_the_api(api_url: str, bots: int, world: dict[str, object]) -> tuple[str, str, list[str]]:
    """As a client would: the demo admin creates a session, each bot registers, logs in and joins it."""
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        r = await http.post("/v1/auth/login", json={"username": DEMO_ADMIN, "password": DEMO_PASSWORD})
        r.raise_for_status()
        admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
        r = await http.post(
            "/v1/sessions", headers=admin, json={"name": "demo", "max_players": bots + HUMAN_SEATS, "world": world}
        )
        r.raise_for_status()
        session_id = r.json()["id"]
        await http.post(f"/v1/sessions/{session_id}/start", headers=admin)
        tickets = []
        url = ""
        for i in range(bots):
            name = f"demo-bot-{i}"
            await http.post("/v1/auth/register", json={"username": name, "password": DEMO_PASSWORD})
            r = await http.post("/v1/auth/login", json={"username": name, "password": DEMO_PASSWORD})
            r.raise_for_status()
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
            r = await http.post(f"/v1/sessions/{session_id}/join", headers=headers)
            r.raise_for_status()
            tickets.append(r.json()["ticket"])
            url = r.json()["realtime_url"]
        return session_id, url, tickets


async def _demo(
    bots: int,
    seconds: float,
    seed: int,
    host: str,
    port: int,
    api_port: int,
    console: Console,
    stop: asyncio.Event,
    agents: AgentsSpec | None = None,
) -> DemoSummary:
    cfg = WorldConfig.scaled_for_density(max(bots, 1), seed=seed)
    world = {
        k: getattr(cfg, k)
        for k in ("seed", "radius", "num_landmarks", "num_collectibles", "num_beacons", "num_hazards")
    }
    workdir = Path(tempfile.mkdtemp(prefix="mpgenie-demo-"))
    api_settings = Settings(
        database_url=f"sqlite+aiosqlite:///{workdir}/demo.db",
        bootstrap_admin=f"{DEMO_ADMIN}:{DEMO_PASSWORD}",
        log_level="WARNING",  # the live table is the demo's output
    )
    platform = await start_platform(api_settings, cfg, ServerSettings(), host, port, api_port, streamer=FrameStreamer())
    server = platform.realtime
    assert server is not None and platform.api_url is not None
    console.print(f"API [bold]{platform.api_url}/docs[/]; realtime [bold]{server.url}[/]; Ctrl-C stops")
    session_id, url, tickets = await _join_through_the_api(platform.api_url, bots, world)
    console.print(f"session {session_id[:8]} made through the API; {bots} bots joined via API tickets")
    console.print(f"play in a browser: [bold]{platform.api_url}/play/?session={session_id}&guest=1[/]")
    policy = None
    learned: LearnedBots | ViewBots | None = None
    if agents is not None and agents.population is not None:
        learned = LearnedBots(bots, agents, seed)
        console.print(f"{int((learned.assigned >= 0).sum())} of {bots} bots are learned members ({agents.text})")
    elif agents is not None and agents.factory is not None:
        learned = ViewBots(agents.factory(seed), agents.resolution)
        console.print(f"{bots} of {bots} bots are driven by {agents.text} from their rendered views")
    if learned is not None:
        driver = learned

        def policy(actions: np.ndarray, players: np.ndarray) -> None:
            core = server.router.cores.get(session_id)  # there once the first bot joined
            if core is not None:
                driver.act(core.world, actions, players)

    swarm = BotSwarm(url, bots, seed=seed, tickets=tickets, policy=policy)
    await swarm.connect_all()
    runner = asyncio.ensure_future(swarm.run())
    core = server.router.cores[session_id]
    start = time.monotonic()
    next_event = start + WORLD_EVENT_EVERY_S
    summary = _summary(server, core, swarm)
    with Live(_table(summary, 0.0), console=console, refresh_per_second=4) as live:
        while not stop.is_set() and (seconds <= 0 or time.monotonic() - start < seconds):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
            now = time.monotonic()
            if now >= next_event:
                core.announce("snowfall", {"intensity": round(float(np.random.default_rng().random()), 2)})
                next_event = now + WORLD_EVENT_EVERY_S
            summary = _summary(server, core, swarm)
            if learned is not None:
                summary.learned_actions = learned.driven
            live.update(_table(summary, now - start))
    swarm.stop()
    await runner
    await swarm.close()
    await stop_platform(platform)
    shutil.rmtree(workdir, ignore_errors=True)
    console.print("\ndemo stopped: bots left, server shut down cleanly")
    return summary


def _summary(server: RealtimeServer, core: ServerCore, swarm: BotSwarm) -> DemoSummary:
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
    api_port: int = 8000,
    console: Console | None = None,
    agents: AgentsSpec | None = None,
) -> DemoSummary:
    """Serve with ``bots`` SDK bots until Ctrl-C, or for ``seconds`` when positive; with a population
    (``agents``), learned members drive a share of the bots (their inputs go over the network like the others')."""
    if bots < 1:
        raise UsageError("bots must be >= 1")
    if seconds < 0:
        raise UsageError("seconds must be >= 0 (0: until Ctrl-C)")
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        return loop.run_until_complete(
            _demo(bots, seconds, seed, host, port, api_port, console or Console(), stop, agents)
        )
    finally:
        loop.close()
