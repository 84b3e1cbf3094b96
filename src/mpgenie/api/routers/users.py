"""``/v1/users``: the current account, password change, and user administration (``manage_users``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import func, select, update

from mpgenie.api.deps import Ctx, CurrentUser, Db, audit, hash_budget, hash_password, require, verify_password
from mpgenie.api.models import RefreshToken, User
from mpgenie.api.permissions import Permission
from mpgenie.api.problems import ProblemError, responses
from mpgenie.api.routers.auth import check_lock, count_failure
from mpgenie.api.schemas import Id, PasswordChangeIn, RoleChangeIn, UserOut, UserPage

router = APIRouter(prefix="/v1/users", tags=["users"])
PROBLEMS = responses(401, 403, 404, 422, 423, 429, 503)
Admin = Annotated[User, Depends(require(Permission.MANAGE_USERS))]


@router.get("/me", response_model=UserOut, responses=PROBLEMS)
async def me(user: CurrentUser) -> User:
    return user


@router.post("/me/password", status_code=204, responses=PROBLEMS)
async def change_password(
    body: PasswordChangeIn, request: Request, ctx: Ctx, session: Db, user: CurrentUser
) -> Response:
    """A wrong old password counts like a failed login (same lockout): a stolen access token must not buy
    unlimited guesses at the password behind it."""
    now = ctx.clock()
    await check_lock(ctx, user, user.username, now)
    await hash_budget(request, ctx)
    if not await verify_password(ctx, user.password_hash, body.old_password):
        await count_failure(ctx, session, request, user, user.username, now)
        await session.commit()
        raise ProblemError(403, "current password is wrong", "forbidden")
    user.password_hash = await hash_password(ctx, body.new_password)
    user.token_version += 1  # every access token issued before dies now
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=ctx.clock())
    )
    await audit(session, request, "password_change", user.id, user.username)
    await session.commit()
    return Response(status_code=204)


@router.get("", response_model=UserPage, responses=PROBLEMS)
async def list_users(
    session: Db,
    _admin: Admin,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> UserPage:
    total = (await session.execute(select(func.count()).select_from(User))).scalar_one()
    rows = (
        await session.execute(select(User).order_by(User.created_at, User.id).limit(limit).offset(offset))
    ).scalars()
    return UserPage(items=[UserOut.model_validate(u) for u in rows], total=total, limit=limit, offset=offset)


@router.patch("/{user_id}/role", response_model=UserOut, responses=PROBLEMS)
async def change_role(user_id: Id, body: RoleChangeIn, request: Request, ctx: Ctx, session: Db, admin: Admin) -> User:
    target = await session.get(User, user_id)
    if target is None:
        raise ProblemError(404, f"no user {user_id!r}", "not_found")
    old = target.role
    target.role = body.role.value
    target.token_version += 1  # tokens carry the role: make the holder log in again
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == target.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=ctx.clock())
    )
    await audit(session, request, "role_change", admin.id, target.username, old=old, new=body.role.value)
    await session.commit()
    return target
