"""API fixtures: the app over httpx's ASGI transport, on SQLite and on the real PostgreSQL server (a fresh schema
per test, so xdist workers never meet), with a controllable clock and cheap password hashing."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from mpgenie.api.app import create_app
from mpgenie.api.deps import AppContext
from mpgenie.api.models import User
from mpgenie.api.settings import Settings

PG_URL = os.environ.get("MPGENIE_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("MPGENIE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
FAST_HASH = {"argon2_time_cost": 1, "argon2_memory_kib": 64}
# Tests of other things create many accounts from one address and many sessions with one account; the tests of
# those limits set the values they test.
ROOMY = {"max_open_sessions_per_account": 100, "hash_attempts_per_minute": 100_000}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _pg(sql: str) -> None:
    conn = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[tuple[str, str | None]]:
    """(database URL, schema) for each backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/api.db", None
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg(f'CREATE SCHEMA "{schema}"'))
    try:
        yield PG_URL, schema
    finally:
        asyncio.run(_pg(f'DROP SCHEMA "{schema}" CASCADE'))


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient
    clock: Clock

    @property
    def ctx(self) -> AppContext:
        return self.app.state.ctx  # type: ignore[no-any-return]

    async def user(self, name: str, role: str = "player", password: str = "password-123") -> dict[str, str]:
        """Register (and promote) a user; returns Authorization headers with a fresh access token."""
        r = await self.client.post("/v1/auth/register", json={"username": name, "password": password})
        assert r.status_code == 201, r.text
        if role != "player":
            async with self.ctx.sessions() as db:
                user = await db.get(User, r.json()["id"])
                assert user is not None
                user.role = role
                await db.commit()
        return await self.login(name, password)

    async def login(self, name: str, password: str = "password-123") -> dict[str, str]:
        r = await self.client.post("/v1/auth/login", json={"username": name, "password": password})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


def make_settings(url: str, **overrides: Any) -> Settings:
    return Settings(database_url=url, log_json=True, **{**FAST_HASH, **ROOMY, **overrides})


@pytest.fixture
async def api(database: tuple[str, str | None]) -> AsyncIterator[Api]:
    url, schema = database
    async with running_api(make_settings(url), schema) as a:
        yield a


class running_api:  # noqa: N801 - used like a function
    def __init__(self, settings: Settings, schema: str | None = None, **kwargs: Any) -> None:
        self.app = create_app(settings, schema=schema, run_matchmaker=False, **kwargs)
        self.clock = Clock()
        self._lifespan = self.app.router.lifespan_context(self.app)

    async def __aenter__(self) -> Api:
        await self._lifespan.__aenter__()
        self.app.state.ctx.clock = self.clock
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, raise_app_exceptions=False), base_url="http://test"
        )
        return Api(self.app, self.client, self.clock)

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()
        await self._lifespan.__aexit__(None, None, None)
