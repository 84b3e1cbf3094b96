"""Property-based tests over the OpenAPI schema (schemathesis), on SQLite and on the real PostgreSQL server: no
server error, no response that violates the schema, and no valid request refused (positive data acceptance), for
anonymous calls and for calls with a valid admin token (every endpoint reachable).

The one thing JSON Schema cannot state is a rule between world fields (render distance under half the
circumference, ...): the schema's description lists them (``WORLD_RULES``), and the admin runs leave "valid"
bodies that break them out of the positive-data check (WorldConfig judges; its 422 is still held to the schema).
Limits that are state rather than shape (lockout, the hashing budget, session quotas) are raised out of the way
here; their own tests hold them.
"""

from __future__ import annotations

import asyncio
import atexit
import datetime as dt
import sqlite3
import tempfile
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from mpgenie.api.app import create_app
from mpgenie.api.security import issue_access_token
from mpgenie.api.settings import Settings
from mpgenie.world.config import ConfigError, WorldConfig

from .conftest import FAST_HASH, PG_URL

ADMIN, ADMIN_PASSWORD = "fuzzadmin", "fuzz-password-1"
UNLIMITED = {
    "rate_limit_per_minute": 1_000_000,
    "login_attempts_per_minute": 1_000_000,
    "account_rate_limit_per_minute": 1_000_000,
    "hash_attempts_per_minute": 1_000_000,
    "lockout_failures": 1_000_000,
    "max_active_sessions": 1_000_000,
    "max_open_sessions_per_account": 1_000_000,
}


def _settings(url: str) -> Settings:
    return Settings(
        database_url=url, bootstrap_admin=f"{ADMIN}:{ADMIN_PASSWORD}", log_json=True, **FAST_HASH, **UNLIMITED
    )


_db = Path(tempfile.mkdtemp(prefix="mpgenie-schemathesis-")) / "fuzz.db"
_sqlite = _settings(f"sqlite+aiosqlite:///{_db}")
_pg = _settings(PG_URL)
_pg_schema = f"fuzz_{uuid.uuid4().hex[:12]}"
_pg_dsn = PG_URL.replace("postgresql+asyncpg", "postgresql")


async def _pg_run(sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(_pg_dsn)
    try:
        return await conn.fetchrow(sql, *args)
    finally:
        await conn.close()


asyncio.run(_pg_run(f'CREATE SCHEMA "{_pg_schema}"'))
atexit.register(lambda: asyncio.run(_pg_run(f'DROP SCHEMA "{_pg_schema}" CASCADE')))

sqlite_app = create_app(_sqlite, run_matchmaker=False)
pg_app = create_app(_pg, schema=_pg_schema, run_matchmaker=False)


def _admin_sqlite() -> tuple[str, int]:
    with sqlite3.connect(_db) as conn:
        user_id, version = conn.execute("SELECT id, token_version FROM users WHERE username = ?", (ADMIN,)).fetchone()
    return str(user_id), int(version)


def _admin_pg() -> tuple[str, int]:
    row = asyncio.run(_pg_run(f'SELECT id, token_version FROM "{_pg_schema}".users WHERE username = $1', ADMIN))
    return str(row["id"]), int(row["token_version"])


def _admin_schema(app: Any, settings_: Settings, lookup: Any) -> Any:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)

    @schema.auth()
    class AdminToken:
        """A fresh access token of the bootstrap admin (read from the database the app created: a fuzzed call
        may change the admin's role or password, which revokes older tokens)."""

        def get(self, case: schemathesis.Case, ctx: schemathesis.AuthContext) -> str:
            user_id, version = lookup()
            return issue_access_token(settings_, user_id, "admin", version, dt.datetime.now(dt.UTC))

        def set(self, case: schemathesis.Case, data: str, ctx: schemathesis.AuthContext) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return schema


def breaks_world_rules(case: schemathesis.Case) -> bool:
    """Whether the body's world breaks a rule between fields, which the schema can only describe."""
    world = case.body.get("world") if isinstance(case.body, dict) else None
    if not isinstance(world, dict):
        return False
    try:
        WorldConfig.from_mapping({k: v for k, v in world.items() if v is not None})
    except (ConfigError, TypeError):
        return True
    return False


anonymous_sqlite = schemathesis.openapi.from_asgi("/openapi.json", sqlite_app)
anonymous_pg = schemathesis.openapi.from_asgi("/openapi.json", pg_app)
admin_sqlite = _admin_schema(sqlite_app, _sqlite, _admin_sqlite)
admin_pg = _admin_schema(pg_app, _pg, _admin_pg)

# Each case starts the app (its lifespan) afresh: 25 examples per operation keep all four runs to about a minute
# on two cores, and every run still covers every operation and the coverage phase's edge values.
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


@anonymous_sqlite.parametrize()
@FUZZ
def test_anonymous_calls_conform_sqlite(case: schemathesis.Case) -> None:
    case.call_and_validate(excluded_checks=[ignored_auth])


@anonymous_pg.parametrize()
@FUZZ
def test_anonymous_calls_conform_postgresql(case: schemathesis.Case) -> None:
    case.call_and_validate(excluded_checks=[ignored_auth])


@admin_sqlite.parametrize()
@FUZZ
def test_admin_calls_conform_sqlite(case: schemathesis.Case) -> None:
    case.call_and_validate(excluded_checks=[positive_data_acceptance] if breaks_world_rules(case) else [])


@admin_pg.parametrize()
@FUZZ
def test_admin_calls_conform_postgresql(case: schemathesis.Case) -> None:
    case.call_and_validate(excluded_checks=[positive_data_acceptance] if breaks_world_rules(case) else [])
