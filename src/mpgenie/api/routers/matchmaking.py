"""``/v1/matchmaking``: queue for a match, poll the ticket, cancel it."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from mpgenie.api.deps import Ctx, Db, audit, require
from mpgenie.api.matchmaker import run_matchmaker
from mpgenie.api.models import MatchTicket, User
from mpgenie.api.permissions import Permission, allowed
from mpgenie.api.problems import ProblemError, responses
from mpgenie.api.routers.sessions import check_session_quota
from mpgenie.api.schemas import Id, MatchTicketIn, MatchTicketOut

router = APIRouter(prefix="/v1/matchmaking", tags=["matchmaking"])
log = structlog.get_logger("mpgenie.api")
PROBLEMS = responses(401, 403, 404, 409, 422, 429, 503)
Player = Annotated[User, Depends(require(Permission.JOIN_SESSIONS))]


async def match_now(ctx: Ctx) -> int:
    s = ctx.settings
    return await run_matchmaker(
        ctx.sessions,
        ctx.clock(),
        s.match_size,
        s.match_skill_window,
        s.match_window_growth_per_s,
        lock=ctx.match_lock,
        max_sessions=s.max_active_sessions,
    )


@router.post("/tickets", status_code=202, response_model=MatchTicketOut, responses=PROBLEMS)
async def enqueue(body: MatchTicketIn, request: Request, ctx: Ctx, session: Db, user: Player) -> MatchTicket:
    if body.party_size > ctx.settings.match_size:
        raise ProblemError(
            422, f"party of {body.party_size} exceeds the match size {ctx.settings.match_size}", "validation"
        )
    open_ticket = (
        await session.execute(
            select(MatchTicket).where(MatchTicket.user_id == user.id, MatchTicket.status == "waiting")
        )
    ).scalar_one_or_none()
    if open_ticket is not None:
        raise ProblemError(409, f"already queued (ticket {open_ticket.id})", "conflict")
    await check_session_quota(ctx, session, user.id)  # a match makes a session: the same limits apply
    ticket = MatchTicket(
        user_id=user.id, region=body.region, skill=user.rating, party_size=body.party_size, created_at=ctx.clock()
    )
    session.add(ticket)
    await audit(session, request, "match_enqueue", user.id, ticket.region, party_size=body.party_size)
    try:
        await session.commit()
    except IntegrityError:  # a concurrent enqueue of the same player won (one waiting ticket per player)
        await session.rollback()
        raise ProblemError(409, "already queued", "conflict") from None
    try:
        await match_now(ctx)
    except Exception:  # the ticket is queued either way; the background matcher tries again within a second
        log.exception("matchmaker pass failed after enqueue")
    await session.refresh(ticket)
    return ticket


async def _own(session: Db, ticket_id: str, user: User) -> MatchTicket:
    ticket = await session.get(MatchTicket, ticket_id)
    if ticket is None or (ticket.user_id != user.id and not allowed(user.role, Permission.MANAGE_SESSIONS)):
        raise ProblemError(404, f"no ticket {ticket_id!r}", "not_found")
    return ticket


@router.get("/tickets/{ticket_id}", response_model=MatchTicketOut, responses=PROBLEMS)
async def get_ticket(ticket_id: Id, session: Db, user: Player) -> MatchTicket:
    return await _own(session, ticket_id, user)


@router.delete("/tickets/{ticket_id}", status_code=204, responses=PROBLEMS)
async def cancel(ticket_id: Id, session: Db, user: Player) -> Response:
    ticket = await _own(session, ticket_id, user)
    result = await session.execute(
        update(MatchTicket)
        .where(MatchTicket.id == ticket.id, MatchTicket.status == "waiting")
        .values(status="cancelled")
    )
    await session.commit()
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ProblemError(409, "ticket is no longer waiting (already matched or cancelled)", "conflict")
    return Response(status_code=204)
