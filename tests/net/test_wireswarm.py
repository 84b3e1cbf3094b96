"""The load generator's raw-socket clients: RFC 6455 framing by hand, and the same protocol behaviour as the SDK
(acks, pacing, latency) against a real server on loopback."""

from __future__ import annotations

import asyncio
import itertools
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpgenie.errors import UsageError
from mpgenie.net import protocol as p
from mpgenie.net.client import ClientState
from mpgenie.net.wireswarm import OP_BINARY, WireSwarm, _Conn, client_frame

from .test_server import run, serving


def unmask(frame: bytes) -> tuple[int, bytes]:
    """The oracle: RFC 6455 section 5.2/5.3 read byte by byte (opcode, payload)."""
    assert frame[0] & 0x80 and frame[1] & 0x80  # FIN, MASK
    n, at = frame[1] & 0x7F, 2
    if n == 126:
        n, at = int.from_bytes(frame[2:4], "big"), 4
    elif n == 127:
        n, at = int.from_bytes(frame[2:10], "big"), 10
    key, body = frame[at : at + 4], frame[at + 4 :]
    assert len(body) == n
    return frame[0] & 0x0F, bytes(b ^ key[i % 4] for i, b in enumerate(body))


@given(
    payload=st.binary(max_size=300) | st.sampled_from([b"x" * 125, b"y" * 126, b"z" * 65535, b"w" * 65536]),
    key=st.binary(min_size=4, max_size=4),
)
@settings(max_examples=200, deadline=None)
def test_client_frames_unmask_to_the_payload(payload: bytes, key: bytes) -> None:
    assert unmask(client_frame(payload, key)) == (OP_BINARY, payload)


def server_frame(payload: bytes) -> bytes:
    n = len(payload)
    head = bytes([0x82, n]) if n < 126 else bytes([0x82, 126]) + n.to_bytes(2, "big")
    return head + payload


@given(cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=12))
@settings(max_examples=100, deadline=None)
def test_frames_split_anywhere_by_tcp_are_each_handled_once(cuts: list[int]) -> None:
    messages = [p.encode(p.Rate(20.0 - k)) for k in range(5)] + [p.encode(p.Pong(1.0, 2))] * 3
    messages.append(p.encode(p.Error("x", "y" * 300)))  # a 16-bit length
    stream = b"".join(server_frame(m) for m in messages)
    swarm = WireSwarm("ws://127.0.0.1:1/ws", 0)
    a, b = socket.socketpair()
    try:
        conn = _Conn(a, ClientState(light=True), b"")
        points = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
        for lo, hi in itertools.pairwise(points):
            swarm._parse(conn, memoryview(stream)[lo:hi], 0.0)
        assert conn.state.server_rate == 16.0  # the last Rate, each applied in order
        assert [e.message for e in conn.state.errors] == ["y" * 300]
        assert not conn.pending_in and conn.open
    finally:
        a.close()
        b.close()


def test_only_plain_websocket_urls_are_accepted() -> None:
    with pytest.raises(UsageError, match="ws://"):
        WireSwarm("wss://example.org/ws", 1)


def test_wire_clients_play_ack_and_measure_like_the_sdk() -> None:
    async def body() -> None:
        async with serving() as server:
            loop = asyncio.get_running_loop()
            swarm = WireSwarm(server.url, 12, seed=3)
            assert await loop.run_in_executor(None, swarm.connect_all, 10.0) == 12
            await loop.run_in_executor(None, swarm.run, 2.0)
            stats = swarm.stats()
            assert stats.connected == 12 and stats.dropped == 0 and stats.failed_to_connect == 0
            assert stats.snapshots > 12 * 25  # 20 Hz for 2 s
            assert stats.latencies_s.size > 12 * 25 and 0 < stats.latencies_s.max() < 0.5
            for c in swarm.conns:
                assert c is not None and c.state.ack_seq > 25 and not c.state.errors
            assert server.stats()["rejected"] == {}  # honest: nothing refused
            players = {c.state.player for c in swarm.conns if c is not None}
            assert len(players) == 12 and all(server.core.world.active[list(players)])
            assert len(server.core.conns) == 12
            await loop.run_in_executor(None, swarm.close)
            await asyncio.sleep(0.3)
            assert not server.core.conns  # each Close answered and the connection gone

    run(body)


def test_a_server_that_refuses_the_upgrade_counts_as_failed_to_connect() -> None:
    async def body() -> None:
        async with serving() as server:
            loop = asyncio.get_running_loop()
            swarm = WireSwarm(f"ws://127.0.0.1:{server.port}/healthz", 2)
            assert await loop.run_in_executor(None, swarm.connect_all, 3.0) == 0
            assert swarm.failed == 2
            swarm.close()

    run(body)
