"""The realtime server's connection and session types: what :class:`~mpgenie.net.core.ServerCore` keeps per
connection and per player, its settings, its tick report and the WebSocket close codes it uses.

They live apart from the core so that the transports (:mod:`mpgenie.net.server`, the tests' in-memory peers), the
router and :mod:`mpgenie.net.delivery` can name them without importing the message handling, and so that the core
module is about behaviour only.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from mpgenie.net import protocol as p
from mpgenie.net.tickets import DEV_SECRET
from mpgenie.world.validator import PlayerValidator

# WebSocket close codes (RFC 6455, section 7.4.1) the core closes connections with.
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_TRY_LATER = 1013


class Peer(Protocol):
    """One client connection as the core sees it."""

    def send(self, data: bytes) -> None: ...

    def backlog(self) -> int:
        """Bytes accepted by :meth:`send` but not yet handed to the kernel (whose own send queue the transport
        bounds with ``kernel_send_buffer_bytes``)."""
        ...

    def close(self, code: int, reason: str, abort: bool = False) -> None:
        """Close with a close frame; ``abort``: drop the connection now, without waiting for the send buffer to
        drain (a client that stopped reading never drains it)."""
        ...


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Tunables of the realtime server (the world's own live in :class:`WorldConfig`)."""

    session: str = "default"
    max_sessions: int = 64  # worlds a node creates from tickets (the default session not counted): each costs a world
    join_secret: str = DEV_SECRET
    max_players: int = 5000
    max_spectators: int = 200
    resume_grace_s: float = 30.0
    history_depth: int = 32
    max_input_backlog: int = 4
    max_send_backlog_bytes: int = 256 * 1024  # beyond this the connection is closed at once
    slow_backlog_bytes: int = 16 * 1024  # beyond this a client gets no snapshots until it drains (it degrades)
    max_behind_s: float = 10.0  # ...and if it stays behind this long, it is closed (its player may resume)
    kernel_send_buffer_bytes: int = 64 * 1024  # SO_SNDBUF: bounds what the kernel queues for a non-reader
    max_frame_bytes: int = 4096
    kick_violations: int = 50
    violation_window_s: float = 10.0
    errors_per_s: float = 5.0
    error_burst: int = 20
    event_buffer: int = 1024
    hello_timeout_s: float = 10.0
    control_per_s: float = 40.0  # ping / ack / spectate / hello messages (inputs have their own limit)
    control_burst: int = 80
    saturation: float = 0.9  # admission control: refuse new players while ticking below this share of the nominal
    # rate, or while a tick's work takes more than this share of its budget (the server loop reports work)


class TickPace:
    """How fast the server really ticks and how busy it is: exponentially weighted over about a second of ticks.

    The core reads no clock; it learns the intervals from the ``now`` of each tick, and the server loop reports how
    long each tick's work took. Both are what admission control and the announced effective rate go by."""

    def __init__(self, tick_rate: int, smoothing: float = 0.1) -> None:
        self.nominal = float(tick_rate)
        self.smoothing = smoothing
        self.interval = 1.0 / tick_rate
        self.busy = 0.0  # share of the tick budget spent working
        self._last: float | None = None

    def tick(self, now: float) -> None:
        if self._last is not None:
            gap = max(0.0, now - self._last)
            self.interval += self.smoothing * (gap - self.interval)
        self._last = now

    def work(self, seconds: float) -> None:
        self.busy += self.smoothing * (seconds * self.nominal - self.busy)

    @property
    def rate(self) -> float:
        return 1.0 / self.interval if self.interval > 0 else self.nominal

    def saturated(self, threshold: float) -> bool:
        return self.rate < threshold * self.nominal or self.busy > threshold


@dataclass(eq=False, slots=True)
class PlayerSession:
    """A player in the world, with or without a live connection (a dropped one waits ``resume_grace_s``)."""

    player: int
    subject: str
    resume: str
    validator: PlayerValidator
    inputs: deque[tuple[int, int, float]] = field(default_factory=deque)  # (seq, action, arrived at)
    ack_seq: int = 0
    conn: Conn | None = None
    dropped_at: float | None = None
    log: deque[tuple[int, p.WireEvent]] = field(default_factory=deque)
    next_event: int = 1


@dataclass(eq=False, slots=True)
class Conn:
    """One connection: either a player's (``session``) or a spectator's (``spectate``), or not yet joined."""

    peer: Peer
    session: PlayerSession | None = None
    spectate: p.Spectate | None = None
    view_point: NDArray[np.float64] | None = None
    uid: int = 0  # unique within its core: names it in the core's SentViews
    sent_ticks: list[int] = field(default_factory=list)  # ring (history_depth): the tick sent in each slot
    acked: int = 0
    outbox: list[p.WireEvent] = field(default_factory=list)
    outbox_first: int = 0
    spectator_next_event: int = 1
    violations: deque[float] = field(default_factory=deque)
    error_tokens: float = 0.0
    error_at: float = 0.0
    closed: bool = False
    frames_per_s: int = 0  # world-model frames the client asked for
    control_tokens: float = 0.0
    control_at: float = 0.0
    connected_at: float = 0.0
    follow_generation: int = 0
    behind_since: float | None = None  # since when the send backlog has been over ``slow_backlog_bytes``

    @property
    def joined(self) -> bool:
        return self.session is not None or self.spectate is not None


@dataclass(frozen=True, slots=True)
class TickReport:
    """What one tick did, and where its time went (seconds): the simulation, the batched delta build, and the
    per-client encode-and-send loop (which includes the transport's ``send``)."""

    tick: int
    events: int
    snapshots: int
    bytes_out: int
    step_s: float = 0.0
    deltas_s: float = 0.0
    send_s: float = 0.0
