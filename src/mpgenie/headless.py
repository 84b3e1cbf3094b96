"""``mpgenie simulate``: a headless session of scripted bots on the planet, with a live summary.

Until the realtime server exists this is the product's main job: it runs the authoritative simulation at its
fixed tick rate (or as fast as possible with ``realtime=False``) and reports players, events and tick cost.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from rich.console import Console
from rich.live import Live
from rich.table import Table

from mpgenie.agents.scripted import ScriptedBots
from mpgenie.errors import UsageError
from mpgenie.world.config import WorldConfig
from mpgenie.world.simulation import World


@dataclass
class DemoStats:
    tick: int = 0
    players: int = 0
    events: Counter[str] = field(default_factory=Counter)
    tick_ms: list[float] = field(default_factory=list)
    aoi_neighbors: float = 0.0
    top_score: int = 0
    beacons_lit: int = 0

    def table(self, title: str) -> Table:
        t = Table(title=title, show_header=True, header_style="bold cyan")
        t.add_column("metric")
        t.add_column("value", justify="right")
        recent = self.tick_ms[-200:]
        t.add_row("tick", str(self.tick))
        t.add_row("players", str(self.players))
        t.add_row("players in view (mean)", f"{self.aoi_neighbors:.1f}")
        if recent:
            t.add_row(
                "tick time p50 / p99 (ms)",
                f"{np.percentile(recent, 50):.2f} / {np.percentile(recent, 99):.2f}",
            )
        for kind in (
            "pickup",
            "beacon_activated",
            "attack_hit",
            "hazard_hit",
            "respawn",
            "aoi_enter",
            "aoi_leave",
        ):
            t.add_row(f"events: {kind}", str(self.events.get(kind, 0)))
        t.add_row("beacons lit", str(self.beacons_lit))
        t.add_row("top score", str(self.top_score))
        return t


def run_headless(
    players: int = 200,
    seconds: float = 10.0,
    seed: int = 0,
    realtime: bool = True,
    console: Console | None = None,
) -> DemoStats:
    """Run ``players`` bots for ``seconds`` of simulated time; returns the final statistics."""
    if players < 1:
        raise UsageError("players must be >= 1")
    if seconds <= 0:
        raise UsageError("seconds must be > 0")
    console = console or Console()
    cfg = WorldConfig.scaled_for_density(max(players, 100), seed=seed)
    world = World(cfg)
    world.add_players(players)
    bots = ScriptedBots(world, seed)
    stats = DemoStats()
    ticks = max(1, round(seconds * cfg.tick_rate))
    title = f"headless session: R={cfg.radius:.0f} m, {cfg.tick_rate} Hz, seed {seed}"
    start = time.perf_counter()
    with Live(stats.table(title), console=console, refresh_per_second=4, transient=False) as live:
        for i in range(ticks):
            t0 = time.perf_counter()
            result = world.step(bots.act())
            stats.tick_ms.append((time.perf_counter() - t0) * 1e3)
            stats.tick = result.tick
            stats.players = world.num_players
            stats.events.update(e.kind for e in result.events)
            stats.events["aoi_enter"] += result.aoi.num_enter
            stats.events["aoi_leave"] += result.aoi.num_leave
            if i % 5 == 0 or i == ticks - 1:
                stats.aoi_neighbors = world.aoi.num_entries / max(stats.players, 1)
                stats.top_score = int(world.score[: world.num_slots].max(initial=0))
                stats.beacons_lit = int(world.beacon_activations.sum())
                live.update(stats.table(title))
            if realtime:
                delay = start + (i + 1) * cfg.dt - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
    return stats
