"""Stream world-model frames to realtime clients: each player that asked for frames (``Hello.frames``, per
second) gets its view as a JPEG ``frame`` message at that rate, rendered by the session's world-model backend.

Bandwidth adaptation: a frame is skipped for a connection whose send buffer still holds more than
``max_backlog_bytes`` (the client or its link is not keeping up), so slow clients get fewer frames and the tick is
never held up; snapshots keep flowing either way.

A failing backend (a model server down, a learned model raising) never stops the game: that frame is drawn by the
procedural ground truth instead, counted in ``failures`` and logged, at most once per ``failure_log_every_s`` with
the number left unlogged since, so a backend that fails every frame for every player does not flood the logs.
"""

from __future__ import annotations

import fractions
import time
import weakref
from collections.abc import Callable

import av
import numpy as np
import structlog
from numpy.typing import NDArray

from mpgenie.genie.backends import ProceduralWorldModel, WorldModel, procedural_backend, step_all
from mpgenie.genie.consistency import FrameConsistencyManager
from mpgenie.genie.context import ContextAssembler
from mpgenie.net import protocol as p
from mpgenie.net.core import ServerCore

log = structlog.get_logger("mpgenie.genie")

FAILURE_LOG_EVERY_S = 10.0


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


Backends = tuple[WorldModel, ContextAssembler, FrameConsistencyManager]


class FrameStreamer:
    """Per session core: which players get a frame this tick, from which backend.

    Each core's backend, context assembler and frame history are kept while the core lives and no longer: they are
    held by the core object itself (weakly), not by ``id(core)``, which the interpreter recycles for a later core —
    the streamer is only ever handed cores (``tick``), not told when a session ends or idles out, so it lets go when
    the router does. A backend made by ``backend`` must therefore not keep a reference to its core."""

    def __init__(
        self,
        backend: Callable[[ServerCore], WorldModel] | None = None,
        resolution: int = 64,
        max_backlog_bytes: int = 64 * 1024,
        failure_log_every_s: float = FAILURE_LOG_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.make_backend = backend or procedural_backend(resolution)
        self.resolution = resolution
        self.max_backlog = max_backlog_bytes
        self._backends: weakref.WeakKeyDictionary[ServerCore, Backends] = weakref.WeakKeyDictionary()
        self._fallbacks: weakref.WeakKeyDictionary[ServerCore, ProceduralWorldModel] = weakref.WeakKeyDictionary()
        self.failures = 0
        self.failure_log_every_s = failure_log_every_s
        self._clock = clock
        self._failure_logged_at: float | None = None
        self._failures_unlogged = 0
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
        contexts = []
        for _, player in due:
            ctx = assembler.assemble(player, history.history(player))
            if history.resets(player) == 0 and not history.history(player):
                model.start(ctx)
            contexts.append(ctx)
        actions = [int(w.last_action[player]) for _, player in due]
        try:  # all of this tick's players in one call: one batched model forward, one renderer kernel
            frames = step_all(model, contexts, actions)
        except Exception as exc:  # a remote or learned model failing must not stop the game: draw the ground truth
            for _, player in due:
                self._failed(core, player, exc)
            frames = self._fallback(core).step_many(contexts, [0] * len(contexts))
        for (conn, player), frame in zip(due, frames, strict=True):
            if history.observe(player, frame, w.pos[player], w.fwd[player], teleported=bool(w.teleported[player])):
                model.start(assembler.assemble(player, history.history(player)))
            data = self.encoder.encode(frame)
            core.send_to(conn, p.Frame(t, frame.shape[1], frame.shape[0], "jpeg", data), "frame")
            self.sent += 1

    @property
    def sessions(self) -> int:
        """How many session cores the streamer holds backends for now."""
        return len(self._backends)

    def _for(self, core: ServerCore) -> Backends:
        found = self._backends.get(core)
        if found is None:
            found = self._backends[core] = (
                self.make_backend(core),
                ContextAssembler(core.world, budget_bytes=16 * self.resolution * self.resolution * 3),
                FrameConsistencyManager(capacity=8, radius_m=core.cfg.radius),
            )
        return found

    def _fallback(self, core: ServerCore) -> ProceduralWorldModel:
        found = self._fallbacks.get(core)
        if found is None:  # made once per core, not per failure (a renderer is not free to build)
            found = self._fallbacks[core] = procedural_backend(self.resolution)(core)
        return found

    def _failed(self, core: ServerCore, player: int, exc: Exception) -> None:
        """Count a backend failure; log it unless one was logged less than ``failure_log_every_s`` ago."""
        self.failures += 1
        now = self._clock()
        if self._failure_logged_at is not None and now - self._failure_logged_at < self.failure_log_every_s:
            self._failures_unlogged += 1
            return
        log.warning(
            "world model failed, drew the ground truth",
            session=core.settings.session,
            player=player,
            error=f"{type(exc).__name__}: {exc}",
            failures=self.failures,
            not_logged_since_last=self._failures_unlogged,
            exc_info=exc,
        )
        self._failure_logged_at = now
        self._failures_unlogged = 0
