"""World-model frames streamed to realtime clients that ask for them; slow clients get fewer."""

import asyncio
import gc
import io
import weakref

import av
import numpy as np
import structlog
import structlog.testing

from mpgenie.genie.backends import ProceduralWorldModel
from mpgenie.genie.streamer import FrameStreamer
from mpgenie.net import protocol as p
from mpgenie.net.client import GameClient
from mpgenie.net.core import ServerCore
from mpgenie.net.router import SessionRouter
from mpgenie.net.server import RealtimeServer, new_event_loop
from mpgenie.net.tickets import DEV_SECRET, issue_ticket
from mpgenie.render import RenderSettings
from mpgenie.world import WorldConfig

CFG = WorldConfig(seed=2, radius=40.0, num_landmarks=8)


def test_clients_that_ask_receive_jpeg_frames() -> None:
    async def body() -> None:
        streamer = FrameStreamer(resolution=32)
        server = RealtimeServer(CFG, on_session_tick=streamer.tick)
        await server.start()
        try:
            viewer = GameClient(server.url, issue_ticket(DEV_SECRET, "viewer"), frames=10)
            plain = GameClient(server.url, issue_ticket(DEV_SECRET, "plain"))
            await viewer.connect()
            await plain.connect()
            for _ in range(40):  # two seconds of ticks
                viewer.send_input(1)
                plain.send_input(1)
                await viewer.next_snapshot()
            assert 15 <= viewer.state.frames_received <= 22  # 10 per second
            assert plain.state.frames_received == 0
            frame = viewer.state.frame
            assert isinstance(frame, p.Frame) and frame.format == "jpeg" and (frame.width, frame.height) == (32, 32)
            with av.open(io.BytesIO(frame.data), format="mjpeg") as c:
                image = next(c.decode(video=0)).to_ndarray(format="rgb24")
            assert image.shape == (32, 32, 3) and image.std() > 5
            await viewer.close()
            await plain.close()
        finally:
            await server.stop(drain_s=1.0)

    loop = new_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(body(), 60))
    finally:
        loop.close()


class _Peer:
    def __init__(self, backlog: int) -> None:
        self.sent: list[bytes] = []
        self._backlog = backlog

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def backlog(self) -> int:
        return self._backlog

    def close(self, code: int, reason: str, abort: bool = False) -> None:
        pass


def test_slow_clients_get_fewer_frames_and_failures_fall_back() -> None:
    core = ServerCore(CFG)
    fast, slow = _Peer(0), _Peer(100_000)  # over the streamer's 64 KiB, under the 256 KiB that drops a client
    for name, peer in (("fast", fast), ("slow", slow)):
        core.on_connect(peer, 0.0)
        core.on_message(peer, p.encode(p.Hello(1, issue_ticket(DEV_SECRET, name), frames=20)), 0.0)

    class Broken:
        def start(self, context: object) -> None:
            pass

        def step(self, context: object, action: int) -> np.ndarray:
            raise RuntimeError("model server down")

    streamer = FrameStreamer(lambda c: Broken(), resolution=32)  # type: ignore[arg-type, return-value]
    for k in range(20):
        core.tick(k * 0.05)
        streamer.tick(core)

    def frames(peer: _Peer) -> int:
        return sum(isinstance(p.decode_server(d), p.Frame) for d in peer.sent)

    assert frames(fast) == 20 and frames(slow) == 0 and streamer.skipped == 20
    assert streamer.failures == 20  # every frame came from the procedural fallback


def _viewer(core: ServerCore, name: str = "viewer") -> _Peer:
    peer = _Peer(0)
    ticket = issue_ticket(DEV_SECRET, name, session=core.settings.session)
    core.on_connect(peer, 0.0)
    core.on_message(peer, p.encode(p.Hello(1, ticket, frames=20)), 0.0)
    return peer


def test_an_ended_sessions_backend_is_dropped_and_a_new_session_gets_its_own() -> None:
    """Backends were cached by id(core) and never dropped: an ended session's world stayed alive, and a later core
    given the recycled id() inherited its renderer (drawing the old world)."""
    made: list[weakref.ref[ProceduralWorldModel]] = []  # weakly: the test must not keep a world alive itself

    def backend(core: ServerCore) -> ProceduralWorldModel:
        model = ProceduralWorldModel(core.world, RenderSettings(32))
        made.append(weakref.ref(model))
        return model

    streamer = FrameStreamer(backend, resolution=32)
    router = SessionRouter(CFG)
    for round_ in range(3):
        core = router.session(f"match-{round_}")
        assert core is not None
        peer = _viewer(core)
        core.tick(0.0)
        streamer.tick(core)
        assert streamer.sessions == 1 and len(made) == round_ + 1
        assert streamer._for(core)[0] is made[-1]()  # this core's own backend, not a predecessor's
        assert frames_sent(peer) == 1
        world = weakref.ref(core.world)
        router.end(f"match-{round_}")
        del core, peer
        gc.collect()
        assert streamer.sessions == 0  # the ended session's backend, context and history are gone ...
        assert world() is None and made[-1]() is None  # ... and so are its world and its renderer


def frames_sent(peer: _Peer) -> int:
    return sum(isinstance(p.decode_server(d), p.Frame) for d in peer.sent)


def test_backend_failures_are_logged_but_rate_limited() -> None:
    class Broken:
        def start(self, context: object) -> None:
            pass

        def step(self, context: object, action: int) -> np.ndarray:
            raise RuntimeError("model server down")

    now = [100.0]
    streamer = FrameStreamer(
        lambda c: Broken(),  # type: ignore[arg-type, return-value]
        resolution=32,
        failure_log_every_s=10.0,
        clock=lambda: now[0],
    )
    core = ServerCore(CFG)
    peers = [_viewer(core, f"v{i}") for i in range(3)]
    with structlog.testing.capture_logs() as logs:
        for k in range(20):  # one second: 60 failures, one line
            core.tick(k * 0.05)
            streamer.tick(core)
            now[0] += 0.05
        now[0] += 10.0
        core.tick(1.0)
        streamer.tick(core)  # past the interval: one more line, saying how many went unlogged
    assert streamer.failures == 63 and all(frames_sent(peer) == 21 for peer in peers)
    failed = [e for e in logs if e["event"].startswith("world model failed")]
    assert len(failed) == 2
    assert failed[0]["log_level"] == "warning" and failed[0]["error"] == "RuntimeError: model server down"
    assert failed[0]["failures"] == 1 and failed[0]["not_logged_since_last"] == 0
    assert failed[1]["failures"] == 61 and failed[1]["not_logged_since_last"] == 59
    assert failed[0]["session"] == core.settings.session and isinstance(failed[0]["exc_info"], RuntimeError)
