"""The realtime server's logic, apart from sockets and clocks: sessions, inputs, ticks, snapshots, events.

:class:`ServerCore` is driven by three calls: :meth:`~ServerCore.on_message` for each received frame,
:meth:`~ServerCore.on_disconnect` when a connection ends, and :meth:`~ServerCore.tick` at the fixed tick rate.
Connections are :class:`~mpgenie.net.connections.Peer` objects (``send``, ``backlog``, ``close``). The asyncio
server (:mod:`mpgenie.net.server`) passes picows transports; tests pass in-memory peers with simulated latency, so
the same code is tested with real sockets and in deterministic virtual time.

This module handles what comes in (hellos, inputs, acks, closes) and steps the world; who is told what each tick
(event routing, snapshots) is :mod:`mpgenie.net.delivery`, and the per-connection and per-player records, settings
and close codes are :mod:`mpgenie.net.connections`.

Rules the code keeps:

- Inputs are applied one per player per tick, oldest first (a small per-player buffer absorbs jitter; beyond
  ``max_input_backlog`` the oldest are dropped). A player with no input that tick stands still (``noop``).
- Every snapshot echoes the last applied input seq and is delta-encoded against the newest snapshot the client
  acknowledged that the server still has (else it is full).
- Bad frames never reach the world: they get an error frame (rate-limited), count as violations, and enough
  violations within a window kick the connection. Nothing a client sends can raise out of ``on_message``.
- A slow client degrades, then goes: over ``slow_backlog_bytes`` of send backlog it gets no snapshots until it
  drains; behind for ``max_behind_s``, or over ``max_send_backlog_bytes``, it is disconnected and its player waits
  for a resume. With the kernel's send queue bounded too (``kernel_send_buffer_bytes``), a client that stops
  reading holds a bounded number of bytes for a bounded time.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict

import msgspec
import numpy as np
import structlog
from numpy.typing import NDArray

from mpgenie.net import delivery
from mpgenie.net import protocol as p
from mpgenie.net.connections import (
    CLOSE_GOING_AWAY,
    CLOSE_NORMAL,
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
    CLOSE_TRY_LATER,
    Conn,
    Peer,
    PlayerSession,
    ServerSettings,
    TickPace,
    TickReport,
)
from mpgenie.net.metrics import ServerMetrics
from mpgenie.net.snapshots import SentViews, StateHistory
from mpgenie.net.tickets import TICKET_USED, TicketError, TicketLedger, verify_ticket
from mpgenie.world.config import WorldConfig
from mpgenie.world.simulation import SnapshotError, World
from mpgenie.world.validator import ACCEPT, Validator

log = structlog.get_logger("mpgenie.realtime")
CHECKPOINT_VERSION = 1


class CheckpointPlayer(msgspec.Struct, array_like=True):
    """A player in a checkpoint: enough to give the same account its player back on another node."""

    player: int
    subject: str
    next_event: int  # the number its next event gets: a client that saw more is caught up in _on_hello
    score: int


class Checkpoint(msgspec.Struct):
    """A session's state as a realtime node saves it for failover (``ServerCore.checkpoint``)."""

    version: int
    session: str
    world: bytes  # World.snapshot()
    generation: bytes  # int64 per slot: join generations (spectators following a player notice a new occupant)
    players: list[CheckpointPlayer]


class CheckpointError(ValueError):
    """Bytes that are not a session checkpoint this server can restore."""


