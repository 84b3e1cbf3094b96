"""The Alembic migrations build exactly the ORM's tables, on SQLite and on PostgreSQL; downgrade works too."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from mpgenie.api.db import alembic_config, make_engine, migrate
from mpgenie.api.models import Base

pytestmark = pytest.mark.anyio


async def test_migrations_match_the_models(database: tuple[str, str | None]) -> None:
    url, schema = database
    engine = make_engine(url, schema)
    try:
        await migrate(engine)
        await migrate(engine)  # idempotent

        def diff(conn: Connection) -> list[object]:
            return compare_metadata(MigrationContext.configure(conn), Base.metadata)  # type: ignore[no-any-return]

        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []

        def down(conn: Connection) -> list[str]:
            command.downgrade(alembic_config(conn), "base")
            return [t for t in inspect(conn).get_table_names() if t != "alembic_version"]

        async with engine.begin() as conn:
            assert await conn.run_sync(down) == []
    finally:
        await engine.dispose()
