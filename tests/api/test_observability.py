"""Health, readiness (database and Redis), Prometheus metrics, JSON logs with correlation ids, rate limits."""

from __future__ import annotations

import json
import uuid

import pytest
from redis.asyncio import Redis

from mpgenie.api.db import make_engine
from mpgenie.api.ratelimit import MemoryRateLimiter, RedisRateLimiter
from mpgenie.net.presence import MemoryPresence, RedisPresence
from mpgenie.net.tickets import verify_ticket

from .conftest import REDIS_URL, Api, make_settings, running_api

pytestmark = pytest.mark.anyio


async def test_health_ready_metrics(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok", "checks": {}}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok"}
    await api.client.post("/v1/auth/login", json={"username": "x", "password": "y"})
    text = (await api.client.get("/metrics")).text
    assert 'mpgenie_api_requests_total{method="POST",route="/v1/auth/login",status="401"} 1.0' in text
    assert "mpgenie_api_request_duration_seconds_bucket" in text


async def test_readyz_reports_a_dead_database(api: Api) -> None:
    await api.ctx.engine.dispose()
    good = api.ctx.engine
    api.ctx.engine = make_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        r = await api.client.get("/readyz")
        assert r.status_code == 503 and r.json()["checks"]["database"].startswith("error")
    finally:
        await api.ctx.engine.dispose()
        api.ctx.engine = good


async def test_logs_are_json_with_the_request_id(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    dev = await api.user("dev", role="developer")
    sid = (await api.client.post("/v1/sessions", headers=dev, json={"name": "a", "max_players": 2})).json()["id"]
    capsys.readouterr()
    r = await api.client.post(f"/v1/sessions/{sid}/join", headers={**dev, "X-Request-ID": "corr-7"})
    assert r.headers["x-request-id"] == "corr-7"
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    mine = [line for line in lines if line.get("request_id") == "corr-7"]
    assert mine and mine[-1]["event"] == "request" and mine[-1]["status"] == 200
    assert verify_ticket(api.ctx.settings.join_secret, r.json()["ticket"], sid).correlation_id == "corr-7"
    odd = await api.client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert odd.headers["x-request-id"] != "bad id with spaces" and len(odd.headers["x-request-id"]) == 32


async def test_unhandled_errors_are_problems_without_traces(api: Api) -> None:
    async def boom() -> None:
        raise RuntimeError("secret internals")

    api.app.add_api_route("/boom", boom)
    r = await api.client.get("/boom", headers={"X-Request-ID": "boom-1"})
    assert r.status_code == 500 and r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["x-request-id"] == "boom-1"
    assert "secret internals" not in r.text and "Traceback" not in r.text


async def test_per_address_rate_limit_answers_429(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/rl.db", rate_limit_per_minute=5)
    async with running_api(settings) as api:
        codes = [
            (await api.client.post("/v1/auth/login", json={"username": "u", "password": "p"})).status_code
            for _ in range(7)
        ]
        assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
        r = await api.client.post("/v1/auth/login", json={"username": "u", "password": "p"})
        assert int(r.headers["Retry-After"]) >= 1 and r.json()["type"].endswith("/rate_limited")
        assert (await api.client.get("/healthz")).status_code == 200  # probes are not rate-limited


async def test_per_account_login_limit(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path}/rl2.db", login_attempts_per_minute=3, lockout_failures=100
    )
    async with running_api(settings) as api:
        codes = [
            (await api.client.post("/v1/auth/login", json={"username": "target", "password": "p"})).status_code
            for _ in range(4)
        ]
        assert codes == [401, 401, 401, 429]
        other = await api.client.post("/v1/auth/login", json={"username": "someone", "password": "p"})
        assert other.status_code == 401  # another account is not affected


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_limiters_count_per_key_and_window(kind: str) -> None:
    redis = Redis.from_url(REDIS_URL) if kind == "redis" else None
    limiter = RedisRateLimiter(redis, f"test-{uuid.uuid4().hex}") if redis is not None else MemoryRateLimiter()
    try:
        results = [await limiter.hit("ip", "1.2.3.4", 3, 60) for _ in range(5)]
        assert results[:3] == [None, None, None]
        assert all(r is not None and 0 < r <= 60 for r in results[3:])
        assert await limiter.hit("ip", "5.6.7.8", 3, 60) is None
    finally:
        if redis is not None:
            await redis.aclose()


async def test_api_with_real_redis(tmp_path) -> None:  # type: ignore[no-untyped-def]
    prefix = f"test-{uuid.uuid4().hex}"
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path}/r.db", redis_url=REDIS_URL, redis_prefix=prefix, rate_limit_per_minute=4
    )
    async with running_api(settings) as api:
        ready = (await api.client.get("/readyz")).json()
        assert ready["checks"] == {"database": "ok", "redis": "ok"}
        codes = [(await api.client.get("/v1/users/me")).status_code for _ in range(6)]
        assert codes == [401] * 4 + [429] * 2
        keys = await api.ctx.redis.keys(f"{prefix}:rl:*")  # type: ignore[union-attr]
        assert keys, "the counters live in Redis"


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_presence_stores(kind: str) -> None:
    redis = Redis.from_url(REDIS_URL) if kind == "redis" else None
    store = RedisPresence(redis, f"test-{uuid.uuid4().hex}") if redis is not None else MemoryPresence()
    try:
        await store.set("s1", "bob", True)
        await store.set("s1", "amy", True)
        await store.set("s2", "cat", True)
        assert await store.online("s1") == ["amy", "bob"]
        await store.set("s1", "bob", False)
        await store.set("s1", "nobody", False)
        assert await store.online("s1") == ["amy"] and await store.online("s3") == []
    finally:
        if redis is not None:
            await redis.aclose()


async def test_per_account_limit_on_signed_in_calls(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/acct.db", account_rate_limit_per_minute=3)
    async with running_api(settings) as api:
        h = await api.user("busy")
        codes = [(await api.client.get("/v1/users/me", headers=h)).status_code for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429]


async def test_redis_outage_fails_open_and_readyz_says_so(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/ro.db", redis_url="redis://127.0.0.1:1/0")
    async with running_api(settings) as api:
        assert (await api.client.post("/v1/auth/login", json={"username": "x", "password": "y"})).status_code == 401
        ready = await api.client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["redis"].startswith("error")
