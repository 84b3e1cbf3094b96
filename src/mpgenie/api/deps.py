"""Request dependencies: the application context, a database session, the current user, permission checks and
rate limits (the FastAPI full-stack template's ``deps.py``)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mpgenie.api.models import AuditEvent, User, utcnow
from mpgenie.api.observability import ApiMetrics
from mpgenie.api.permissions import Permission, allowed
from mpgenie.api.presence import MemoryPresence, Presence
from mpgenie.api.problems import ProblemError
from mpgenie.api.ratelimit import RateLimiter
from mpgenie.api.security import Passwords, TokenError, read_access_token
from mpgenie.api.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    passwords: Passwords
    limiter: RateLimiter
    redis: Redis | None
    metrics: ApiMetrics
    clock: Callable[[], dt.datetime] = utcnow
    extra_metrics: Callable[[], bytes] | None = None  # e.g. the realtime server's, when served together
    presence: Presence = field(default_factory=MemoryPresence)
    match_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    on_session_end: Callable[[str], None] | None = None  # set when a realtime server runs in this process


def context(request: Request) -> AppContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


Ctx = Annotated[AppContext, Depends(context)]


async def db(ctx: Ctx) -> AsyncIterator[AsyncSession]:
    async with ctx.sessions() as session:
        yield session


Db = Annotated[AsyncSession, Depends(db)]
_bearer = HTTPBearer(auto_error=False, description="Access token from /v1/auth/login")


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, detail, "unauthorized", headers={"WWW-Authenticate": "Bearer"})


async def current_user(
    ctx: Ctx, session: Db, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> User:
    if credentials is None:
        raise _unauthorized("missing bearer token")
    try:
        claims = read_access_token(ctx.settings, credentials.credentials)
    except TokenError as exc:
        raise _unauthorized(str(exc)) from None
    user = await session.get(User, claims.user_id)
    if user is None or user.token_version != claims.version:
        raise _unauthorized("token revoked")
    retry = await ctx.limiter.hit("account", user.id, ctx.settings.account_rate_limit_per_minute, 60)
    if retry is not None:
        raise ProblemError(429, "too many requests from this account", "rate_limited", retry_after_s=retry)
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require(permission: Permission) -> Callable[..., Awaitable[User]]:
    async def check(user: CurrentUser) -> User:
        if not allowed(user.role, permission):
            raise ProblemError(403, f"role {user.role!r} lacks permission {permission.value!r}", "forbidden")
        return user

    return check


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def rate_limit(request: Request, ctx: Ctx) -> None:
    """Per client address, every /v1 endpoint."""
    retry = await ctx.limiter.hit("ip", client_address(request), ctx.settings.rate_limit_per_minute, 60)
    if retry is not None:
        raise ProblemError(429, "too many requests from this address", "rate_limited", retry_after_s=retry)


async def audit(
    session: AsyncSession,
    request: Request | None,
    event: str,
    actor_id: str | None = None,
    subject: str | None = None,
    **details: Any,
) -> None:
    """Add a security event to the audit log (committed with the caller's transaction)."""
    session.add(
        AuditEvent(
            event=event,
            actor_id=actor_id,
            subject=subject,
            ip=client_address(request) if request is not None else None,
            request_id=getattr(request.state, "request_id", None) if request is not None else None,
            details=details,
        )
    )
