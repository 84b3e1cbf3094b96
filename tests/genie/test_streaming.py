"""World-model frames streamed to realtime clients that ask for them; slow clients get fewer."""

import asyncio
import io

import av
import numpy as np

from mpgenie.genie.streamer import FrameStreamer
from mpgenie.net import protocol as p
from mpgenie.net.client import GameClient
from mpgenie.net.core import ServerCore
from mpgenie.net.server import RealtimeServer, new_event_loop
from mpgenie.net.tickets import DEV_SECRET, issue_ticket
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
