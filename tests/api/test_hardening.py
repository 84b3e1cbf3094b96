"""Regressions of the platform API's hardening, each on SQLite and on the real PostgreSQL: client addresses behind
(untrusted) proxies, world bounds at the API, session quotas, body size, bounded error bodies, lockout on the
password change and for unknown names, and the password-hashing budget and pool."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from mpgenie.api.deps import forwarded_client, parse_networks
from mpgenie.api.models import AuditEvent, MatchTicket
from mpgenie.api.ratelimit import MemoryRateLimiter, RedisRateLimiter
from mpgenie.api.routers.matchmaking import match_now
from mpgenie.net.tickets import verify_ticket
from mpgenie.platform import api_config
from mpgenie.world.config import FIELD_BOUNDS, MAX_SEED, WorldConfig

from .conftest import REDIS_URL, Api, make_settings, running_api

pytestmark = pytest.mark.anyio


@pytest.fixture
def configured(database: tuple[str, str | None]) -> Any:
    """``async with configured(**settings) as api``: the app with these settings on each backend."""
    url, schema = database

    def start(**overrides: Any) -> running_api:
        return running_api(make_settings(url, **overrides), schema)

    return start


async def audit_ips(api: Api) -> list[str | None]:
    async with api.ctx.sessions() as db:
        return list((await db.execute(select(AuditEvent.ip).order_by(AuditEvent.id))).scalars())


def assert_problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return r.json()  # type: ignore[no-any-return]


# --- 1. client addresses -------------------------------------------------------------------------------------


async def test_a_long_forwarded_for_is_no_server_error_and_is_not_believed(api: Api) -> None:
    """PostgreSQL refused the >64-character 'address' (a 500); without trusted proxies the header is ignored."""
    junk = {"X-Forwarded-For": "x" * 200 + ", 203.0.113.9"}
    r = await api.client.post("/v1/auth/register", json={"username": "xff", "password": "password-1"}, headers=junk)
    assert r.status_code == 201, r.text
    r = await api.client.post("/v1/auth/login", json={"username": "xff", "password": "wrong"}, headers=junk)
    assert_problem(r, 401)
    r = await api.client.post("/v1/auth/login", json={"username": "nobody" * 10, "password": "x"}, headers=junk)
    assert_problem(r, 401)
    assert await audit_ips(api) == ["127.0.0.1"] * 3  # httpx's ASGI transport peer


async def test_spoofed_forwarded_for_shares_the_peers_rate_limit(configured: Any) -> None:
    async with configured(rate_limit_per_minute=3) as api:
        codes = [
            (await api.client.get("/v1/users/me", headers={"X-Forwarded-For": f"198.51.100.{i}"})).status_code
            for i in range(5)
        ]
        assert codes == [401, 401, 401, 429, 429]


async def test_trusted_proxies_give_the_right_most_untrusted_hop(configured: Any) -> None:
    async with configured(trusted_proxies=["127.0.0.1", "10.0.0.0/8"], rate_limit_per_minute=2) as api:
        cases = {
            "203.0.113.9, 10.1.2.3": "203.0.113.9",  # behind two proxies
            "6.6.6.6, 198.51.100.7, 10.0.0.1": "198.51.100.7",  # what the client wrote left of it is ignored
            "198.51.100.7, not-an-ip": "127.0.0.1",  # unparsable: the peer
            "x" * 300: "127.0.0.1",
            "10.9.9.9": "10.9.9.9",  # only proxies: the left-most made the request
            "fe80::1%" + "z" * 200: ("fe80::1%" + "z" * 200)[:64],  # a scope id of any length, fitted to the column
        }
        for i, header in enumerate(cases):
            r = await api.client.post(
                "/v1/auth/login", json={"username": f"nobody{i}", "password": "x"}, headers={"X-Forwarded-For": header}
            )
            assert_problem(r, 401)
        assert await audit_ips(api) == list(cases.values())
        # the per-address limit follows the forwarded address: another client behind the proxy is not limited
        a = [(await api.client.get("/v1/users/me", headers={"X-Forwarded-For": "192.0.2.1"})).status_code]
        a += [(await api.client.get("/v1/users/me", headers={"X-Forwarded-For": "192.0.2.1"})).status_code]
        a += [(await api.client.get("/v1/users/me", headers={"X-Forwarded-For": "192.0.2.1"})).status_code]
        b = (await api.client.get("/v1/users/me", headers={"X-Forwarded-For": "192.0.2.2"})).status_code
        assert a == [401, 401, 429] and b == 401


def test_forwarded_client_rules() -> None:
    proxies = parse_networks(["10.0.0.0/8", "2001:db8::/32"])
    assert forwarded_client("10.0.0.5", ["::ffff:192.0.2.4"], proxies) == "192.0.2.4"
    assert forwarded_client("2001:db8::1", ["2001:db8::2, 2001:db9::7"], proxies) == "2001:db9::7"
    assert forwarded_client("192.0.2.1", ["198.51.100.1"], proxies) == "192.0.2.1"  # untrusted peer
    assert forwarded_client("10.0.0.5", [], proxies) == "10.0.0.5"
    assert forwarded_client("10.0.0.5", ["1.2.3.4:80"], proxies) == "10.0.0.5"  # with a port: not an address


def test_uvicorn_does_not_rewrite_the_client_address() -> None:
    """uvicorn's proxy_headers (on by default, trusting 127.0.0.1) would bypass ``trusted_proxies``."""
    assert api_config(object(), "127.0.0.1", 8000).proxy_headers is False


