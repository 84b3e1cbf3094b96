"""The API and a realtime node as two halves that share nothing but Redis (as two processes would; here two
platforms in one event loop, so the test is quick): placement names the node, presence and kicks reach the API,
ending or deleting a session closes its world on the node. What README called "not wired across processes"."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import httpx
import msgspec
from redis.asyncio import Redis
from sqlalchemy import select

from mpgenie.api.models import AuditEvent
from mpgenie.api.settings import Settings
from mpgenie.net.client import GameClient
from mpgenie.net.connections import ServerSettings
from mpgenie.net.server import new_event_loop
from mpgenie.platform import NodeOptions, start_platform, stop_platform
from mpgenie.world import WorldConfig
from tests.ports import free_port

REDIS_URL = os.environ.get("MPGENIE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET = "split-platform-test-secret-0123456789-abc"


async def _wait(predicate: object, timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await predicate():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def _scenario(tmp: Path, prefix: str) -> None:
    base = {
        "join_secret": SECRET,
        "redis_url": REDIS_URL,
        "redis_prefix": prefix,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 64,
    }
    port = free_port()
    node = await start_platform(
        Settings(**base),  # type: ignore[arg-type]
        WorldConfig(seed=1),
        ServerSettings(join_secret=SECRET, kick_violations=5),
        realtime_port=port,
        with_api=False,
        node=NodeOptions(f"ws://127.0.0.1:{port}/ws", capacity=50),
    )
    api = await start_platform(
        Settings(database_url=f"sqlite+aiosqlite:///{tmp}/p.db", bootstrap_admin="boss:boss-password-1", **base),  # type: ignore[arg-type]
        WorldConfig(seed=1),
        ServerSettings(join_secret=SECRET),
        api_port=free_port(),
        with_realtime=False,
    )
    assert node.realtime is not None and node.node is not None and api.api_url is not None
    rt = node.realtime
    try:
        async with httpx.AsyncClient(base_url=api.api_url) as http:
            boss = (await http.post("/v1/auth/login", json={"username": "boss", "password": "boss-password-1"})).json()
            admin = {"Authorization": f"Bearer {boss['access_token']}"}
            sid = (await http.post("/v1/sessions", headers=admin, json={"name": "a", "max_players": 4})).json()["id"]
            await http.post("/v1/auth/register", json={"username": "ann", "password": "ann-password"})
            ann = (await http.post("/v1/auth/login", json={"username": "ann", "password": "ann-password"})).json()
            auth = {"Authorization": f"Bearer {ann['access_token']}"}
            ann_id = (await http.get("/v1/users/me", headers=auth)).json()["id"]

            join = (await http.post(f"/v1/sessions/{sid}/join", headers=auth)).json()
            assert join["realtime_url"] == node.node.url  # the ticket names the node the session is placed on
            client = GameClient(join["realtime_url"], join["ticket"])
            await client.connect()
            await client.next_snapshot()

            async def online() -> list[str]:
                return (await http.get(f"/v1/sessions/{sid}/presence", headers=auth)).json()["online"]  # type: ignore[no-any-return]

            await _wait(lambda: _eq(online, [ann_id]))  # written by the node, read by the API

            for _ in range(8):  # a kick on the node lands in the API's audit log
                client.send_raw(msgspec.msgpack.encode(["in", "bad"]))
            await asyncio.wait_for(client.disconnected.wait(), 5)
            ctx = api.api.config.app.state.ctx  # type: ignore[union-attr]

            async def kicked() -> bool:
                async with ctx.sessions() as db:
                    rows = (await db.execute(select(AuditEvent).where(AuditEvent.event == "kick"))).scalars().all()
                return [r.subject for r in rows] == [ann_id]

            await _wait(kicked)
            await _wait(lambda: _eq(online, []))

            again = (await http.post(f"/v1/sessions/{sid}/join", headers=auth)).json()
            client2 = GameClient(again["realtime_url"], again["ticket"])
            await client2.connect()
            assert (await http.post(f"/v1/sessions/{sid}/end", headers=admin)).json()["status"] == "completed"
            await asyncio.wait_for(client2.disconnected.wait(), 5)  # the node closed the world (pub/sub)
            assert client2.state.goodbye == "shutdown" and sid not in rt.router.cores

            other = (await http.post("/v1/sessions", headers=admin, json={"name": "b", "max_players": 2})).json()["id"]
            t = (await http.post(f"/v1/sessions/{other}/join", headers=auth)).json()
            c3 = GameClient(t["realtime_url"], t["ticket"])
            await c3.connect()
            await _wait(lambda: _has_checkpoint(ctx, other))  # the node checkpoints it while it runs
            assert (await http.delete(f"/v1/sessions/{other}", headers=admin)).status_code == 204
            await asyncio.wait_for(c3.disconnected.wait(), 5)
            assert other not in rt.router.cores
            assert await ctx.registry.checkpoint(other) is None and await ctx.registry.placement(other) is None
    finally:
        await stop_platform(api)
        await stop_platform(node)


async def _eq(fn: object, expected: object) -> bool:
    return await fn() == expected  # type: ignore[operator,no-any-return]


async def _has_checkpoint(ctx: object, sid: str) -> bool:
    return await ctx.registry.checkpoint(sid) is not None  # type: ignore[attr-defined,no-any-return]


def test_api_and_node_in_separate_halves_talk_through_redis(tmp_path: Path) -> None:
    prefix = f"test-split-{uuid.uuid4().hex[:10]}"
    loop = new_event_loop()
    try:
        loop.run_until_complete(_scenario(tmp_path, prefix))
    finally:
        loop.close()

        async def clean() -> None:
            redis = Redis.from_url(REDIS_URL)
            keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
            if keys:
                await redis.delete(*keys)
            await redis.aclose()

        asyncio.run(clean())
