"""A realtime node in a multi-node deployment: :class:`NodeAgent` ties a :class:`RealtimeServer` to the Redis node
registry (:mod:`mpgenie.net.registry`).

It runs beside the tick loop, in the same event loop, and never blocks it for Redis:

- heartbeat (every ``heartbeat_s``): the node's URL, capacity and load; then it restores any session the API
  moved onto it (failover), from that session's checkpoint;
- checkpoints (every ``checkpoint_interval_s``): each session's :meth:`ServerCore.checkpoint`, fenced by the
  placement; a session the API ended or moved elsewhere is closed here (its clients reconnect through the API);
- control messages (pub/sub): ``end`` closes a session's world at once, ``adopt`` wakes the restore up early;
- presence and kicks: the cores' hooks are synchronous, so they queue; one writer task sends them in order
  (presence to the session's set, kicks to the API's audit stream). Presence is advisory: a Redis outage drops
  it with a warning and the game goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from typing import Any

import structlog
from redis.exceptions import RedisError

from mpgenie.net.registry import ENDED, HEARTBEAT_S, MOVED, NodeInfo, NodeRegistry
from mpgenie.net.server import RealtimeServer

log = structlog.get_logger("mpgenie.node")
CHECKPOINT_INTERVAL_S = 1.0


class NodeAgent:
    def __init__(
        self,
        registry: NodeRegistry,
        url: str,
        capacity: int = 5000,
        checkpoint_interval_s: float = CHECKPOINT_INTERVAL_S,
        heartbeat_s: float = HEARTBEAT_S,
        node_id: str | None = None,
    ) -> None:
        self.registry = registry
        self.url = url
        self.capacity = capacity
        self.checkpoint_interval_s = checkpoint_interval_s
        self.heartbeat_s = heartbeat_s
        self.id = node_id or f"node-{uuid.uuid4().hex[:12]}"  # a restarted process is a new node
        self.server: RealtimeServer | None = None
        self._outbox: asyncio.Queue[tuple[str, tuple[Any, ...]]] = asyncio.Queue(maxsize=10_000)
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()

    # --- hooks of the cores (synchronous) ----------------------------------------------------------------------

    def on_presence(self, session: str, subject: str, online: bool) -> None:
        self._queue("presence", session, subject, online)

    def on_kick(self, session: str, subject: str, why: str) -> None:
        self._queue("kick", session, subject, why)

    def _queue(self, kind: str, *args: Any) -> None:
        try:
            self._outbox.put_nowait((kind, args))
        except asyncio.QueueFull:
            log.warning("registry outbox full, dropped", kind=kind)

    # --- life cycle ------------------------------------------------------------------------------------------

    async def start(self, server: RealtimeServer) -> None:
        """Register (the first heartbeat) and start the loops; the server must be listening already."""
        self.server = server
        await self._heartbeat()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._every(self.heartbeat_s, self._heartbeat_and_adopt, wake=True)),
            loop.create_task(self._every(self.checkpoint_interval_s, self._checkpoint)),
            loop.create_task(self._control()),
            loop.create_task(self._writer()),
        ]
        log.info("node registered", node=self.id, url=self.url, capacity=self.capacity)

    async def stop(self) -> None:
        """Leave on purpose: last checkpoints, then deregister, so the API moves the sessions at once (their
        clients, told the server is shutting down, reconnect through the API)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        with contextlib.suppress(RedisError, OSError):
            await self._checkpoint()
            await self.registry.deregister(self.id)

    # --- loops -------------------------------------------------------------------------------------------------

    async def _every(self, period_s: float, step: Any, wake: bool = False) -> None:
        while True:
            if wake:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), period_s)
                self._wake.clear()
            else:
                await asyncio.sleep(period_s)
            try:
                await step()
            except (RedisError, OSError) as exc:  # Redis away: the game goes on; heartbeats resume when it is back
                log.warning("registry unavailable", node=self.id, step=step.__name__, error=str(exc))
            except Exception:
                log.exception("node loop step failed", step=step.__name__)

    def info(self) -> NodeInfo:
        assert self.server is not None
        router = self.server.router
        return NodeInfo(
            self.id,
            self.url,
            self.capacity,
            players=sum(len(c.by_player) for c in router.cores.values()),
            sessions=len(router.cores) - 1,
            max_sessions=router.settings.max_sessions,
            saturated=self.server.readiness()["realtime"] != "ok",
            at=time.time(),
        )

    async def _heartbeat(self) -> None:
        await self.registry.heartbeat(self.info())

    async def _heartbeat_and_adopt(self) -> None:
        await self._heartbeat()
        await self.adopt_pending()

    async def adopt_pending(self) -> None:
        """Restore every session the API moved onto this node (from the checkpoint its old node left)."""
        assert self.server is not None
        router = self.server.router
        for sid in await self.registry.to_adopt(self.id):
            data = await self.registry.checkpoint(sid)
            if data is not None and sid not in router.cores:
                t0 = time.perf_counter()
                core = router.adopt(sid, data, time.monotonic())
                if core is None:
                    log.error("checkpoint did not restore; the session starts afresh", session=sid)
                else:
                    record = {
                        "session": sid,
                        "tick": core.world.tick,
                        "digest": core.world.digest(),
                        "players": len(core.by_player),
                        "restore_ms": (time.perf_counter() - t0) * 1000.0,
                        "at": time.time(),
                    }
                    self.server.restored.append(record)
                    log.warning("session restored from its checkpoint", node=self.id, **record)
            await self.registry.adopted(self.id, sid)

    async def _checkpoint(self) -> None:
        assert self.server is not None
        router = self.server.router
        for sid, data in router.checkpoints().items():
            status = await self.registry.save_checkpoint(self.id, sid, data)
            if status in (MOVED, ENDED) and sid in router.cores:
                log.warning("session no longer ours, closed", node=self.id, session=sid, moved=status == MOVED)
                router.end(sid)

    async def _control(self) -> None:
        """Follow the control channel; reconnect after errors (what a lost message missed, heartbeats catch up)."""
        while True:
            pubsub = self.registry.redis.pubsub()
            try:
                await pubsub.subscribe(self.registry.control_channel)
                while True:
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if msg is not None:
                        self._on_control(msg.get("data"))
            except (RedisError, OSError) as exc:
                log.warning("control channel lost", node=self.id, error=str(exc))
                await asyncio.sleep(self.heartbeat_s)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def _on_control(self, data: object) -> None:
        assert self.server is not None
        try:
            msg = json.loads(data) if isinstance(data, bytes | str) else None
        except ValueError:
            return
        if not isinstance(msg, dict):
            return
        op, sid = msg.get("op"), msg.get("session")
        if op == "end" and isinstance(sid, str):
            self.server.router.end(sid)
        elif op == "adopt" and msg.get("node") == self.id:
            self._wake.set()

    async def _writer(self) -> None:
        while True:
            kind, args = await self._outbox.get()
            try:
                if kind == "presence":
                    await self.registry.set_presence(*args)
                else:
                    await self.registry.report_kick(*args)
            except (RedisError, OSError):
                log.warning("registry write failed", kind=kind, session=args[0])
