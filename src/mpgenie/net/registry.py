"""The node registry in Redis: which realtime nodes are alive, which node runs which session, the sessions'
checkpoints, and the messages between the platform API and the nodes.

Both sides use this one module (the API imports ``mpgenie.net``; the realtime side must not import the API), so
the key layout is written down once, here:

``{p}:nodes``                    set of node ids not yet reaped (alive, or dead with sessions still to move)
``{p}:node:{id}``                the node's :class:`NodeInfo` (JSON); it expires ``ttl_s`` after the last heartbeat,
                                 so a node is alive exactly while this key exists
``{p}:node:{id}:sessions``       set of the session ids placed on the node
``{p}:placement:{sid}``          the id of the node that runs the session (set by the API, moved on failover)
``{p}:adopting:{sid}``           the node restoring the session from its checkpoint right now (expires by itself)
``{p}:checkpoint:{sid}``         the session's last checkpoint (``ServerCore.checkpoint``), written by its node only
                                 while the placement names that node: a node presumed dead cannot overwrite the
                                 state of the node that took its sessions over
``{p}:ended:{sid}``              tombstone of an ended or deleted session (an hour): no node runs it again
``{p}:presence:{sid}``           sorted set of the subjects connected to the session (written by its node)
``{p}:control``                  pub/sub channel, API -> nodes: ``end`` a session, ``adopt`` one (wake-up only:
                                 nodes also find both on their own each heartbeat, so a lost message only delays)
``{p}:kicks``                    stream, nodes -> API: realtime kicks for the audit log (consumer group ``api``)

Placement: a new session goes to the live node with the lowest load (players / capacity), then the fewest
sessions, skipping saturated and full nodes. Failover: when a node's key has expired, the API moves each of its
sessions to the least loaded live node (a compare-and-set on the placement, so two API processes cannot move one
session twice), marks it ``adopting`` and tells the nodes; the new node restores the session from its checkpoint
and clears the mark; joins for the session wait for that before they get a ticket naming the new node.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import msgspec
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from mpgenie.net.presence import RedisPresence

log = structlog.get_logger("mpgenie.registry")

HEARTBEAT_S = 1.0  # a node refreshes its key this often
NODE_TTL_S = 3.0  # ...which expires this long after the last refresh: the node counts as dead
ADOPT_TTL_S = 5.0  # a restore that takes longer is given up (joins stop waiting for it)
CHECKPOINT_TTL_S = 24 * 3600.0  # an abandoned session's checkpoint goes away by itself
ENDED_TTL_S = 3600.0
KICK_STREAM_LEN = 10_000
KICK_GROUP = "api"

# Compare-and-set of a session's placement from a dead node to a live one, with the bookkeeping that goes with it,
# in one step. KEYS: placement, old node's sessions, new node's sessions, adopting, presence. ARGV: old, new, sid,
# adopt ttl (ms). Returns 1 when this call moved it.
_MOVE = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('set', KEYS[1], ARGV[2])
redis.call('srem', KEYS[2], ARGV[3])
redis.call('sadd', KEYS[3], ARGV[3])
redis.call('set', KEYS[4], ARGV[2], 'PX', ARGV[4])
redis.call('del', KEYS[5])
return 1
"""

# A node's checkpoint write, fenced by the placement. KEYS: placement, checkpoint, ended. ARGV: node, data, ttl (ms).
# 1 written; 0 not placed by the API (nothing to fail over); -1 placed on another node; -2 ended.
_SAVE = """
if redis.call('exists', KEYS[3]) == 1 then return -2 end
local cur = redis.call('get', KEYS[1])
if not cur then return 0 end
if cur ~= ARGV[1] then return -1 end
redis.call('set', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
"""

# A node clears the adopting mark only if it is still its own. KEYS: adopting. ARGV: node.
_ADOPTED = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""

SAVED, UNPLACED, MOVED, ENDED = 1, 0, -1, -2


