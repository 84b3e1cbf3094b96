"""Matchmaking: the grouping rule (property-tested), and the queue against the database (no double matches)."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from mpgenie.api.matchmaker import Waiting, form_groups, run_matchmaker, skill_window
from mpgenie.api.models import GameSession, MatchTicket, SessionMember

from .conftest import Api

pytestmark = pytest.mark.anyio


def w(i: int, skill: float, waited: float, region: str = "eu", party: int = 1) -> Waiting:
    return Waiting(f"t{i:03d}", f"u{i:03d}", region, skill, party, waited)


def test_oldest_players_are_matched_first() -> None:
    queue = [w(i, 1000, waited=100 - i) for i in range(10)]  # t000 waited longest
    groups = form_groups(queue, 4, 100, 0)
    assert [[t.id for t in g] for g in groups] == [["t000", "t001", "t002", "t003"], ["t004", "t005", "t006", "t007"]]


def test_the_skill_window_widens_with_waiting() -> None:
    far = [w(0, 1000, 0), w(1, 1400, 0)]
    assert form_groups(far, 2, 100, 50) == []
    later = [w(0, 1000, 6.0), w(1, 1400, 0.1)]  # 100 + 50 * 6 = 400: now they fit
    assert len(form_groups(later, 2, 100, 50)) == 1
    assert skill_window(6.0, 100, 50) == 400


def test_regions_and_party_sizes() -> None:
    queue = [w(0, 1000, 9, "eu", 3), w(1, 1000, 8, "us"), w(2, 1000, 7, "eu", 2), w(3, 1000, 6, "eu")]
    groups = form_groups(queue, 4, 100, 0)
    assert [[t.id for t in g] for g in groups] == [["t000", "t003"]]  # 3 + 2 > 4, so the party of 3 takes t003


tickets = st.lists(
    st.builds(
        Waiting,
        id=st.uuids().map(lambda u: u.hex),
        user_id=st.sampled_from([f"u{i}" for i in range(30)]),
        region=st.sampled_from(["eu", "us"]),
        skill=st.floats(500, 2000),
        party_size=st.integers(1, 4),
        waited_s=st.floats(0, 60),
    ),
    max_size=60,
)


@settings(max_examples=200)
@given(queue=tickets, size=st.integers(2, 6), base=st.floats(0, 300), growth=st.floats(0, 50))
def test_groups_are_full_fair_and_disjoint(queue: list[Waiting], size: int, base: float, growth: float) -> None:
    groups = form_groups(queue, size, base, growth)
    seen: set[str] = set()
    for g in groups:
        assert sum(t.party_size for t in g) == size
        assert len({t.region for t in g}) == 1
        assert len({t.user_id for t in g}) == len(g)  # nobody twice in one match
        anchor = g[0]  # the group's terms are set by the anchor's (widened) window
        assert all(abs(t.skill - anchor.skill) <= skill_window(anchor.waited_s, base, growth) for t in g)
        for t in g:
            assert t.id not in seen
            seen.add(t.id)


async def test_queue_matches_each_player_once(api: Api) -> None:
    players = [await api.user(f"mm{i}") for i in range(9)]
    tickets = []
    for h in players:
        r = await api.client.post("/v1/matchmaking/tickets", headers=h, json={"region": "eu"})
        assert r.status_code == 202, r.text
        tickets.append(r.json()["id"])
    assert (await api.client.post("/v1/matchmaking/tickets", headers=players[8], json={})).status_code == 409
    states = [
        (await api.client.get(f"/v1/matchmaking/tickets/{t}", headers=h)).json()
        for t, h in zip(tickets, players, strict=True)
    ]
    matched = [s for s in states if s["status"] == "matched"]
    assert len(matched) == 8 and states[8]["status"] == "waiting"  # the 9th waits for three more
    sessions = {s["session_id"] for s in matched}
    assert len(sessions) == 2
    for sid in sessions:
        r = await api.client.get(f"/v1/sessions/{sid}", headers=players[0])
        assert r.json()["matchmade"] and r.json()["player_count"] == 4
    # A matched player joins its session without taking another seat.
    join = await api.client.post(f"/v1/sessions/{states[0]['session_id']}/join", headers=players[0])
    assert join.status_code == 200
    assert (await api.client.get(f"/v1/sessions/{states[0]['session_id']}", headers=players[0])).json()[
        "player_count"
    ] == 4
    assert (await api.client.get(f"/v1/matchmaking/tickets/{tickets[0]}", headers=players[1])).status_code == 404
    assert (await api.client.delete(f"/v1/matchmaking/tickets/{tickets[0]}", headers=players[0])).status_code == 409
    assert (await api.client.delete(f"/v1/matchmaking/tickets/{tickets[8]}", headers=players[8])).status_code == 204
    assert (await api.client.get(f"/v1/matchmaking/tickets/{tickets[8]}", headers=players[8])).json()[
        "status"
    ] == "cancelled"


async def test_concurrent_matchers_never_double_match(api: Api) -> None:
    s = api.ctx.settings
    for i in range(12):
        h = await api.user(f"cc{i}")
        async with api.ctx.sessions() as db:  # queue directly so no pass runs yet
            me = (await api.client.get("/v1/users/me", headers=h)).json()
            db.add(MatchTicket(user_id=me["id"], region="eu", skill=1000.0, party_size=1, created_at=api.clock()))
            await db.commit()
    passes = [run_matchmaker(api.ctx.sessions, api.clock(), s.match_size, 100, 0) for _ in range(4)]
    assert sum(await asyncio.gather(*passes)) == 12
    async with api.ctx.sessions() as db:
        members = (await db.execute(select(SessionMember.user_id))).scalars().all()
        statuses = (await db.execute(select(MatchTicket.status))).scalars().all()
    assert len(members) == len(set(members)) == 12
    assert statuses == ["matched"] * 12


async def test_leftover_players_backfill_existing_matches(api: Api) -> None:
    s = api.ctx.settings
    players = [await api.user(f"bf{i}") for i in range(5)]
    for h in players[:3]:
        await api.client.post("/v1/matchmaking/tickets", headers=h, json={"region": "eu", "party_size": 1})
    await api.client.post("/v1/matchmaking/tickets", headers=players[3], json={"region": "eu", "party_size": 1})
    # four matched into one session; the fifth arrives alone and waits past the backfill delay
    r = await api.client.post("/v1/matchmaking/tickets", headers=players[4], json={"region": "eu"})
    assert r.json()["status"] == "waiting"
    dev = await api.user("bfdev", role="developer")
    sid = (await api.client.get("/v1/sessions", headers=dev)).json()["items"][0]["id"]
    async with api.ctx.sessions() as db:  # a seat frees up (someone left the match)
        game = await db.get(GameSession, sid)
        game.player_count = 3
        await db.commit()
    api.clock.advance(11)
    assert await run_matchmaker(api.ctx.sessions, api.clock(), s.match_size, 100, 0) == 1
    ticket = (await api.client.get(f"/v1/matchmaking/tickets/{r.json()['id']}", headers=players[4])).json()
    assert ticket["status"] == "matched" and ticket["session_id"] == sid


async def test_concurrent_enqueues_give_one_ticket(api: Api) -> None:
    h = await api.user("eager")
    results = await asyncio.gather(
        *(api.client.post("/v1/matchmaking/tickets", headers=h, json={"region": "eu"}) for _ in range(6))
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [202] + [409] * 5
    again = await api.client.post("/v1/matchmaking/tickets", headers=h, json={"region": "eu"})
    assert again.status_code == 409


def test_a_player_is_in_at_most_one_group_per_pass() -> None:
    queue = [
        Waiting("a1", "u1", "eu", 1000, 1, 9),
        Waiting("a2", "u1", "eu", 1000, 1, 8),
        Waiting("b", "u2", "eu", 1000, 1, 7),
        Waiting("c", "u3", "eu", 1000, 1, 6),
    ]
    groups = form_groups(queue, 2, 100, 0)
    users = [t.user_id for g in groups for t in g]
    assert len(users) == len(set(users))
