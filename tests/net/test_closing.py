"""How connections end, checked on the wire: the exact bytes of the server's Close frames (read by a WebSocket
client written by hand on a raw socket, so nothing between the test and the bytes interprets them) and the frames
a kicked client receives before the close."""

from __future__ import annotations

import asyncio
import socket

import pytest

from mpgenie.net import protocol as p
from mpgenie.net import server as server_module
from mpgenie.net.connections import ServerSettings
from mpgenie.net.core import ServerCore
from mpgenie.net.server import close_reply
from mpgenie.net.tickets import DEV_SECRET, issue_ticket
from mpgenie.world import WorldConfig

from .rawws import masked_frame, raw_connect
from .test_server import run, serving


async def _read_to_eof(sock: socket.socket, timeout: float = 5.0) -> bytes:
    loop = asyncio.get_running_loop()
    data = b""
    while True:
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), timeout)
        if not chunk:
            return data
        data += chunk


@pytest.mark.parametrize(
    ("client_payload", "server_frames"),
    [
        (b"", {b"\x88\x00", b"\x88\x02\x03\xe8"}),  # a browser's plain ws.close(): no status code
        (b"\x03\xe8", {b"\x88\x02\x03\xe8"}),  # 1000 echoed
        (b"\x03\xe9bye", {b"\x88\x02\x03\xe9"}),  # 1001 echoed (the reason is not)
        (b"\x0f\xa0", {b"\x88\x02\x0f\xa0"}),  # 4000, an application code, echoed
    ],
)
def test_the_close_handshake_answers_with_a_valid_close_frame(client_payload: bytes, server_frames: set[bytes]) -> None:
    """RFC 6455 5.5.1 and 7.4: the answer to a Close echoes its status code, and a Close without one is answered
    without one (or with 1000), never with code 0 (which browsers and Node's ws report as 1006)."""

    async def body() -> None:
        async with serving() as server:
            sock = await raw_connect(server)
            try:
                await asyncio.get_running_loop().sock_sendall(sock, masked_frame(0x8, client_payload))
                answer = await _read_to_eof(sock)  # the Close, then the server closes the TCP connection
            finally:
                sock.close()
            assert answer in server_frames, answer.hex(" ")

    run(body)


def test_close_codes_nobody_may_send_are_answered_with_protocol_error() -> None:
    assert close_reply(b"") == b""
    assert close_reply(b"\x03\xe8") == b"\x03\xe8"
    assert close_reply(b"\x0b\xb8reason") == b"\x0b\xb8"  # 3000
    for bad in (0, 999, 1004, 1005, 1006, 1015, 2999, 5000, 65535):
        assert close_reply(bad.to_bytes(2, "big")) == b"\x03\xea", bad


