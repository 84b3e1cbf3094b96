"""Fixed-window rate limits, per client address and per account, and timed locks (the lockout of names that
have no account): in Redis when configured (shared by every API process), in memory otherwise."""

from __future__ import annotations

import math
import time
from typing import Protocol

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger("mpgenie.api")


class RateLimiter(Protocol):
    async def hit(self, scope: str, key: str, limit: int, window_s: int) -> float | None:
        """Count one hit; ``None`` when allowed, else the seconds until the window resets."""
        ...

    async def lock(self, scope: str, key: str, until: float) -> None:
        """Lock ``key`` until the epoch time ``until``."""
        ...

    async def locked(self, scope: str, key: str, now: float) -> float | None:
        """Seconds the lock on ``key`` still holds at ``now``, or ``None``."""
        ...


class MemoryRateLimiter:
    def __init__(self) -> None:
        self._windows: dict[tuple[str, str], tuple[int, int]] = {}
        self._locks: dict[tuple[str, str], float] = {}

    async def hit(self, scope: str, key: str, limit: int, window_s: int) -> float | None:
        now = time.time()
        window = int(now // window_s)
        start, count = self._windows.get((scope, key), (window, 0))
        if start != window:
            start, count = window, 0
        count += 1
        self._windows[(scope, key)] = (start, count)
        if len(self._windows) > 100_000:  # forget stale windows instead of growing without bound
            self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
        return None if count <= limit else (window + 1) * window_s - now

    async def lock(self, scope: str, key: str, until: float) -> None:
        self._locks[(scope, key)] = until
        if len(self._locks) > 100_000:
            now = time.time()
            self._locks = {k: v for k, v in self._locks.items() if v > now}

    async def locked(self, scope: str, key: str, now: float) -> float | None:
        until = self._locks.get((scope, key))
        return None if until is None or until <= now else until - now


class RedisRateLimiter:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    async def hit(self, scope: str, key: str, limit: int, window_s: int) -> float | None:
        now = time.time()
        window = int(now // window_s)
        name = f"{self.prefix}:rl:{scope}:{key}:{window}"
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(name)
                pipe.expire(name, window_s + 1)
                count, _ = await pipe.execute()
        except RedisError:  # Redis down: serve (unlimited) rather than fail every request; /readyz reports it
            log.warning("rate limiter unavailable", scope=scope)
            return None
        return None if int(count) <= limit else (window + 1) * window_s - now

    async def lock(self, scope: str, key: str, until: float) -> None:
        ttl = max(1, math.ceil(until - time.time()) + 1)
        try:
            await self.redis.set(f"{self.prefix}:lock:{scope}:{key}", repr(until), ex=ttl)
        except RedisError:
            log.warning("rate limiter unavailable", scope=scope)

    async def locked(self, scope: str, key: str, now: float) -> float | None:
        try:
            value = await self.redis.get(f"{self.prefix}:lock:{scope}:{key}")
        except RedisError:
            log.warning("rate limiter unavailable", scope=scope)
            return None
        if value is None:
            return None
        until = float(value)
        return None if until <= now else until - now
