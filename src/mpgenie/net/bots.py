"""Bots built on the client SDK: many :class:`~mpgenie.net.client.GameClient` connections driven from one loop.

Used by ``make demo`` (a handful of full clients that predict and steer to beacons) and by ``mpgenie loadtest``
(a thousand or more clients). Inputs go out on each bot's own phase of the tick (bots are spread over
``phases`` slots per tick), as real clients on independent clocks would send them, rather than all at once.

``light`` bots skip entity reconstruction and prediction and read each snapshot only up to what a client acts on
(:class:`~mpgenie.net.protocol.SnapshotHeader`: tick, ack_seq, queued, record counts; every other message in
full). They still acknowledge every snapshot, pace by the server's rate and measure latency exactly as the full
client does: the load generator shares a 2-core machine with the server, and full decoding and delta application
for a thousand clients would measure the load generator rather than the server.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from picows import WSError

from mpgenie.agents.scripted import HeldActions
from mpgenie.net.client import ClientState, GameClient
from mpgenie.net.tickets import DEV_SECRET, issue_ticket


@dataclass(frozen=True, slots=True)
class SwarmStats:
    clients: int
    connected: int
    dropped: int
    failed_to_connect: int
    snapshots: int
    bytes_in: int
    entity_records: int
    latencies_s: np.ndarray
    corrections_m: float
    event_count: int
    frames: int = 0


def swarm_stats(
    n: int, states: list[ClientState], connected: list[bool], failed: int, corrections_m: float = 0.0
) -> SwarmStats:
    """What a swarm of ``n`` clients measured (``connected[i]``: client ``i``'s connection is open now)."""
    joined = [s.welcome is not None for s in states]
    return SwarmStats(
        clients=n,
        connected=sum(connected),
        dropped=sum(j and not c for j, c in zip(joined, connected, strict=True)),
        failed_to_connect=failed,
        snapshots=sum(s.snapshots for s in states),
        bytes_in=sum(s.bytes_in for s in states),
        entity_records=sum(s.entity_records for s in states),
        latencies_s=np.array([x for s in states for x in s.latencies]),
        corrections_m=corrections_m,
        event_count=sum(len(s.events) for s in states),
        frames=sum(s.frames_received for s in states),
    )


def pace_s(states: Iterable[ClientState], nominal_rate: int) -> float:
    """Seconds per server tick for a swarm's inputs: the slowest rate any of these clients' server announced
    (``Rate``; one server, usually), else the nominal rate. An overloaded server gets fewer inputs, not a backlog."""
    paces = [s.input_interval for s in states if s.server_rate > 0]
    return max(paces) if paces else 1.0 / nominal_rate


class BotSwarm:
    """``n`` bot clients of one server."""

    def __init__(
        self,
        url: str,
        n: int,
        secret: str = DEV_SECRET,
        session: str = "default",
        light: bool = False,
        seed: int = 0,
        phases: int = 10,
        name: str = "bot",
        tickets: list[str] | None = None,
        frames: int = 0,
        policy: Callable[[NDArray[np.int8], NDArray[np.int64]], None] | None = None,
    ) -> None:
        """``tickets``: join tickets from the platform API, one per bot; without them the bots sign their own
        development tickets with ``secret`` (the standalone server and the load test). ``policy(actions,
        players)``, when given, may overwrite each tick's scripted actions (bot ``i`` is player ``players[i]``,
        -1 before it joined): how learned agents play as bots (``mpgenie demo --agents``)."""
        self.url = url
        self.n = n
        self.light = light
        self.phases = max(1, phases)
        self.brain = HeldActions(seed)
        self.policy = policy
        self.clients = [
            GameClient(
                url,
                tickets[i] if tickets is not None else issue_ticket(secret, f"{name}-{seed}-{i}", session, ttl_s=600),
                predict=not light,
                track_entities=not light,
                frames=frames,
                light=light,
            )
            for i in range(n)
        ]
        self.failed = 0
        self.tick_rate = 20
        self._stop = asyncio.Event()
        self._beacons: np.ndarray | None = None

    async def connect_all(self, concurrency: int = 32, timeout: float = 20.0) -> int:
        """Connect every bot (``concurrency`` handshakes at a time); returns how many joined."""
        gate = asyncio.Semaphore(concurrency)

        async def one(c: GameClient) -> bool:
            async with gate:
                try:
                    await c.connect(timeout=timeout)
                    return True
                except (TimeoutError, OSError, ConnectionError, WSError):
                    return False

        ok = await asyncio.gather(*(one(c) for c in self.clients))
        gc.collect()
        gc.freeze()
        self.failed = ok.count(False)
        joined = [c for c in self.clients if c.state.welcome is not None]
        if joined:
            self.tick_rate = joined[0].state.welcome.tick_rate  # type: ignore[union-attr]
        return ok.count(True)

    def stop(self) -> None:
        self._stop.set()

    async def run(self, duration_s: float | None = None) -> None:
        """Send one input per bot per server tick until ``duration_s`` passes or :meth:`stop` is called. The pace
        follows the rate the server announces (``Rate``): an overloaded server gets fewer inputs, not a backlog."""
        groups = [self.clients[k :: self.phases] for k in range(self.phases)]
        index = [np.arange(k, self.n, self.phases) for k in range(self.phases)]
        start = time.monotonic()
        next_at = start
        phase = 0
        tick = 0
        while not self._stop.is_set() and (duration_s is None or time.monotonic() - start < duration_s):
            if phase == 0:
                actions = self.brain.next(self.n)
                if not self.light:
                    self._steer(actions, tick)
                if self.policy is not None:
                    self.policy(actions, self.players())
                tick += 1
                if tick % 200 == 0:
                    gc.freeze()  # as the server does: keep full collections short (see mpgenie.net.server)
            for i, c in zip(index[phase].tolist(), groups[phase], strict=True):
                if c.connected and c.state.welcome is not None:
                    c.send_input(int(actions[i]))
            phase = (phase + 1) % self.phases
            next_at += self._pace() / self.phases
            delay = next_at - time.monotonic()
            if delay < -1.0:  # far behind (machine overloaded): do not burst to catch up
                next_at = time.monotonic()
            await asyncio.sleep(max(0.0, delay))

    def players(self) -> NDArray[np.int64]:
        """Each bot's player id (-1 until it is welcomed)."""
        return np.array(
            [c.state.welcome.player if c.state.welcome is not None else -1 for c in self.clients], dtype=np.int64
        )

    def _pace(self) -> float:
        return pace_s([c.state for c in self.clients[:: max(1, self.n // 16)]], self.tick_rate)

    def _steer(self, actions: np.ndarray, tick: int) -> None:
        ready = [i for i, c in enumerate(self.clients) if c.state.predictor is not None and c.state.predictor.synced]
        if not ready:
            return
        cfg = self.clients[ready[0]].state.cfg
        assert cfg is not None
        if self._beacons is None:  # the server sends the layout in the welcome
            welcome = self.clients[ready[0]].state.welcome
            assert welcome is not None
            self._beacons = np.asarray(welcome.layout.get("beacons", []), dtype=np.float64).reshape(-1, 3)
        pos = np.array([self.clients[i].state.predictor.pos[0] for i in ready])  # type: ignore[union-attr]
        fwd = np.array([self.clients[i].state.predictor.fwd[0] for i in ready])  # type: ignore[union-attr]
        self.brain.steer_seekers(actions, np.array(ready), pos, fwd, self._beacons, cfg.radius, cfg.beacon_radius, tick)

    def stats(self) -> SwarmStats:
        return swarm_stats(
            self.n,
            [c.state for c in self.clients],
            [c.connected for c in self.clients],
            self.failed,
            corrections_m=float(max((c.state.max_correction_m for c in self.clients), default=0.0)),
        )

    def reset_measurements(self) -> None:
        for c in self.clients:
            c.state.reset_measurements()

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)