def _server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Split what the server sent into (opcode, payload) frames (server frames are unmasked, RFC 6455 5.1)."""
    frames = []
    i = 0
    while i < len(data):
        opcode, n = data[i] & 0x0F, data[i + 1] & 0x7F
        assert data[i] & 0x80 and not data[i + 1] & 0x80, "server frames are final and unmasked"
        i += 2
        if n == 126:
            n, i = int.from_bytes(data[i : i + 2], "big"), i + 2
        elif n == 127:
            n, i = int.from_bytes(data[i : i + 8], "big"), i + 8
        frames.append((opcode, data[i : i + n]))
        i += n
    assert i == len(data), "a frame was cut off"
    return frames


@pytest.mark.parametrize("size", [1, 3000], ids=["tiny-frames", "big-frames"])
def test_every_kicked_connection_gets_its_error_bye_and_close(size: int) -> None:
    """Section 8.4: 8 connections each send 60 bad frames in one burst (the 51st violation kicks) and read only
    afterwards, through a small receive buffer. Each receives the fatal ``kicked`` error, ``bye kicked`` and a
    Close with 1008 as its last frames. With big frames much of the flood is still unread when the kick happens:
    aborting then made the kernel send a RST, which dropped the frames still queued for the client (it saw 1006)."""

    async def body() -> None:
        async with serving() as server:
            loop = asyncio.get_running_loop()
            socks = [await raw_connect(server, rcvbuf=1024) for _ in range(8)]
            burst = masked_frame(0x2, b"\xc1" * size) * 60  # not MessagePack: 60 violations
            for sock in socks:
                await loop.sock_sendall(sock, burst)
            await asyncio.sleep(0.3)  # a client busy elsewhere: the server's frames wait in the kernel
            try:
                received = [_server_frames(await _read_to_eof(sock)) for sock in socks]
            finally:
                for sock in socks:
                    sock.close()
            for frames in received:
                *messages, (close_op, close_payload) = frames
                assert close_op == 0x8 and close_payload[:2] == (1008).to_bytes(2, "big"), frames[-3:]
                decoded = [p.decode_server(payload) for op, payload in messages if op == 0x2]
                kicked, bye = decoded[-2:]
                assert isinstance(kicked, p.Error) and kicked.code == "kicked" and kicked.fatal
                assert isinstance(bye, p.Goodbye) and bye.reason == "kicked"
            assert server.core.metrics.value("mpgenie_disconnects_total", reason="kicked") == 8

    run(body)


def test_a_kicked_client_that_never_closes_is_dropped_after_the_drain_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The graceful close waits for the client's answer, not forever: one that neither reads nor closes is aborted
    after ``CLOSE_DRAIN_S``."""
    monkeypatch.setattr(server_module, "CLOSE_DRAIN_S", 0.3)

    async def body() -> None:
        async with serving() as server:
            loop = asyncio.get_running_loop()
            sock = await raw_connect(server, rcvbuf=1024)
            try:
                await loop.sock_sendall(sock, masked_frame(0x2, b"\xc1" * 3000) * 60)
                await asyncio.sleep(0.2)
                assert server.router.conns == 0  # kicked: the core has forgotten it at once
                assert server.router._where, "the transport is still open, draining"
                await asyncio.sleep(0.5)
                assert not server.router._where, "the transport outlived the drain deadline"
            finally:
                sock.close()

    run(body)


def test_a_kick_aborts_a_client_that_is_behind_and_closes_others_gracefully() -> None:
    """A kicked client that is behind on reading (backlog over ``slow_backlog_bytes``) would never read the final
    frames: it is aborted; any other kicked client is closed gracefully, so it does read them."""
    for backlog, aborted in ((0, False), (ServerSettings().slow_backlog_bytes + 1, True)):
        core = ServerCore(WorldConfig(seed=1, num_landmarks=4, num_hazards=0))
        peer = _Peer(backlog)
        core.on_connect(peer, 0.0)
        for i in range(core.settings.kick_violations + 1):
            core.on_message(peer, b"\xc1", 0.001 * i)
        assert peer.closed == (1008, "kicked", aborted)
        kicked, bye = (p.decode_server(m) for m in peer.sent[-2:])
        assert isinstance(kicked, p.Error) and kicked.code == "kicked"
        assert isinstance(bye, p.Goodbye) and bye.reason == "kicked"


class _Peer:
    def __init__(self, backlog: int) -> None:
        self.sent: list[bytes] = []
        self.closed: tuple[int, str, bool] | None = None
        self._backlog = backlog

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def backlog(self) -> int:
        return self._backlog

    def close(self, code: int, reason: str, abort: bool = False) -> None:
        self.closed = (code, reason, abort)


def test_leave_before_hello_and_from_a_spectator_closes_with_1000_left() -> None:
    """protocol.md 3.1 and 3.6: ``leave`` on a connection that has not joined, or on a spectator's, closes it
    with 1000 ``left`` and no ``bye``, like a player's leave."""
    core = ServerCore(WorldConfig(seed=1, num_landmarks=4, num_hazards=0))
    unjoined, spectator, player = _Peer(0), _Peer(0), _Peer(0)
    for peer in (unjoined, spectator, player):
        core.on_connect(peer, 0.0)
    core.on_message(player, p.encode(p.Hello(p.PROTOCOL_VERSION, issue_ticket(DEV_SECRET, "pia"))), 0.0)
    watch = p.Hello(p.PROTOCOL_VERSION, issue_ticket(DEV_SECRET, "sam"), spectate=p.Spectate(point=(0.0, 0.0, 1.0)))
    core.on_message(spectator, p.encode(watch), 0.0)
    assert isinstance(p.decode_server(spectator.sent[-1]), p.Welcome)
    for peer in (unjoined, spectator, player):
        sent = len(peer.sent)
        core.on_message(peer, p.encode(p.Leave()), 0.01)
        assert peer.closed == (1000, "left", False)
        assert len(peer.sent) == sent  # no bye
    assert not core.by_player and not core.conns
