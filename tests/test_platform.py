"""The API and the realtime server in one process: API-issued tickets are the way in, for that session's world."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

import httpx
import jwt
import msgspec
import pytest
from sqlalchemy import select

from mpgenie.api.models import AuditEvent
from mpgenie.api.settings import Settings
from mpgenie.net.client import GameClient
from mpgenie.net.connections import ServerSettings
from mpgenie.net.server import new_event_loop
from mpgenie.net.tickets import issue_ticket
from mpgenie.platform import NodeOptions, _ticket_url, start_platform, stop_platform
from mpgenie.world import WorldConfig
from tests.ports import free_port


async def _scenario(tmp: Path) -> None:
    secret = "platform-test-secret-long-enough-0123456789"
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp}/p.db",
        join_secret=secret,
        bootstrap_admin="boss:boss-password-1",
        argon2_time_cost=1,
        argon2_memory_kib=64,
    )
    platform = await start_platform(
        settings,
        WorldConfig(seed=1),
        # Not a test of admission control: a loaded CI machine once refused this join at 17.8 of 20 Hz.
        ServerSettings(join_secret=secret, kick_violations=5, saturation=0.5),
        realtime_port=0,
        api_port=free_port(),
    )
    assert platform.realtime is not None and platform.api_url is not None
    try:
        async with httpx.AsyncClient(base_url=platform.api_url) as http:
            boss = (await http.post("/v1/auth/login", json={"username": "boss", "password": "boss-password-1"})).json()
            admin = {"Authorization": f"Bearer {boss['access_token']}"}
            created = await http.post(
                "/v1/sessions",
                headers=admin,
                json={"name": "arena", "max_players": 4, "world": {"seed": 5, "radius": 40.0}},
            )
            sid = created.json()["id"]
            await http.post("/v1/auth/register", json={"username": "ann", "password": "ann-password"})
            ann = (await http.post("/v1/auth/login", json={"username": "ann", "password": "ann-password"})).json()
            join = await http.post(
                f"/v1/sessions/{sid}/join",
                headers={"Authorization": f"Bearer {ann['access_token']}", "X-Request-ID": "trace-from-http"},
            )
            body = join.json()
            assert body["realtime_url"] == platform.realtime.url

            client = GameClient(body["realtime_url"], body["ticket"])
            welcome = await client.connect()
            assert welcome.config["seed"] == 5 and welcome.config["radius"] == 40.0  # the session's own world
            core = platform.realtime.router.cores[sid]
            assert welcome.player in core.by_player and core.by_player[welcome.player].subject == ann_id(ann)
            await client.next_snapshot()
            ann_auth = {"Authorization": f"Bearer {ann['access_token']}"}
            online = (await http.get(f"/v1/sessions/{sid}/presence", headers=ann_auth)).json()["online"]
            assert online == [ann_id(ann)]

            # Anything but an API ticket is refused: another secret, an expired ticket, no ticket.
            for token in (
                issue_ticket("some-other-secret-which-is-long-enough-000", "eve", sid),
                issue_ticket(secret, "eve", sid, ttl_s=-5),
                "",
            ):
                intruder = GameClient(platform.realtime.url, token)
                try:
                    await intruder.connect(timeout=3)
                    raise AssertionError("a bad ticket was accepted")
                except ConnectionError:
                    assert intruder.state.errors[-1].code == "auth_failed"

            # A kick shows up in the API's audit log.
            for _ in range(8):
                client.send_raw(msgspec.msgpack.encode(["in", "bad"]))
            await asyncio.wait_for(client.disconnected.wait(), 5)
            assert client.state.errors[-1].code == "kicked"
            await asyncio.sleep(0.2)
            ctx = platform.api.config.app.state.ctx  # type: ignore[union-attr]
            async with ctx.sessions() as db:
                kicks = (await db.execute(select(AuditEvent).where(AuditEvent.event == "kick"))).scalars().all()
            assert [k.subject for k in kicks] == [ann_id(ann)]
            assert (await http.get(f"/v1/sessions/{sid}/presence", headers=ann_auth)).json()["online"] == []

            # Rejoin, then the API ends the session: the world closes and says goodbye.
            again = await http.post(
                f"/v1/sessions/{sid}/join", headers={"Authorization": f"Bearer {ann['access_token']}"}
            )
            client2 = GameClient(platform.realtime.url, again.json()["ticket"])
            await client2.connect()
            ended = await http.post(f"/v1/sessions/{sid}/end", headers=admin)
            assert ended.json()["status"] == "completed"
            await asyncio.wait_for(client2.disconnected.wait(), 5)
            assert client2.state.goodbye == "shutdown" and sid not in platform.realtime.router.cores
            # Its still-valid ticket opens nothing now: an ended session is not recreated.
            late = GameClient(platform.realtime.url, again.json()["ticket"])
            try:
                await late.connect(timeout=3)
                raise AssertionError("an ended session came back")
            except ConnectionError:
                assert late.state.errors[-1].code == "auth_failed"
            assert sid not in platform.realtime.router.cores

            # Deleting a session closes its world too.
            other = await http.post("/v1/sessions", headers=admin, json={"name": "gone", "max_players": 2})
            oid = other.json()["id"]
            t = await http.post(f"/v1/sessions/{oid}/join", headers={"Authorization": f"Bearer {ann['access_token']}"})
            c3 = GameClient(platform.realtime.url, t.json()["ticket"])
            await c3.connect()
            assert (await http.delete(f"/v1/sessions/{oid}", headers=admin)).status_code == 204
            await asyncio.wait_for(c3.disconnected.wait(), 5)
            assert oid not in platform.realtime.router.cores

            metrics = (await http.get("/metrics")).text
            assert "mpgenie_api_requests_total" in metrics and "mpgenie_tick_duration_seconds_bucket" in metrics

            # The default session still takes development tickets (`mpgenie ticket`) signed with the same secret.
            dev = GameClient(platform.realtime.url, issue_ticket(secret, "local-tester"))
            assert (await dev.connect()).player >= 0
            await dev.close()
    finally:
        await stop_platform(platform)


def ann_id(tokens: dict[str, str]) -> str:
    return str(jwt.decode(tokens["access_token"], options={"verify_signature": False})["sub"])


def test_api_tickets_open_the_realtime_session(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    loop = new_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(_scenario(tmp_path), 60))
    finally:
        loop.close()
    # The request id of the HTTP join reaches the realtime server's log line for that join.
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    joined = [x for x in lines if x.get("event") == "player joined" and x.get("request_id") == "trace-from-http"]
    assert len(joined) == 1 and joined[0]["session"] != "default"


async def _configured_url_scenario(tmp: Path) -> None:
    secret = "platform-test-secret-long-enough-0123456789"
    public = "wss://play.example.com/ws"
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp}/u.db",
        join_secret=secret,
        realtime_url=public,  # as MPGENIE_REALTIME_URL would set it
        bootstrap_admin="boss:boss-password-1",
        argon2_time_cost=1,
        argon2_memory_kib=64,
    )
    platform = await start_platform(
        settings,
        WorldConfig(seed=1),
        ServerSettings(join_secret=secret),
        host="127.0.0.1",
        realtime_port=0,
        api_port=free_port(),
    )
    assert platform.realtime is not None and platform.api_url is not None
    try:
        async with httpx.AsyncClient(base_url=platform.api_url) as http:
            boss = (await http.post("/v1/auth/login", json={"username": "boss", "password": "boss-password-1"})).json()
            admin = {"Authorization": f"Bearer {boss['access_token']}"}
            sid = (await http.post("/v1/sessions", headers=admin, json={"name": "u", "max_players": 2})).json()["id"]
            body = (await http.post(f"/v1/sessions/{sid}/join", headers=admin)).json()
            assert body["realtime_url"] == public != platform.realtime.url  # not the bind address
    finally:
        await stop_platform(platform)


def test_a_configured_realtime_url_wins_over_the_bind_address(tmp_path: Path) -> None:
    """Regression: in one process the API handed out the realtime server's bind address (``ws://0.0.0.0:7777/ws``
    in a container) even with ``MPGENIE_REALTIME_URL`` set."""
    loop = new_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(_configured_url_scenario(tmp_path), 60))
    finally:
        loop.close()


def test_ticket_url_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    """A configured URL, else the node's public ``--node-url``, else the bind address (the default, unchanged)."""
    monkeypatch.delenv("MPGENIE_REALTIME_URL", raising=False)
    realtime = SimpleNamespace(url="ws://0.0.0.0:7777/ws")
    node = NodeOptions("ws://rt1.example:7777/ws")
    configured = Settings(realtime_url="wss://play.example.com/ws")
    assert _ticket_url(Settings(), realtime, None) == "ws://0.0.0.0:7777/ws"  # type: ignore[arg-type]
    assert _ticket_url(Settings(), realtime, node) == node.url  # type: ignore[arg-type]
    assert _ticket_url(configured, realtime, node) == "wss://play.example.com/ws"  # type: ignore[arg-type]
    copied = configured.model_copy(update={"node_placement": True})  # as start_platform copies it
    assert _ticket_url(copied, realtime, None) == "wss://play.example.com/ws"  # type: ignore[arg-type]
