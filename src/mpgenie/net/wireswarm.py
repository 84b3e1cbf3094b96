"""The load generator's clients on raw sockets: thousands of WebSocket connections driven by one epoll loop.

Why not the SDK's :class:`~mpgenie.net.bots.BotSwarm` (picows on asyncio) for ``mpgenie loadtest``: on a 2-core
machine the load generator shares the CPU with the server it measures, and the SDK swarm cost as much per
client-tick as the server itself (27 us vs 27 us, `py-spy` of a 1,000-client run: a third of it asyncio and picows
callbacks around each 12-byte input and each snapshot). This swarm keeps the protocol logic (one
:class:`~mpgenie.net.client.ClientState` per connection: acks, pacing, the server's rate, latency per input) and
replaces only the transport:

- one ``epoll`` over every socket, polled without blocking at most once per ``poll_interval_s`` (default 1 ms):
  the loop wakes a thousand times a second whatever the number of clients, not once per arriving snapshot. A
  snapshot is therefore read up to 1 ms late, which the measured latency includes (it errs on the slow side).
- frames parsed by hand (RFC 6455: server frames are unmasked; the server never fragments) from one receive
  buffer; inputs masked with a fresh random key per frame, as the RFC requires of clients.
- inputs sent on each client's phase of the tick, as :class:`BotSwarm` does, paced by the server's announced rate.

It runs in a thread of the load-test process (the main thread only sleeps and asks the server for ``/stats``), and
speaks ``ws://`` only: a ``wss://`` server is load-tested with the SDK bots.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import select
import socket
import threading
import time
from urllib.parse import urlsplit

import numpy as np

from mpgenie.agents.scripted import HeldActions
from mpgenie.errors import UsageError
from mpgenie.net import protocol as p
from mpgenie.net.bots import SwarmStats, pace_s, swarm_stats
from mpgenie.net.client import ClientState
from mpgenie.net.tickets import DEV_SECRET, issue_ticket

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x2, 0x8, 0x9, 0xA
RECV_BYTES = 1 << 18


def client_frame(payload: bytes, key: bytes, opcode: int = OP_BINARY) -> bytes:
    """One final client frame: masked with the 4-byte ``key`` (RFC 6455 section 5.3)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 1 << 16:
        head = bytes((0x80 | opcode, 0xFE)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0xFF)) + n.to_bytes(8, "big")
    if n == 0:
        return head + key
    repeated = (key * ((n + 3) // 4))[:n]
    masked = (int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")).to_bytes(n, "little")
    return head + key + masked


def handshake(host: str, port: int, path: str, timeout: float) -> tuple[socket.socket, bytes]:
    """Open a TCP connection and upgrade it to WebSocket; returns the socket (non-blocking) and any bytes that
    arrived after the handshake's header (the start of the first frames)."""
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16))
        sock.sendall(
            b"GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path.encode(), host.encode(), port, key)
        )
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("the server closed the connection during the WebSocket handshake")
            response += chunk
        header, _, rest = response.partition(b"\r\n\r\n")
        lines = header.split(b"\r\n")
        if b" 101 " not in lines[0] + b" ":
            raise ConnectionError(f"WebSocket upgrade refused: {lines[0].decode(errors='replace')}")
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID, usedforsecurity=False).digest())  # RFC 6455
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:])}
        if fields.get(b"sec-websocket-accept") != accept:
            raise ConnectionError("WebSocket upgrade answered with a wrong Sec-WebSocket-Accept")
        sock.setblocking(False)
        return sock, rest
    except BaseException:
        sock.close()
        raise


class _Conn:
    __slots__ = ("fd", "open", "pending_in", "pending_out", "sock", "state")

    def __init__(self, sock: socket.socket, state: ClientState, pending_in: bytes) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.state = state
        self.pending_in = bytearray(pending_in)
        self.pending_out = bytearray()
        self.open = True