class ServerCore:
    """One authoritative world and everyone connected to it."""

    def __init__(
        self,
        cfg: WorldConfig | None = None,
        settings: ServerSettings | None = None,
        metrics: ServerMetrics | None = None,
        on_kick: Callable[[str, str, str], None] | None = None,
        on_presence: Callable[[str, str, bool], None] | None = None,
        tickets: TicketLedger | None = None,
    ) -> None:
        self.cfg = cfg or WorldConfig()
        self.tickets = tickets if tickets is not None else TicketLedger()  # shared by a node's sessions
        self.settings = settings or ServerSettings()
        self.metrics = metrics or ServerMetrics()
        self.world = World(self.cfg)
        self.validator = Validator(self.cfg)
        self.history = StateHistory(self.settings.history_depth)
        self.sent_views = SentViews(self.settings.history_depth)
        self._uids = itertools.count(1)
        self.generation = np.zeros(16, dtype=np.int64)
        self.conns: dict[Peer, Conn] = {}
        self.sessions: dict[str, PlayerSession] = {}  # by resume token
        self.by_player: dict[int, PlayerSession] = {}
        self.by_subject: dict[str, PlayerSession] = {}
        self._announcements: list[p.EvWorld] = []
        self.event_counts: Counter[str] = Counter()  # by wire tag, for summaries
        self._config_wire = asdict(self.cfg)
        lay = self.world.layout
        self._layout_wire = {
            "landmarks": lay.landmark_pos.tolist(),
            "landmark_kinds": lay.landmark_kind.tolist(),
            "collectibles": lay.collectible_pos.tolist(),
            "beacons": lay.beacon_pos.tolist(),
            "hazards": lay.hazard_pos.tolist(),
            "spawn_points": self.world.spawns.points.tolist(),
        }
        self.closing = False
        self.on_kick = on_kick  # (session, subject, why): the platform writes it to its audit log
        self.on_presence = on_presence  # (session, subject, online): the platform's presence store
        self.now = 0.0  # time of the latest call in (for bookkeeping of closes; the core reads no clock)
        self.pace = TickPace(self.cfg.tick_rate)  # the effective rate and load: admission control, Rate messages
        self.announced = p.Rate(float(self.cfg.tick_rate))
        self._announced_at = -1e9

    # --- connections -------------------------------------------------------------------------------------------

    def on_connect(self, peer: Peer, now: float) -> None:
        s = self.settings
        self.conns[peer] = Conn(
            peer,
            uid=next(self._uids),
            sent_ticks=[-1] * s.history_depth,
            error_tokens=float(s.error_burst),
            control_tokens=float(s.control_burst),
            control_at=now,
            connected_at=now,
        )

    def on_disconnect(self, peer: Peer, now: float) -> None:
        conn = self.conns.pop(peer, None)
        if conn is None:
            return
        conn.closed = True
        self._detach(conn, now)

    def _detach(self, conn: Conn, now: float) -> None:
        """The connection is gone (or being closed): its player, if any, waits for a resume from now on."""
        s = conn.session
        if s is not None and s.conn is conn:
            s.conn = None
            s.dropped_at = now
            s.inputs.clear()
            self._presence(s.subject, False)
        self._update_gauges()

    def _presence(self, subject: str, online: bool) -> None:
        if self.on_presence is not None:
            self.on_presence(self.settings.session, subject, online)

    def on_message(self, peer: Peer, data: bytes | memoryview, now: float) -> None:
        """Handle one binary frame. Never raises for anything the client sent."""
        conn = self.conns.get(peer)
        if conn is not None:
            self.handle(conn, data, now)

    def handle(self, conn: Conn, data: bytes | memoryview, now: float) -> None:
        """:meth:`on_message` for a connection already looked up (the router has it at hand). Inputs, twenty a
        second per player, take the shortest path: decode, ack, validate, queue."""
        if conn.closed:
            return
        m = self.metrics
        m.frames_in += 1
        m.frame_bytes_in += len(data)
        self.now = now
        if len(data) > self.settings.max_frame_bytes:  # picows enforces this before us; kept for other transports
            self.fatal(
                conn, "too_big", f"frame of {len(data)} bytes over {self.settings.max_frame_bytes}", CLOSE_TOO_BIG
            )
            return
        try:
            msg = p.decode_client(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self._reject(conn, "malformed", f"undecodable message: {exc}", now)
            return
        if type(msg) is p.Input:
            s = conn.session
            if s is None:
                self._reject(conn, "not_joined", "send hello (as a player) before input", now)
                return
            self._on_ack(conn, msg.ack)
            verdict = s.validator.check_typed(msg.seq, msg.tick, msg.action, now)
            if verdict is not ACCEPT:
                self._reject(conn, str(verdict.reason), verdict.detail, now)
                return
            # Timing anomalies of honest clients are absorbed and counted, never violations (world/validator.py).
            if s.validator.clock_skewed(msg.tick, self.world.tick):
                m.absorbed_clock.inc()
            s.inputs.append((msg.seq, msg.action, now))
            if len(s.inputs) > self.settings.max_input_backlog:  # more inputs than ticks: the oldest goes
                s.inputs.popleft()
                m.absorbed_late.inc()
            return
        if not self._control_allowed(conn, now):
            self._reject(
                conn, "rate_limit", f"more than {self.settings.control_per_s:g} control messages per second", now
            )
            return
        if isinstance(msg, p.Ack):
            self._on_ack(conn, msg.tick)
        elif isinstance(msg, p.Ping):
            self._send(conn, p.Pong(msg.t, self.world.tick), "pong")
        elif isinstance(msg, p.Hello):
            self._on_hello(conn, msg, now)
        elif isinstance(msg, p.Spectate):
            self._on_spectate(conn, msg, now)
        else:  # Leave
            if conn.session is not None:
                self._remove_session(conn.session)
            self._close(conn, CLOSE_NORMAL, "left")

    def _control_allowed(self, conn: Conn, now: float) -> bool:
        s = self.settings
        conn.control_tokens = min(
            float(s.control_burst), conn.control_tokens + (now - conn.control_at) * s.control_per_s
        )
        conn.control_at = now
        if conn.control_tokens >= 1.0:
            conn.control_tokens -= 1.0
            return True
        return False

    def on_bad_frame(self, peer: Peer, what: str, now: float) -> None:
        """A frame the protocol does not allow (text, fragmented): answered and counted, never fatal at once."""
        conn = self.conns.get(peer)
        if conn is not None and not conn.closed:
            self._reject(conn, "bad_frame", what, now)

    def _on_hello(self, conn: Conn, hello: p.Hello, now: float) -> None:
        if conn.joined:
            self._reject(conn, "already_joined", "this connection has already joined", now)
            return
        conn.frames_per_s = max(0, min(int(hello.frames), self.cfg.tick_rate))
        if hello.version != p.PROTOCOL_VERSION:
            self.fatal(
                conn, "version", f"protocol version {hello.version} not supported (server speaks {p.PROTOCOL_VERSION})"
            )
            return
        if self.closing:
            self.fatal(conn, "shutdown", "server is shutting down")
            return
        if hello.resume is not None and hello.spectate is None:
            session = self.sessions.get(hello.resume)
            if session is None:
                self.fatal(conn, "resume_failed", "unknown or expired resume token (the grace window is over)")
                return
            self._attach(conn, session, resumed=True, last_event=hello.last_event)
            return
        try:
            ticket = verify_ticket(self.settings.join_secret, hello.token, self.settings.session)
        except TicketError as exc:
            self.fatal(conn, "auth_failed", str(exc))
            return
        if not self.tickets.use(ticket):
            self.fatal(conn, "auth_failed", TICKET_USED)
            return
        if hello.spectate is not None:
            spectators = sum(1 for c in self.conns.values() if c.spectate is not None and not c.closed)
            if spectators >= self.settings.max_spectators:
                self.fatal(conn, "server_full", "too many spectators")
                return
            if not self._set_view(conn, hello.spectate, now):
                return
            self._send(
                conn,
                p.Welcome(
                    p.PROTOCOL_VERSION,
                    -1,
                    self.cfg.tick_rate,
                    self.world.tick,
                    self._config_wire,
                    "",
                    0.0,
                    False,
                    self._layout_wire,
                ),
                "welcome",
            )
            self._update_gauges()
            return
        existing = self.by_subject.get(ticket.subject)
        if existing is not None:  # the ticket proves who it is: take the player over (a resume by ticket)
            # A new client instance numbers its inputs afresh; a resume (same client, resume token) continues.
            existing.validator = self.validator.for_player()
            existing.inputs.clear()
            existing.ack_seq = 0
            if hello.last_event >= existing.next_event:
                # The client saw events this server never numbered: the session was restored from a checkpoint
                # older than them (failover). Number on after what the client has, or it would drop new events
                # as already seen; the lost ones belong to the rolled-back ticks and are not re-sent.
                existing.next_event = hello.last_event + 1
                existing.log.clear()
            # and a new resume token: whoever held the old one (the replaced client) cannot take it back
            del self.sessions[existing.resume]
            existing.resume = secrets.token_urlsafe(24)
            self.sessions[existing.resume] = existing
            self._attach(conn, existing, resumed=True, last_event=hello.last_event)
            return
        seats = min(self.settings.max_players, ticket.capacity or self.settings.max_players)
        if len(self.by_player) >= seats:  # the API's seat count is advice; this is the rule
            self.fatal(conn, "server_full", f"the session is full ({seats} players)")
            return
        if self.saturated:  # one more player would slow everybody down: refuse clearly, try another server
            self.fatal(
                conn,
                "server_full",
                f"the server is saturated (ticking at {self.pace.rate:.1f} of {self.cfg.tick_rate} Hz); try later",
                CLOSE_TRY_LATER,
            )
            return
        player = self.world.add_player()
        self._cover_slots()
        self.generation[player] += 1
        session = PlayerSession(player, ticket.subject, secrets.token_urlsafe(24), self.validator.for_player())
        log.info(
            "player joined",
            session=self.settings.session,
            player=player,
            subject=ticket.subject,
            request_id=ticket.correlation_id,  # the API request that issued the ticket
        )
        self.sessions[session.resume] = session
        self.by_player[player] = session
        self.by_subject[ticket.subject] = session
        self._attach(conn, session, resumed=False, last_event=0)

    def _attach(self, conn: Conn, session: PlayerSession, resumed: bool, last_event: int) -> None:
        old = session.conn
        if old is not None and old is not conn:
            self._send(old, p.Goodbye("replaced"), "bye")
            self._close(old, CLOSE_POLICY, "replaced")
            old.session = None
        session.conn = conn
        session.dropped_at = None
        conn.session = session
        self._presence(session.subject, True)
        self._send(
            conn,
            p.Welcome(
                p.PROTOCOL_VERSION,
                session.player,
                self.cfg.tick_rate,
                self.world.tick,
                self._config_wire,
                session.resume,
                self.settings.resume_grace_s,
                resumed,
                self._layout_wire,
            ),
            "welcome",
        )
        if self.announced.hz != self.cfg.tick_rate:  # joining a server that runs slow: pace from the start
            self._send(conn, self.announced, "rate")
        missed = [ev for no, ev in session.log if no > last_event]
        if resumed and missed:
            self._send(conn, p.Events(session.next_event - len(missed), missed), "events")
        self._update_gauges()

    def _on_spectate(self, conn: Conn, msg: p.Spectate, now: float) -> None:
        if conn.spectate is None:
            self._reject(conn, "not_spectator", "only spectator connections can change their view", now)
            return
        self._set_view(conn, msg, now)

    def _set_view(self, conn: Conn, spec: p.Spectate, now: float) -> bool:
        w = self.world
        if spec.follow is not None:
            f = spec.follow
            if not (0 <= f < w.num_slots and w.active[f]):
                self._reject(conn, "bad_target", f"no player {f} to follow", now)
                return False
            conn.view_point = w.pos[f].copy()
            conn.follow_generation = int(self.generation[f])
        elif spec.point is not None:
            v = np.asarray(spec.point, dtype=np.float64)
            scale = float(np.max(np.abs(v))) if np.all(np.isfinite(v)) else 0.0
            unit = v / scale if scale > 0.0 else v
            norm = float(np.linalg.norm(unit)) if scale > 0.0 else 0.0
            if norm == 0.0:
                self._reject(conn, "bad_target", "point must be a finite non-zero 3-vector", now)
                return False
            conn.view_point = unit / norm
        else:
            self._reject(conn, "bad_target", "spectate needs follow or point", now)
            return False
        conn.spectate = spec
        return True

    def _on_ack(self, conn: Conn, tick: int) -> None:
        """Newer acknowledged snapshots become the delta baseline; an ack of 0 asks for full snapshots (a client
        that lost its tables) until the client acknowledges one of them."""
        if tick == 0:
            conn.acked = 0
        elif tick > conn.acked and conn.sent_ticks[tick % len(conn.sent_ticks)] == tick:
            conn.acked = tick

    # --- errors, kicks, sending --------------------------------------------------------------------------------

    def _reject(self, conn: Conn, code: str, message: str, now: float) -> None:
        s = self.settings
        self.metrics.rejected.labels(code).inc()
        conn.violations.append(now)
        while conn.violations and conn.violations[0] < now - s.violation_window_s:
            conn.violations.popleft()
        if len(conn.violations) > s.kick_violations:
            self.kick(conn, f"too many bad messages ({len(conn.violations)} in {s.violation_window_s:g} s)")
            return
        conn.error_tokens = min(float(s.error_burst), conn.error_tokens + (now - conn.error_at) * s.errors_per_s)
        conn.error_at = now
        if conn.error_tokens >= 1.0:  # errors about floods must not become a flood themselves
            conn.error_tokens -= 1.0
            self._send(conn, p.Error(code, message[:300]), "error")

    def fatal(self, conn: Conn, code: str, message: str, close_code: int = CLOSE_POLICY) -> None:
        self.metrics.rejected.labels(code).inc()
        self._send(conn, p.Error(code, message, fatal=True), "error")
        self._close(conn, close_code, code)

    def kick(self, conn: Conn, why: str) -> None:
        """Remove a misbehaving connection and its player (no resume)."""
        self._send(conn, p.Error("kicked", why, fatal=True), "error")
        self._send(conn, p.Goodbye("kicked"), "bye")
        subject = conn.session.subject if conn.session is not None else ""
        log.warning("kicked", session=self.settings.session, subject=subject, why=why)
        if self.on_kick is not None:
            self.on_kick(self.settings.session, subject, why)
        if conn.session is not None:
            self._remove_session(conn.session)
        # Closed gracefully, not aborted, so the client reads why: an abort while its flood is still unread makes
        # the kernel send a RST, which drops the error, the bye and the Close (the client sees 1006). A client
        # already behind on reading would never read them: that one is aborted.
        behind = conn.peer.backlog() > self.settings.slow_backlog_bytes
        self._close(conn, CLOSE_POLICY, "kicked", abort=behind)

    def _close(self, conn: Conn, code: int, reason: str, abort: bool = False) -> None:
        """Close a connection and forget it at once (its player, if still there, waits for a resume)."""
        if conn.closed:
            return
        conn.closed = True
        self.conns.pop(conn.peer, None)
        self._detach(conn, self.now)
        self.metrics.disconnects.labels(reason).inc()
        conn.peer.close(code, reason, abort)

    def send_to(self, conn: Conn, msg: object, kind: str) -> int:
        """Send one message to a connection (counted in the metrics by ``kind``); what :mod:`mpgenie.net.delivery`
        and add-ons such as the world-model frame streamer use."""
        return self._send(conn, msg, kind)

    def _send(self, conn: Conn, msg: object, kind: str) -> int:
        if conn.closed:
            return 0
        data = p.encode(msg)
        conn.peer.send(data)
        self.metrics.messages_out.labels(kind).inc()
        self.metrics.bytes_out.inc(len(data))
        return len(data)

    def _remove_session(self, session: PlayerSession) -> None:
        self.sessions.pop(session.resume, None)
        self.by_player.pop(session.player, None)
        if self.by_subject.get(session.subject) is session:
            del self.by_subject[session.subject]
        if self.world.active[session.player]:
            self.world.remove_player(session.player)
        if session.conn is not None:
            session.conn.session = None
            session.conn = None
            self._presence(session.subject, False)
        self._update_gauges()

    def _update_gauges(self) -> None:
        m = self.metrics
        sid = self.settings.session
        live = sum(1 for s in self.by_player.values() if s.conn is not None)
        m.players.labels(sid).set(live)
        m.players_dropped.labels(sid).set(len(self.by_player) - live)
        m.spectators.labels(sid).set(sum(1 for c in self.conns.values() if c.spectate is not None and not c.closed))

    def forget(self, peer: Peer) -> None:
        """Hand a not-yet-joined connection over to another session's core (the router does)."""
        conn = self.conns.get(peer)
        if conn is not None and not conn.joined:
            del self.conns[peer]

    def joined(self, peer: Peer) -> bool:
        conn = self.conns.get(peer)
        return conn is not None and conn.joined

    @property
    def idle(self) -> bool:
        return not self.conns and not self.by_player

    # --- world events ------------------------------------------------------------------------------------------

    def announce(
        self,
        name: str,
        data: dict[str, object] | None = None,
        center: NDArray[np.float64] | tuple[float, float, float] | None = None,
        radius_m: float | None = None,
    ) -> None:
        """Queue a world event for the next tick: global, or for a zone (players within ``radius_m`` of
        ``center``). Every recipient gets it once, numbered in order with its other events."""
        if (center is None) != (radius_m is None):
            raise ValueError("a zone event needs both center and radius_m")
        c = None
        if center is not None:
            v = np.asarray(center, dtype=np.float64)
            c = tuple((v / np.linalg.norm(v)).tolist())
        self._announcements.append(p.EvWorld(0, name, "global" if c is None else "zone", c, radius_m, dict(data or {})))

    # --- the tick ----------------------------------------------------------------------------------------------

    def expire(self, now: float) -> None:
        """Remove players whose connection dropped more than ``resume_grace_s`` ago; close connections that have
        not said hello within ``hello_timeout_s``."""
        grace = self.settings.resume_grace_s
        for s in [s for s in self.by_player.values() if s.dropped_at is not None and now - s.dropped_at > grace]:
            self._remove_session(s)
        limit = self.settings.hello_timeout_s
        for c in [c for c in self.conns.values() if not c.joined and not c.closed and now - c.connected_at > limit]:
            self.fatal(c, "hello_timeout", f"no hello within {limit:g} s")

    @property
    def saturated(self) -> bool:
        """Ticking slower than ``saturation`` x the nominal rate, or working more than that share of each tick's
        budget: new players are refused (``/readyz`` says so), the ones in the world keep playing."""
        return self.pace.saturated(self.settings.saturation)

    def tick(self, now: float) -> TickReport:
        """Advance the world one tick and send every client its snapshot and events."""
        self.now = now
        self.pace.tick(now)
        self.expire(now)
        w = self.world
        actions = np.zeros(w.num_slots, dtype=np.int8)
        movers: list[int] = []
        chosen: list[int] = []
        waited: list[float] = []  # seconds each applied input waited in the server for its tick
        for s in self.by_player.values():
            if s.inputs:
                s.ack_seq, action, arrived = s.inputs.popleft()
                movers.append(s.player)
                chosen.append(action)
                waited.append(now - arrived)
        actions[movers] = chosen
        self.metrics.input_wait.observe_many(waited)
        t0 = time.perf_counter()
        result = w.step(actions)
        step_s = time.perf_counter() - t0
        self._cover_slots()
        self.history.record(w, self.generation)
        announcements, self._announcements = self._announcements, []
        wire = delivery.route_events(self, result.events, announcements)
        for ev in wire:
            self.event_counts[str(type(ev).__struct_config__.tag)] += 1
        conns = self._snapshot_conns()
        snapshots, sent, deltas_s, send_s = delivery.send_snapshots(self, conns)
        self._announce_rate(conns, now)
        self.metrics.ticks.inc()
        return TickReport(w.tick, len(wire), snapshots, sent, step_s, deltas_s, send_s)

    def _announce_rate(self, conns: list[Conn], now: float) -> None:
        """Tell clients the effective tick rate when it has moved by more than 10 % of nominal since the last
        announcement (or saturation changed), at most once a second, so that they pace their inputs to it."""
        nominal = float(self.cfg.tick_rate)
        rate, saturated = min(round(self.pace.rate, 1), nominal), self.saturated
        if nominal - rate <= 0.1 * nominal:
            rate = nominal  # within 10 %: say "nominal" (jitter is not worth a message)
        moved = abs(rate - self.announced.hz) > 0.1 * nominal or (rate == nominal != self.announced.hz)
        if not (moved or saturated != self.announced.saturated) or now - self._announced_at < 1.0:
            return
        self.announced = p.Rate(rate, saturated)
        self._announced_at = now
        for c in conns:
            self._send(c, self.announced, "rate")

    def _cover_slots(self) -> None:
        """Grow the per-slot join generations to cover every slot the world has (it grows its slots itself)."""
        need = self.world.num_slots
        if self.generation.shape[0] < need:
            grown = np.zeros(max(need, 2 * self.generation.shape[0]), dtype=np.int64)
            grown[: self.generation.shape[0]] = self.generation
            self.generation = grown

    def _snapshot_conns(self) -> list[Conn]:
        """The joined connections that get this tick's snapshot. One that is behind (send backlog over
        ``slow_backlog_bytes``) skips snapshots until it drains; one behind for ``max_behind_s``, or over
        ``max_send_backlog_bytes``, is closed, joined or not: nobody pins server memory by not reading."""
        s = self.settings
        now = self.now
        conns = []
        skipped = 0
        fine = min(s.slow_backlog_bytes, s.max_send_backlog_bytes)
        for c in list(self.conns.values()):
            if c.closed:
                continue
            backlog = c.peer.backlog()
            if backlog <= fine and c.behind_since is None:  # the usual case, first
                if c.session is not None or c.spectate is not None:
                    conns.append(c)
                continue
            if backlog > s.slow_backlog_bytes:
                if c.behind_since is None:
                    c.behind_since = now
            else:
                c.behind_since = None
            if backlog > s.max_send_backlog_bytes or (
                c.behind_since is not None and now - c.behind_since > s.max_behind_s
            ):
                self.metrics.rejected.labels("slow").inc()
                self._close(c, CLOSE_TRY_LATER, "slow", abort=True)
                continue
            if c.behind_since is not None:
                skipped += 1
                continue
            if c.joined:
                conns.append(c)
        if skipped:
            self.metrics.snapshots_skipped.inc(skipped)  # once per tick, not once per lagging connection
        return conns

    # --- checkpoints (failover) ---------------------------------------------------------------------------------

    def checkpoint(self) -> bytes:
        """The session's state for failover: the whole world and who plays which player. Connections, resume
        tokens, input buffers and snapshot history are left out: clients reconnect to the restoring node with a
        new join ticket, which finds their player by its subject."""
        players = [
            CheckpointPlayer(s.player, s.subject, s.next_event, int(self.world.score[s.player]))
            for s in self.by_player.values()
        ]
        return msgspec.msgpack.encode(
            Checkpoint(
                CHECKPOINT_VERSION,
                self.settings.session,
                self.world.snapshot(),
                self.generation[: self.world.num_slots].astype("<i8").tobytes(),
                players,
            )
        )

    @staticmethod
    def read_checkpoint(data: bytes) -> Checkpoint:
        """Decode a checkpoint (:class:`CheckpointError` for anything else)."""
        try:
            ckpt = msgspec.msgpack.decode(data, type=Checkpoint)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise CheckpointError(f"not a session checkpoint: {exc}") from None
        if ckpt.version != CHECKPOINT_VERSION:
            raise CheckpointError(f"checkpoint version {ckpt.version} not supported")
        return ckpt

    @classmethod
    def from_checkpoint(
        cls,
        data: bytes,
        now: float,
        settings: ServerSettings | None = None,
        metrics: ServerMetrics | None = None,
        on_kick: Callable[[str, str, str], None] | None = None,
        on_presence: Callable[[str, str, bool], None] | None = None,
        tickets: TicketLedger | None = None,
    ) -> ServerCore:
        """A core restored from :meth:`checkpoint`: the same world (equal digest), and every player of the
        checkpoint dropped at ``now``, awaiting its client for ``resume_grace_s`` like any dropped player."""
        ckpt = cls.read_checkpoint(data)
        try:
            world = World.restore(None, ckpt.world)
        except SnapshotError as exc:
            raise CheckpointError(str(exc)) from None
        core = cls(world.cfg, settings, metrics, on_kick, on_presence, tickets)
        core.world = world
        gen = np.frombuffer(ckpt.generation, dtype="<i8")
        core.generation = np.zeros(max(16, world.num_slots), dtype=np.int64)
        core.generation[: gen.size] = gen
        for cp in ckpt.players:
            if not (0 <= cp.player < world.num_slots and world.active[cp.player]) or cp.subject in core.by_subject:
                raise CheckpointError(f"checkpoint names player {cp.player} the world does not have")
            session = PlayerSession(
                cp.player, cp.subject, secrets.token_urlsafe(24), core.validator.for_player(), dropped_at=now
            )
            session.next_event = cp.next_event
            core.sessions[session.resume] = session
            core.by_player[cp.player] = session
            core.by_subject[cp.subject] = session
        core.now = now
        core._update_gauges()
        return core

    # --- shutdown ----------------------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Tell every client the server is going away and close their connections."""
        self.closing = True
        for c in list(self.conns.values()):
            self._send(c, p.Goodbye("shutdown"), "bye")
            self._close(c, CLOSE_GOING_AWAY, "shutdown")
