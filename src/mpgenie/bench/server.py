"""``mpgenie bench server``: the realtime server's own per-tick work, without sockets.

The server's own session router and ``ServerCore`` with N in-memory peers (``send`` keeps nothing): each tick every
client sends one input (routed and decoded for real, as the socket layer hands it over) and the core steps the
world and builds and encodes every snapshot. This isolates the Python cost of
the server from the network system calls that ``mpgenie loadtest`` adds, so the two together say where a real
tick's time goes.

It is deterministic (seeded world, seeded actions, virtual time), which makes it the driver for instruction
counts: the clients' input frames are all encoded before the timed ticks, so what runs between the first and the
last timed tick is the server's work only. ``cpu_us_per_client_tick`` is process CPU time over those ticks (not
wall time), divided by clients x ticks; under ``valgrind --tool=callgrind`` the difference of two runs with
different ``ticks`` gives instructions per client-tick without the start-up (BENCHMARKS.md has the commands).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from mpgenie.agents.scripted import HeldActions
from mpgenie.errors import UsageError
from mpgenie.net import protocol as p
from mpgenie.net.connections import ServerSettings
from mpgenie.net.router import SessionRouter
from mpgenie.net.tickets import DEV_SECRET, issue_ticket
from mpgenie.world.config import WorldConfig


class _NullPeer:
    def send(self, data: bytes) -> None:
        pass

    def backlog(self) -> int:
        return 0

    def close(self, code: int, reason: str, abort: bool = False) -> None:
        pass


def _ms(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1e3, q)) if values else 0.0


def bench_server(
    clients: int, ticks: int, warmup: int = 20, seed: int = 0, progress: Callable[[int], None] | None = None
) -> dict[str, Any]:
    if clients < 1 or ticks < 1 or warmup < 0:
        raise UsageError("clients and ticks must be >= 1, warmup >= 0")
    router = SessionRouter(WorldConfig.scaled_for_density(clients, seed=seed), ServerSettings(max_players=clients))
    core = router.default
    peers = [_NullPeer() for _ in range(clients)]
    now = 0.0
    for i, peer in enumerate(peers):
        router.on_connect(peer, now)
        router.on_message(peer, p.encode(p.Hello(p.PROTOCOL_VERSION, issue_ticket(DEV_SECRET, f"b{i}"))), now)
    brain = HeldActions(seed)
    # Every client's input of every tick, encoded up front: the timed loop is the server's work alone. Each input
    # acknowledges the previous tick's snapshot and names the tick it is meant for, as a client in step does.
    start = core.world.tick
    frames = [
        [p.encode(p.Input(k + 1, start + k + 1, a, start + k)) for a in brain.next(clients).tolist()]
        for k in range(warmup + ticks)
    ]
    gc.collect()
    gc.freeze()  # as the server does
    timings: dict[str, list[float]] = {"inputs": [], "step": [], "deltas": [], "send": [], "tick": []}
    cpu = 0.0
    for k in range(warmup + ticks):
        now += core.cfg.dt
        c0 = time.process_time()
        t0 = time.perf_counter()
        for peer, frame in zip(peers, frames[k], strict=True):
            router.on_message(peer, frame, now)
        t1 = time.perf_counter()
        report = core.tick(now)
        t2 = time.perf_counter()
        if k >= warmup:
            cpu += time.process_time() - c0
            timings["inputs"].append(t1 - t0)
            timings["tick"].append(t2 - t1)
            timings["step"].append(report.step_s)
            timings["deltas"].append(report.deltas_s)
            timings["send"].append(report.send_s)
            if progress is not None:
                progress(k - warmup + 1)
    out: dict[str, Any] = {"clients": clients, "ticks": ticks}
    for name, values in timings.items():
        out[f"{name}_ms_p50"] = _ms(values, 50)
        out[f"{name}_ms_p99"] = _ms(values, 99)
    out["total_ms_p50"] = out["inputs_ms_p50"] + out["tick_ms_p50"]
    out["tick_budget_share"] = out["total_ms_p50"] / (1000.0 * core.cfg.dt)
    out["cpu_us_per_client_tick"] = 1e6 * cpu / (clients * ticks)  # process CPU (all threads), not wall time
    return out
