"""Request dependencies: the application context, a database session, the current user, permission checks and
rate limits (the FastAPI full-stack template's ``deps.py``)."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
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
from mpgenie.api.problems import ProblemError
from mpgenie.api.ratelimit import RateLimiter
from mpgenie.api.security import HashingBusyError, Passwords, TokenError, read_access_token
from mpgenie.api.settings import Settings
from mpgenie.net.presence import MemoryPresence, Presence
from mpgenie.net.registry import NodeRegistry

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
ADDRESS_CHARS = 64  # the audit log's ip column; every address we produce fits it


def parse_networks(specs: list[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(spec, strict=False) for spec in specs)


def _address(text: str) -> Address | None:
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:  # ::ffff:10.0.0.1 is 10.0.0.1
        return ip.ipv4_mapped
    return ip


def forwarded_client(peer: str, forwarded_for: list[str], proxies: tuple[Network, ...]) -> str:
    """The client's address: the connection's peer, unless the peer is a trusted proxy; then the right-most
    ``X-Forwarded-For`` hop that is not a trusted proxy itself (hops left of it are whatever the client wrote).
    A hop that is not an IP address makes the whole header untrustworthy: the peer it is. Unclipped:
    :func:`client_address` fits the result to the audit log's column."""
    peer_ip = _address(peer)
    if peer_ip is None or not any(peer_ip in net for net in proxies):
        return peer
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    origin = peer_ip
    for hop in reversed(hops):
        ip = _address(hop)
        if ip is None:
            return str(peer_ip)
        if not any(ip in net for net in proxies):
            return str(ip)
        origin = ip  # all proxies so far: a request from within (the left-most proxy made it)
    return str(origin)


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
    registry: NodeRegistry | None = None  # realtime nodes in Redis: placement, failover, cross-process session end
    # More readiness checks ({name: "ok" or why not}), e.g. the realtime server's saturation in the same process.
    extra_checks: Callable[[], dict[str, str]] | None = None
    proxies: tuple[Network, ...] = ()  # settings.trusted_proxies, parsed once


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
    """Who sent the request, for the per-address limits and the audit log (see :func:`forwarded_client`)."""
    peer = request.client.host if request.client else "unknown"
    ctx: AppContext | None = getattr(request.app.state, "ctx", None)
    if ctx is not None and ctx.proxies:
        peer = forwarded_client(peer, request.headers.getlist("x-forwarded-for"), ctx.proxies)
    return peer[:ADDRESS_CHARS]  # an IPv6 hop may carry a scope id of any length


async def rate_limit(request: Request, ctx: Ctx) -> None:
    """Per client address, every /v1 endpoint."""
    retry = await ctx.limiter.hit("ip", client_address(request), ctx.settings.rate_limit_per_minute, 60)
    if retry is not None:
        raise ProblemError(429, "too many requests from this address", "rate_limited", retry_after_s=retry)


async def hash_budget(request: Request, ctx: AppContext) -> None:
    """Per client address, every request that will hash a password: far fewer than the general limit, since
    hashing is what the server can do least of (argon2id, ~35/s on 2 cores)."""
    retry = await ctx.limiter.hit("hash", client_address(request), ctx.settings.hash_attempts_per_minute, 60)
    if retry is not None:
        raise ProblemError(429, "too many password attempts from this address", "rate_limited", retry_after_s=retry)


async def hash_password(ctx: AppContext, password: str) -> str:
    try:
        return await ctx.passwords.hash_async(password)
    except HashingBusyError:
        raise ProblemError(503, "password hashing is busy; try again", "unavailable", retry_after_s=1) from None


async def verify_password(ctx: AppContext, stored: str, password: str) -> bool:
    try:
        return await ctx.passwords.verify_async(stored, password)
    except HashingBusyError:
        raise ProblemError(503, "password hashing is busy; try again", "unavailable", retry_after_s=1) from None


async def record_kick(ctx: AppContext, session_id: str, subject: str, why: str) -> None:
    """A realtime kick in the audit log, in its own transaction (reported in-process or through Redis)."""
    async with ctx.sessions() as db:
        await audit(db, None, "kick", None, subject[:64], session=session_id, why=why)
        await db.commit()


async def audit(
    db: AsyncSession,
    request: Request | None,
    event: str,
    actor_id: str | None = None,
    subject: str | None = None,
    /,
    **details: Any,
) -> None:
    """Add a security event to the audit log (committed with the caller's transaction). The fixed parameters are
    positional-only, so any detail name is free (a kick's details name its ``session``)."""
    db.add(
        AuditEvent(
            event=event,
            actor_id=actor_id,
            subject=subject,
            ip=client_address(request) if request is not None else None,
            request_id=getattr(request.state, "request_id", None) if request is not None else None,
            details=details,
        )
    )