# --- 2. world bounds -----------------------------------------------------------------------------------------


async def test_world_seed_must_fit_the_wire(api: Api) -> None:
    dev = await api.user("dev", role="developer")
    too_big = await api.client.post(
        "/v1/sessions", headers=dev, json={"name": "w", "max_players": 2, "world": {"seed": 2**64}}
    )
    assert_problem(too_big, 422)
    r = await api.client.post(
        "/v1/sessions", headers=dev, json={"name": "w", "max_players": 2, "world": {"seed": MAX_SEED}}
    )
    assert r.status_code == 201, r.text
    joined = await api.client.post(f"/v1/sessions/{r.json()['id']}/join", headers=dev)
    ticket = verify_ticket(api.ctx.settings.join_secret, joined.json()["ticket"], session=r.json()["id"])
    cfg = WorldConfig.from_mapping(dict(ticket.world or {}))  # what the realtime side builds
    assert cfg.seed == MAX_SEED and msgspec.msgpack.decode(msgspec.msgpack.encode(dataclasses.asdict(cfg)))


async def test_openapi_states_every_world_range(api: Api) -> None:
    schema = (await api.client.get("/openapi.json")).json()
    props = schema["components"]["schemas"]["WorldOverrides"]["properties"]
    for name, prop in props.items():
        limits = prop["anyOf"][0]
        bound = FIELD_BOUNDS[name]
        assert limits["maximum"] == bound.high and type(limits["maximum"]) is type(bound.high)  # 2**64 - 1 exactly
        assert limits["exclusiveMinimum" if bound.low_open else "minimum"] == bound.low
    assert set(props) == {f.name for f in dataclasses.fields(WorldConfig)} - {"tick_rate"}


async def test_costly_worlds_are_refused(api: Api) -> None:
    dev = await api.user("dev", role="developer")
    for world in ({"num_hazards": 50_000}, {"num_collectibles": 1_000_000}, {"num_landmarks": 100_000}):
        r = await api.client.post("/v1/sessions", headers=dev, json={"name": "w", "max_players": 2, "world": world})
        assert_problem(r, 422)


# --- 4. session quotas ---------------------------------------------------------------------------------------