class WireSwarm:
    """``n`` light clients of one ``ws://`` server on raw sockets (see the module notes). Same measurements as
    ``BotSwarm(light=True)``: :meth:`stats` returns its :class:`~mpgenie.net.bots.SwarmStats`."""

    def __init__(
        self,
        url: str,
        n: int,
        secret: str = DEV_SECRET,
        session: str = "default",
        seed: int = 0,
        phases: int = 10,
        name: str = "wire",
        frames: int = 0,
        poll_interval_s: float = 0.001,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "ws" or not parts.hostname:
            raise UsageError(f"the raw-socket load generator speaks ws:// only, got {url!r} (use --bots light)")
        self.host, self.port, self.path = parts.hostname, parts.port or 80, parts.path or "/"
        self.n = n
        self.phases = max(1, phases)
        self.poll_interval_s = poll_interval_s
        self.brain = HeldActions(seed)
        self.tickets = [issue_ticket(secret, f"{name}-{seed}-{i}", session, ttl_s=600) for i in range(n)]
        self.frames = frames
        self.conns: list[_Conn | None] = [None] * n
        self.by_fd: dict[int, _Conn] = {}
        self.epoll = select.epoll()
        self.failed = 0
        self.tick_rate = 20
        self._buffer = bytearray(RECV_BYTES)
        self._view = memoryview(self._buffer)
        self._stop = threading.Event()
        self._reset = threading.Event()
        self._reset_done = threading.Event()
        self._thread: threading.Thread | None = None

    # --- connecting --------------------------------------------------------------------------------------------

    def connect_all(self, timeout: float = 20.0) -> int:
        """Connect every client (handshakes one after another, welcomes read in between); returns how many were
        welcomed within ``timeout``."""
        deadline = time.monotonic() + timeout
        for i in range(self.n):
            state = ClientState(self.tickets[i], light=True, frames=self.frames)
            try:
                sock, rest = handshake(self.host, self.port, self.path, timeout=max(0.1, deadline - time.monotonic()))
            except (OSError, ConnectionError):
                self.failed += 1
                continue
            conn = _Conn(sock, state, rest)
            self.conns[i] = conn
            self.by_fd[conn.fd] = conn
            self.epoll.register(conn.fd, select.EPOLLIN)
            self._send(conn, state.hello())
            if conn.pending_in:
                self._parse(conn, b"", time.monotonic())
            if i % 32 == 31:
                self._poll()
        while time.monotonic() < deadline and not all(c is None or c.state.welcome or not c.open for c in self.conns):
            self._poll()
            time.sleep(self.poll_interval_s)
        welcomed = [c for c in self.conns if c is not None and c.state.welcome is not None]
        self.failed = self.n - len(welcomed)
        if welcomed:
            self.tick_rate = welcomed[0].state.welcome.tick_rate  # type: ignore[union-attr]
        return len(welcomed)

    # --- the loop ----------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Run the send/receive loop in a thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self.run, name="wireswarm", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def run(self, duration_s: float | None = None) -> None:
        """Send one input per client per server tick, on its phase, and read everything that arrives."""
        groups = [self.conns[k :: self.phases] for k in range(self.phases)]
        index = [np.arange(k, self.n, self.phases) for k in range(self.phases)]
        sampled = [c.state for c in self.conns[:: max(1, self.n // 16)] if c is not None]
        start = next_at = time.monotonic()
        phase = 0
        actions = np.zeros(self.n, dtype=np.int8)
        keys = b""
        while not self._stop.is_set() and (duration_s is None or time.monotonic() - start < duration_s):
            if self._reset.is_set():
                self._reset_now()
            now = time.monotonic()
            if now >= next_at:
                if phase == 0:
                    actions = self.brain.next(self.n)
                    keys = os.urandom(4 * self.n)  # a fresh masking key per frame
                for i, c in zip(index[phase].tolist(), groups[phase], strict=True):
                    if c is not None and c.open and c.state.welcome is not None:
                        data = c.state.paced_input(int(actions[i]), now)
                        if data is not None:
                            self._send_framed(c, client_frame(data, keys[4 * i : 4 * i + 4]))
                phase = (phase + 1) % self.phases
                next_at += pace_s(sampled, self.tick_rate) / self.phases
                if next_at < now - 1.0:  # far behind (machine overloaded): do not burst to catch up
                    next_at = now
            self._poll()
            pause = min(self.poll_interval_s, next_at - time.monotonic())
            if pause > 0:
                time.sleep(pause)

    def _poll(self) -> None:
        events = self.epoll.poll(0)
        if not events:
            return
        now = time.monotonic()
        for fd, _ in events:
            conn = self.by_fd.get(fd)
            if conn is None:
                continue
            if conn.pending_out:
                self._flush(conn)
            try:
                k = conn.sock.recv_into(self._buffer)
            except BlockingIOError:
                continue
            except OSError:
                k = 0
            if k == 0:
                self._lost(conn)
                continue
            self._parse(conn, self._view[:k], now)

    def _parse(self, conn: _Conn, data: memoryview | bytes, now: float) -> None:
        """Handle every whole frame in ``pending_in + data``; keep the incomplete rest."""
        if conn.pending_in:
            conn.pending_in += data
            buf: memoryview | bytes = bytes(conn.pending_in)
            conn.pending_in.clear()
        else:
            buf = data
        n = len(buf)
        pos = 0
        while n - pos >= 2:
            b0, length = buf[pos], buf[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if n - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if n - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            end = pos + head + length
            if end > n:
                break
            self._on_frame(conn, b0, bytes(buf[pos + head : end]), now)
            pos = end
            if not conn.open:
                return
        if pos < n:
            conn.pending_in += buf[pos:]

    def _on_frame(self, conn: _Conn, b0: int, payload: bytes, now: float) -> None:
        opcode = b0 & 0x0F
        if opcode == OP_BINARY and b0 & 0x80:
            try:
                conn.state.handle(payload, now)
            except ValueError:  # undecodable (msgspec errors are ValueErrors): as the SDK client, count and go on
                conn.state.errors.append(p.Error("undecodable", "the load generator could not decode a frame"))
        elif opcode == OP_CLOSE:
            self._send_framed(conn, client_frame(payload[:2], os.urandom(4), OP_CLOSE))
            self._lost(conn)
        elif opcode == OP_PING:
            self._send_framed(conn, client_frame(payload, os.urandom(4), OP_PONG))

    # --- sending -----------------------------------------------------------------------------------------------

    def _send(self, conn: _Conn, payload: bytes) -> None:
        self._send_framed(conn, client_frame(payload, os.urandom(4)))

    def _send_framed(self, conn: _Conn, frame: bytes) -> None:
        if not conn.open:
            return
        if conn.pending_out:  # keep the order: behind what is still waiting
            conn.pending_out += frame
            self._flush(conn)
            return
        try:
            sent = conn.sock.send(frame)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._lost(conn)
            return
        if sent < len(frame):
            conn.pending_out += frame[sent:]
            self.epoll.modify(conn.fd, select.EPOLLIN | select.EPOLLOUT)

    def _flush(self, conn: _Conn) -> None:
        try:
            sent = conn.sock.send(conn.pending_out)
        except BlockingIOError:
            return
        except OSError:
            self._lost(conn)
            return
        del conn.pending_out[:sent]
        if not conn.pending_out:
            self.epoll.modify(conn.fd, select.EPOLLIN)

    def _lost(self, conn: _Conn) -> None:
        if not conn.open:
            return
        conn.open = False
        self.by_fd.pop(conn.fd, None)
        with contextlib.suppress(OSError, ValueError):
            self.epoll.unregister(conn.fd)
        conn.sock.close()

    # --- measurements ------------------------------------------------------------------------------------------

    def stats(self) -> SwarmStats:
        conns = [c for c in self.conns if c is not None]
        return swarm_stats(self.n, [c.state for c in conns], [c.open for c in conns], self.failed)

    def reset_measurements(self) -> None:
        """Zero the counters, done by the loop's thread between two polls (or here when it is not running)."""
        if self._thread is None:
            self._reset_now()
            return
        self._reset_done.clear()
        self._reset.set()
        self._reset_done.wait(timeout=5.0)

    def _reset_now(self) -> None:
        for c in self.conns:
            if c is not None:
                c.state.reset_measurements()
        self._reset.clear()
        self._reset_done.set()

    def close(self) -> None:
        """Say goodbye (Close 1000) on every open connection and close the sockets."""
        self.stop()
        goodbye = (1000).to_bytes(2, "big")
        for c in self.conns:
            if c is not None and c.open:
                self._send_framed(c, client_frame(goodbye, os.urandom(4), OP_CLOSE))
                self._lost(c)
        self.epoll.close()
