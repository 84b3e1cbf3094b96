"""``mpgenie serve``: the platform API (uvicorn) and the realtime server in one process and one event loop.

The API signs join tickets with the realtime server's secret and puts the session's world into them; the realtime
server accepts only those (and resume tokens it issued). In one process the two also share a few hooks: ending a
session in the API closes its world at once, realtime kicks land in the API's audit log, and ``GET /metrics`` on
the API shows the realtime server's metrics too. Either half can run alone (``--no-api``, ``--no-realtime``).

Many nodes (docs/architecture.md, "Many realtime nodes"): with ``--node-url`` the realtime server registers in
Redis as a node (:class:`~mpgenie.net.node.NodeAgent`: heartbeats, checkpoints, presence, kicks), and an API with
Redis and no lone realtime server beside it places sessions on the registered nodes and fails them over.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Generator
from dataclasses import dataclass

import structlog
import uvicorn
from redis.asyncio import Redis

from mpgenie.api.app import create_app
from mpgenie.api.deps import record_kick
from mpgenie.api.settings import Settings
from mpgenie.errors import UsageError
from mpgenie.genie.streamer import FrameStreamer
from mpgenie.net.connections import ServerSettings
from mpgenie.net.node import CHECKPOINT_INTERVAL_S, NodeAgent
from mpgenie.net.registry import NodeRegistry
from mpgenie.net.server import RealtimeServer, new_event_loop
from mpgenie.world.config import WorldConfig

log = structlog.get_logger("mpgenie.platform")


class _ApiServer(uvicorn.Server):
    """uvicorn without its own signal handling: this process stops both servers together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@dataclass
class Platform:
    realtime: RealtimeServer | None
    api: _ApiServer | None
    api_url: str | None
    api_task: asyncio.Task[None] | None = None
    node: NodeAgent | None = None  # the realtime server's registration, when it is one of many nodes


@dataclass(frozen=True)
class NodeOptions:
    """The realtime server as a node of a multi-node deployment (``serve --node-url``): registered in Redis."""

    url: str  # the public WebSocket URL clients are sent to
    capacity: int = 5000  # players in all sessions together
    checkpoint_interval_s: float = CHECKPOINT_INTERVAL_S


def api_config(app: object, host: str, port: int) -> uvicorn.Config:
    """uvicorn's settings for the API. ``proxy_headers`` off: uvicorn would otherwise rewrite the client address
    from ``X-Forwarded-For`` for any peer in ``forwarded_allow_ips`` (127.0.0.1 by default, so anyone on this
    host could pose as any address). The API decides whom to believe itself, from ``trusted_proxies``
    (:func:`mpgenie.api.deps.client_address`), for the rate limits and the audit log alike."""
    return uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="on", proxy_headers=False
    )


