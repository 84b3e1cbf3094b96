"""Presence: who is connected to which session right now. The realtime server reports joins and drops; the API
answers ``GET /v1/sessions/{id}/presence``. In Redis when configured (shared by every API and realtime process,
entries expire if a reporter dies), in memory otherwise. It lives below both: a realtime node writes the same Redis
set the API reads (through :class:`~mpgenie.net.registry.NodeRegistry`), with this one implementation."""

from __future__ import annotations

import time
from typing import Protocol

from redis.asyncio import Redis

PRESENCE_TTL_S = 24 * 3600  # a session's set expires a day after its last change


class Presence(Protocol):
    async def set(self, session: str, subject: str, online: bool) -> None: ...

    async def online(self, session: str) -> list[str]: ...


class MemoryPresence:
    def __init__(self) -> None:
        self._online: dict[str, set[str]] = {}

    async def set(self, session: str, subject: str, online: bool) -> None:
        members = self._online.setdefault(session, set())
        if online:
            members.add(subject)
        else:
            members.discard(subject)
            if not members:
                del self._online[session]

    async def online(self, session: str) -> list[str]:
        return sorted(self._online.get(session, ()))


class RedisPresence:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def _key(self, session: str) -> str:
        return f"{self.prefix}:presence:{session}"

    async def set(self, session: str, subject: str, online: bool) -> None:
        key = self._key(session)
        async with self.redis.pipeline(transaction=True) as pipe:
            if online:
                pipe.zadd(key, {subject: time.time()})
            else:
                pipe.zrem(key, subject)
            pipe.expire(key, PRESENCE_TTL_S)
            await pipe.execute()

    async def online(self, session: str) -> list[str]:
        members = await self.redis.zrange(self._key(session), 0, -1)
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)
