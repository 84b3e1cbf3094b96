"""The outbound half of a realtime tick: who hears of each event, and every client's snapshot.

:class:`~mpgenie.net.core.ServerCore` decides what happens (messages in, the world step); these functions decide
what each connection is told about it, which is where most of a busy tick's Python time goes. Keeping them apart
from the message handling lets either be read, profiled and changed without the other. They read the core's
state and write only per-connection and per-session send state (outboxes, event logs, sent views); closing
connections stays with the core.

Rules kept here:

- A gameplay event reaches the players within ``render_distance`` of where it happened plus the players it
  involves (:attr:`~mpgenie.world.events.Pickup.players` and friends), and the spectators whose view point is that
  close. An announced world event reaches everyone (global) or whoever is inside its zone.
- Every recipient numbers its events in order: a player's log (kept for resumes, ``event_buffer`` deep) and a
  spectator's counter, so a client can tell a gap from a duplicate.
- Each snapshot is delta-encoded against the newest snapshot the client acknowledged that the server still has
  (else it is full); the tick's events follow it in one ``events`` message.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, assert_never

import numpy as np
from numpy.typing import NDArray

from mpgenie.net import protocol as p
from mpgenie.net.connections import Conn, PlayerSession
from mpgenie.net.snapshots import segments
from mpgenie.net.snapwire import encode_delta_frames
from mpgenie.world.events import AttackHit, BeaconActivated, GameplayEvent, HazardHit, Pickup, Respawn
from mpgenie.world.simulation import World

if TYPE_CHECKING:
    from mpgenie.net.core import ServerCore


def to_wire(ev: GameplayEvent, world: World) -> tuple[p.WireEvent, NDArray[np.float64]]:
    """The protocol form of a gameplay event, and where it happened (the point its audience is chosen around).

    The struct's tag is the event's :data:`~mpgenie.world.events.WIRE_KIND` name; only the fields differ by type.
    """
    if isinstance(ev, Pickup):
        return p.EvPickup(ev.tick, ev.player, ev.collectible), world.layout.collectible_pos[ev.collectible]
    if isinstance(ev, BeaconActivated):
        return p.EvBeacon(ev.tick, ev.beacon, list(ev.players)), world.layout.beacon_pos[ev.beacon]
    if isinstance(ev, HazardHit):
        return p.EvHazard(ev.tick, ev.player, ev.hazard), world.layout.hazard_pos[ev.hazard]
    if isinstance(ev, Respawn):
        return p.EvRespawn(ev.tick, ev.player, ev.spawn_point, str(ev.reason)), world.pos[ev.player]
    if isinstance(ev, AttackHit):
        return p.EvAttack(ev.tick, ev.attacker, ev.target), world.pos[ev.target]
    assert_never(ev)


def route_events(core: ServerCore, gameplay: list[GameplayEvent], announcements: list[p.EvWorld]) -> list[p.WireEvent]:
    """Queue this tick's gameplay events and announcements in their recipients' outboxes; returns them all, in the
    order sent (gameplay first)."""
    w = core.world
    cfg = core.cfg
    wire: list[p.WireEvent] = []
    locations: list[NDArray[np.float64]] = []
    for ev in gameplay:
        msg, where = to_wire(ev, w)
        wire.append(msg)
        locations.append(where)
    spectators = [c for c in core.conns.values() if c.spectate is not None and not c.closed]
    spec_points = np.array([c.view_point for c in spectators]).reshape(-1, 3)
    render_cos = np.cos(cfg.render_distance / cfg.radius)
    cap = core.settings.event_buffer
    if wire:
        near = w.players_within(np.array(locations), cfg.render_distance)
        for i, (ev, msg) in enumerate(zip(gameplay, wire, strict=True)):
            ids = set(near.indices[near.indptr[i] : near.indptr[i + 1]].tolist()) | set(ev.players)
            deliver(
                msg,
                ids,
                [c for c, d in zip(spectators, spec_points @ locations[i], strict=True) if d >= render_cos],
                core.by_player,
                cap,
            )
    for ann in announcements:
        ann.tick = w.tick
        wire.append(ann)
        if ann.center is None:
            deliver(ann, set(core.by_player), spectators, core.by_player, cap)
        else:
            assert ann.radius_m is not None
            near = w.players_within(np.array(ann.center), ann.radius_m)
            cos = np.cos(min(ann.radius_m / cfg.radius, np.pi))
            deliver(
                ann,
                set(near.indices.tolist()),
                [c for c, d in zip(spectators, spec_points @ np.array(ann.center), strict=True) if d >= cos],
                core.by_player,
                cap,
            )
    return wire


def deliver(
    ev: p.WireEvent, players: set[int], spectators: list[Conn], by_player: dict[int, PlayerSession], cap: int
) -> None:
    """Number ``ev`` for each recipient and queue it: in a player's resume log (the oldest beyond ``cap``
    dropped) and, when connected, its outbox; in each spectator's outbox. Players go in id order: a set's own
    order depends on its history, and the numbering should not."""
    for pid in sorted(players):
        s = by_player.get(pid)
        if s is None:
            continue
        s.log.append((s.next_event, ev))
        if len(s.log) > cap:
            s.log.popleft()
        if s.conn is not None:
            if not s.conn.outbox:
                s.conn.outbox_first = s.next_event
            s.conn.outbox.append(ev)
        s.next_event += 1
    for c in spectators:
        if not c.outbox:
            c.outbox_first = c.spectator_next_event
        c.outbox.append(ev)
        c.spectator_next_event += 1


def views(
    core: ServerCore, conns: list[Conn], players: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The entity ids each connection sees this tick, flat: (ids, offsets per connection), each view sorted. A
    player's view is its area of interest (the world keeps it; ``players[r]`` is connection ``r``'s player, -1 for a
    spectator); a spectator's, what is within ``render_distance`` of its view point (which follows its player
    while that one stays)."""
    w = core.world
    aoi = w.aoi
    num = len(conns)
    rows = np.full(num, -1, dtype=np.int64)
    ok = (players >= 0) & (players < aoi.row_of.shape[0])
    rows[ok] = aoi.row_of[players[ok]]
    has = rows >= 0
    starts = np.where(has, aoi.indptr[rows], 0)
    lengths = np.where(has, aoi.indptr[rows + 1] - starts, 0)
    source = aoi.indices
    spec_rows = np.flatnonzero(players < 0).tolist()
    if spec_rows:  # few: one at a time
        for i in spec_rows:
            c = conns[i]
            spec = c.spectate
            assert spec is not None
            f = spec.follow
            if f is not None:
                if f < w.num_slots and w.active[f] and core.generation[f] == c.follow_generation:
                    c.view_point = w.pos[f].copy()
                else:  # the followed player left: stay where it was last seen
                    c.spectate = p.Spectate(point=tuple(c.view_point.tolist()))  # type: ignore[union-attr]
        near = w.players_within(np.array([conns[i].view_point for i in spec_rows]), core.cfg.render_distance)
        starts[spec_rows] = near.indptr[:-1] + source.shape[0]
        lengths[spec_rows] = np.diff(near.indptr)
        source = np.concatenate([source, near.indices.astype(np.int64)])
    ids = source[segments(starts, lengths)]
    rows_of = np.repeat(np.arange(num, dtype=np.int64), lengths)
    keys = rows_of * (int(core.history.q.shape[1]) + 1) + ids
    if keys.size > 1 and not np.all(keys[1:] > keys[:-1]):
        ids = ids[np.argsort(keys)]  # by row, then id: rows stay where they were
    offsets = np.zeros(num + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return ids, offsets


def send_snapshots(core: ServerCore, conns: list[Conn]) -> tuple[int, int, float, float]:
    """Send each of ``conns`` (joined, open) its snapshot of this tick, then its queued events.

    Everything per client is gathered in one pass over the connections; every client's delta and frame are then
    written in one compiled pass (:func:`~mpgenie.net.snapwire.encode_delta_frames`), so the loop left per client
    is its socket write.

    Returns (snapshots sent, bytes sent, seconds building the deltas and frames, seconds sending)."""
    t = core.world.tick
    w = core.world
    history = core.history
    num = len(conns)
    cols = np.array(
        [
            (c.uid, c.acked, s.player, s.ack_seq, len(s.inputs))
            if (s := c.session) is not None
            else (c.uid, c.acked, -1, 0, 0)
            for c in conns
        ],
        dtype=np.int64,
    ).reshape(num, 5)
    uids, acked, players = cols[:, 0], cols[:, 1], cols[:, 2]
    t0 = time.perf_counter()
    current = views(core, conns, players)
    in_history = (acked > 0) & (history.ticks[acked % history.depth] == acked)
    base_ticks, baselines = core.sent_views.baselines(np.where(in_history, acked, 0), uids)
    is_player = players >= 0
    pl = np.where(is_player, players, 0)
    you_float = np.concatenate([w.pos[pl], w.fwd[pl], w.height[pl, None], w.vz[pl, None]], axis=1)
    you_ints = np.stack([w.score[pl], w.deaths[pl], w.teleported[pl]], axis=1).astype(np.int64)
    ack = np.stack([cols[:, 3], cols[:, 4], is_player], axis=1)
    data, off, (records, record_bytes, full_bytes) = encode_delta_frames(
        history.q,
        t,
        base_ticks,
        current,
        baselines,
        ack,
        you_float,
        you_ints,
    )
    core.sent_views.record(t, uids, *current)
    t1 = time.perf_counter()
    slot = t % history.depth
    events_bytes = 0
    for r, c in enumerate(conns):
        c.peer.send(data[off[r] : off[r + 1]])
        c.sent_ticks[slot] = t
        if c.outbox:
            events_bytes += core.send_to(c, p.Events(c.outbox_first, c.outbox), "events")  # counted by send_to
            c.outbox = []
    m = core.metrics
    m.messages_out.labels("snap").inc(num)
    m.bytes_out.inc(off[num])
    m.entity_updates.inc(records)
    m.entity_bytes_sent += record_bytes
    m.entity_bytes_full += full_bytes
    return num, off[num] + events_bytes, t1 - t0, time.perf_counter() - t1
