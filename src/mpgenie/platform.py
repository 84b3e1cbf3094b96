"""``mpgenie serve``: the platform API (uvicorn) and the realtime server in one process and one event loop.

The API signs join tickets with the realtime server's secret and puts the session's world into them; the realtime
server accepts only those (and resume tokens it issued). In one process the two also share a few hooks: ending a
session in the API closes its world at once, realtime kicks land in the API's audit log, and ``GET /metrics`` on
the API shows the realtime server's metrics too. Either half can run alone (``--no-api``, ``--no-realtime``).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Generator
from dataclasses import dataclass

import structlog
import uvicorn

from mpgenie.api.app import create_app
from mpgenie.api.models import AuditEvent
from mpgenie.api.settings import Settings
from mpgenie.genie.streamer import FrameStreamer
from mpgenie.net.connections import ServerSettings
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
) -> Platform:
    realtime = None
    app_holder: dict[str, object] = {}
    tasks: set[asyncio.Task[None]] = set()

    def audit_kick(session: str, subject: str, why: str) -> None:
        app = app_holder.get("app")
        ctx = getattr(getattr(app, "state", None), "ctx", None)
        if ctx is None:
            return

        async def write() -> None:
            async with ctx.sessions() as db:
                db.add(AuditEvent(event="kick", subject=subject[:64], details={"session": session, "why": why}))
                await db.commit()

        task = asyncio.get_running_loop().create_task(write())
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
            on_kick=audit_kick,
            on_presence=report_presence,
            on_session_tick=streamer.tick if streamer is not None else None,
        )
        await realtime.start()
        api_settings = api_settings.model_copy(update={"realtime_url": realtime.url})
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
                if realtime is not None:
                    await realtime.stop()
                raise OSError(f"the API could not start on {host}:{api_port}")
            await asyncio.sleep(0.05)
        return Platform(realtime, api, f"http://{host}:{api_port}", task)
    return Platform(realtime, None, None)


async def stop_platform(platform: Platform) -> None:
    if platform.api is not None and platform.api_task is not None:
        platform.api.should_exit = True
        with contextlib.suppress(BaseException):
            await platform.api_task
    if platform.realtime is not None:
        await platform.realtime.stop()


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
) -> None:
    """Serve until SIGINT/SIGTERM, then stop both halves gracefully."""
    loop = new_event_loop()
    asyncio.set_event_loop(loop)

    async def main() -> None:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):  # before starting: a signal during start-up still stops cleanly
            loop.add_signal_handler(sig, stop.set)
        platform = await start_platform(
            api_settings, world, realtime_settings, host, realtime_port, api_port, with_api, with_realtime, streamer
        )
        if on_ready is not None:
            on_ready(platform)
        await stop.wait()
        await stop_platform(platform)

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
