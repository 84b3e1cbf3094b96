"""Matchmaking: group waiting players by region and skill within a window that widens the longer they wait,
filling sessions of ``match_size`` seats (party sizes add up), oldest first.

:func:`form_groups` is the pure rule (tested alone). :func:`run_matchmaker` applies it to the database: tickets
move from ``waiting`` to ``matched`` only by a conditional update, all of a group's or none, so a ticket is never
matched twice even with several matchers or a concurrent cancel. Players left over after ``backfill_after_s``
take free seats in an existing matchmade session of their region (creating sessions only when needed).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mpgenie.api.models import GameSession, MatchTicket, SessionMember, count_open_sessions


@dataclass(frozen=True, slots=True)
class Waiting:
    id: str
    user_id: str
    region: str
    skill: float
    party_size: int
    waited_s: float


def skill_window(waited_s: float, base: float, growth_per_s: float) -> float:
    return base + growth_per_s * max(0.0, waited_s)


def form_groups(tickets: list[Waiting], size: int, base: float, growth_per_s: float) -> list[list[Waiting]]:
    """Full groups of exactly ``size`` seats. The longest-waiting ticket anchors a group and its (widened) window
    decides who fits; candidates are taken longest-waiting first, so nobody is overtaken by a newer player with
    the same fit."""
    groups: list[list[Waiting]] = []
    by_region: dict[str, list[Waiting]] = defaultdict(list)
    for t in tickets:
        by_region[t.region].append(t)
    for region in sorted(by_region):
        queue = sorted(by_region[region], key=lambda t: (-t.waited_s, t.id))
        used: set[str] = set()
        matched_users: set[str] = set()  # a player in one match of this pass is in no other
        for anchor in queue:
            if anchor.id in used or anchor.user_id in matched_users or anchor.party_size > size:
                continue
            window = skill_window(anchor.waited_s, base, growth_per_s)
            group, seats, users = [anchor], anchor.party_size, {anchor.user_id}
            for cand in queue:
                if seats == size:
                    break
                if cand.id in used or cand.user_id in users or cand.user_id in matched_users:
                    continue
                if abs(cand.skill - anchor.skill) <= window and seats + cand.party_size <= size:
                    group.append(cand)
                    users.add(cand.user_id)
                    seats += cand.party_size
            if seats == size:
                groups.append(group)
                used.update(t.id for t in group)
                matched_users.update(users)
    return groups


async def run_matchmaker(
    sessions: async_sessionmaker[AsyncSession],
    now: dt.datetime,
    size: int,
    base: float,
    growth_per_s: float,
    backfill_after_s: float = 10.0,
    lock: asyncio.Lock | None = None,
    max_sessions: int | None = None,
) -> int:
    """One matching pass; returns how many tickets were matched. ``lock`` serialises passes within a process
    (less wasted work); correctness across processes rests on the conditional updates alone. No new session is
    made while ``max_sessions`` are open (the groups wait; backfill into existing sessions goes on)."""
    async with lock or contextlib.nullcontext(), sessions() as db:
        rows = (await db.execute(select(MatchTicket).where(MatchTicket.status == "waiting"))).scalars().all()
        waiting = [
            Waiting(t.id, t.user_id, t.region, t.skill, t.party_size, (now - t.created_at).total_seconds())
            for t in rows
        ]
        matched = 0
        groups = form_groups(waiting, size, base, growth_per_s)
        tried: list[list[Waiting]] = []
        room = None if max_sessions is None else max_sessions - await count_open_sessions(db)
        for group in groups:
            if room is not None and room <= 0:
                break  # the groups left wait (and may backfill below)
            tried.append(group)
            game = GameSession(
                name=f"match-{group[0].id[:8]}",
                region=group[0].region,
                max_players=size,
                player_count=sum(t.party_size for t in group),
                matchmade=True,
                created_at=now,
            )
            db.add(game)
            await db.flush()
            if await _claim(db, group, game.id, now):
                matched += len(group)
                await db.commit()
                room = None if room is None else room - 1
            else:
                await db.rollback()
        grouped = {t.id for g in tried for t in g}
        for t in sorted(waiting, key=lambda t: -t.waited_s):
            if t.id in grouped or t.waited_s < backfill_after_s:
                continue
            matched += await _backfill(db, t, now, size)
        return matched


async def _claim(db: AsyncSession, group: list[Waiting], session_id: str, now: dt.datetime) -> bool:
    ids = [t.id for t in group]
    result = await db.execute(
        update(MatchTicket)
        .where(MatchTicket.id.in_(ids), MatchTicket.status == "waiting")
        .values(status="matched", session_id=session_id, matched_at=now)
    )
    if result.rowcount != len(ids):  # type: ignore[attr-defined]
        return False  # one was cancelled (or matched elsewhere) meanwhile: the whole group waits again
    for t in group:
        db.add(SessionMember(session_id=session_id, user_id=t.user_id, joined_at=now))
    return True


async def _backfill(db: AsyncSession, t: Waiting, now: dt.datetime, size: int) -> int:
    candidates = (
        await db.execute(
            select(GameSession.id)
            .where(
                GameSession.matchmade.is_(True),
                GameSession.region == t.region,
                GameSession.status != "completed",
                GameSession.player_count + t.party_size <= GameSession.max_players,
            )
            .order_by(GameSession.created_at)
        )
    ).scalars()
    for session_id in candidates:
        member = await db.get(SessionMember, (session_id, t.user_id))
        if member is not None:
            continue
        seat = await db.execute(
            update(GameSession)
            .where(GameSession.id == session_id, GameSession.player_count + t.party_size <= GameSession.max_players)
            .values(player_count=GameSession.player_count + t.party_size)
        )
        if seat.rowcount == 1 and await _claim(db, [t], session_id, now):  # type: ignore[attr-defined]
            await db.commit()
            return 1
        await db.rollback()
    return 0
