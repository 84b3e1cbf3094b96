"""``/v1/sessions``: create, list, get, start, end, delete, and join (a signed ticket for the realtime server).

Capacity is enforced atomically by the database: a join is one conditional ``UPDATE ... SET player_count =
player_count + 1 WHERE player_count < max_players`` plus the membership row, in one transaction, so concurrent
joins can never overfill a session on SQLite or PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Query, Request, Response
from redis.exceptions import RedisError
from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from mpgenie.api.deps import Ctx, Db, audit, require
from mpgenie.api.models import GameSession, SessionMember, User, count_open_sessions
from mpgenie.api.permissions import Permission, allowed
from mpgenie.api.problems import ProblemError, responses
from mpgenie.api.schemas import REGION, Id, JoinOut, PresenceOut, SessionCreate, SessionOut, SessionPage
from mpgenie.net.tickets import issue_ticket
from mpgenie.world.config import ConfigError, WorldConfig

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])
log = structlog.get_logger("mpgenie.api")
PROBLEMS = responses(401, 403, 404, 409, 422, 429, 503)
Player = Annotated[User, Depends(require(Permission.JOIN_SESSIONS))]
Creator = Annotated[User, Depends(require(Permission.CREATE_SESSIONS))]
STATUSES = ("waiting", "active", "completed")


async def _get(session: Db, session_id: str) -> GameSession:
    game = await session.get(GameSession, session_id)
    if game is None:
        raise ProblemError(404, f"no session {session_id!r}", "not_found")
    return game


def _check_owner(user: User, game: GameSession) -> None:
    if game.created_by != user.id and not allowed(user.role, Permission.MANAGE_SESSIONS):
        raise ProblemError(403, "only the session's creator or a session manager may do this", "forbidden")


async def check_session_quota(ctx: Ctx, session: Db, user_id: str) -> None:
    """Refuse to open another session when this node runs its maximum (503), or when the account already takes
    part in as many open sessions as it may (409): one player must not be able to fill the node with worlds by
    creating sessions or queueing full parties in a loop. Counted, not locked: concurrent requests may exceed a
    limit by a few, which bounds the damage all the same."""
    s = ctx.settings
    running = await count_open_sessions(session)
    if running >= s.max_active_sessions:
        raise ProblemError(
            503, f"this node runs its maximum of {s.max_active_sessions} sessions", "capacity", retry_after_s=30
        )
    seated = exists().where(SessionMember.session_id == GameSession.id, SessionMember.user_id == user_id)
    mine = (
        await session.execute(
            select(func.count())
            .select_from(GameSession)
            .where(GameSession.status != "completed", or_(GameSession.created_by == user_id, seated))
        )
    ).scalar_one()
    if mine >= s.max_open_sessions_per_account:
        raise ProblemError(
            409,
            f"this account already takes part in {mine} open sessions (at most {s.max_open_sessions_per_account}):"
            " end or leave one first",
            "quota",
        )


@router.post("", status_code=201, response_model=SessionOut, responses=PROBLEMS)
async def create_session(body: SessionCreate, request: Request, ctx: Ctx, session: Db, user: Creator) -> GameSession:
    world = body.world.model_dump(exclude_none=True)
    try:
        WorldConfig.from_mapping(world)
    except (ConfigError, TypeError) as exc:
        raise ProblemError(422, str(exc), "validation") from None
    await check_session_quota(ctx, session, user.id)
    game = GameSession(
        name=body.name, max_players=body.max_players, region=body.region, world=world, created_by=user.id
    )
    session.add(game)
    await session.flush()
    await audit(session, request, "session_create", user.id, game.id, max_players=body.max_players)
    await session.commit()
    return game


@router.get("", response_model=SessionPage, responses=PROBLEMS)
async def list_sessions(
    session: Db,
    _user: Player,
    status: Annotated[str | None, Query(pattern="^(waiting|active|completed)$")] = None,
    region: Annotated[str | None, Query(pattern=REGION)] = None,
    has_room: bool = False,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> SessionPage:
    query = select(GameSession)
    if status is not None:
        query = query.where(GameSession.status == status)
    if region is not None:
        query = query.where(GameSession.region == region)
    if has_room:
        query = query.where(GameSession.player_count < GameSession.max_players)
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await session.execute(
        query.order_by(GameSession.created_at.desc(), GameSession.id).limit(limit).offset(offset)
    )
    return SessionPage(
        items=[SessionOut.model_validate(g) for g in rows.scalars()], total=total, limit=limit, offset=offset
    )


@router.get("/{session_id}", response_model=SessionOut, responses=PROBLEMS)
async def get_session(session_id: Id, session: Db, _user: Player) -> GameSession:
    return await _get(session, session_id)


async def _transition(
    session: Db, ctx: Ctx, session_id: str, user: User, allowed_from: tuple[str, ...], to: str
) -> GameSession:
    game = await _get(session, session_id)
    _check_owner(user, game)
    status = game.status
    now = ctx.clock()
    values: dict[str, object] = {"status": to}
    values["started_at" if to == "active" else "ended_at"] = now
    result = await session.execute(
        update(GameSession).where(GameSession.id == session_id, GameSession.status.in_(allowed_from)).values(**values)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ProblemError(409, f"session is {status}; cannot become {to}", "conflict")
    await session.commit()
    fresh = await session.get(GameSession, session_id, populate_existing=True)
    if fresh is None:  # deleted in the meantime
        raise ProblemError(404, f"no session {session_id!r}", "not_found")
    return fresh


@router.post("/{session_id}/start", response_model=SessionOut, responses=PROBLEMS)
async def start_session(session_id: Id, ctx: Ctx, session: Db, user: Creator) -> GameSession:
    return await _transition(session, ctx, session_id, user, ("waiting",), "active")


@router.post("/{session_id}/end", response_model=SessionOut, responses=PROBLEMS)
async def end_session(session_id: Id, request: Request, ctx: Ctx, session: Db, user: Creator) -> GameSession:
    game = await _transition(session, ctx, session_id, user, ("waiting", "active"), "completed")
    await audit(session, request, "session_end", user.id, session_id)
    await session.commit()
    await _close_world(ctx, session_id)
    return game


async def _close_world(ctx: Ctx, session_id: str) -> None:
    """Close the session's realtime world: in this process (the hook), and on whichever node runs it (Redis)."""
    if ctx.on_session_end is not None:  # the realtime server in this process closes the session's world
        ctx.on_session_end(session_id)
    if ctx.registry is not None:
        try:
            await ctx.registry.end_session(session_id)
        except RedisError:  # the session is ended in the database; its node closes it at its next checkpoint
            log.warning("could not tell the realtime nodes a session ended", session=session_id)


