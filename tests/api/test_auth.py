"""Accounts and tokens, on SQLite and on the real PostgreSQL: register, login, lockout, refresh rotation with
reuse detection, logout, password change. Every failure is a problem+json body."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from mpgenie.api.models import AuditEvent

from .conftest import Api

pytestmark = pytest.mark.anyio


def assert_problem(r, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["title"] and "traceback" not in r.text.lower()
    return body  # type: ignore[no-any-return]


async def audit_events(api: Api) -> list[str]:
    async with api.ctx.sessions() as db:
        return [e.event for e in (await db.execute(select(AuditEvent).order_by(AuditEvent.id))).scalars()]


async def test_register_login_me(api: Api) -> None:
    r = await api.client.post("/v1/auth/register", json={"username": "alice", "password": "correct horse"})
    assert r.status_code == 201 and r.json()["role"] == "player" and "password" not in r.text
    assert_problem(await api.client.post("/v1/auth/register", json={"username": "alice", "password": "x" * 9}), 409)
    assert_problem(await api.client.post("/v1/auth/register", json={"username": "a", "password": "x" * 9}), 422)
    assert_problem(await api.client.post("/v1/auth/register", json={"username": "bob", "password": "short"}), 422)
    r = await api.client.post("/v1/auth/login", json={"username": "alice", "password": "correct horse"})
    assert r.status_code == 200
    tokens = r.json()
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == api.ctx.settings.access_ttl_s
    me = await api.client.get("/v1/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200 and me.json()["username"] == "alice"
    assert await audit_events(api) == ["register", "login"]


async def test_wrong_password_and_unknown_user_look_the_same(api: Api) -> None:
    await api.user("carol")
    wrong = assert_problem(await api.client.post("/v1/auth/login", json={"username": "carol", "password": "nope"}), 401)
    unknown = assert_problem(await api.client.post("/v1/auth/login", json={"username": "nobody", "password": "x"}), 401)
    assert wrong["detail"] == unknown["detail"]


async def test_lockout_after_repeated_failures_then_expiry(api: Api) -> None:
    await api.user("dave")
    s = api.ctx.settings
    for _ in range(s.lockout_failures):
        assert_problem(await api.client.post("/v1/auth/login", json={"username": "dave", "password": "bad"}), 401)
    r = await api.client.post("/v1/auth/login", json={"username": "dave", "password": "password-123"})
    body = assert_problem(r, 423)
    assert 0 < body["retry_after_s"] <= s.lockout_s and int(r.headers["Retry-After"]) > 0
    api.clock.advance(s.lockout_s + 1)
    assert (
        await api.client.post("/v1/auth/login", json={"username": "dave", "password": "password-123"})
    ).status_code == 200
    events = await audit_events(api)
    assert events.count("lockout") == 1 and events.count("login_failure") == s.lockout_failures


async def test_failures_outside_the_window_do_not_lock(api: Api) -> None:
    await api.user("erin")
    s = api.ctx.settings
    for _ in range(s.lockout_failures * 2):
        await api.client.post("/v1/auth/login", json={"username": "erin", "password": "bad"})
        api.clock.advance(s.lockout_window_s / (s.lockout_failures - 1) + 1)
    assert (
        await api.client.post("/v1/auth/login", json={"username": "erin", "password": "password-123"})
    ).status_code == 200


async def test_refresh_rotates_and_reuse_revokes_the_family(api: Api) -> None:
    await api.client.post("/v1/auth/register", json={"username": "fay", "password": "password-123"})
    first = (await api.client.post("/v1/auth/login", json={"username": "fay", "password": "password-123"})).json()
    second = (await api.client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
    assert second["refresh_token"] != first["refresh_token"]
    me = await api.client.get("/v1/users/me", headers={"Authorization": f"Bearer {second['access_token']}"})
    assert me.status_code == 200
    # The first token again: a stolen copy. It fails, and so does the legitimately rotated one.
    assert_problem(await api.client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}), 401)
    assert_problem(await api.client.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}), 401)
    assert "refresh_reuse" in await audit_events(api)
    assert_problem(await api.client.post("/v1/auth/refresh", json={"refresh_token": "made-up"}), 401)


async def test_expired_refresh_token_is_refused(api: Api) -> None:
    await api.client.post("/v1/auth/register", json={"username": "gus", "password": "password-123"})
    tokens = (await api.client.post("/v1/auth/login", json={"username": "gus", "password": "password-123"})).json()
    api.clock.advance(api.ctx.settings.refresh_ttl_s + 1)
    body = assert_problem(
        await api.client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 401
    )
    assert "expired" in body["detail"]


async def test_logout_revokes_refresh(api: Api) -> None:
    await api.client.post("/v1/auth/register", json={"username": "hal", "password": "password-123"})
    tokens = (await api.client.post("/v1/auth/login", json={"username": "hal", "password": "password-123"})).json()
    assert (
        await api.client.post("/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    ).status_code == 204
    assert_problem(await api.client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 401)


async def test_password_change_revokes_every_token(api: Api) -> None:
    await api.client.post("/v1/auth/register", json={"username": "ivy", "password": "password-123"})
    tokens = (await api.client.post("/v1/auth/login", json={"username": "ivy", "password": "password-123"})).json()
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    bad = await api.client.post(
        "/v1/users/me/password", headers=auth, json={"old_password": "nope", "new_password": "new-password-1"}
    )
    assert_problem(bad, 403)
    ok = await api.client.post(
        "/v1/users/me/password", headers=auth, json={"old_password": "password-123", "new_password": "new-password-1"}
    )
    assert ok.status_code == 204
    assert_problem(await api.client.get("/v1/users/me", headers=auth), 401)
    assert_problem(await api.client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 401)
    assert_problem(await api.client.post("/v1/auth/login", json={"username": "ivy", "password": "password-123"}), 401)
    await api.login("ivy", "new-password-1")


async def test_role_change_by_admin(api: Api) -> None:
    admin = await api.user("root", role="admin")
    player = await api.user("joe")
    me = (await api.client.get("/v1/users/me", headers=player)).json()
    r = await api.client.patch(f"/v1/users/{me['id']}/role", headers=admin, json={"role": "developer"})
    assert r.status_code == 200 and r.json()["role"] == "developer"
    assert_problem(await api.client.get("/v1/users/me", headers=player), 401)  # old token carried the old role
    assert_problem(await api.client.patch(f"/v1/users/{me['id']}/role", headers=admin, json={"role": "god"}), 422)
    assert_problem(await api.client.patch("/v1/users/nope/role", headers=admin, json={"role": "admin"}), 404)
    page = (await api.client.get("/v1/users?limit=1", headers=admin)).json()
    assert page["total"] == 2 and len(page["items"]) == 1
    assert "role_change" in await audit_events(api)


async def test_concurrent_failures_all_count_towards_lockout(api: Api) -> None:
    await api.user("kim")
    attempts = [api.client.post("/v1/auth/login", json={"username": "kim", "password": "bad"}) for _ in range(12)]
    codes = [r.status_code for r in await asyncio.gather(*attempts)]
    assert codes.count(401) >= api.ctx.settings.lockout_failures
    r = await api.client.post("/v1/auth/login", json={"username": "kim", "password": "password-123"})
    assert r.status_code == 423


async def test_role_change_revokes_refresh_tokens(api: Api) -> None:
    admin = await api.user("root", role="admin")
    await api.client.post("/v1/auth/register", json={"username": "lee", "password": "password-123"})
    tokens = (await api.client.post("/v1/auth/login", json={"username": "lee", "password": "password-123"})).json()
    me = (await api.client.get("/v1/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})).json()
    await api.client.patch(f"/v1/users/{me['id']}/role", headers=admin, json={"role": "researcher"})
    assert_problem(await api.client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 401)


async def test_nul_characters_are_refused_not_500(api: Api) -> None:
    dev = await api.user("dev", role="developer")
    assert_problem(await api.client.post("/v1/auth/login", json={"username": "a\u0000b", "password": "x"}), 422)
    assert_problem(await api.client.post("/v1/sessions", headers=dev, json={"name": "a\u0000", "max_players": 2}), 422)
    assert_problem(await api.client.get("/v1/sessions/ab%00cd", headers=dev), 422)
    assert_problem(await api.client.post("/v1/auth/refresh", json={"refresh_token": "\u0000"}), 422)
