"""A deterministic network in virtual time: ServerCore and ClientStates exchanging frames with latency, jitter
and loss, so prediction, reconciliation, interpolation and delta encoding are tested without sockets or clocks.

Delivery keeps each direction in order (as TCP does) unless ``reorder`` is set; ``loss`` drops frames outright
(a worst case for an unreliable transport: the client's acks then point at older baselines).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mpgenie.net import protocol as p
from mpgenie.net.client import ClientState
from mpgenie.net.connections import ServerSettings
from mpgenie.net.core import ServerCore
from mpgenie.net.tickets import DEV_SECRET, issue_ticket
from mpgenie.world.config import WorldConfig


@dataclass
class Link:
    latency_s: float = 0.03
    jitter_s: float = 0.0
    loss: float = 0.0
    last_at: float = 0.0

    def delivery_time(self, now: float, rng: np.random.Generator) -> float | None:
        if self.loss and rng.random() < self.loss:
            return None
        at = now + self.latency_s + (rng.random() * self.jitter_s if self.jitter_s else 0.0)
        at = max(at, self.last_at)  # in order
        self.last_at = at
        return at


@dataclass(eq=False)
class SimPeer:
    """The server's side of one simulated connection."""

    net: SimNet
    client: SimClient
    closed: bool = False  # by the server (frames it sent before closing still arrive, as over TCP)
    cut: bool = False  # by the client (nothing arrives any more)
    close_code: int = 0

    def send(self, data: bytes) -> None:
        if not self.closed:
            self.net.deliver_to_client(self, data)

    def backlog(self) -> int:
        return 0

    def close(self, code: int, reason: str, abort: bool = False) -> None:
        self.closed = True
        self.close_code = code
        self.net.at(self.net.now, lambda: self.net.server.on_disconnect(self, self.net.now))


@dataclass(eq=False)
class SimClient:
    state: ClientState
    up: Link
    down: Link
    peer: SimPeer | None = None
    phase_s: float = 0.0
    input_dt: float = 0.05
    follow_rate: bool = True  # pace inputs to the rate the server announces (as the SDK's bots do)
    policy: Callable[[SimClient, int], int | None] | None = None
    corrections: list[float] = field(default_factory=list)
    received: list[p.ServerMessage] = field(default_factory=list)


class SimNet:
    def __init__(self, cfg: WorldConfig, settings: ServerSettings | None = None, seed: int = 0) -> None:
        self.server = ServerCore(cfg, settings)
        self.cfg = cfg
        self.now = 0.0
        self.rng = np.random.default_rng(seed)
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self.clients: list[SimClient] = []
        self.dt = 1.0 / cfg.tick_rate
        self._next_tick = self.dt
        # Virtual seconds a tick's work takes, by the time it starts (default: none). A tick that takes longer than
        # the budget delays the next one, as the real loop does (it starts at once and never replays a backlog).
        self.tick_cost: Callable[[float], float] | None = None

    def at(self, when: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (when, next(self._order), fn))

    def deliver_to_client(self, peer: SimPeer, data: bytes) -> None:
        at = peer.client.down.delivery_time(self.now, self.rng)
        if at is not None:
            self.at(at, lambda: None if peer.cut else self._client_receive(peer.client, data))

    def _client_receive(self, client: SimClient, data: bytes) -> None:
        msg = client.state.handle(data, self.now)
        client.received.append(msg)
        if isinstance(msg, p.Snapshot) and client.state.predictor is not None and msg.you is not None:
            client.corrections.append(client.state.predictor.last_correction_m)

    def send_from_client(self, client: SimClient, data: bytes) -> None:
        at = client.up.delivery_time(self.now, self.rng)
        peer = client.peer
        if at is not None and peer is not None:
            self.at(at, lambda: None if peer.closed else self.server.on_message(peer, data, self.now))

    def connect(
        self,
        name: str,
        up: Link | None = None,
        down: Link | None = None,
        policy: Callable[[SimClient, int], int | None] | None = None,
        spectate: p.Spectate | None = None,
        phase_s: float | None = None,
        interp_delay_s: float = 0.1,
        hello: bytes | None = None,
        clock_rate: float = 1.0,
    ) -> SimClient:
        token = issue_ticket(DEV_SECRET, name, "default")
        client = SimClient(ClientState(token, spectate, interp_delay_s), up or Link(), down or Link())
        client.policy = policy
        client.input_dt = self.dt / clock_rate  # a client clock running fast or slow against the server's
        client.phase_s = float(self.rng.random() * self.dt) if phase_s is None else phase_s
        self.clients.append(client)
        self._open(client, resume=False, hello=hello)
        self._schedule_input(client, self.now + client.phase_s)
        return client

    def _open(self, client: SimClient, resume: bool, hello: bytes | None = None) -> None:
        peer = SimPeer(self, client)
        client.peer = peer
        client.up.last_at = client.down.last_at = self.now
        self.server.on_connect(peer, self.now)
        self.send_from_client(client, hello if hello is not None else client.state.hello(resume=resume))

    def drop(self, client: SimClient) -> None:
        """Cut the connection (the server notices at once)."""
        assert client.peer is not None
        peer = client.peer
        peer.closed = peer.cut = True
        self.server.on_disconnect(peer, self.now)

    def resume(self, client: SimClient) -> None:
        self._open(client, resume=True)

    def _schedule_input(self, client: SimClient, when: float) -> None:
        def fire() -> None:
            st = client.state
            peer = client.peer
            if peer is not None and not peer.closed and st.welcome is not None and st.snapshot is not None:
                if st.player >= 0 and client.policy is not None:
                    action = client.policy(client, st.seq)
                    data = st.paced_input(action, self.now) if action is not None else None
                    if data is not None:
                        self.send_from_client(client, data)
                else:
                    self.send_from_client(client, st.ack())
            interval = client.input_dt
            if client.follow_rate and st.server_rate > 0:
                interval *= self.cfg.tick_rate / st.server_rate  # one input per server tick, as the server says
            self._schedule_input(client, when + interval)

        self.at(when, fire)

    def run(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            next_event = self._queue[0][0] if self._queue else float("inf")
            if min(next_event, self._next_tick) > end:
                break
            if self._next_tick <= next_event:
                self.now = self._next_tick
                self.server.tick(self.now)
                cost = self.tick_cost(self.now) if self.tick_cost is not None else 0.0
                self.server.pace.work(cost)
                self._next_tick += max(self.dt, cost)
            else:
                self.now, _, fn = heapq.heappop(self._queue)
                fn()
        self.now = end
