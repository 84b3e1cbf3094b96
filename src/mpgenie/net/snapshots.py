"""Delta snapshots in the Quake 3 tradition, computed for every client of a tick in one batch.

Server side: :class:`StateHistory` keeps the quantized state of every slot for the last ``depth`` ticks (a ring
of ``(depth, slots, fields)`` int32), :class:`SentViews` the ids each connection was sent in those ticks (its
possible baselines). :func:`build_deltas` takes, for each client, the entity ids it sees now and the ids it saw in
the snapshot it last acknowledged (its baseline), and produces the packed enter / moved / turned / state / leave
records of all clients at once with a dozen NumPy passes over (client, entity) keys. A slot that now holds a
different player than in the baseline (its generation changed) is re-sent as ``enter``. It is the readable
statement of these rules; the server writes the same records, and whole frames, with the compiled
:mod:`mpgenie.net.snapwire`, tested against it.

Client side: :func:`apply_delta` rebuilds a snapshot's entity table from its baseline's table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mpgenie.net.protocol import (
    ENTER,
    FLAG_TELEPORTED,
    LEAVE,
    MOVED,
    STATE,
    TURNED,
    Snapshot,
    You,
    quantize_height,
    quantize_unit,
    records,
)
from mpgenie.world.simulation import World

# Columns of the quantized state table.
_POS = slice(0, 3)
_FWD = slice(3, 6)
_HEIGHT = 6
_ACTION = 7
_FLAGS = 8
_SCORE = 9
_GEN = 10
_NUM_FIELDS = 11
_MOVED_COLS = [0, 1, 2, _HEIGHT]
_STATE_COLS = [_ACTION, _FLAGS, _SCORE]
_I32 = np.iinfo(np.int32)


class ProtocolError(ValueError):
    """A snapshot that cannot be applied (unknown baseline, patch of an entity that is not there, bad sizes)."""


class StateHistory:
    """Quantized per-slot state of the last ``depth`` ticks: the baselines deltas are computed against."""

    def __init__(self, depth: int = 32) -> None:
        if depth < 2:
            raise ValueError("history depth must be >= 2")
        self.depth = depth
        self.q = np.zeros((depth, 0, _NUM_FIELDS), dtype=np.int32)
        self.ticks = np.full(depth, -1, dtype=np.int64)

    def has(self, tick: int) -> bool:
        return tick > 0 and self.ticks[tick % self.depth] == tick

    def record(self, world: World, generation: NDArray[np.int64]) -> None:
        """Store the state after ``world.tick``. ``generation[slot]`` counts the players a slot has held."""
        n = world.num_slots
        if self.q.shape[1] < n:
            grown = np.zeros((self.depth, max(n, 2 * self.q.shape[1]), _NUM_FIELDS), dtype=np.int32)
            grown[:, : self.q.shape[1]] = self.q
            self.q = grown
        row = self.q[world.tick % self.depth]
        row[:n, _POS] = quantize_unit(world.pos[:n])
        row[:n, _FWD] = quantize_unit(world.fwd[:n])
        row[:n, _HEIGHT] = quantize_height(world.height[:n])
        row[:n, _ACTION] = world.last_action[:n]
        row[:n, _FLAGS] = np.where(world.teleported[:n], FLAG_TELEPORTED, 0)
        row[:n, _SCORE] = np.clip(world.score[:n], _I32.min, _I32.max)
        row[:n, _GEN] = generation[:n]
        row[n:] = 0
        self.ticks[world.tick % self.depth] = world.tick


EMPTY_IDS = np.zeros(0, dtype=np.int64)


def segments(starts: NDArray[np.int64], lengths: NDArray[np.int64]) -> NDArray[np.int64]:
    """Indices ``starts[0] .. starts[0] + lengths[0] - 1``, then the next segment's, ...: gathers variable-length
    rows (a view per client) in one NumPy pass instead of a slice per client."""
    total = int(lengths.sum())
    if total == 0:
        return EMPTY_IDS
    ends = np.cumsum(lengths)
    return np.repeat(starts - (ends - lengths), lengths) + np.arange(total, dtype=np.int64)


class SentViews:
    """The entity ids each connection was sent in each of the last ``depth`` ticks: the baselines of its deltas.

    Kept per tick for all connections at once (the batch's flat view ids and offsets, and which connection had
    which row, by ``Conn.uid``), not per connection: storing, expiring and looking up a thousand baselines a tick is
    then a few NumPy calls. Whether a connection was sent a tick at all (the rule for its acks) is its own
    ``Conn.sent_ticks`` ring.
    """

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.ticks = np.full(depth, -1, dtype=np.int64)
        self.uids = [EMPTY_IDS] * depth  # sorted uids of the tick's connections
        self.rows = [EMPTY_IDS] * depth  # their rows in the tick's batch
        self.ids = [EMPTY_IDS] * depth
        self.offsets = [np.zeros(1, dtype=np.int64)] * depth

    def record(self, tick: int, uids: NDArray[np.int64], ids: NDArray[np.int64], offsets: NDArray[np.int64]) -> None:
        """Row ``r`` of this tick's batch went to connection ``uids[r]``: ``ids[offsets[r]:offsets[r + 1]]``."""
        k = tick % self.depth
        order = np.argsort(uids, kind="stable")
        self.ticks[k], self.uids[k], self.rows[k], self.ids[k], self.offsets[k] = tick, uids[order], order, ids, offsets

    def _rows_of(self, tick: int, uids: NDArray[np.int64]) -> NDArray[np.int64]:
        """Row of each of ``uids`` in tick ``tick``'s batch, -1 where it got none (or the tick is gone)."""
        k = tick % self.depth
        have = self.uids[k]
        if tick <= 0 or self.ticks[k] != tick or have.size == 0:
            return np.full(uids.shape[0], -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(have, uids), have.size - 1)
        return np.where(have[pos] == uids, self.rows[k][pos], -1)

    def view(self, tick: int, uid: int) -> NDArray[np.int64] | None:
        """The ids connection ``uid`` was sent at ``tick`` (sorted), or None."""
        row = int(self._rows_of(tick, np.array([uid], dtype=np.int64))[0])
        if row < 0:
            return None
        off = self.offsets[tick % self.depth]
        return self.ids[tick % self.depth][off[row] : off[row + 1]]

    def baselines(
        self, base_ticks: NDArray[np.int64], uids: NDArray[np.int64]
    ) -> tuple[NDArray[np.int64], tuple[NDArray[np.int64], NDArray[np.int64]]]:
        """For connections ``uids`` wanting deltas against ``base_ticks`` (0: full): the base ticks that hold (0
        where this log no longer has the connection's view of that tick) and the baseline views, flat: (ids,
        offsets per connection)."""
        num = uids.shape[0]
        base = base_ticks.copy()
        starts = np.zeros(num, dtype=np.int64)
        lengths = np.zeros(num, dtype=np.int64)
        sources: list[NDArray[np.int64]] = []
        shift = 0
        for tick in np.unique(base[base > 0]).tolist():
            sel = np.flatnonzero(base == tick)
            rows = self._rows_of(tick, uids[sel])
            base[sel[rows < 0]] = 0
            sel, rows = sel[rows >= 0], rows[rows >= 0]
            off = self.offsets[tick % self.depth]
            starts[sel] = off[rows] + shift
            lengths[sel] = off[rows + 1] - off[rows]
            sources.append(self.ids[tick % self.depth])
            shift += sources[-1].shape[0]
        ids = np.concatenate(sources)[segments(starts, lengths)] if sources else EMPTY_IDS
        offsets = np.zeros(num + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return base, (ids, offsets)


@dataclass(frozen=True, slots=True)
class DeltaBatch:
    """Packed records of every client of one tick; :meth:`parts` slices out one client's."""

    buffers: tuple[NDArray[np.uint8], ...]  # enter, moved, turned, state, leave (the records' bytes)
    offsets: NDArray[np.int64]  # (5, clients + 1): byte offsets of client rows in each buffer
    full_bytes: int = 0  # what the entity records would take as full snapshots (every entity as ENTER)

    @property
    def record_bytes(self) -> int:
        return sum(int(b.shape[0]) for b in self.buffers)

    @property
    def num_entity_records(self) -> int:
        """Enter + moved + turned + state records of all clients (the bandwidth-relevant count)."""
        return sum(
            int(b.shape[0]) // d.itemsize for b, d in zip(self.buffers[:4], (ENTER, MOVED, TURNED, STATE), strict=True)
        )

    def parts(self, row: int) -> tuple[memoryview, ...]:
        a, b = self.offsets[:, row].tolist(), self.offsets[:, row + 1].tolist()
        return tuple(memoryview(buf.data)[x:y] for buf, x, y in zip(self.buffers, a, b, strict=True))

    def snapshot(self, row: int, tick: int, base: int, ack_seq: int, you: You | None, queued: int = 0) -> Snapshot:
        """Client ``row``'s snapshot as a struct (what :mod:`mpgenie.net.snapwire` writes the bytes of directly)."""
        # Slices of the batch's buffers, not copies: msgspec encodes a memoryview as MessagePack bin, like bytes.
        return Snapshot(tick, base, ack_seq, queued, you, *self.parts(row))  # type: ignore[arg-type]


def _flatten(
    views: list[NDArray[np.int64]], key_space: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """(key, row, id) of all views, sorted by row then id (key = row * key_space + id). Views that are already
    sorted (the baselines, stored as this function returned them) skip the sort."""
    lengths = np.fromiter((v.shape[0] for v in views), dtype=np.int64, count=len(views))
    rows = np.repeat(np.arange(len(views), dtype=np.int64), lengths)
    ids = np.concatenate(views) if views else np.zeros(0, dtype=np.int64)
    keys = rows * key_space + ids
    if keys.size > 1 and not np.all(keys[1:] > keys[:-1]):
        order = np.argsort(keys)
        keys, rows, ids = keys[order], rows[order], ids[order]
    return keys, rows, ids


def _member(keys: NDArray[np.int64], sorted_pool: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Which of ``keys`` occur in ``sorted_pool`` (binary search: cheaper than np.isin's sort of both)."""
    if sorted_pool.size == 0:
        return np.zeros(keys.shape[0], dtype=bool)
    idx = np.minimum(np.searchsorted(sorted_pool, keys), sorted_pool.size - 1)
    return sorted_pool[idx] == keys


def _offsets(rows: NDArray[np.int64], num_rows: int, itemsize: int) -> NDArray[np.int64]:
    counts = np.bincount(rows, minlength=num_rows)
    out = np.zeros(num_rows + 1, dtype=np.int64)
    np.cumsum(counts * itemsize, out=out[1:])
    return out


def _slot_records(q: NDArray[np.int32]) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """ENTER, MOVED, TURNED and STATE records of every slot for one tick's quantized state (built once a tick;
    clients' records are then gathered from these by id)."""
    n = q.shape[0]
    ids = np.arange(n, dtype=np.uint32)
    enter = np.empty(n, dtype=ENTER)
    enter["id"], enter["pos"], enter["fwd"], enter["height"] = ids, q[:, _POS], q[:, _FWD], q[:, _HEIGHT]
    enter["action"], enter["flags"], enter["score"] = q[:, _ACTION], q[:, _FLAGS], q[:, _SCORE]
    moved = np.empty(n, dtype=MOVED)
    moved["id"], moved["pos"], moved["height"] = ids, q[:, _POS], q[:, _HEIGHT]
    turned = np.empty(n, dtype=TURNED)
    turned["id"], turned["fwd"] = ids, q[:, _FWD]
    state = np.empty(n, dtype=STATE)
    state["id"], state["action"], state["flags"], state["score"] = ids, q[:, _ACTION], q[:, _FLAGS], q[:, _SCORE]
    return enter, moved, turned, state


def build_deltas(
    history: StateHistory,
    tick: int,
    current: list[NDArray[np.int64]],
    base_ticks: NDArray[np.int64],
    baselines: list[NDArray[np.int64]],
) -> DeltaBatch:
    """Deltas for every client: ``current[r]`` ids seen now, ``baselines[r]`` ids of its baseline snapshot taken
    at ``base_ticks[r]`` (an empty array and tick 0 for a full snapshot). Baseline ticks must be in ``history``.

    The readable NumPy statement of the delta rules: the server writes its frames with the compiled
    :func:`~mpgenie.net.snapwire.encode_delta_frames`, which tests/net/test_snapwire.py checks against this.
    What changed between a baseline tick and now does not depend on who is looking, and clients share a handful
    of baseline ticks (the last few), so changes are computed per (baseline tick, slot) and only looked up per
    (client, entity) pair; records are gathered from per-slot records of this tick.
    """
    num = len(current)
    q_now = history.q[tick % history.depth]
    key_space = int(history.q.shape[1]) + 1
    cur_keys, cur_rows, cur_ids = _flatten(current, key_space)
    base_keys, base_rows, base_ids = _flatten(baselines, key_space)
    kept = _member(cur_keys, base_keys)
    still = _member(base_keys, cur_keys)

    common = np.flatnonzero(kept)
    common_ids = cur_ids[common]
    ticks, which = np.unique(base_ticks[cur_rows[common]], return_inverse=True)
    differs = history.q[ticks % history.depth] != q_now[None]  # (baseline ticks, slots, fields)
    same_player = ~differs[which, common_ids, _GEN]
    new = ~kept
    new[common[~same_player]] = True
    common, common_ids, which = common[same_player], common_ids[same_player], which[same_player]
    moved = differs[:, :, _MOVED_COLS].any(axis=2)[which, common_ids]
    turned = differs[:, :, _FWD].any(axis=2)[which, common_ids]
    changed = differs[:, :, _STATE_COLS].any(axis=2)[which, common_ids]

    all_enter, all_moved, all_turned, all_state = _slot_records(q_now)
    parts = (
        (all_enter[cur_ids[new]], cur_rows[new]),
        (all_moved[common_ids[moved]], cur_rows[common[moved]]),
        (all_turned[common_ids[turned]], cur_rows[common[turned]]),
        (all_state[common_ids[changed]], cur_rows[common[changed]]),
        (base_ids[~still].astype(LEAVE), base_rows[~still]),
    )
    return DeltaBatch(
        tuple(np.ascontiguousarray(arr).view(np.uint8) for arr, _ in parts),
        np.stack([_offsets(rows, num, arr.dtype.itemsize) for arr, rows in parts]),
        int(cur_ids.shape[0]) * ENTER.itemsize,
    )


# --- client side -----------------------------------------------------------------------------------------------

EMPTY_TABLE = np.zeros(0, dtype=ENTER)


def apply_delta(base: NDArray, snap: Snapshot) -> NDArray:
    """The entity table (ENTER records sorted by id) of ``snap``, given the table of its baseline snapshot."""
    try:
        leave = records(snap.leave, LEAVE)
        enter = records(snap.enter, ENTER)
        moved = records(snap.moved, MOVED)
        turned = records(snap.turned, TURNED)
        state = records(snap.state, STATE)
    except ValueError as exc:
        raise ProtocolError(str(exc)) from None
    if leave.size or enter.size:
        drop = np.isin(base["id"], np.concatenate([leave, enter["id"]]))
        table = np.concatenate([base[~drop], enter])
        table = table[np.argsort(table["id"], kind="stable")]
    else:
        table = base.copy()
    ids = table["id"]
    for patch, fields in ((moved, ("pos", "height")), (turned, ("fwd",)), (state, ("action", "flags", "score"))):
        if patch.size == 0:
            continue
        idx = np.searchsorted(ids, patch["id"])
        if np.any(idx >= ids.size) or np.any(ids[np.minimum(idx, ids.size - 1)] != patch["id"]):
            raise ProtocolError("snapshot patches an entity that is not in its baseline")
        for name in fields:
            table[name][idx] = patch[name]
    return table
