"""``/v1/analytics``: platform counts for researchers and developers (``read_analytics``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy import func, select

from mpgenie.api.deps import Ctx, Db, require
from mpgenie.api.models import AuditEvent, GameSession, MatchTicket, User
from mpgenie.api.permissions import Permission
from mpgenie.api.problems import responses
from mpgenie.api.schemas import AnalyticsSummary

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])
PROBLEMS = responses(401, 403, 429)


@router.get("/summary", response_model=AnalyticsSummary, responses=PROBLEMS)
async def summary(
    ctx: Ctx, session: Db, _user: Annotated[User, Depends(require(Permission.READ_ANALYTICS))]
) -> AnalyticsSummary:
    async def counts(column: object) -> dict[str, int]:
        rows = await session.execute(select(column, func.count()).group_by(column))  # type: ignore[call-overload]
        return {str(k): int(v) for k, v in rows.all()}

    since = ctx.clock() - dt.timedelta(hours=24)

    async def events(name: str) -> int:
        query = select(func.count()).where(AuditEvent.event == name, AuditEvent.at >= since)
        return int((await session.execute(query)).scalar_one())

    by_role = await counts(User.role)
    return AnalyticsSummary(
        users=sum(by_role.values()),
        users_by_role=by_role,
        sessions_by_status=await counts(GameSession.status),
        match_tickets_by_status=await counts(MatchTicket.status),
        logins_last_24h=await events("login"),
        failed_logins_last_24h=await events("login_failure"),
    )
