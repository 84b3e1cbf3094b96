"""Stream world-model frames to realtime clients: each player that asked for frames (``Hello.frames``, per
second) gets its view as a JPEG ``frame`` message at that rate, rendered by the session's world-model backend.

Bandwidth adaptation: a frame is skipped for a connection whose send buffer still holds more than
``max_backlog_bytes`` (the client or its link is not keeping up), so slow clients get fewer frames and the tick is
never held up; snapshots keep flowing either way.
"""

from __future__ import annotations

import fractions
from collections.abc import Callable

import av
import numpy as np
from numpy.typing import NDArray

from mpgenie.genie.backends import ProceduralWorldModel, WorldModel
from mpgenie.genie.consistency import FrameConsistencyManager
from mpgenie.genie.context import ContextAssembler
from mpgenie.net import protocol as p
from mpgenie.net.core import ServerCore
from mpgenie.render import RenderSettings


class JpegEncoder:
    def __init__(self, size: int, quality: int = 4) -> None:
        self.ctx = av.CodecContext.create("mjpeg", "w")
        self.ctx.width = self.ctx.height = size
        self.ctx.pix_fmt = "yuvj420p"
        self.ctx.time_base = fractions.Fraction(1, 20)
        self.ctx.options = {"qscale": str(quality)}
        self._pts = 0

    def encode(self, rgb: NDArray[np.uint8]) -> bytes:
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(format="yuvj420p")
        frame.pts = self._pts
        self._pts += 1
        return b"".join(bytes(packet) for packet in self.ctx.encode(frame))


class FrameStreamer:
    """Per session core: which players get a frame this tick, from which backend."""

    def __init__(
        self,
        backend: Callable[[ServerCore], WorldModel] | None = None,
        resolution: int = 64,
        max_backlog_bytes: int = 64 * 1024,
    ) -> None:
        self.make_backend = backend or (lambda core: ProceduralWorldModel(core.world, RenderSettings(resolution)))
        self.resolution = resolution
        self.max_backlog = max_backlog_bytes
        self._backends: dict[int, tuple[WorldModel, ContextAssembler, FrameConsistencyManager]] = {}
        self._fallbacks: dict[int, ProceduralWorldModel] = {}
        self.failures = 0
        self.encoder = JpegEncoder(resolution)
        self.sent = 0
        self.skipped = 0

    def tick(self, core: ServerCore) -> None:
        t = core.world.tick
        rate = core.cfg.tick_rate
        due = []
        for conn in core.conns.values():
            s = conn.session
            fps = conn.frames_per_s
            if s is None or conn.closed or fps <= 0:
                continue
            every = max(1, round(rate / fps))
            if (t + s.player) % every:
                continue
            if conn.peer.backlog() > self.max_backlog:
                self.skipped += 1
                continue
            due.append((conn, s.player))
        if not due:
            return
        model, assembler, history = self._for(core)
        w = core.world
        for conn, player in due:
            ctx = assembler.assemble(player, history.history(player))
            if history.resets(player) == 0 and not history.history(player):
                model.start(ctx)
            try:
                frame = model.step(ctx, int(w.last_action[player]))
            except Exception:  # a remote or learned model failing must not stop the game: draw the ground truth
                self.failures += 1
                fallback = self._fallbacks.setdefault(
                    id(core), ProceduralWorldModel(core.world, RenderSettings(self.resolution))
                )
                frame = fallback.step(ctx, 0)
            if history.observe(player, frame, w.pos[player], w.fwd[player], teleported=bool(w.teleported[player])):
                model.start(assembler.assemble(player, history.history(player)))
            data = self.encoder.encode(frame)
            core.send_to(conn, p.Frame(t, frame.shape[1], frame.shape[0], "jpeg", data), "frame")
            self.sent += 1

    def _for(self, core: ServerCore) -> tuple[WorldModel, ContextAssembler, FrameConsistencyManager]:
        key = id(core)
        if key not in self._backends:
            self._backends[key] = (
                self.make_backend(core),
                ContextAssembler(core.world, budget_bytes=16 * self.resolution * self.resolution * 3),
                FrameConsistencyManager(capacity=8, radius_m=core.cfg.radius),
            )
        return self._backends[key]
