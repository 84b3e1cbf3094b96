"""Integration: a real server on a loopback port, real WebSocket clients (picows), real frames."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable

import msgspec
import numpy as np
import pytest
from picows import WSListener, WSMsgType, ws_connect

from mpgenie.net import protocol as p
from mpgenie.net.bots import BotSwarm
from mpgenie.net.client import GameClient
from mpgenie.net.connections import ServerSettings
from mpgenie.net.server import RealtimeServer, new_event_loop
from mpgenie.net.snapshots import EMPTY_TABLE, apply_delta, build_deltas
from mpgenie.net.tickets import DEV_SECRET, issue_ticket
from mpgenie.world import Action, WorldConfig

from .rawws import masked_frame, raw_connect

CFG = WorldConfig(seed=3, radius=40.0, num_landmarks=8, num_hazards=0)


def run(coro_fn: Callable[[], Awaitable[None]]) -> None:
    loop = new_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(coro_fn(), 120))
    finally:
        loop.close()


@contextlib.asynccontextmanager
async def serving(settings: ServerSettings | None = None, cfg: WorldConfig = CFG) -> AsyncIterator[RealtimeServer]:
    server = RealtimeServer(cfg, settings)
    await server.start()
    try:
        yield server
    finally:
        await server.stop(drain_s=1.0)


def client(server: RealtimeServer, name: str, **kw: object) -> GameClient:
    return GameClient(server.url, issue_ticket(DEV_SECRET, name), **kw)  # type: ignore[arg-type]


async def snapshots(c: GameClient, n: int) -> list[p.Snapshot]:
    return [await c.next_snapshot() for _ in range(n)]


def http_get(server: RealtimeServer, path: str) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5) as r:
        return r.read()  # type: ignore[no-any-return]


def full_view(server: RealtimeServer, c: GameClient) -> np.ndarray:
    """What a full snapshot of the client's last applied tick contains, built on the server side."""
    core = server.core
    conn = next(x for x in core.conns.values() if x.session is not None and x.session.player == c.player)
    tick = c.tick
    ids = core.sent_views.view(tick, conn.uid)
    assert ids is not None
    batch = build_deltas(core.history, tick, [ids], np.zeros(1, np.int64), [np.zeros(0, np.int64)])
    return apply_delta(EMPTY_TABLE, batch.snapshot(0, tick, 0, 0, None))


def _tangent(point: np.ndarray) -> np.ndarray:
    return np.cross(point, np.array([0.0, 0.0, 1.0])) + np.array([1e-3, 0.0, 0.0])


def test_join_move_and_see_each_other_enter_and_leave() -> None:
    async def body() -> None:
        async with serving() as server:
            a, b = client(server, "a"), client(server, "b")
            wa, wb = await a.connect(), await b.connect()
            assert wa.player != wb.player and wa.tick_rate == 20
            w = server.core.world
            far = -w.pos[wa.player]
            w.teleport(wb.player, far, _tangent(far))
            await snapshots(a, 3)
            assert wb.player not in a.state.entities()["id"]
            w.teleport(wb.player, w.pos[wa.player] + 0.05 * w.fwd[wa.player], w.fwd[wa.player])
            await snapshots(a, 3)
            assert wb.player in a.state.entities()["id"]  # entered a's area of interest
            start = w.pos[wa.player].copy()
            for _ in range(10):
                a.send_input(Action.FORWARD)
                b.send_ack()
                await a.next_snapshot()
            await snapshots(a, 3)
            moved_m = np.linalg.norm(w.pos[wa.player] - start) * CFG.radius
            assert 1.5 < moved_m < 2.1  # 10 ticks x 0.2 m
            seen = b.state.entities()
            row = seen[seen["id"] == wa.player][0]
            assert np.linalg.norm(p.dequantize_unit(row["pos"]) - w.pos[wa.player]) * CFG.radius < 0.01
            np.testing.assert_allclose(a.state.predictor.pos[0], w.pos[wa.player], atol=1e-12)
            w.teleport(wb.player, far, _tangent(far))
            await snapshots(a, 3)
            assert wb.player not in a.state.entities()["id"]  # and left it
            deltas = [s for s in await snapshots(a, 5) if s.base]
            assert deltas, "acknowledged clients get deltas"
            assert a.state.entities().tobytes() == full_view(server, a).tobytes()
            await a.close()
            await b.close()

    run(body)


