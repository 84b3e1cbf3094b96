"""The session router: a world per API session, created from its ticket; ended and idle worlds leave nothing
behind (not even their Prometheus series)."""

from __future__ import annotations

from mpgenie.net import protocol as p
from mpgenie.net.connections import ServerSettings
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


def _last_error(peer: _Peer) -> p.Error:
    msg = p.decode_server(peer.sent[-1])
    assert isinstance(msg, p.Error), msg
    return msg


def test_a_ticket_whose_sid_is_not_a_session_id_creates_no_world() -> None:
    router = SessionRouter()
    for sid in ("", "has space", "x" * 65, "ünï", "a/b", "ok\n"):
        peer = _join(router, sid, "eve", 0.0)
        err = _last_error(peer)
        assert (err.code, err.fatal, peer.closed) == ("auth_failed", True, 1008), sid
        assert "sid must be" in err.message
    assert list(router.cores) == ["default"]
    assert _join(router, "A-z_0-9" + "x" * 57, "ann", 0.0).closed is None  # 64 characters of the pattern


def test_the_number_of_worlds_per_node_is_bounded() -> None:
    router = SessionRouter(settings=ServerSettings(max_sessions=2))
    assert _join(router, "s1", "ann", 0.0).closed is None
    assert _join(router, "s2", "bob", 0.0).closed is None
    refused = _join(router, "s3", "cat", 0.0)
    err = _last_error(refused)
    assert (err.code, err.fatal, refused.closed) == ("server_full", True, 1008)
    assert "2 sessions" in err.message
    assert "s3" not in router.cores and len(router.default.conns) == 0
    assert router.metrics.value("mpgenie_rejected_inputs_total", reason="server_full") == 1
    assert _join(router, "s1", "dan", 0.0).closed is None  # existing sessions still take players
    assert _join(router, "default", "eve", 0.0).closed is None  # and so does the default one
    router.end("s1")
    assert _join(router, "s3", "cat", 0.0).closed is None  # a slot is free again
    assert sorted(router.cores) == ["default", "s2", "s3"]


def test_used_tickets_and_ended_sessions_create_no_world() -> None:
    router = SessionRouter()
    ticket = issue_ticket(DEV_SECRET, "ann", "once")
    first, again = _Peer(), _Peer()
    for peer in (first, again):
        router.on_connect(peer, 0.0)
        router.on_message(peer, p.encode(p.Hello(p.PROTOCOL_VERSION, ticket)), 0.0)
    assert first.closed is None and _last_error(again).code == "auth_failed"  # the session's core said so
    router.end("once")
    late = _join(router, "once", "bob", 0.0)
    assert _last_error(late).code == "auth_failed" and "ended" in _last_error(late).message
    assert "once" not in router.cores
    reused = _Peer()
    router.on_connect(reused, 0.0)
    used = issue_ticket(DEV_SECRET, "cat", "fresh")
    router.on_message(reused, p.encode(p.Hello(p.PROTOCOL_VERSION, used)), 0.0)
    router.end("fresh")
    router.ended.discard("fresh")  # as if the world had only been reaped: its used ticket must not bring it back
    again2 = _Peer()
    router.on_connect(again2, 0.0)
    router.on_message(again2, p.encode(p.Hello(p.PROTOCOL_VERSION, used)), 0.0)
    assert _last_error(again2).code == "auth_failed" and "fresh" not in router.cores
