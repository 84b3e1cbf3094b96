"""``/v1/auth``: register, login (with lockout), refresh (rotation with reuse detection), logout."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request, Response
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from mpgenie.api.deps import AppContext, Ctx, Db, audit, hash_budget, hash_password, verify_password
from mpgenie.api.models import RefreshToken, User, new_id
from mpgenie.api.problems import ProblemError, responses
from mpgenie.api.schemas import LoginIn, RefreshIn, RegisterIn, TokenPair, UserOut
from mpgenie.api.security import hash_refresh_token, issue_access_token, new_refresh_token

router = APIRouter(prefix="/v1/auth", tags=["auth"])
PROBLEMS = responses(401, 409, 422, 423, 429, 503)
INVALID_LOGIN = "invalid username or password"
LOCKED = "account locked after repeated failed logins"


@router.post("/register", status_code=201, response_model=UserOut, responses=PROBLEMS)
async def register(body: RegisterIn, request: Request, ctx: Ctx, session: Db) -> User:
    await hash_budget(request, ctx)
    password_hash = await hash_password(ctx, body.password)
    user = User(username=body.username, password_hash=password_hash)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:
        raise ProblemError(409, f"username {body.username!r} is taken", "conflict") from None
    await audit(session, request, "register", user.id, user.username)
    await session.commit()
    return user


async def issue_tokens(ctx: Ctx, session: Db, user: User, family: str | None = None) -> TokenPair:
    now = ctx.clock()
    token, token_hash = new_refresh_token()
    session.add(
        RefreshToken(
            token_hash=token_hash,
            user_id=user.id,
            family=family or new_id(),
            expires_at=now + dt.timedelta(seconds=ctx.settings.refresh_ttl_s),
            created_at=now,
        )
    )
    access = issue_access_token(ctx.settings, user.id, user.role, user.token_version, now)
    return TokenPair(access_token=access, refresh_token=token, expires_in=ctx.settings.access_ttl_s)


def _name_key(username: str) -> str:
    """The limiter's key for a name: case-folded, so ``Alice`` and ``alice`` share one budget and one lock."""
    return username.casefold()


@router.post("/login", response_model=TokenPair, responses=PROBLEMS)
async def login(body: LoginIn, request: Request, ctx: Ctx, session: Db) -> TokenPair:
    s = ctx.settings
    retry = await ctx.limiter.hit("login", _name_key(body.username), s.login_attempts_per_minute, 60)
    if retry is not None:
        raise ProblemError(429, "too many login attempts for this account", "rate_limited", retry_after_s=retry)
    user = (await session.execute(select(User).where(User.username == body.username))).scalar_one_or_none()
    now = ctx.clock()
    await check_lock(ctx, user, body.username, now)
    await hash_budget(request, ctx)
    stored = user.password_hash if user is not None else ctx.passwords.dummy_hash
    ok = await verify_password(ctx, stored, body.password)
    if user is None or not ok:
        await count_failure(ctx, session, request, user, body.username, now)
        await session.commit()
        raise ProblemError(401, INVALID_LOGIN, "unauthorized")
    user.failed_logins = 0
    user.first_failure_at = None
    user.locked_until = None
    pair = await issue_tokens(ctx, session, user)
    await audit(session, request, "login", user.id, user.username)
    await session.commit()
    return pair


async def check_lock(ctx: AppContext, user: User | None, username: str, now: dt.datetime) -> None:
    """423 while the account is locked, and just the same for a name with no account once it has failed as
    often: otherwise a few bad logins would tell whether a name is registered."""
    if user is not None:
        wait = (user.locked_until - now).total_seconds() if user.locked_until is not None else None
    else:
        wait = await ctx.limiter.locked("lockout", _name_key(username), now.timestamp())
    if wait is not None and wait > 0:
        raise ProblemError(423, LOCKED, "locked", retry_after_s=wait)


async def count_failure(
    ctx: AppContext, session: Db, request: Request, user: User | None, username: str, now: dt.datetime
) -> None:
    """One wrong password (at login, or the old one at a password change): counted towards the lockout. For an
    account in the database itself (concurrent failures must all count); for a name without one in the limiter,
    with the same thresholds, so that both lock alike."""
    s = ctx.settings
    if user is None:
        over = await ctx.limiter.hit("failures", _name_key(username), s.lockout_failures - 1, s.lockout_window_s)
        await audit(session, request, "login_failure", None, username[:64], reason="unknown user")
        if over is not None:
            await ctx.limiter.lock("lockout", _name_key(username), now.timestamp() + s.lockout_s)
            await audit(session, request, "lockout", None, username[:64], seconds=s.lockout_s)
        return
    uid, name = user.id, user.username
    window_start = now - dt.timedelta(seconds=s.lockout_window_s)
    await session.execute(
        update(User)
        .where(User.id == uid, or_(User.first_failure_at.is_(None), User.first_failure_at < window_start))
        .values(failed_logins=0, first_failure_at=now)
    )
    count = (
        await session.execute(
            update(User)
            .where(User.id == uid)
            .values(failed_logins=User.failed_logins + 1)
            .returning(User.failed_logins)
        )
    ).scalar_one()
    await audit(session, request, "login_failure", uid, name, failures=count)
    if count >= s.lockout_failures:
        await session.execute(
            update(User)
            .where(User.id == uid)
            .values(locked_until=now + dt.timedelta(seconds=s.lockout_s), failed_logins=0, first_failure_at=None)
        )
        await audit(session, request, "lockout", uid, name, seconds=s.lockout_s)


@router.post("/refresh", response_model=TokenPair, responses=PROBLEMS)
async def refresh(body: RefreshIn, request: Request, ctx: Ctx, session: Db) -> TokenPair:
    token_hash = hash_refresh_token(body.refresh_token)
    row = await session.get(RefreshToken, token_hash)
    now = ctx.clock()
    if row is None:
        raise ProblemError(401, "unknown refresh token", "unauthorized")
    if row.rotated or row.revoked_at is not None:
        if row.rotated:  # a token used twice: someone else holds a copy. End the whole family.
            await _revoke_family(session, row.family, now)
            await audit(session, request, "refresh_reuse", row.user_id, row.family)
            await session.commit()
        raise ProblemError(401, "refresh token revoked", "unauthorized")
    if row.expires_at <= now:
        raise ProblemError(401, "refresh token expired", "unauthorized")
    # Rotate atomically: of two concurrent uses, exactly one wins; the other is treated as reuse above next time.
    result = await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.token_hash == token_hash,
            RefreshToken.rotated.is_(False),
            RefreshToken.revoked_at.is_(None),  # a logout or password change that just committed wins
            RefreshToken.expires_at > now,
        )
        .values(rotated=True, revoked_at=now)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        raise ProblemError(401, "refresh token revoked", "unauthorized")
    user = await session.get(User, row.user_id)
    if user is None:
        raise ProblemError(401, "account no longer exists", "unauthorized")
    pair = await issue_tokens(ctx, session, user, family=row.family)
    await session.commit()
    return pair


async def _revoke_family(session: Db, family: str, now: dt.datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


@router.post("/logout", status_code=204, responses=PROBLEMS)
async def logout(body: RefreshIn, request: Request, ctx: Ctx, session: Db) -> Response:
    row = await session.get(RefreshToken, hash_refresh_token(body.refresh_token))
    if row is None:
        raise ProblemError(401, "unknown refresh token", "unauthorized")
    await _revoke_family(session, row.family, ctx.clock())
    await audit(session, request, "logout", row.user_id, row.family)
    await session.commit()
    return Response(status_code=204)
