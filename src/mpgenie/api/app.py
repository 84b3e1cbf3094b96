"""The FastAPI application: ``create_app(settings)`` wires the context (database, Redis, limiter), the routers,
problem+json errors, request ids and metrics, and runs migrations and the matchmaker in its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
from mpgenie.api.deps import AppContext, parse_networks, rate_limit
from mpgenie.api.models import User
from mpgenie.api.observability import ApiMetrics, RequestContext
from mpgenie.api.permissions import Role
from mpgenie.api.presence import MemoryPresence, RedisPresence
from mpgenie.api.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from mpgenie.api.routers import analytics, auth, health, matchmaking, sessions, users
from mpgenie.api.routers.matchmaking import match_now
from mpgenie.api.schemas import restate_integer_bounds
from mpgenie.api.security import Passwords
from mpgenie.api.settings import Settings
from mpgenie.logs import configure_logging

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
        )
        app.state.ctx = ctx
        await _bootstrap_admin(ctx)
        matcher = asyncio.create_task(_match_forever(ctx)) if run_matchmaker else None
        try:
            yield
        finally:
            if matcher is not None:
                matcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await matcher
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
    for module in (auth, users, sessions, matchmaking, analytics):
        app.include_router(module.router, dependencies=limited, responses=problems.COMMON)
    app.include_router(health.router)
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


async def _match_forever(ctx: AppContext) -> None:
    while True:
        await asyncio.sleep(MATCH_EVERY_S)
        try:
            await match_now(ctx)
        except Exception:  # a failed pass is logged and retried next second
            log.exception("matchmaker pass failed")
