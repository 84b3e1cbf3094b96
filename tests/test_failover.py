"""Many realtime nodes with failover, as deployed: real processes on loopback, the real Redis.

The API (``serve --no-realtime``) and two realtime nodes (``serve --no-api --node-url``) share a Redis prefix.
Twenty SDK clients play in two sessions, which the API places on different nodes. One node is killed with
SIGKILL; each of its clients notices the dead connection, asks the API for a new ticket (which now names the live
node) and takes its player back there. The test holds the whole promise: every client plays again within 5 s, on
the other node, as the same player; the restored world is exactly the dead node's last checkpoint; nobody is lost;
the dead node and its sessions are gone from the registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis

from mpgenie.net import protocol as p
from mpgenie.net.client import GameClient
from mpgenie.net.core import ServerCore
from mpgenie.net.registry import NodeRegistry
from mpgenie.world import Action, World
from tests.ports import free_port

REDIS_URL = os.environ.get("MPGENIE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET = "failover-test-join-secret-0123456789-abcdef"
PASSWORD = "bot-password-123"
BOTS = 20
FAILOVER_LIMIT_S = 5.0


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=2) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Any
    port: int

    def output(self) -> str:
        self.log.seek(0)
        return str(self.log.read().decode(errors="replace")[-3000:])


def _spawn(name: str, args: list[str], env: dict[str, str], port: int) -> Child:
    log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "mpgenie.cli", "serve", "--quiet", *args], env=env, stdout=log, stderr=log
    )
    return Child(name, proc, log, port)


def _wait_ready(children: list[Child], probes: dict[str, str], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    waiting = dict(probes)
    while waiting and time.monotonic() < deadline:
        for c in children:
            if c.proc.poll() is not None:
                raise AssertionError(f"{c.name} exited: {c.output()}")
        for name, url in list(waiting.items()):
            with contextlib.suppress(OSError, ValueError):
                _get(url)
                del waiting[name]
        time.sleep(0.2)
    assert not waiting, f"not ready: {sorted(waiting)}"


@dataclass
class Bot:
    """One player: an account, its API token, and a GameClient that rejoins through the API when its node dies."""

    name: str
    session: str
    token: str
    user_id: str = ""
    client: GameClient | None = None
    players: list[int] = field(default_factory=list)  # the player id of each welcome
    urls: list[str] = field(default_factory=list)  # the node of each welcome
    resumed: list[bool] = field(default_factory=list)
    dropped_at: float | None = None
    playing_again_at: float | None = None  # first input applied on the new node after the drop
    seq_at_rejoin: int = 0

    async def join(self, http: httpx.AsyncClient) -> tuple[str, str]:
        r = await http.post(f"/v1/sessions/{self.session}/join", headers={"Authorization": f"Bearer {self.token}"})
        r.raise_for_status()
        body = r.json()
        return body["realtime_url"], body["ticket"]

    def on_snapshot(self, client: GameClient, snap: p.Snapshot) -> None:
        if self.dropped_at is not None and self.playing_again_at is None and snap.ack_seq > self.seq_at_rejoin:
            self.playing_again_at = time.monotonic()

    def welcomed(self, welcome: p.Welcome, url: str) -> None:
        self.players.append(welcome.player)
        self.urls.append(url)
        self.resumed.append(welcome.resumed)

    async def play(self, http: httpx.AsyncClient, stop: asyncio.Event) -> None:
        url, ticket = await self.join(http)
        self.client = GameClient(url, ticket, predict=False, track_entities=False, on_snapshot=self.on_snapshot)
        self.welcomed(await self.client.connect(), url)
        k = 0
        while not stop.is_set():
            if self.client.connected:
                k += 1
                self.client.send_input(int(Action.FORWARD if k % 20 else Action.TURN_LEFT), paced=False)
                await asyncio.sleep(0.05)
                continue
            if self.dropped_at is None:
                self.dropped_at = time.monotonic()
            try:  # the API's ticket names the session's node: the dead one until the registry notices
                url, ticket = await self.join(http)
                self.seq_at_rejoin = self.client.state.seq
                self.welcomed(await self.client.reconnect(url, ticket, timeout=2.0), url)
            except (OSError, ConnectionError, httpx.HTTPError, TimeoutError):
                await asyncio.sleep(0.2)
        await self.client.close()


async def _scenario(api_url: str, nodes: dict[str, Child], prefix: str) -> dict[str, Any]:
    redis = Redis.from_url(REDIS_URL)
    registry = NodeRegistry(redis, prefix)
    stop = asyncio.Event()
    try:
        deadline = time.monotonic() + 30
        while len(await registry.nodes()) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        live = {n.url: n for n in await registry.nodes()}
        assert len(live) == 2
        async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
            r = await http.post("/v1/auth/login", json={"username": "boss", "password": "boss-password-1"})
            admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
            sessions = []
            for k in range(2):
                r = await http.post(
                    "/v1/sessions",
                    headers=admin,
                    json={"name": f"arena-{k}", "max_players": BOTS, "world": {"seed": 7 + k, "radius": 30.0}},
                )
                r.raise_for_status()
                sessions.append(r.json()["id"])

            async def account(i: int) -> Bot:
                name = f"bot{i}-{prefix[-6:]}"
                (await http.post("/v1/auth/register", json={"username": name, "password": PASSWORD})).raise_for_status()
                r = await http.post("/v1/auth/login", json={"username": name, "password": PASSWORD})
                r.raise_for_status()
                token = r.json()["access_token"]
                me = (await http.get("/v1/users/me", headers={"Authorization": f"Bearer {token}"})).json()
                return Bot(name, sessions[i % 2], token, user_id=me["id"])

            bots = list(await asyncio.gather(*(account(i) for i in range(BOTS))))
            runs = [asyncio.ensure_future(b.play(http, stop)) for b in bots]
            deadline = time.monotonic() + 20
            while any(not b.players for b in bots) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert all(b.players for b in bots), "not every bot joined"
            node_of = {s: next(b.urls[0] for b in bots if b.session == s) for s in sessions}
            assert len(set(node_of.values())) == 2, "the two sessions should be placed on different nodes"
            await asyncio.sleep(2.5)  # play; the nodes checkpoint every second

            victim_url = node_of[sessions[0]]
            victim = nodes[victim_url]
            survivor_url = node_of[sessions[1]]
            victim_id = live[victim_url].id
            killed_at = time.monotonic()
            victim.proc.send_signal(signal.SIGKILL)
            victim.proc.wait(5)
            last = await registry.checkpoint(sessions[0])  # the dead node's last word on its session
            assert last is not None
            ckpt = ServerCore.read_checkpoint(last)
            world = World.restore(None, ckpt.world)

            moved = [b for b in bots if b.session == sessions[0]]
            deadline = killed_at + 15
            while any(b.playing_again_at is None for b in moved) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            back_s = [(b.playing_again_at or float("inf")) - killed_at for b in moved]
            await asyncio.sleep(0.5)
            stats = _get(f"http://127.0.0.1:{nodes[survivor_url].port}/stats")
            registry_after = {
                "nodes": {m.decode() for m in await redis.smembers(registry.key("nodes"))},  # type: ignore[misc]
                "dead_sessions": await redis.exists(registry.key("node", victim_id, "sessions")),
                "placement": await registry.placement(sessions[0]),
                "survivor": live[survivor_url].id,
            }
            stop.set()
            await asyncio.gather(*runs, return_exceptions=True)
            return {
                "bots": bots,
                "moved": moved,
                "sessions": sessions,
                "back_s": back_s,
                "victim_url": victim_url,
                "survivor_url": survivor_url,
                "victim_id": victim_id,
                "checkpoint": ckpt,
                "checkpoint_digest": world.digest(),
                "checkpoint_tick": world.tick,
                "stats": stats,
                "registry": registry_after,
            }
    finally:
        stop.set()
        keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


def test_killing_a_node_moves_its_players_to_the_live_node(tmp_path: Path) -> None:
    prefix = f"test-failover-{uuid.uuid4().hex[:10]}"
    api_port = free_port()
    ports = [free_port(), free_port()]
    env = {
        **os.environ,
        "MPGENIE_REDIS_PREFIX": prefix,
        "MPGENIE_JOIN_SECRET": SECRET,
        "MPGENIE_BOOTSTRAP_ADMIN": "boss:boss-password-1",
        "MPGENIE_ARGON2_TIME_COST": "1",
        "MPGENIE_ARGON2_MEMORY_KIB": "64",
        "MPGENIE_HASH_ATTEMPTS_PER_MINUTE": "100000",
        "MPGENIE_RATE_LIMIT_PER_MINUTE": "100000",
        "MPGENIE_ACCOUNT_RATE_LIMIT_PER_MINUTE": "100000",
    }
    common = ["--redis-url", REDIS_URL]
    api = _spawn(
        "api",
        [
            "--no-realtime",
            "--api-port",
            str(api_port),
            "--database-url",
            f"sqlite+aiosqlite:///{tmp_path}/api.db",
            *common,
        ],
        env,
        api_port,
    )
    nodes = {
        f"ws://127.0.0.1:{port}/ws": _spawn(
            f"node-{k}",
            ["--no-api", "--port", str(port), "--node-url", f"ws://127.0.0.1:{port}/ws", *common],
            env,
            port,
        )
        for k, port in enumerate(ports)
    }
    children = [api, *nodes.values()]
    try:
        _wait_ready(
            children,
            {
                "api": f"http://127.0.0.1:{api_port}/readyz",
                **{c.name: f"http://127.0.0.1:{c.port}/healthz" for c in nodes.values()},
            },
        )
        result = asyncio.run(_scenario(f"http://127.0.0.1:{api_port}", nodes, prefix))
    finally:
        for c in children:
            if c.proc.poll() is None:
                c.proc.terminate()
        for c in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                c.proc.wait(15)
            if c.proc.poll() is None:
                c.proc.kill()
    moved: list[Bot] = result["moved"]
    # Every client of the dead node plays again within 5 s of the kill, on the live node, as the same player.
    print(f"failover: players back {min(result['back_s']):.2f}..{max(result['back_s']):.2f} s after kill -9")
    assert max(result["back_s"]) < FAILOVER_LIMIT_S, result["back_s"]
    for b in moved:
        assert b.urls[-1] == result["survivor_url"] and b.urls[0] == result["victim_url"]
        assert b.resumed[-1] and b.players[-1] == b.players[0], (b.name, b.players, b.resumed)
    # The restored world is the dead node's last checkpoint, and it holds every player of the session.
    ckpt = result["checkpoint"]
    restored = [r for r in result["stats"]["restored"] if r["session"] == result["sessions"][0]]
    assert len(restored) == 1
    assert restored[0]["digest"] == result["checkpoint_digest"]
    assert restored[0]["tick"] == result["checkpoint_tick"] and restored[0]["players"] == len(moved)
    assert {cp.subject for cp in ckpt.players} == {b.user_id for b in moved}
    assert {cp.player for cp in ckpt.players} == {b.players[0] for b in moved}
    assert result["stats"]["session_players"][result["sessions"][0]] == len(moved)
    assert result["stats"]["session_players"][result["sessions"][1]] == BOTS - len(moved)  # never disturbed
    # The bots of the other session never noticed.
    for b in result["bots"]:
        if b not in moved:
            assert b.dropped_at is None and len(b.players) == 1
    # The registry forgot the dead node; the session is placed on the survivor.
    reg = result["registry"]
    assert reg["nodes"] == {reg["survivor"]} and not reg["dead_sessions"] and reg["placement"] == reg["survivor"]


def test_node_flags_refuse_what_cannot_work() -> None:
    from typer.testing import CliRunner  # noqa: PLC0415 - only this test drives the CLI in-process

    from mpgenie.cli import app  # noqa: PLC0415

    runner = CliRunner()
    cases = {
        ("--no-api", "--node-url", "ws://127.0.0.1:7777/ws"): "needs --redis-url",
        ("--no-realtime", "--node-url", "ws://127.0.0.1:7777/ws", "--redis-url", REDIS_URL): "not with --no-realtime",
        ("--no-api", "--node-url", "http://127.0.0.1:7777/ws", "--redis-url", REDIS_URL): "ws:// or wss://",
        ("--no-api", "--node-url", "ws://h/ws", "--redis-url", REDIS_URL, "--checkpoint-interval", "0"): "interval",
    }
    for args, message in cases.items():
        result = runner.invoke(app, ["serve", *args])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