@router.delete("/{session_id}", status_code=204, responses=PROBLEMS)
async def delete_session(session_id: Id, request: Request, ctx: Ctx, session: Db, user: Creator) -> Response:
    game = await _get(session, session_id)
    _check_owner(user, game)
    await session.delete(game)
    await audit(session, request, "session_delete", user.id, session_id)
    await session.commit()
    await _close_world(ctx, session_id)
    return Response(status_code=204)


@router.get("/{session_id}/presence", response_model=PresenceOut, responses=PROBLEMS)
async def presence(session_id: Id, ctx: Ctx, session: Db, _user: Player) -> PresenceOut:
    await _get(session, session_id)
    try:
        online = await ctx.presence.online(session_id)
    except RedisError:
        raise ProblemError(503, "presence store unavailable", "unavailable") from None
    return PresenceOut(session_id=session_id, online=online)


@router.post("/{session_id}/leave", status_code=204, responses=PROBLEMS)
async def leave_session(session_id: Id, request: Request, session: Db, user: Player) -> Response:
    """Give the seat back (joining again takes a seat again, if there is one)."""
    await _get(session, session_id)
    gone = await session.execute(
        delete(SessionMember).where(SessionMember.session_id == session_id, SessionMember.user_id == user.id)
    )
    if gone.rowcount != 1:  # type: ignore[attr-defined]
        raise ProblemError(409, "not a member of this session", "conflict")
    await session.execute(
        update(GameSession)
        .where(GameSession.id == session_id, GameSession.player_count > 0)
        .values(player_count=GameSession.player_count - 1)
    )
    await audit(session, request, "session_leave", user.id, session_id)
    await session.commit()
    return Response(status_code=204)


@router.post("/{session_id}/join", response_model=JoinOut, responses=PROBLEMS)
async def join_session(session_id: Id, request: Request, ctx: Ctx, session: Db, user: Player) -> JoinOut:
    game = await _get(session, session_id)
    if game.status == "completed":
        raise ProblemError(409, "session has ended", "conflict")
    capacity = game.max_players  # read now: a rollback below expires the loaded object
    world = dict(game.world)
    member = await session.get(SessionMember, (session_id, user.id))
    if member is None:
        taken = await session.execute(
            update(GameSession)
            .where(
                GameSession.id == session_id,
                GameSession.player_count < GameSession.max_players,
                GameSession.status != "completed",
            )
            .values(player_count=GameSession.player_count + 1)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            await session.rollback()
            raise ProblemError(409, f"session is full ({capacity} players)", "full")
        session.add(SessionMember(session_id=session_id, user_id=user.id, joined_at=ctx.clock()))
        try:
            await session.commit()
        except IntegrityError:  # the same user joining twice at once: the seat was counted once too many
            await session.rollback()
            raise ProblemError(409, "already joining this session", "conflict") from None
    s = ctx.settings
    realtime_url = s.realtime_url
    if ctx.registry is not None:  # the session's node: where it runs, or the least loaded live one
        try:
            node = await ctx.registry.place(session_id)
        except RedisError:
            raise ProblemError(503, "the node registry is unavailable", "unavailable", retry_after_s=1) from None
        if node is None:
            raise ProblemError(503, "no realtime node is available", "unavailable", retry_after_s=1)
        realtime_url = node.url
    now = ctx.clock()
    ticket = issue_ticket(
        s.join_secret,
        user.id,
        session_id,
        ttl_s=s.join_ticket_ttl_s,
        role=user.role,
        now=now.timestamp(),
        extra={
            "name": user.username,
            "cid": getattr(request.state, "request_id", None),
            "world": world,
            "cap": capacity,  # the realtime server refuses players past it, whatever tickets say
        },
    )
    return JoinOut(
        session_id=session_id,
        ticket=ticket,
        realtime_url=realtime_url,
        expires_at=now + dt.timedelta(seconds=s.join_ticket_ttl_s),
    )
