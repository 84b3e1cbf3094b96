"""The realtime server process: picows WebSockets on asyncio (uvloop when installed) around :class:`ServerCore`.

picows parses frames in Cython and hands them over without an await per message, which is what lets one core
serve a thousand clients at 20 Hz. The same port answers plain HTTP: ``GET /metrics`` (Prometheus text),
``GET /healthz`` and ``GET /stats`` (JSON: tick-time quantiles, CPU, counters; the load test reads it).

The tick loop runs on a fixed schedule (``next += dt``); a tick that overruns starts the next one at once, and a
backlog of more than one tick is dropped rather than replayed in a burst (counted as late ticks).

Garbage collection: a full (generation 2) collection walks every live object, about 50 ms with a thousand
connections: two ticks' budget, and the whole p99 latency tail in the load test. The server therefore moves
everything alive into the permanent generation (``gc.freeze()``) at start and every ``FREEZE_EVERY_TICKS``, so a
collection only walks what is younger. Frozen objects are still freed by reference counting; only reference
cycles among them would outlive their use, so connection teardown breaks the cycles it knows of.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)
from prometheus_client import CONTENT_TYPE_LATEST, Counter

from mpgenie.net import snapwire
from mpgenie.net.connections import ServerSettings
from mpgenie.net.core import ServerCore
from mpgenie.net.router import SessionRouter
from mpgenie.world.config import WorldConfig
from mpgenie.world.simulation import World

log = logging.getLogger("mpgenie.server")
FREEZE_EVERY_TICKS = 200
CLOSE_DRAIN_S = 5.0
CLOSE_PROTOCOL_ERROR = 1002  # RFC 6455 7.4.1: our answer to close codes no endpoint may send

try:  # optional: a faster event loop
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
    uvloop = None  # type: ignore[assignment]


def new_event_loop() -> asyncio.AbstractEventLoop:
    return uvloop.new_event_loop() if uvloop is not None else asyncio.new_event_loop()


def close_reply(payload: bytes) -> bytes:
    """The payload of the server's Close frame answering a client's Close with ``payload`` (RFC 6455, 5.5.1).

    A Close without a status code is answered without one; a valid code is echoed (without the reason). A code no
    endpoint may send (0-999, 1004-1006, 1015-2999, 5000 and up; picows already fails most of them) is answered
    with 1002, protocol error.
    """
    if len(payload) < 2:
        return b""
    code = int.from_bytes(payload[:2], "big")
    valid = (1000 <= code <= 1014 and code not in (1004, 1005, 1006)) or 3000 <= code <= 4999
    return payload[:2] if valid else CLOSE_PROTOCOL_ERROR.to_bytes(2, "big")


class _Connection(WSListener):
    """One WebSocket connection: the picows listener and the :class:`~mpgenie.net.connections.Peer` the core
    talks to."""

    def __init__(self, core: SessionRouter) -> None:
        super().__init__()
        self.core = core
        self.transport: WSTransport | None = None
        self._raw: asyncio.Transport | None = None  # the transport's socket side, asked for its backlog every tick

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self._raw = transport.underlying_transport
        sock = transport.underlying_transport.get_extra_info("socket")
        if sock is not None:  # bound the kernel's send queue: a client that stops reading cannot park megabytes
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.core.settings.kernel_send_buffer_bytes)
        self.core.on_connect(self, time.monotonic())

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind == WSMsgType.BINARY and frame.fin:
            # A view of picows's read buffer, valid during this call: the core decodes it and keeps no reference.
            self.core.on_message(self, frame.get_payload_as_memoryview(), time.monotonic())
        elif kind == WSMsgType.CLOSE:
            # Not send_close: for a Close without a status code it would write code 0, which RFC 6455 forbids on
            # the wire (browsers and Node's ws then report 1006 instead of a clean close).
            transport.send(WSMsgType.CLOSE, close_reply(frame.get_payload_as_bytes()))
            transport.disconnect()
        elif kind in (WSMsgType.PING, WSMsgType.PONG):
            return
        else:
            self.core.on_bad_frame(self, "only whole binary frames are part of the protocol", time.monotonic())

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.core.on_disconnect(self, time.monotonic())
        self.transport = self._raw = None  # break the listener <-> transport cycle (see the module notes on gc.freeze)

    # Peer
    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_disconnected:
            self.transport.send(WSMsgType.BINARY, data)

    def backlog(self) -> int:
        return 0 if self._raw is None else self._raw.get_write_buffer_size()

    def close(self, code: int, reason: str, abort: bool = False) -> None:
        """Send the Close frame, then either drop the connection (``abort``) or close gracefully.

        Graceful is a half-close: the send buffer drains, then FIN, and reading goes on (frames are ignored) until
        the client answers or closes, or ``CLOSE_DRAIN_S`` passes. Closing the socket outright while the client's
        frames are still unread makes the kernel answer with a RST, which discards what the client had not read
        yet: the final ``error``/``bye`` and the Close itself (the client sees 1006).
        """
        t = self.transport
        if t is None or t.is_disconnected:
            return
        with contextlib.suppress(Exception):
            t.send_close(WSCloseCode(code), reason.encode())
        if abort:
            t.disconnect(graceful=False)
            return
        raw = t.underlying_transport
        if raw.can_write_eof():
            with contextlib.suppress(Exception):
                raw.write_eof()  # FIN after the buffered frames; the client's answer closes the rest
        else:  # pragma: no cover - TCP transports can half-close
            t.disconnect()
        asyncio.get_running_loop().call_later(CLOSE_DRAIN_S, self._abort_if_open, t)

    @staticmethod
    def _abort_if_open(t: WSTransport) -> None:
        if not t.is_disconnected:
            t.disconnect(graceful=False)


class RealtimeServer:
    """Owns the listening socket, the tick loop and the sessions (``router``; ``core`` is the default one)."""

    def __init__(
        self,
        cfg: WorldConfig | None = None,
        settings: ServerSettings | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        on_tick: Callable[[ServerCore], None] | None = None,
        on_kick: Callable[[str, str, str], None] | None = None,
        on_presence: Callable[[str, str, bool], None] | None = None,
        on_session_tick: Callable[[ServerCore], None] | None = None,
    ) -> None:
        self.router = SessionRouter(cfg, settings, on_kick=on_kick, on_presence=on_presence)
        self.on_session_tick = on_session_tick  # e.g. the world-model frame streamer, after each session's tick
        self.core = self.router.default
        self.host = host
        self.port = port
        self.on_tick = on_tick
        self._server: asyncio.Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.tick_times: deque[tuple[int, float]] = deque(maxlen=200_000)
        self.started_at = 0.0
        # Sessions this node restored from checkpoints (failover): session, tick, digest, players, restore_ms.
        self.restored: deque[dict[str, Any]] = deque(maxlen=100)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def readiness(self) -> dict[str, str]:
        """``{"realtime": "ok"}``, or why new players should go elsewhere (the API's ``/readyz`` includes it)."""
        if self.stopping:
            return {"realtime": "stopping"}
        slow = [c for c in self.router.live() if c.saturated]
        if slow:
            return {"realtime": f"saturated ({slow[0].pace.rate:.1f} of {slow[0].cfg.tick_rate} Hz)"}
        return {"realtime": "ok"}

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    async def start(self) -> None:
        s = self.core.settings
        self._server = await ws_create_server(
            self._factory,
            self.host,
            self.port,
            max_frame_size=s.max_frame_bytes,
            websocket_handshake_timeout=5,
            enable_auto_pong=True,
            disconnect_on_exception=True,
            backlog=4096,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        _warm_up(self.core.cfg)
        gc.collect()
        gc.freeze()
        self.started_at = time.monotonic()
        self._ticker = asyncio.get_running_loop().create_task(self._tick_loop())

    def _factory(self, request: WSUpgradeRequest) -> WSListener | WSUpgradeResponseWithListener:
        path = request.path.split(b"?", 1)
        route = path[0]
        if route == b"/metrics":
            return self._http(self.core.metrics.render(), CONTENT_TYPE_LATEST)
        if route == b"/healthz":
            return self._http(b'{"status":"ok"}', "application/json")
        if route == b"/readyz":  # a load balancer stops sending players while the server is saturated
            saturated = self.readiness()["realtime"] != "ok"
            body = json.dumps({"status": "saturated" if saturated else "ready", "rate_hz": self.core.pace.rate})
            if saturated:
                return WSUpgradeResponseWithListener(WSUpgradeResponse.create_error_response(503, body.encode()), None)
            return self._http(body.encode(), "application/json")
        if route == b"/stats":
            since = 0
            if len(path) > 1 and path[1].startswith(b"since="):
                with contextlib.suppress(ValueError):
                    since = int(path[1][6:])
            return self._http(json.dumps(self.stats(since)).encode(), "application/json")
        if route != b"/ws":
            return WSUpgradeResponseWithListener(WSUpgradeResponse.create_error_response(404, b"not found"), None)
        if self._stopping.is_set():
            return WSUpgradeResponseWithListener(WSUpgradeResponse.create_error_response(503, b"shutting down"), None)
        return _Connection(self.router)

    @staticmethod
    def _http(body: bytes, content_type: str) -> WSUpgradeResponseWithListener:
        return WSUpgradeResponseWithListener(
            WSUpgradeResponse.create_ok_response(body, {"Content-Type": content_type}), None
        )

    def stats(self, since_tick: int = 0) -> dict[str, Any]:
        """Counters and tick-time quantiles of the ticks after ``since_tick`` (what the load test reports)."""
        durations = np.array([d for t, d in self.tick_times if t > since_tick]) * 1000.0
        m = self.core.metrics
        q = (lambda x: float(np.percentile(durations, x))) if durations.size else (lambda x: 0.0)
        return {
            "tick": self.core.world.tick,
            "ticks": int(durations.size),
            "tick_ms_p50": q(50),
            "tick_ms_p99": q(99),
            "tick_ms_max": float(durations.max()) if durations.size else 0.0,
            "late_ticks": m.value("mpgenie_ticks_late_total"),
            "cpu_s": time.process_time(),
            "uptime_s": time.monotonic() - self.started_at,
            "players": sum(len(c.by_player) for c in self.router.cores.values()),
            "connected": sum(
                1 for core in self.router.cores.values() for c in core.conns.values() if c.joined and not c.closed
            ),
            "sessions": len(self.router.cores),
            "session_players": {sid: len(c.by_player) for sid, c in self.router.cores.items()},
            "restored": list(self.restored),
            "bytes_out": m.value("mpgenie_bytes_out_total"),
            "entity_records_out": m.value("mpgenie_entity_records_out_total"),
            "entity_bytes_sent": m.entity_bytes_sent,
            "entity_bytes_full": m.entity_bytes_full,
            "rejected": _by_label(m.rejected, "reason"),
            "absorbed": _by_label(m.absorbed, "reason"),
            "snapshots_skipped": m.value("mpgenie_snapshots_skipped_total"),
        }

    async def _tick_loop(self) -> None:
        core = self.core
        dt = 1.0 / core.cfg.tick_rate
        next_at = time.monotonic() + dt
        while not self._stopping.is_set():
            # Always give the loop back, even when late: the API and socket reads share it, and a tick loop that
            # only awaits when on time starves them exactly when the server is busiest.
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            start = time.monotonic()
            if start - next_at > dt:
                core.metrics.late_ticks.inc()
                next_at = start
            next_at += dt
            took = 0.0
            for session_core in self.router.live():
                if session_core.closing:  # ended while an earlier session ticked
                    continue
                took += self._tick_session(session_core, start)
                await asyncio.sleep(0)  # one world's cost does not hold up the loop for all the others
            for session_core in self.router.live():
                session_core.pace.work(took)  # all sessions share this loop: each is as busy as the whole
            self.router.reap_idle(start)
            if self.on_tick is not None:
                self.on_tick(core)
            core.metrics.tick_seconds.observe(took)
            self.tick_times.append((core.world.tick, took))
            if core.world.tick % FREEZE_EVERY_TICKS == 0:
                gc.freeze()

    def _tick_session(self, session_core: ServerCore, now: float) -> float:
        """One session's tick (and its frame streaming); returns the seconds it took."""
        t0 = time.monotonic()
        try:
            session_core.tick(now)
            if self.on_session_tick is not None:
                self.on_session_tick(session_core)
        except Exception:  # a bug must not take the world down silently; log it and keep ticking
            log.exception("tick %d of session %s failed", session_core.world.tick, session_core.settings.session)
        return time.monotonic() - t0

    async def stop(self, drain_s: float = 2.0) -> None:
        """Graceful shutdown: finish the current tick, say goodbye, flush, close."""
        self._stopping.set()
        if self._ticker is not None:
            await self._ticker
        self.router.shutdown()
        deadline = time.monotonic() + drain_s
        while self.router.conns and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=drain_s)


def _by_label(counter: Counter, label: str) -> dict[str, float]:
    """A labelled counter's totals by one label's value."""
    return {
        s.labels[label]: s.value for metric in counter.collect() for s in metric.samples if s.name.endswith("_total")
    }


def _warm_up(cfg: WorldConfig) -> None:
    """Load the compiled kernels on a throwaway world, so the first real tick is not 1 s late."""
    snapwire.warm_up()
    world = World(cfg)
    world.add_players(4)
    for _ in range(3):
        world.step(np.full(world.num_slots, 8, dtype=np.int8))
