"""The node registry on the real Redis: liveness by TTL, least-loaded placement, failover moves, fenced
checkpoints, session ends, presence and kicks. Each test uses its own key prefix and deletes its keys."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

from redis.asyncio import Redis

from mpgenie.net.registry import ENDED, MOVED, SAVED, UNPLACED, NodeInfo, NodeRegistry

REDIS_URL = os.environ.get("MPGENIE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _run(body: Callable[[NodeRegistry], Awaitable[None]], ttl_s: float = 3.0) -> None:
    async def main() -> None:
        redis = Redis.from_url(REDIS_URL)
        prefix = f"test-{uuid.uuid4().hex[:12]}"
        try:
            await body(NodeRegistry(redis, prefix, ttl_s=ttl_s))
        finally:
            keys = [k async for k in _scan(redis, f"{prefix}:*")]
            if keys:
                await redis.delete(*keys)
            await redis.aclose()

    asyncio.run(main())


async def _scan(redis: Redis, pattern: str) -> AsyncIterator[bytes]:
    async for key in redis.scan_iter(match=pattern):
        yield key


def _node(name: str, players: int = 0, capacity: int = 100, **kw: object) -> NodeInfo:
    return NodeInfo(name, f"ws://{name}.example:7777/ws", capacity, players=players, **kw)  # type: ignore[arg-type]


def test_nodes_are_alive_while_their_heartbeat_lasts() -> None:
    async def body(reg: NodeRegistry) -> None:
        await reg.heartbeat(_node("a"))
        await reg.heartbeat(_node("b"))
        assert [n.id for n in await reg.nodes()] == ["a", "b"]
        await asyncio.sleep(0.2)
        await reg.heartbeat(_node("a"))  # a keeps beating, b stops
        await asyncio.sleep(0.2)
        assert [n.id for n in await reg.nodes()] == ["a"]
        await reg.deregister("a")
        assert await reg.nodes() == []

    _run(body, ttl_s=0.3)


def test_new_sessions_go_to_the_least_loaded_node_and_stay_there() -> None:
    async def body(reg: NodeRegistry) -> None:
        await reg.heartbeat(_node("busy", players=80))
        await reg.heartbeat(_node("idle-1", players=0))
        await reg.heartbeat(_node("idle-2", players=0))
        await reg.heartbeat(_node("hot", players=0, saturated=True))
        first = await reg.place("s1")
        second = await reg.place("s2")  # equal load: the node with fewer placed sessions
        assert first is not None and second is not None
        assert {first.id, second.id} == {"idle-1", "idle-2"}
        again = await reg.place("s1")
        assert again is not None and again.id == first.id and again.url == first.url
        assert await reg.sessions_of(first.id) == {"s1"}

    _run(body)


def test_no_live_node_means_no_placement() -> None:
    async def body(reg: NodeRegistry) -> None:
        assert await reg.place("s1") is None
        await reg.heartbeat(_node("full", max_sessions=0))
        assert await reg.place("s1") is None

    _run(body)


def test_a_dead_nodes_sessions_move_and_the_node_is_forgotten() -> None:
    async def body(reg: NodeRegistry) -> None:
        await reg.heartbeat(_node("a"))
        await reg.heartbeat(_node("b", players=50))
        placed = await reg.place("s1")
        assert placed is not None and placed.id == "a"
        await reg.set_presence("s1", "ann", True)
        assert await reg.save_checkpoint("a", "s1", b"state-1") == SAVED
        await reg.deregister("a")  # a dies (its key is gone: as after the TTL)
        moved = await reg.reap()
        assert moved == {"a": ["s1"]}
        assert await reg.placement("s1") == "b"
        assert await reg.to_adopt("b") == ["s1"]  # b restores it (from the checkpoint a left)
        assert await reg.checkpoint("s1") == b"state-1"
        assert await reg.online("s1") == []  # the dead node's presence is cleared; reconnecting players re-add
        assert await reg.redis.smembers(reg.key("nodes")) == {b"b"}
        assert not await reg.redis.exists(reg.key("node", "a", "sessions"))
        # The dead node, should it come back, can no longer write the session's state, and learns it moved.
        assert await reg.save_checkpoint("a", "s1", b"stale") == MOVED
        assert await reg.checkpoint("s1") == b"state-1"
        # Joins wait for the adoption, then get the new node.
        waiting = asyncio.ensure_future(reg.place("s1"))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        await reg.adopted("b", "s1")
        node = await asyncio.wait_for(waiting, 1.0)
        assert node is not None and node.id == "b"
        assert await reg.save_checkpoint("b", "s1", b"state-2") == SAVED
        assert await reg.reap() == {}

    _run(body)


def test_a_join_for_a_session_on_a_dead_node_moves_it_itself() -> None:
    async def body(reg: NodeRegistry) -> None:
        await reg.heartbeat(_node("a"))
        assert (await reg.place("s1")).id == "a"  # type: ignore[union-attr]
        await reg.deregister("a")
        await reg.heartbeat(_node("b"))
        join = asyncio.ensure_future(reg.place("s1", wait_s=2.0))
        await asyncio.sleep(0.1)
        await reg.adopted("b", "s1")
        node = await asyncio.wait_for(join, 2.0)
        assert node is not None and node.id == "b"

    _run(body)


def test_ending_a_session_tells_the_nodes_and_fences_its_checkpoints() -> None:
    async def body(reg: NodeRegistry) -> None:
        await reg.heartbeat(_node("a"))
        await reg.place("s1")
        pubsub = reg.redis.pubsub()
        await pubsub.subscribe(reg.control_channel)
        await pubsub.get_message(timeout=1.0)  # the subscribe confirmation
        await reg.end_session("s1")
        msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
        assert msg is not None and b'"end"' in msg["data"] and b'"s1"' in msg["data"]
        await pubsub.aclose()
        assert await reg.placement("s1") is None and await reg.sessions_of("a") == set()
        assert await reg.save_checkpoint("a", "s1", b"x") == ENDED
        assert await reg.save_checkpoint("a", "never-placed", b"x") == UNPLACED
        assert await reg.checkpoint("s1") is None and await reg.checkpoint("never-placed") is None

    _run(body)


def test_kicks_reach_one_api_consumer_each() -> None:
    async def body(reg: NodeRegistry) -> None:
        seen: list[tuple[str, str, str]] = []

        async def handle(session: str, subject: str, why: str) -> None:
            seen.append((session, subject, why))

        await reg.consume_kicks("api-1", handle, block_ms=10)  # creates the group
        await reg.report_kick("s1", "eve", "flood")
        await reg.report_kick("s1", "mallory", "flood")
        assert await reg.consume_kicks("api-1", handle, block_ms=100) == 2
        assert await reg.consume_kicks("api-2", handle, block_ms=10) == 0  # delivered once to the group
        assert seen == [("s1", "eve", "flood"), ("s1", "mallory", "flood")]
        # Redis keeps nothing on disk: after a restart the group is gone, and the consumer makes it again
        await reg.redis.delete(reg.key("kicks"))
        assert await reg.consume_kicks("api-1", handle, block_ms=10) == 0
        await reg.consume_kicks("api-1", handle, block_ms=10)
        await reg.report_kick("s2", "trudy", "speed")
        assert await reg.consume_kicks("api-1", handle, block_ms=100) == 1 and seen[-1] == ("s2", "trudy", "speed")

    _run(body)
