"""Sessions: lifecycle, filters and pagination, join tickets the realtime server accepts, and atomic capacity."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from mpgenie.api.models import SessionMember
from mpgenie.net.tickets import verify_ticket

from .conftest import Api

pytestmark = pytest.mark.anyio


async def test_lifecycle_and_listing(api: Api) -> None:
    dev = await api.user("dev", role="developer")
    player = await api.user("pat")
    created = []
    for i in range(5):
        r = await api.client.post(
            "/v1/sessions", headers=dev, json={"name": f"s{i}", "max_players": 2 + i, "region": "eu" if i % 2 else "us"}
        )
        assert r.status_code == 201, r.text
        created.append(r.json())
    assert created[0]["status"] == "waiting" and created[0]["player_count"] == 0
    page = (await api.client.get("/v1/sessions?region=eu&limit=1", headers=player)).json()
    assert page["total"] == 2 and len(page["items"]) == 1
    page2 = (await api.client.get("/v1/sessions?region=eu&limit=1&offset=1", headers=player)).json()
    assert page2["items"][0]["id"] != page["items"][0]["id"]
    sid = created[0]["id"]
    assert (await api.client.post(f"/v1/sessions/{sid}/start", headers=player)).status_code == 403
    started = await api.client.post(f"/v1/sessions/{sid}/start", headers=dev)
    assert started.status_code == 200 and started.json()["status"] == "active" and started.json()["started_at"]
    assert (await api.client.post(f"/v1/sessions/{sid}/start", headers=dev)).status_code == 409
    assert (await api.client.get("/v1/sessions?status=active", headers=player)).json()["total"] == 1
    ended = await api.client.post(f"/v1/sessions/{sid}/end", headers=dev)
    assert ended.json()["status"] == "completed"
    assert (await api.client.post(f"/v1/sessions/{sid}/join", headers=player)).status_code == 409
    assert (await api.client.post(f"/v1/sessions/{sid}/end", headers=dev)).status_code == 409
    other_dev = await api.user("dev2", role="developer")
    assert (await api.client.delete(f"/v1/sessions/{created[1]['id']}", headers=other_dev)).status_code == 403
    assert (await api.client.delete(f"/v1/sessions/{created[1]['id']}", headers=dev)).status_code == 204
    assert (await api.client.get(f"/v1/sessions/{created[1]['id']}", headers=player)).status_code == 404
    bad = await api.client.post(
        "/v1/sessions", headers=dev, json={"name": "x", "max_players": 4, "world": {"radius": 0}}
    )
    assert bad.status_code == 422 and "radius" in bad.text  # the schema states the range now
    assert (await api.client.post("/v1/sessions", headers=dev, json={"name": "x", "max_players": 1})).status_code == 422
    assert (await api.client.get("/v1/sessions?status=bogus", headers=player)).status_code == 422


async def test_join_returns_a_ticket_for_that_session(api: Api) -> None:
    dev = await api.user("dev", role="developer")
    player = await api.user("pam")
    sid = (await api.client.post("/v1/sessions", headers=dev, json={"name": "a", "max_players": 3})).json()["id"]
    r = await api.client.post(f"/v1/sessions/{sid}/join", headers={**player, "X-Request-ID": "trace-42"})
    assert r.status_code == 200
    body = r.json()
    ticket = verify_ticket(api.ctx.settings.join_secret, body["ticket"], sid)
    me = (await api.client.get("/v1/users/me", headers=player)).json()
    assert ticket.subject == me["id"] and ticket.name == "pam" and ticket.correlation_id == "trace-42"
    again = await api.client.post(f"/v1/sessions/{sid}/join", headers=player)  # a member gets a new ticket, same seat
    assert again.status_code == 200
    assert (await api.client.get(f"/v1/sessions/{sid}", headers=player)).json()["player_count"] == 1


async def test_concurrent_joins_never_overfill(api: Api) -> None:
    dev = await api.user("dev", role="developer")
    sid = (await api.client.post("/v1/sessions", headers=dev, json={"name": "rush", "max_players": 7})).json()["id"]
    players = [await api.user(f"p{i:02d}") for i in range(25)]
    results = await asyncio.gather(*(api.client.post(f"/v1/sessions/{sid}/join", headers=h) for h in players))
    codes = sorted(r.status_code for r in results)
    assert codes.count(200) == 7 and codes.count(409) == 18
    assert all(r.json()["type"].endswith("/full") for r in results if r.status_code == 409)
    assert (await api.client.get(f"/v1/sessions/{sid}", headers=dev)).json()["player_count"] == 7
    async with api.ctx.sessions() as db:
        members = (await db.execute(select(func.count()).select_from(SessionMember))).scalar_one()
    assert members == 7


async def test_presence_and_analytics_endpoints(api: Api) -> None:
    dev = await api.user("dev", role="developer")
    researcher = await api.user("rita", role="researcher")
    sid = (await api.client.post("/v1/sessions", headers=dev, json={"name": "a", "max_players": 3})).json()["id"]
    await api.ctx.presence.set(sid, "someone", True)
    r = await api.client.get(f"/v1/sessions/{sid}/presence", headers=dev)
    assert r.status_code == 200 and r.json() == {"session_id": sid, "online": ["someone"]}
    assert (await api.client.get("/v1/sessions/nope/presence", headers=dev)).status_code == 404
    await api.client.post("/v1/auth/login", json={"username": "rita", "password": "wrong"})
    summary = (await api.client.get("/v1/analytics/summary", headers=researcher)).json()
    assert summary["users"] == 2 and summary["users_by_role"] == {"developer": 1, "researcher": 1}
    assert summary["sessions_by_status"] == {"waiting": 1}
    assert summary["logins_last_24h"] == 2 and summary["failed_logins_last_24h"] == 1
    assert (await api.client.get("/v1/matchmaking/tickets/nope", headers=dev)).status_code == 404
    assert (await api.client.post("/v1/auth/logout", json={"refresh_token": "nope"})).status_code == 401


async def test_leave_gives_the_seat_back_and_limits_hold(api: Api) -> None:
    dev = await api.user("dev", role="developer")
    a, b, c = (await api.user("aa1"), await api.user("bb2"), await api.user("cc3"))
    sid = (await api.client.post("/v1/sessions", headers=dev, json={"name": "x", "max_players": 2})).json()["id"]
    assert (await api.client.post(f"/v1/sessions/{sid}/join", headers=a)).status_code == 200
    assert (await api.client.post(f"/v1/sessions/{sid}/join", headers=b)).status_code == 200
    assert (await api.client.post(f"/v1/sessions/{sid}/join", headers=c)).status_code == 409
    assert (await api.client.post(f"/v1/sessions/{sid}/leave", headers=a)).status_code == 204
    assert (await api.client.post(f"/v1/sessions/{sid}/leave", headers=a)).status_code == 409
    assert (await api.client.post(f"/v1/sessions/{sid}/join", headers=c)).status_code == 200
    assert (await api.client.get(f"/v1/sessions/{sid}", headers=dev)).json()["player_count"] == 2
    huge = await api.client.post(
        "/v1/sessions", headers=dev, json={"name": "x", "max_players": 2, "world": {"num_collectibles": 10**12}}
    )
    assert huge.status_code == 422 and "num_collectibles" in huge.text
    rate = await api.client.post(
        "/v1/sessions", headers=dev, json={"name": "x", "max_players": 2, "world": {"tick_rate": 60}}
    )
    assert rate.status_code == 422  # sessions share the server's tick rate