async def test_a_full_party_cannot_open_sessions_without_end(configured: Any) -> None:
    async with configured(max_open_sessions_per_account=2) as api:
        player = await api.user("solo")
        made = []
        for _ in range(2):
            r = await api.client.post("/v1/matchmaking/tickets", headers=player, json={"party_size": 4})
            assert r.status_code == 202 and r.json()["status"] == "matched", r.text
            made.append(r.json()["session_id"])
        body = assert_problem(
            await api.client.post("/v1/matchmaking/tickets", headers=player, json={"party_size": 4}), 409
        )
        assert body["type"].endswith("/quota")
        dev = await api.user("dev", role="developer")
        assert (await api.client.post(f"/v1/sessions/{made[0]}/leave", headers=player)).status_code == 204
        r = await api.client.post("/v1/matchmaking/tickets", headers=player, json={"party_size": 4})
        assert r.status_code == 202 and r.json()["status"] == "matched"
        for i in range(2):
            assert (
                await api.client.post("/v1/sessions", headers=dev, json={"name": f"d{i}", "max_players": 2})
            ).status_code == 201
        assert_problem(await api.client.post("/v1/sessions", headers=dev, json={"name": "d3", "max_players": 2}), 409)


async def test_the_node_caps_active_sessions(configured: Any) -> None:
    async with configured(max_active_sessions=2) as api:
        dev = await api.user("dev", role="developer")
        waiting = await api.user("wait")
        r = await api.client.post("/v1/matchmaking/tickets", headers=waiting, json={"party_size": 2})
        assert r.json()["status"] == "waiting"
        for i in range(2):
            assert (
                await api.client.post("/v1/sessions", headers=dev, json={"name": f"d{i}", "max_players": 2})
            ).status_code == 201
        full = assert_problem(
            await api.client.post("/v1/sessions", headers=dev, json={"name": "x", "max_players": 2}), 503
        )
        assert full["type"].endswith("/capacity") and int(full["retry_after_s"]) > 0
        other = await api.user("other")
        assert_problem(await api.client.post("/v1/matchmaking/tickets", headers=other, json={"party_size": 2}), 503)
        # a ticket queued elsewhere (another API process) completes a match, but the matcher opens no session
        me = (await api.client.get("/v1/users/me", headers=other)).json()
        async with api.ctx.sessions() as db:
            db.add(MatchTicket(user_id=me["id"], region="local", skill=1000.0, party_size=2, created_at=api.clock()))
            await db.commit()
        assert await match_now(api.ctx) == 0
        async with api.ctx.sessions() as db:
            assert set((await db.execute(select(MatchTicket.status))).scalars()) == {"waiting"}


# --- 5. body size --------------------------------------------------------------------------------------------


async def test_big_bodies_are_refused_before_parsing(api: Api) -> None:
    big = b'{"username": "' + b"a" * (10 * 1024 * 1024) + b'", "password": "x"}'
    r = await api.client.post("/v1/auth/login", content=big, headers={"content-type": "application/json"})
    body = assert_problem(r, 413)
    assert body["type"].endswith("/too_large") and r.headers.get("x-request-id")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        for _ in range(200):
            yield b" " * 1024

    r = await api.client.post("/v1/auth/login", content=chunks(), headers={"content-type": "application/json"})
    streamed = assert_problem(r, 413)
    assert streamed == body  # the same problem, whether the length was declared or counted
    assert_problem(await api.client.post("/v1/auth/login", json={"username": "a", "password": "b"}), 401)


# --- 6. bounded error bodies ---------------------------------------------------------------------------------


async def test_validation_errors_are_bounded(api: Api) -> None:
    dev = await api.user("dev", role="developer")
    world = {f"k{i:05d}": 0 for i in range(3000)}
    r = await api.client.post("/v1/sessions", headers=dev, json={"name": "w", "max_players": 2, "world": world})
    body = assert_problem(r, 422)
    assert len(body["errors"]) == 20 and "3000 errors" in body["detail"] and len(r.content) < 8_000
    r = await api.client.post("/v1/sessions", headers=dev, json={"name": "n" * 60_000, "max_players": 2})
    assert all(len(e["msg"]) <= 200 for e in assert_problem(r, 422)["errors"])