class NodeInfo(msgspec.Struct, frozen=True):
    """What a node says about itself in each heartbeat."""

    id: str
    url: str  # the WebSocket URL clients connect to (``--node-url``)
    capacity: int  # players the node takes in all
    players: int = 0
    sessions: int = 0
    max_sessions: int = 64
    saturated: bool = False
    at: float = 0.0  # wall-clock time of the heartbeat

    @property
    def load(self) -> float:
        return self.players / max(1, self.capacity)


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class NodeRegistry:
    """The registry's operations over one Redis client and key prefix (one per process, shared by its tasks)."""

    def __init__(self, redis: Redis, prefix: str = "mpgenie", ttl_s: float = NODE_TTL_S) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl_s = ttl_s
        self._move = redis.register_script(_MOVE)
        self._save = redis.register_script(_SAVE)
        self._adopted = redis.register_script(_ADOPTED)
        self.presence = RedisPresence(redis, prefix)
        self._kick_group_ready = False  # made once; again only when Redis lost it (it keeps nothing on disk)

    # --- keys ----------------------------------------------------------------------------------------------------

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    @property
    def control_channel(self) -> str:
        return self.key("control")

    # --- nodes ---------------------------------------------------------------------------------------------------

    async def heartbeat(self, info: NodeInfo) -> None:
        """Register or refresh a node: alive for ``ttl_s`` from now."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.key("node", info.id), msgspec.json.encode(info), px=int(self.ttl_s * 1000))
            pipe.sadd(self.key("nodes"), info.id)
            await pipe.execute()

    async def deregister(self, node_id: str) -> None:
        """A node going away on purpose: dead at once, so its sessions move now rather than after the TTL."""
        await self.redis.delete(self.key("node", node_id))

    async def node(self, node_id: str) -> NodeInfo | None:
        raw = await self.redis.get(self.key("node", node_id))
        return None if raw is None else msgspec.json.decode(raw, type=NodeInfo)

    async def nodes(self) -> list[NodeInfo]:
        """The live nodes, by id."""
        ids = sorted(_text(i) or "" for i in await self.redis.smembers(self.key("nodes")))
        if not ids:
            return []
        raws = await self.redis.mget([self.key("node", i) for i in ids])
        return [msgspec.json.decode(r, type=NodeInfo) for r in raws if r is not None]

    async def sessions_of(self, node_id: str) -> set[str]:
        members = await self.redis.smembers(self.key("node", node_id, "sessions"))
        return {_text(m) or "" for m in members}

    async def _choose(self, exclude: str | None = None) -> NodeInfo | None:
        live = [n for n in await self.nodes() if n.id != exclude and not n.saturated]
        if not live:
            return None
        async with self.redis.pipeline(transaction=False) as pipe:
            for n in live:
                pipe.scard(self.key("node", n.id, "sessions"))
            placed = await pipe.execute()
        # Sessions placed, not only those the node reports: a burst of new sessions spreads before any heartbeat.
        ranked = [(n.load, count, n.id, n) for n, count in zip(live, placed, strict=True) if count < n.max_sessions]
        return min(ranked)[3] if ranked else None

    # --- placement (the API) ---------------------------------------------------------------------------------

    async def placement(self, session_id: str) -> str | None:
        return _text(await self.redis.get(self.key("placement", session_id)))

    async def place(self, session_id: str, wait_s: float = ADOPT_TTL_S) -> NodeInfo | None:
        """The live node that runs ``session_id``: where it is placed, or the least loaded live node for a new
        session or one whose node died (then restored there from its checkpoint first). None: no live node."""
        for _ in range(5):
            current = await self.placement(session_id)
            if current is not None:
                info = await self.node(current)
                if info is not None:
                    await self._wait_adopted(session_id, wait_s)
                    return info
                if await self.move(session_id, current) is None:
                    return None
                continue
            target = await self._choose()
            if target is None:
                return None
            if await self.redis.set(self.key("placement", session_id), target.id, nx=True):
                await self.redis.sadd(self.key("node", target.id, "sessions"), session_id)
                return target
        return None

    async def move(self, session_id: str, dead: str) -> NodeInfo | None:
        """Move a session off a dead node onto the least loaded live one (None when there is none). When another
        process moved it first, this one leaves it be and returns the target all the same."""
        target = await self._choose(exclude=dead)
        if target is None:
            return None
        moved = await self._move(
            keys=[
                self.key("placement", session_id),
                self.key("node", dead, "sessions"),
                self.key("node", target.id, "sessions"),
                self.key("adopting", session_id),
                self.key("presence", session_id),
            ],
            args=[dead, target.id, session_id, int(ADOPT_TTL_S * 1000)],
        )
        if moved:
            log.warning("session moved off a dead node", session=session_id, dead=dead, to=target.id)
            await self.publish({"op": "adopt", "session": session_id, "node": target.id})
        return target

    async def _wait_adopted(self, session_id: str, wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        while await self.redis.exists(self.key("adopting", session_id)) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def reap(self) -> dict[str, list[str]]:
        """Fail over every dead node: move its sessions to live nodes; forget the node once none is left on it.
        Returns ``{dead node: sessions moved}``. Run by the API every ``HEARTBEAT_S / 2``."""
        ids = [_text(i) or "" for i in await self.redis.smembers(self.key("nodes"))]
        if not ids:
            return {}
        alive = await self.redis.mget([self.key("node", i) for i in ids])
        moved: dict[str, list[str]] = {}
        for node_id, raw in zip(ids, alive, strict=True):
            if raw is not None:
                continue
            done = []
            for sid in sorted(await self.sessions_of(node_id)):
                if await self.placement(sid) != node_id:  # ended or moved meanwhile: not this node's any more
                    await self.redis.srem(self.key("node", node_id, "sessions"), sid)
                    continue
                if await self.move(sid, node_id) is None:
                    break  # no live node now: try again next round
                done.append(sid)
            if not await self.redis.scard(self.key("node", node_id, "sessions")):
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.srem(self.key("nodes"), node_id)
                    pipe.delete(self.key("node", node_id, "sessions"))
                    await pipe.execute()
                log.warning("dead node reaped", node=node_id, sessions=done)
            moved[node_id] = done
        return moved

    async def end_session(self, session_id: str) -> None:
        """The API ended or deleted a session: its node closes the world, and no node will run it again."""
        node = await self.placement(session_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.key("ended", session_id), b"1", px=int(ENDED_TTL_S * 1000))
            pipe.delete(
                self.key("placement", session_id),
                self.key("checkpoint", session_id),
                self.key("adopting", session_id),
            )
            if node is not None:
                pipe.srem(self.key("node", node, "sessions"), session_id)
            await pipe.execute()
        await self.publish({"op": "end", "session": session_id})

    async def publish(self, message: dict[str, Any]) -> None:
        await self.redis.publish(self.control_channel, json.dumps(message))

    # --- checkpoints (the nodes) -------------------------------------------------------------------------------

    async def save_checkpoint(self, node_id: str, session_id: str, data: bytes) -> int:
        """Store a session's checkpoint if the session is still placed on ``node_id``: :data:`SAVED`, else why
        not (:data:`UNPLACED`, :data:`MOVED`, :data:`ENDED`)."""
        return int(
            await self._save(
                keys=[
                    self.key("placement", session_id),
                    self.key("checkpoint", session_id),
                    self.key("ended", session_id),
                ],
                args=[node_id, data, int(CHECKPOINT_TTL_S * 1000)],
            )
        )

    async def checkpoint(self, session_id: str) -> bytes | None:
        return cast("bytes | None", await self.redis.get(self.key("checkpoint", session_id)))

    async def to_adopt(self, node_id: str) -> list[str]:
        """Sessions moved onto this node that still wait to be restored by it."""
        sids = sorted(await self.sessions_of(node_id))
        if not sids:
            return []
        marks = await self.redis.mget([self.key("adopting", s) for s in sids])
        return [s for s, m in zip(sids, marks, strict=True) if _text(m) == node_id]

    async def adopted(self, node_id: str, session_id: str) -> None:
        await self._adopted(keys=[self.key("adopting", session_id)], args=[node_id])

    # --- presence and kicks --------------------------------------------------------------------------------------

    async def set_presence(self, session_id: str, subject: str, online: bool) -> None:
        """What a node reports: the same set the API's ``RedisPresence`` reads (one implementation, one key)."""
        await self.presence.set(session_id, subject, online)

    async def online(self, session_id: str) -> list[str]:
        return await self.presence.online(session_id)

    async def report_kick(self, session_id: str, subject: str, why: str) -> None:
        await self.redis.xadd(
            self.key("kicks"),
            {"session": session_id, "subject": subject, "why": why},
            maxlen=KICK_STREAM_LEN,
            approximate=True,
        )

    async def consume_kicks(
        self, consumer: str, handle: Callable[[str, str, str], Awaitable[None]], block_ms: int = 1000
    ) -> int:
        """Read the next kicks for the API (each delivered to one API process of the group) and acknowledge those
        ``handle`` took; returns how many."""
        stream = self.key("kicks")
        if not self._kick_group_ready:
            try:
                await self.redis.xgroup_create(stream, KICK_GROUP, id="0", mkstream=True)
            except ResponseError as exc:  # BUSYGROUP: the group exists
                if "BUSYGROUP" not in str(exc):
                    raise
            self._kick_group_ready = True
        try:
            reply = await self.redis.xreadgroup(KICK_GROUP, consumer, {stream: ">"}, count=100, block=block_ms)
        except ResponseError as exc:  # NOGROUP: Redis restarted (or the stream was deleted) since we made it
            if "NOGROUP" not in str(exc):
                raise
            self._kick_group_ready = False
            return 0
        # redis-py types the reply as any of RESP2's and RESP3's shapes; with RESP2 (ours) it is [[stream, entries]].
        batches = cast("list[Any]", reply)
        done = 0
        for _, entries in batches or []:
            for entry_id, fields in entries:
                f = {_text(k): _text(v) or "" for k, v in fields.items()}
                await handle(f.get("session") or "", f.get("subject") or "", f.get("why") or "")
                await self.redis.xack(stream, KICK_GROUP, entry_id)
                done += 1
        return done


__all__ = ["HEARTBEAT_S", "NODE_TTL_S", "NodeInfo", "NodeRegistry", "RedisError"]