def test_deltas_equal_full_snapshots_with_many_movers() -> None:
    async def body() -> None:
        async with serving() as server:
            swarm = BotSwarm(server.url, 12, seed=1)
            assert await swarm.connect_all() == 12
            task = asyncio.ensure_future(swarm.run(2.0))
            await task
            for c in swarm.clients[:6]:
                await c.next_snapshot()
                assert c.state.entities().tobytes() == full_view(server, c).tobytes()
                assert c.state.snapshots > 30 and c.state.full_snapshots <= 2
            stats = swarm.stats()
            assert stats.dropped == 0 and stats.latencies_s.size > 200
            assert stats.corrections_m < 0.5
            await swarm.close()

    run(body)


def test_resume_after_a_dropped_connection_keeps_the_player() -> None:
    async def body() -> None:
        async with serving() as server:
            a = client(server, "a")
            w1 = await a.connect()
            for _ in range(5):
                a.send_input(Action.FORWARD)
                await a.next_snapshot()
            a.drop()
            await asyncio.sleep(0.1)
            assert server.core.world.active[w1.player]  # kept during the grace window
            server.core.announce("while-away", {"n": 1})
            await asyncio.sleep(0.15)
            w2 = await a.resume()
            assert w2.resumed and w2.player == w1.player
            await snapshots(a, 3)
            assert [e.name for e in a.events if isinstance(e, p.EvWorld)] == ["while-away"]
            assert a.state.event_gaps == 0
            a.send_input(Action.FORWARD)
            await snapshots(a, 2)
            assert not a.state.errors  # seq numbering carried on across the resume
            await a.close()

    run(body)


def test_spectator_follows_a_player() -> None:
    async def body() -> None:
        async with serving() as server:
            a = client(server, "a")
            wa = await a.connect()
            spec = client(server, "watcher", spectate=p.Spectate(follow=wa.player))
            ws = await spec.connect()
            assert ws.player == -1
            for _ in range(5):
                a.send_input(Action.FORWARD)
                spec.send_ack()
                await spec.next_snapshot()
            assert wa.player in spec.state.entities()["id"]
            assert spec.state.snapshot.you is None
            spec.send_raw(p.encode(p.Spectate(point=(1.0, 0.0, 0.0))))
            await snapshots(spec, 3)
            assert not spec.state.errors
            await a.close()
            await spec.close()

    run(body)


def test_events_arrive_once_and_in_order() -> None:
    async def body() -> None:
        async with serving() as server:
            cs = [client(server, f"c{i}") for i in range(3)]
            for c in cs:
                await c.connect()
            for k in range(20):
                server.core.announce("tick-event", {"k": k})
                if k % 3 == 0:
                    await cs[0].next_snapshot()
            await snapshots(cs[0], 3)
            for c in cs:
                ks = [e.data["k"] for e in c.events if isinstance(e, p.EvWorld)]
                assert ks == list(range(20))
                respawns = [e for e in c.events if isinstance(e, p.EvRespawn) and e.player == c.player]
                assert len(respawns) == 1  # own join, once
            for c in cs:
                await c.close()

    run(body)


def test_http_endpoints_and_metrics() -> None:
    async def body() -> None:
        async with serving() as server:
            a = client(server, "a")
            await a.connect()
            a.send_raw(b"\xc1garbage")
            await snapshots(a, 3)
            loop = asyncio.get_running_loop()
            metrics = (await loop.run_in_executor(None, http_get, server, "/metrics")).decode()
            assert 'mpgenie_players_connected{session="default"} 1.0' in metrics
            assert 'mpgenie_rejected_inputs_total{reason="malformed"} 1.0' in metrics
            assert "mpgenie_tick_duration_seconds_bucket" in metrics
            health = json.loads(await loop.run_in_executor(None, http_get, server, "/healthz"))
            assert health == {"status": "ok"}
            stats = json.loads(await loop.run_in_executor(None, http_get, server, "/stats"))
            assert stats["players"] == 1 and stats["ticks"] > 0
            await a.close()

    run(body)


def test_graceful_shutdown_tells_clients() -> None:
    async def body() -> None:
        server = RealtimeServer(CFG)
        await server.start()
        cs = [client(server, f"c{i}") for i in range(3)]
        for c in cs:
            await c.connect()
        await snapshots(cs[0], 2)
        digest_tick = server.core.world.tick
        await server.stop()
        for c in cs:
            await asyncio.wait_for(c.disconnected.wait(), 5)
            assert c.state.goodbye == "shutdown"
        assert server.core.world.tick >= digest_tick
        with pytest.raises(OSError):
            await ws_connect(WSListener, server.url, websocket_handshake_timeout=1)

    run(body)


class _Raw(WSListener):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.frames = 0

    def on_ws_frame(self, transport, frame) -> None:  # type: ignore[no-untyped-def]
        self.frames += 1


