"""How connections end, checked on the wire: the exact bytes of the server's Close frames (read by a WebSocket
client written by hand on a raw socket, so nothing between the test and the bytes interprets them) and the frames
a kicked client receives before the close."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from mpgenie.net.server import RealtimeServer, close_reply

from .test_server import run, serving


async def _raw_connect(server: RealtimeServer) -> socket.socket:
    """Open ``/ws`` by hand and read exactly the handshake response, nothing past it."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", server.port))
    request = (
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    response = b""
    while b"\r\n\r\n" not in response:
        response += await loop.sock_recv(sock, 1)
    assert response.startswith(b"HTTP/1.1 101")
    return sock


def _masked_frame(opcode: int, payload: bytes) -> bytes:
    """A client frame (FIN set, masked with a random key, as RFC 6455 requires of clients); payload < 126 bytes."""
    assert len(payload) < 126
    key = os.urandom(4)
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


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
            sock = await _raw_connect(server)
            try:
                await asyncio.get_running_loop().sock_sendall(sock, _masked_frame(0x8, client_payload))
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
