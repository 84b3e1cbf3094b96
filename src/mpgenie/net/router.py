"""Many sessions in one realtime server: each session (a platform-API game session, or ``default``) is its own
:class:`ServerCore` with its own world, and a connection belongs to the session its join ticket names.

Every connection starts at the default core (so a silent or garbled connection meets the usual hello timeout and
error handling). The first ``hello`` with a valid ticket for another session, or a resume token known to
another session, moves the still-unjoined connection to that session's core, created on first use from the
world overrides the API put in the ticket. Idle sessions (nobody connected or waiting) are dropped after
``IDLE_SESSION_S``. One tick loop ticks them all.

Any correctly signed ticket can create a world, so creation is bounded: the ticket's ``sid`` must be a session id
(checked with the signature, :data:`~mpgenie.net.tickets.SESSION_ID`), the ticket must be unused, and a node holds
at most ``max_sessions`` worlds besides the default one; a hello that would create one more gets a fatal
``server_full``. An ended session is not created again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import msgspec

from mpgenie.net import protocol as p
from mpgenie.net.connections import Peer, ServerSettings, TickReport
from mpgenie.net.core import CheckpointError, ServerCore
from mpgenie.net.metrics import ServerMetrics
from mpgenie.net.tickets import TICKET_USED, TicketError, TicketLedger, verify_ticket
from mpgenie.world.config import ConfigError, WorldConfig

IDLE_SESSION_S = 60.0


class Refusal(NamedTuple):
    """A hello the router answers itself with a fatal error: no core could (there is none for its session)."""

    code: str
    message: str


class SessionRouter:
    def __init__(
        self,
        cfg: WorldConfig | None = None,
        settings: ServerSettings | None = None,
        metrics: ServerMetrics | None = None,
        on_kick: Callable[[str, str, str], None] | None = None,
        on_presence: Callable[[str, str, bool], None] | None = None,
    ) -> None:
        self.settings = settings or ServerSettings()
        self.metrics = metrics or ServerMetrics()
        self.on_kick = on_kick
        self.on_presence = on_presence
        self.tickets = TicketLedger()  # one for all sessions: a ticket admits once on this node
        self.default = ServerCore(cfg, self.settings, self.metrics, on_kick, on_presence, tickets=self.tickets)
        self.cores: dict[str, ServerCore] = {self.settings.session: self.default}
        self._where: dict[Peer, ServerCore] = {}
        self._idle_since: dict[str, float] = {}
        self.ended: set[str] = set()  # sessions the platform ended: their tickets open nothing any more

    # --- the connection interface (same calls as ServerCore) ---------------------------------------------------

    def on_connect(self, peer: Peer, now: float) -> None:
        self.default.on_connect(peer, now)
        self._where[peer] = self.default

    def on_message(self, peer: Peer, data: bytes | memoryview, now: float) -> None:
        core = self._where.get(peer)
        conn = core.conns.get(peer) if core is not None else None
        if core is None or conn is None:  # closed by its core, only draining on the wire: ignored
            return
        if not conn.joined and core is self.default:
            target = self._target(data)
            if isinstance(target, Refusal):
                self._refuse(peer, target)
                return
            if target is not None and target is not core:
                core.forget(peer)
                target.on_connect(peer, now)
                self._where[peer] = target
                target.on_message(peer, data, now)
                return
        core.handle(conn, data, now)

    def on_disconnect(self, peer: Peer, now: float) -> None:
        core = self._where.pop(peer, None)
        if core is not None:
            core.on_disconnect(peer, now)

    def on_bad_frame(self, peer: Peer, what: str, now: float) -> None:
        core = self._where.get(peer)
        if core is not None:
            core.on_bad_frame(peer, what, now)

    # --- sessions ----------------------------------------------------------------------------------------------

    def _target(self, data: bytes | memoryview) -> ServerCore | Refusal | None:
        """The core a hello belongs to, or the refusal of a session that cannot be created; None leaves the
        connection where it is (the core answers any error)."""
        if len(data) > self.settings.max_frame_bytes:
            return None
        try:
            msg = p.decode_client(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        if not isinstance(msg, p.Hello) or msg.version != p.PROTOCOL_VERSION or self.default.closing:
            return None
        if msg.resume is not None and msg.spectate is None:
            return next((c for c in self.cores.values() if msg.resume in c.sessions), None)
        try:
            ticket = verify_ticket(self.settings.join_secret, msg.token, session=None)
        except TicketError:
            return None  # the default core answers auth_failed, with the reason
        core = self.cores.get(ticket.session)
        if core is not None:
            return core
        if ticket.session in self.ended:
            return Refusal("auth_failed", f"session {ticket.session!r} has ended")
        if self.tickets.seen(ticket):
            return Refusal("auth_failed", TICKET_USED)
        limit = self.settings.max_sessions
        if len(self.cores) - 1 >= limit:
            return Refusal("server_full", f"this server already hosts its {limit} sessions: try again later")
        core = self.session(ticket.session, ticket.world or {})
        if core is None:
            return Refusal("auth_failed", "invalid join ticket: its world overrides are not a valid world config")
        return core

    def _refuse(self, peer: Peer, refusal: Refusal) -> None:
        """Answer a still-unjoined connection of the default core with a fatal error and close it (1008), as the
        core closes after its own fatal errors."""
        conn = self.default.conns.get(peer)
        if conn is not None:  # closing forgets it: later frames are ignored, the disconnect finds nothing to do
            self.default.fatal(conn, refusal.code, refusal.message)

    def session(self, session_id: str, world: dict[str, object] | None = None) -> ServerCore | None:
        """The core of a session, created on first use (None when the world overrides are invalid)."""
        core = self.cores.get(session_id)
        if core is not None:
            return core
        if session_id in self.ended:
            return None
        try:
            cfg = WorldConfig.from_mapping(dict(world or {}))
        except (ConfigError, TypeError, ValueError, MemoryError):
            return None
        core = ServerCore(
            cfg,
            dataclasses.replace(self.settings, session=session_id),
            self.metrics,
            self.on_kick,
            self.on_presence,
            tickets=self.tickets,
        )
        self.cores[session_id] = core
        return core

    def adopt(self, session_id: str, data: bytes, now: float) -> ServerCore | None:
        """Restore a session from its checkpoint (failover: its node died, this node takes it over). The session's
        players wait, dropped, for their clients to come back with new tickets. A session this node already runs
        is kept as it is; an ended one, or a checkpoint that does not restore, gives None."""
        core = self.cores.get(session_id)
        if core is not None:
            return core
        if session_id in self.ended or session_id == self.default.settings.session:
            return None
        try:
            if ServerCore.read_checkpoint(data).session != session_id:
                return None
            core = ServerCore.from_checkpoint(
                data,
                now,
                dataclasses.replace(self.settings, session=session_id),
                self.metrics,
                self.on_kick,
                self.on_presence,
                tickets=self.tickets,
            )
        except CheckpointError:
            return None
        self.cores[session_id] = core
        return core

    def checkpoints(self) -> dict[str, bytes]:
        """Every session's checkpoint but the default one's (which no API places, so no node takes it over)."""
        return {sid: core.checkpoint() for sid, core in self.cores.items() if core is not self.default}

    def tick(self, now: float) -> list[TickReport]:
        """Tick every session, then drop the idle ones. (The server's loop does the same one session at a time,
        giving the event loop back in between.)"""
        reports = [core.tick(now) for core in self.live()]
        self.reap_idle(now)
        return reports

    def live(self) -> list[ServerCore]:
        """The sessions to tick now (a copy: a session may end while others tick)."""
        return list(self.cores.values())

    def reap_idle(self, now: float) -> None:
        """Drop sessions nobody has been connected to, or waiting in, for ``IDLE_SESSION_S``."""
        for sid, core in list(self.cores.items()):
            if core is self.default:
                continue
            if not core.idle:
                self._idle_since.pop(sid, None)
            elif now - self._idle_since.setdefault(sid, now) > IDLE_SESSION_S:
                del self.cores[sid]
                del self._idle_since[sid]
                self.metrics.forget_session(sid)

    def end(self, session_id: str) -> None:
        """The platform ended this session: say goodbye to its clients and drop its world."""
        if session_id == self.default.settings.session:
            return
        self.ended.add(session_id)
        core = self.cores.pop(session_id, None)
        self._idle_since.pop(session_id, None)
        if core is not None:
            core.shutdown()
        self.metrics.forget_session(session_id)

    def shutdown(self) -> None:
        for core in self.cores.values():
            core.shutdown()

    @property
    def conns(self) -> int:
        return sum(len(c.conns) for c in self.cores.values())