def _fuzz_frames(rng: np.random.Generator, n: int) -> list[tuple[WSMsgType, bytes]]:
    ticket = issue_ticket(DEV_SECRET, "fuzzer")
    templates: list[Callable[[], bytes]] = [
        lambda: rng.bytes(int(rng.integers(0, 64))),
        lambda: msgspec.msgpack.encode(
            [
                "in",
                int(rng.integers(-(2**40), 2**40)),
                int(rng.integers(-9, 9**9)),
                int(rng.integers(-300, 300)),
                int(rng.integers(-5, 10**6)),
            ]
        ),
        lambda: msgspec.msgpack.encode(["hello", int(rng.integers(0, 3)), ticket, None, 0, None]),
        lambda: msgspec.msgpack.encode(["spectate", int(rng.integers(-3, 99)), None]),
        lambda: msgspec.msgpack.encode(["ack", int(rng.integers(-(2**62), 2**62))]),
        lambda: msgspec.msgpack.encode(["ping", float(rng.normal())]),
        lambda: msgspec.msgpack.encode([rng.bytes(3).hex(), [1, 2, {"x": None}]]),
        lambda: msgspec.msgpack.encode(["in", 1.5, "x", None, []]),
        lambda: b"\x92\xa2in" + rng.bytes(int(rng.integers(0, 20))),  # truncated / corrupted
    ]
    frames: list[tuple[WSMsgType, bytes]] = []
    for _ in range(n):
        r = rng.random()
        if r < 0.002:
            frames.append((WSMsgType.BINARY, rng.bytes(8000)))  # over the frame limit: connection closed
        elif r < 0.01:
            frames.append((WSMsgType.TEXT, b"not binary"))
        else:
            frames.append((WSMsgType.BINARY, templates[int(rng.integers(0, len(templates)))]()))
    return frames


def test_fuzz_100k_bad_frames_do_not_disturb_good_clients() -> None:
    async def body() -> None:
        # Made before anyone connects: building 100k frames blocks the event loop the server ticks on for seconds,
        # and the good clients' tick estimate would run ahead of the stalled server ("clock" errors).
        rng = np.random.default_rng(123)
        frames = _fuzz_frames(rng, 100_000)
        async with serving() as server:
            good = [client(server, f"good{i}") for i in range(3)]
            for c in good:
                await c.connect()
            ticks: dict[int, list[int]] = {c.player: [] for c in good}

            async def play() -> None:
                while not stop.is_set():
                    for c in good:
                        c.send_input(Action.FORWARD if c.tick % 20 < 15 else Action.TURN_LEFT)
                    await good[0].next_snapshot()

            for c in good:
                c.on_snapshot = lambda cl, s: ticks[cl.player].append(s.tick)
            stop = asyncio.Event()
            player_task = asyncio.ensure_future(play())
            sent = 0
            reconnects = 0

            async def fuzzer(chunk: list[tuple[WSMsgType, bytes]]) -> None:
                nonlocal sent, reconnects
                transport = None
                for i, (kind, data) in enumerate(chunk):
                    if transport is None or transport.is_disconnected:
                        transport, _ = await ws_connect(_Raw, server.url)
                        reconnects += 1
                    transport.send(kind, data)
                    sent += 1
                    if i % 100 == 0:
                        await asyncio.sleep(0.01)  # spread over a few seconds of ticks, in bursts of 100
                if transport is not None:
                    transport.disconnect()

            chunks = [frames[k::4] for k in range(4)]
            await asyncio.gather(*(fuzzer(ch) for ch in chunks))
            stop.set()
            await player_task
            assert sent == 100_000
            assert reconnects > 4  # kicks and oversize closes happened, and the fuzzers came back
            for c in good:
                assert c.connected and not c.state.errors
                t = ticks[c.player]
                assert len(t) > 30 and t == list(range(t[0], t[0] + len(t)))  # no gap in snapshots
            core = server.core
            rejected = {
                s.labels["reason"]: s.value
                for m in core.metrics.rejected.collect()
                for s in m.samples
                if s.name.endswith("_total")
            }
            assert rejected.get("malformed", 0) > 1000
            assert json.loads(await asyncio.get_running_loop().run_in_executor(None, http_get, server, "/healthz"))
            for c in good:
                await c.close()

    run(body)


async def _raw_hello(server: RealtimeServer, hello: bytes, rcvbuf: int) -> socket.socket:
    """A client that says hello and then never reads again (a tiny receive buffer: the server's side fills fast)."""
    sock = await raw_connect(server, rcvbuf)
    await asyncio.get_running_loop().sock_sendall(sock, masked_frame(0x2, hello))
    return sock