async def start_platform(
    api_settings: Settings,
    world: WorldConfig,
    realtime_settings: ServerSettings,
    host: str = "127.0.0.1",
    realtime_port: int = 7777,
    api_port: int = 8000,
    with_api: bool = True,
    with_realtime: bool = True,
    streamer: FrameStreamer | None = None,
    node: NodeOptions | None = None,
) -> Platform:
    """Start the API and/or the realtime server. With ``node``, the realtime server registers in Redis as one of
    many nodes (presence and kicks then go through Redis too); an API with Redis that is not next to a lone
    realtime server places sessions on the registered nodes."""
    realtime = None
    agent = None
    if node is not None and with_realtime:
        if not api_settings.redis_url:
            raise UsageError("--node-url needs --redis-url (the node registry lives in Redis)")
        agent = NodeAgent(
            NodeRegistry(Redis.from_url(api_settings.redis_url), api_settings.redis_prefix),
            node.url,
            node.capacity,
            node.checkpoint_interval_s,
        )
    if api_settings.redis_url and (agent is not None or not with_realtime):
        api_settings = api_settings.model_copy(update={"node_placement": True})
    app_holder: dict[str, object] = {}
    tasks: set[asyncio.Task[None]] = set()

    def audit_kick(session: str, subject: str, why: str) -> None:
        app = app_holder.get("app")
        ctx = getattr(getattr(app, "state", None), "ctx", None)
        if ctx is None:
            return

        task = asyncio.get_running_loop().create_task(record_kick(ctx, session, subject, why))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    previous: list[asyncio.Task[None]] = []

    def report_presence(session: str, subject: str, online: bool) -> None:
        app = app_holder.get("app")
        ctx = getattr(getattr(app, "state", None), "ctx", None)
        if ctx is None:
            return
        before = previous[0] if previous else None

        async def write() -> None:  # in order: a drop must not overtake the join it follows
            if before is not None:
                with contextlib.suppress(Exception):
                    await before
            try:
                await ctx.presence.set(session, subject, online)
            except Exception:  # presence is advisory: a store outage must not disturb the game
                log.warning("presence update failed", session=session, online=online)

        task = asyncio.get_running_loop().create_task(write())
        previous[:] = [task]
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    if with_realtime:
        realtime = RealtimeServer(
            world,
            realtime_settings,
            host,
            realtime_port,
            on_kick=agent.on_kick if agent is not None else audit_kick,
            on_presence=agent.on_presence if agent is not None else report_presence,
            on_session_tick=streamer.tick if streamer is not None else None,
        )
        await realtime.start()
        if agent is not None:
            try:
                await agent.start(realtime)
            except Exception:
                await realtime.stop()
                raise
        api_settings = api_settings.model_copy(update={"realtime_url": _ticket_url(api_settings, realtime, node)})
    if with_api:
        app = create_app(
            api_settings,
            extra_metrics=realtime.core.metrics.render if realtime is not None else None,
            on_session_end=realtime.router.end if realtime is not None else None,
            extra_checks=realtime.readiness if realtime is not None else None,
        )
        app_holder["app"] = app
        api = _ApiServer(api_config(app, host, api_port))
        task = asyncio.get_running_loop().create_task(api.serve())
        while not api.started:
            if task.done():  # uvicorn exits (SystemExit) when it cannot bind or its start-up fails
                await _stop_realtime(realtime, agent)
                raise OSError(f"the API could not start on {host}:{api_port}")
            await asyncio.sleep(0.05)
        return Platform(realtime, api, f"http://{host}:{api_port}", task, agent)
    return Platform(realtime, None, None, node=agent)


def _ticket_url(api_settings: Settings, realtime: RealtimeServer, node: NodeOptions | None) -> str:
    """The realtime URL an API beside its own realtime server hands out: a configured ``MPGENIE_REALTIME_URL``,
    else the node's public ``--node-url``, else the server's bind address (right on one machine, but
    ``ws://0.0.0.0:7777/ws`` in a container, which no client can use)."""
    if "realtime_url" in api_settings.model_fields_set:
        return api_settings.realtime_url
    if node is not None:
        return node.url
    return realtime.url


async def _stop_realtime(realtime: RealtimeServer | None, agent: NodeAgent | None) -> None:
    if agent is not None:  # first: the last checkpoints, and the API moves the sessions at once
        await agent.stop()
    if realtime is not None:
        await realtime.stop()
    if agent is not None:
        await agent.registry.redis.aclose()


async def stop_platform(platform: Platform) -> None:
    if platform.api is not None and platform.api_task is not None:
        platform.api.should_exit = True
        with contextlib.suppress(BaseException):
            await platform.api_task
    await _stop_realtime(platform.realtime, platform.node)


def run_platform(
    api_settings: Settings,
    world: WorldConfig,
    realtime_settings: ServerSettings,
    host: str,
    realtime_port: int,
    api_port: int,
    with_api: bool = True,
    with_realtime: bool = True,
    on_ready: Callable[[Platform], None] | None = None,
    streamer: FrameStreamer | None = None,
    node: NodeOptions | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM, then stop both halves gracefully."""
    loop = new_event_loop()
    asyncio.set_event_loop(loop)

    async def main() -> None:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):  # before starting: a signal during start-up still stops cleanly
            loop.add_signal_handler(sig, stop.set)
        platform = await start_platform(
            api_settings,
            world,
            realtime_settings,
            host,
            realtime_port,
            api_port,
            with_api,
            with_realtime,
            streamer,
            node,
        )
        if on_ready is not None:
            on_ready(platform)
        await stop.wait()
        await stop_platform(platform)

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
