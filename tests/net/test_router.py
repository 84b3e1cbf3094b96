"""The session router: a world per API session, created from its ticket; ended and idle worlds leave nothing
behind (not even their Prometheus series)."""

from __future__ import annotations

from mpgenie.net import protocol as p
from mpgenie.net.router import IDLE_SESSION_S, SessionRouter
from mpgenie.net.tickets import DEV_SECRET, issue_ticket


class _Peer:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed: int | None = None

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def backlog(self) -> int:
        return 0

    def close(self, code: int, reason: str, abort: bool = False) -> None:
        self.closed = code


def _join(router: SessionRouter, session: str, name: str, now: float) -> _Peer:
    peer = _Peer()
    router.on_connect(peer, now)
    ticket = issue_ticket(DEV_SECRET, name, session, extra={"world": {"seed": 4}})
    router.on_message(peer, p.encode(p.Hello(p.PROTOCOL_VERSION, ticket)), now)
    return peer


def _series(router: SessionRouter, session: str) -> list[str]:
    text = router.metrics.render().decode()
    return [line for line in text.splitlines() if f'session="{session}"' in line]


def test_ended_and_idle_sessions_drop_their_metric_series() -> None:
    router = SessionRouter()
    a = _join(router, "match-a", "ann", 0.0)
    _join(router, "match-b", "bob", 0.0)
    router.tick(0.05)
    assert _series(router, "match-a") and _series(router, "match-b")

    router.end("match-a")
    assert a.closed is not None and "match-a" not in router.cores
    assert _series(router, "match-a") == []

    core_b = router.cores["match-b"]
    for peer in list(core_b.conns):
        router.on_disconnect(peer, 0.1)
    core_b.expire(core_b.settings.resume_grace_s + 1.0)  # the player's grace window passes
    router.tick(1.0)
    router.tick(1.0 + IDLE_SESSION_S + 1.0)
    assert "match-b" not in router.cores
    assert _series(router, "match-b") == []
    assert router.default.settings.session in router.cores  # the default session stays


def test_a_closed_connection_cannot_join_another_session() -> None:
    """A closed connection stays open on the wire for a while (its final frames drain, 8.4); a hello sent in that
    time must not move it to another session and create a player there that nobody can reach."""
    router = SessionRouter()
    peer = _Peer()
    router.on_connect(peer, 0.0)
    router.on_message(peer, p.encode(p.Hello(99, "")), 0.0)  # wrong version: fatal, closed
    assert peer.closed == 1008
    sent = len(peer.sent)
    ticket = issue_ticket(DEV_SECRET, "late", "match-late")
    router.on_message(peer, p.encode(p.Hello(p.PROTOCOL_VERSION, ticket)), 0.01)
    assert len(peer.sent) == sent
    assert "match-late" not in router.cores
