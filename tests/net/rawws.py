"""A WebSocket client by hand, for tests about the exact bytes on the wire (close frames, non-reading clients):
it reads only what a test asks for, which no client library allows."""

from __future__ import annotations

import asyncio
import os
import socket

from mpgenie.net.server import RealtimeServer
from mpgenie.net.wireswarm import client_frame


async def raw_connect(server: RealtimeServer, rcvbuf: int | None = None) -> socket.socket:
    """Open ``/ws`` by hand and read exactly the handshake response, nothing past it."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", server.port))
    request = (
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    response = b""
    while b"\r\n\r\n" not in response:
        response += await loop.sock_recv(sock, 1)  # byte by byte: read nothing past the handshake
    assert response.startswith(b"HTTP/1.1 101")
    return sock


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """A client frame (FIN set, masked with a fresh random key, as RFC 6455 requires of clients)."""
    return client_frame(payload, os.urandom(4), opcode)