def test_a_client_that_stops_reading_is_bounded_in_bytes_and_time() -> None:
    """It degrades first (no snapshots while behind), then goes after max_behind_s; the kernel's send queue is
    capped by SO_SNDBUF. An honest client in the same world is not disturbed."""
    settings = ServerSettings(slow_backlog_bytes=2048, max_behind_s=1.0, kernel_send_buffer_bytes=8192)
    crowded = WorldConfig(seed=3, radius=20.0, num_landmarks=4, num_hazards=0)  # everyone in everyone's view

    async def scenario() -> None:
        async with serving(settings, crowded) as server:
            server.core.world.add_players(60)  # big full snapshots (a client that never acks gets full ones)
            good = client(server, "good")
            await good.connect()
            hello = p.encode(p.Hello(p.PROTOCOL_VERSION, issue_ticket(DEV_SECRET, "sleepy")))
            sock = await _raw_hello(server, hello, rcvbuf=4096)
            started = time.monotonic()
            peer = None
            while time.monotonic() - started < 20:
                conns = [
                    c for c in server.core.conns.values() if c.session is not None and c.session.subject == "sleepy"
                ]
                if conns:
                    peer = conns[0].peer
                    held = peer.backlog()
                    assert held <= settings.max_send_backlog_bytes
                if peer is not None and not conns:
                    break
                await asyncio.sleep(0.05)
            gone_after = time.monotonic() - started
            assert peer is not None and not any(
                c.session is not None and c.session.subject == "sleepy" for c in server.core.conns.values()
            ), "the non-reading client was never dropped"
            assert gone_after < 15.0
            assert server.core.metrics.value("mpgenie_disconnects_total", reason="slow") == 1
            assert server.core.metrics.value("mpgenie_snapshots_skipped_total") > 0  # it degraded first
            before = good.state.tick
            await snapshots(good, 10)
            assert good.connected and good.state.tick >= before + 10
            sock.close()
            await good.close()

    run(scenario)


def test_the_kernel_send_queue_is_capped() -> None:
    settings = ServerSettings(kernel_send_buffer_bytes=16384)

    async def scenario() -> None:
        async with serving(settings) as server:
            c = client(server, "k")
            await c.connect()
            conn = next(iter(server.core.conns.values()))
            sock = conn.peer.transport.underlying_transport.get_extra_info("socket")  # type: ignore[attr-defined]
            # Linux doubles the value for its bookkeeping; autotuning (megabytes) is off once it is set.
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) <= 2 * 16384
            await c.close()

    run(scenario)


def test_a_late_tick_loop_still_gives_the_event_loop_back() -> None:
    """Two sessions whose ticks take 40 ms each: the server is always late (80 ms of work per 50 ms tick), yet
    other tasks on its event loop (the API, socket reads) run between the sessions, not never."""

    async def scenario() -> None:
        async with serving() as server:
            for sid in ("heavy-1", "heavy-2"):
                core = server.router.session(sid, {})
                assert core is not None
                original = core.tick

                def heavy(now: float, original: Callable[[float], object] = original) -> object:
                    time.sleep(0.04)  # a world that costs more than its share
                    return original(now)

                core.tick = heavy  # type: ignore[method-assign]
            gaps = []
            last = begin = time.monotonic()
            while last - begin < 1.5:
                await asyncio.sleep(0.005)
                now = time.monotonic()
                gaps.append(now - last)
                last = now
            assert server.core.metrics.value("mpgenie_ticks_late_total") > 0
            assert max(gaps) < 0.2, f"the event loop was held for {max(gaps) * 1000:.0f} ms"

    run(scenario)


def test_a_saturated_server_says_so_and_refuses_new_players_only() -> None:
    server: RealtimeServer | None = None

    async def ready() -> dict[str, object]:
        return json.loads(await asyncio.get_running_loop().run_in_executor(None, http_get, server, "/readyz"))

    async def scenario() -> None:
        nonlocal server
        async with serving() as server:
            inside = client(server, "inside")
            await inside.connect()
            assert (await ready())["status"] == "ready"
            original = server.core.tick

            def heavy(now: float) -> object:
                time.sleep(0.08)  # 160 % of the 50 ms budget
                return original(now)

            server.core.tick = heavy  # type: ignore[method-assign]
            await asyncio.sleep(1.5)
            with pytest.raises(urllib.error.HTTPError) as refused:
                await ready()
            assert refused.value.code == 503 and json.loads(refused.value.read())["status"] == "saturated"
            newcomer = client(server, "newcomer")
            with pytest.raises(ConnectionError, match="saturated"):
                await newcomer.connect()
            assert inside.connected and inside.state.server_rate < 18  # told the effective rate; still in
            server.core.tick = original  # type: ignore[method-assign]
            await asyncio.sleep(2.0)
            assert (await ready())["status"] == "ready"
            assert inside.state.server_rate == 20
            await inside.close()

    run(scenario)
