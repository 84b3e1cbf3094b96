"""``mpgenie bench api``: login and join throughput of the platform API over real HTTP.

The API runs in a child process (``mpgenie serve --no-realtime``, one uvicorn worker) on SQLite by default or on
the database given; this process registers ``users`` accounts, then drives ``concurrency`` concurrent clients:
logins for ``duration`` seconds, then session joins for ``duration`` seconds (each user's first join takes a
seat, later ones re-issue a ticket). Password hashing is the deployed argon2id setting unless overridden.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import numpy as np

from mpgenie.api.settings import Settings
from mpgenie.bench.loadtest import free_port, spawn_until_ready
from mpgenie.errors import UsageError
from mpgenie.net.server import new_event_loop

ADMIN = "bench-admin"
# bandit B105: accounts of a throw-away benchmark database
PASSWORD = "bench-password-1"  # nosec B105


async def _pg(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _start_api(database_url: str, env_overrides: dict[str, str]) -> tuple[subprocess.Popen[bytes], str, Any]:
    port = free_port()
    env = {
        **os.environ,
        "MPGENIE_BOOTSTRAP_ADMIN": f"{ADMIN}:{PASSWORD}",
        "MPGENIE_RATE_LIMIT_PER_MINUTE": "100000000",
        "MPGENIE_LOGIN_ATTEMPTS_PER_MINUTE": "100000000",
        "MPGENIE_ACCOUNT_RATE_LIMIT_PER_MINUTE": "100000000",
        "MPGENIE_HASH_ATTEMPTS_PER_MINUTE": "100000000",  # every bench login comes from this one address
        **env_overrides,
    }
    cmd = [
        sys.executable,
        "-m",
        "mpgenie.cli",
        "serve",
        "--no-realtime",
        "--api-port",
        str(port),
        "--quiet",
        "--database-url",
        database_url,
    ]
    base = f"http://127.0.0.1:{port}"
    proc, log = spawn_until_ready(cmd, env, f"{base}/readyz", "API")
    return proc, base, log


async def _drive(
    concurrency: int, duration: float, request: Callable[[int], Awaitable[httpx.Response]]
) -> tuple[int, int, list[float], float]:
    """Run ``request(i)`` from ``concurrency`` workers for ``duration`` s: (ok, failed, latencies, elapsed)."""
    latencies: list[float] = []
    failed = 0
    counter = 0
    end = time.monotonic() + duration

    async def worker() -> None:
        nonlocal failed, counter
        while time.monotonic() < end:
            i = counter
            counter += 1
            t0 = time.perf_counter()
            r = await request(i)
            if r.status_code == 200:
                latencies.append(time.perf_counter() - t0)
            else:
                failed += 1

    start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(latencies), failed, latencies, time.monotonic() - start


async def _bench(base: str, users: int, concurrency: int, duration: float) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        gate = asyncio.Semaphore(concurrency)

        async def register(i: int) -> None:
            async with gate:
                await http.post("/v1/auth/register", json={"username": f"bench-{i}", "password": PASSWORD})

        await asyncio.gather(*(register(i) for i in range(users)))
        r = await http.post("/v1/auth/login", json={"username": ADMIN, "password": PASSWORD})
        admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
        r = await http.post("/v1/sessions", headers=admin, json={"name": "bench", "max_players": 5000})
        session_id = r.json()["id"]

        tokens: dict[int, str] = {}

        async def login(i: int) -> httpx.Response:
            user = i % users
            r = await http.post("/v1/auth/login", json={"username": f"bench-{user}", "password": PASSWORD})
            if r.status_code == 200:
                tokens[user] = r.json()["access_token"]
            return r

        ok_l, fail_l, lat_l, el_l = await _drive(concurrency, duration, login)

        token_list = list(tokens.values())

        async def join(i: int) -> httpx.Response:
            token = token_list[i % len(token_list)] if token_list else ""
            return await http.post(f"/v1/sessions/{session_id}/join", headers={"Authorization": f"Bearer {token}"})

        ok_j, fail_j, lat_j, el_j = await _drive(concurrency, duration, join)

    def ms(values: list[float], q: float) -> float:
        return float(np.percentile(np.asarray(values) * 1e3, q)) if values else float("nan")

    return {
        "users": users,
        "concurrency": concurrency,
        "login_rps": ok_l / el_l,
        "login_failed": fail_l,
        "login_ms_p50": ms(lat_l, 50),
        "login_ms_p99": ms(lat_l, 99),
        "join_rps": ok_j / el_j,
        "join_failed": fail_j,
        "join_ms_p50": ms(lat_j, 50),
        "join_ms_p99": ms(lat_j, 99),
        "p99_ms": max(ms(lat_l, 99), ms(lat_j, 99)),
    }


def bench_api(
    users: int = 200,
    concurrency: int = 32,
    duration: float = 10.0,
    database_url: str | None = None,
    argon2_memory_kib: int | None = None,
    argon2_time_cost: int | None = None,
) -> dict[str, Any]:
    if users < 1 or concurrency < 1 or duration <= 0:
        raise UsageError("users and concurrency must be >= 1, duration > 0")
    workdir = Path(tempfile.mkdtemp(prefix="mpgenie-bench-api-"))
    url = database_url or f"sqlite+aiosqlite:///{workdir}/bench.db"
    env: dict[str, str] = {}
    schema = None
    if url.startswith("postgresql"):  # a schema of its own, dropped afterwards: the database stays as it was
        schema = f"bench_{os.getpid()}_{int(time.time())}"
        asyncio.run(_pg(url, f'CREATE SCHEMA "{schema}"'))
        env["MPGENIE_DATABASE_SCHEMA"] = schema
    if argon2_memory_kib is not None:
        env["MPGENIE_ARGON2_MEMORY_KIB"] = str(argon2_memory_kib)
    if argon2_time_cost is not None:
        env["MPGENIE_ARGON2_TIME_COST"] = str(argon2_time_cost)
    proc = None
    loop = new_event_loop()
    try:
        proc, base, _log = _start_api(url, env)
        result = loop.run_until_complete(_bench(base, users, concurrency, duration))
    finally:
        loop.close()
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if schema is not None:
            asyncio.run(_pg(url, f'DROP SCHEMA "{schema}" CASCADE'))
        shutil.rmtree(workdir, ignore_errors=True)
    result["database"] = "postgresql" if url.startswith("postgresql") else "sqlite"
    s = Settings(**{k.removeprefix("MPGENIE_").lower(): v for k, v in env.items() if "ARGON2" in k})
    result["argon2"] = {"memory_kib": s.argon2_memory_kib, "time_cost": s.argon2_time_cost}
    return result
