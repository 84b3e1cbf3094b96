"""The FastAPI application: ``create_app(settings)`` wires the context (database, Redis, limiter), the routers,
problem+json errors, request ids and metrics, and runs migrations and the matchmaker in its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import structlog
from fastapi import Depends, FastAPI
from redis.asyncio import Redis
from sqlalchemy import select

from mpgenie import __version__
from mpgenie.api import problems
from mpgenie.api.bodylimit import BodyLimit
from mpgenie.api.db import make_engine, migrate, session_factory
from mpgenie.api.deps import AppContext, parse_networks, rate_limit, record_kick
from mpgenie.api.models import User
from mpgenie.api.observability import ApiMetrics, RequestContext
from mpgenie.api.permissions import Role
from mpgenie.api.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from mpgenie.api.routers import analytics, auth, health, matchmaking, play, sessions, users
from mpgenie.api.routers.matchmaking import match_now
from mpgenie.api.schemas import restate_integer_bounds
from mpgenie.api.security import Passwords
from mpgenie.api.settings import Settings
from mpgenie.logs import configure_logging
from mpgenie.net.presence import MemoryPresence, RedisPresence
from mpgenie.net.registry import HEARTBEAT_S, NodeRegistry

MATCH_EVERY_S = 1.0
log = structlog.get_logger("mpgenie.api")


def create_app(
    settings: Settings | None = None,
    schema: str | None = None,
    extra_metrics: Callable[[], bytes] | None = None,
    run_matchmaker: bool = True,
    on_session_end: Callable[[str], None] | None = None,
    extra_checks: Callable[[], dict[str, str]] | None = None,
) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_json, logging.getLevelName(settings.log_level))
    metrics = ApiMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url, schema or settings.database_schema)
        await migrate(engine)
        redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        limiter: RateLimiter = (
            RedisRateLimiter(redis, settings.redis_prefix) if redis is not None else MemoryRateLimiter()
        )
        ctx = AppContext(
            settings,
            engine,
            session_factory(engine),
            Passwords(settings),
            limiter,
            redis,
            metrics,
            extra_metrics=extra_metrics,
            on_session_end=on_session_end,
            extra_checks=extra_checks,
            presence=RedisPresence(redis, settings.redis_prefix) if redis is not None else MemoryPresence(),
            proxies=parse_networks(settings.trusted_proxies),
            registry=NodeRegistry(redis, settings.redis_prefix)
            if redis is not None and settings.node_placement
            else None,
        )
        app.state.ctx = ctx
        await _bootstrap_admin(ctx)
        tasks = [asyncio.create_task(_match_forever(ctx))] if run_matchmaker else []
        if ctx.registry is not None:
            tasks += [asyncio.create_task(_fail_over_forever(ctx)), asyncio.create_task(_audit_kicks_forever(ctx))]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            ctx.passwords.close()
            if redis is not None:
                await redis.aclose()
            await engine.dispose()

    app = FastAPI(
        title="Multiplayer Genie platform API",
        version=__version__,
        lifespan=lifespan,
        description="Accounts, roles, sessions, join tickets for the realtime server, matchmaking. "
        "Errors are RFC 9457 problem details.",
    )
    fastapi_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = restate_integer_bounds(fastapi_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    problems.install(app)
    limited = [Depends(rate_limit)]
    for module in (auth, users, sessions, matchmaking, analytics, play):
        app.include_router(module.router, dependencies=limited, responses=problems.COMMON)
    app.include_router(health.router)
    play.mount_page(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)  # inside RequestContext: 413s are logged too
    app.add_middleware(RequestContext, metrics=metrics)
    return app


async def _bootstrap_admin(ctx: AppContext) -> None:
    spec = ctx.settings.bootstrap_admin
    if not spec:
        return
    name, _, password = spec.partition(":")
    async with ctx.sessions() as db:
        user = (await db.execute(select(User).where(User.username == name))).scalar_one_or_none()
        if user is None:
            db.add(User(username=name, password_hash=ctx.passwords.hash(password), role=Role.ADMIN.value))
            await db.commit()
            log.info("bootstrap admin created", username=name)


async def _fail_over_forever(ctx: AppContext) -> None:
    """Move the sessions of dead realtime nodes to live ones, twice per heartbeat: with a 3 s node TTL a dead
    node's sessions are moving within about 3.5 s of its last heartbeat. Every API process may run this; the
    registry's compare-and-set moves each session once."""
    assert ctx.registry is not None
    while True:
        await asyncio.sleep(HEARTBEAT_S / 2)
        try:
            await ctx.registry.reap()
        except Exception:  # Redis away or a bug: logged, retried next round
            log.exception("failover pass failed")


async def _audit_kicks_forever(ctx: AppContext) -> None:
    """Write the realtime nodes' kicks (a Redis stream) into the audit log, as the in-process hook does."""
    assert ctx.registry is not None
    consumer = f"api-{uuid.uuid4().hex[:8]}"

    async def write(session: str, subject: str, why: str) -> None:
        await record_kick(ctx, session, subject, why)

    while True:
        try:
            await ctx.registry.consume_kicks(consumer, write)
        except Exception:  # (CancelledError is a BaseException: it ends the task)
            log.exception("reading realtime kicks failed")
            await asyncio.sleep(1.0)


async def _match_forever(ctx: AppContext) -> None:
    while True:
        await asyncio.sleep(MATCH_EVERY_S)
        try:
            await match_now(ctx)
        except Exception:  # a failed pass is logged and retried next second
            log.exception("matchmaker pass failed")