# --- 7. lockout ----------------------------------------------------------------------------------------------


async def test_wrong_old_passwords_lock_the_account(api: Api) -> None:
    h = await api.user("victim")
    s = api.ctx.settings
    body = {"old_password": "guess-0000", "new_password": "new-password-1"}
    codes = [(await api.client.post("/v1/users/me/password", headers=h, json=body)).status_code for _ in range(6)]
    assert codes == [403] * s.lockout_failures + [423]
    right = {"old_password": "password-123", "new_password": "new-password-1"}
    assert_problem(await api.client.post("/v1/users/me/password", headers=h, json=right), 423)
    r = await api.client.post("/v1/auth/login", json={"username": "victim", "password": "password-123"})
    assert_problem(r, 423)  # the same lockout as failed logins


async def test_unknown_names_lock_like_registered_ones(api: Api) -> None:
    """7 bad logins used to tell whether a name is registered (423 only for real accounts)."""
    await api.user("realname")
    seen = {}
    for name in ("realname", "ghostname"):
        rs = [await api.client.post("/v1/auth/login", json={"username": name, "password": "bad"}) for _ in range(7)]
        seen[name] = [(r.status_code, r.json()["detail"], "Retry-After" in r.headers) for r in rs]
    assert seen["realname"] == seen["ghostname"]
    assert [c for c, _, _ in seen["ghostname"]] == [401] * 5 + [423] * 2
    r = await api.client.post("/v1/auth/login", json={"username": "GhostName", "password": "bad"})
    assert_problem(r, 423)  # the name is normalised


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_limiter_locks(kind: str) -> None:
    redis = Redis.from_url(REDIS_URL) if kind == "redis" else None
    limiter = RedisRateLimiter(redis, f"test-{uuid.uuid4().hex}") if redis is not None else MemoryRateLimiter()
    try:
        now = time.time()
        assert await limiter.locked("lockout", "n", now) is None
        await limiter.lock("lockout", "n", now + 30)
        assert 29 < (await limiter.locked("lockout", "n", now) or 0) <= 30
        assert await limiter.locked("lockout", "n", now + 31) is None
    finally:
        if redis is not None:
            await redis.aclose()


# --- 8. password hashing -------------------------------------------------------------------------------------


async def test_password_hashing_has_its_own_address_budget(configured: Any) -> None:
    async with configured(hash_attempts_per_minute=3) as api:
        bad = {"username": "nobody", "password": "x"}
        codes = [(await api.client.post("/v1/auth/login", json=bad)).status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]
        r = await api.client.post("/v1/auth/register", json={"username": "newbie", "password": "password-1"})
        assert_problem(r, 429)
        assert (await api.client.get("/healthz")).status_code == 200
        assert (await api.client.get("/v1/users/me")).status_code == 401  # the general budget is untouched


async def test_hashing_runs_in_its_own_bounded_pool(configured: Any) -> None:
    async with configured(hash_workers=1, hash_queue=1) as api:
        pw = api.ctx.passwords
        assert pw.executor._max_workers == 1
        name = await pw._run(lambda: threading.current_thread().name)
        assert name.startswith("mpgenie-hash")
        gate = threading.Event()
        busy = asyncio.ensure_future(pw._run(gate.wait))
        await asyncio.sleep(0.05)
        r = await api.client.post("/v1/auth/login", json={"username": "nobody", "password": "x"})
        assert_problem(r, 503)
        gate.set()
        await busy
        assert_problem(await api.client.post("/v1/auth/login", json={"username": "nobody", "password": "x"}), 401)
