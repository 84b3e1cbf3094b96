"""Every client's delta and whole snapshot frame of one tick, written as MessagePack in one pass. Compiled with Numba.

A busy tick sends a thousand snapshots. Computing the deltas in NumPy passes over (client, entity) keys, then
building a :class:`~mpgenie.net.protocol.You` and a :class:`~mpgenie.net.protocol.Snapshot` struct per client and
encoding each with msgspec, cost more than everything else the tick does. :func:`encode_delta_frames` does it all
in one compiled pass instead: per client, a merge of its sorted view with its sorted baseline counts and then
writes the records, straight into the ``bin`` fields of its frame, every frame in one buffer (an offset per
client), so what is left per client in Python is slicing its bytes and the socket write.

The rules are :func:`mpgenie.net.snapshots.build_deltas`'s and the bytes exactly msgspec's encoding of the
``Snapshot`` it makes (an 11-element array tagged ``"snap"``, integers in their smallest MessagePack form, floats
as float64, records little-endian in ``bin``): docs/protocol.md stays the contract, the NumPy function and msgspec
the specification; tests/net/test_snapwire.py checks byte for byte that they agree, property-tested.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

# Bytes a snapshot can take besides its records: array header, tag, four integers, ``you`` and five bin headers.
MAX_HEADER_BYTES = 1 + 5 + 4 * 9 + (1 + 2 * (1 + 3 * 9) + 4 * 9 + 1) + 5 * 5


@njit(cache=True)
def _put_be(out: NDArray[np.uint8], i: int, v: int, n: int) -> int:
    """``n`` bytes of ``v`` big-endian (two's complement for negative ``v``) at ``out[i]``; the next position."""
    for k in range(n):
        out[i + k] = (v >> (8 * (n - 1 - k))) & 0xFF
    return i + n


@njit(cache=True)
def _tagged(out: NDArray[np.uint8], i: int, tag: int, v: int, n: int) -> int:
    """A MessagePack type byte, then ``n`` bytes of ``v`` big-endian."""
    out[i] = tag
    return _put_be(out, i + 1, v, n)


@njit(cache=True)
def _put_int(out: NDArray[np.uint8], i: int, v: int) -> int:
    """A MessagePack integer in the smallest form (as msgspec writes it)."""
    if 0 <= v < 128 or -32 <= v < 0:  # positive / negative fixint: the value is the byte
        out[i] = v & 0xFF
        return i + 1
    if v >= 0:
        if v < 256:
            return _tagged(out, i, 0xCC, v, 1)
        if v < 65536:
            return _tagged(out, i, 0xCD, v, 2)
        return _tagged(out, i, 0xCE, v, 4) if v < 4294967296 else _tagged(out, i, 0xCF, v, 8)
    if v >= -128:
        return _tagged(out, i, 0xD0, v, 1)
    if v >= -32768:
        return _tagged(out, i, 0xD1, v, 2)
    return _tagged(out, i, 0xD2, v, 4) if v >= -2147483648 else _tagged(out, i, 0xD3, v, 8)


@njit(cache=True)
def _put_float(out: NDArray[np.uint8], i: int, bits: int) -> int:
    """A MessagePack float64 from its IEEE bit pattern (as int64)."""
    return _tagged(out, i, 0xCB, bits, 8)


@njit(cache=True)
def _put_le(out: NDArray[np.uint8], i: int, v: int, n: int) -> int:
    """``n`` bytes of ``v`` little-endian (the packed entity records' byte order)."""
    for k in range(n):
        out[i + k] = (v >> (8 * k)) & 0xFF
    return i + n


@njit(cache=True)
def _bin_header(out: NDArray[np.uint8], i: int, n: int) -> int:
    """A MessagePack ``bin`` header for ``n`` bytes (bin8, bin16 or bin32)."""
    if n < 256:
        return _tagged(out, i, 0xC4, n, 1)
    return _tagged(out, i, 0xC5, n, 2) if n < 65536 else _tagged(out, i, 0xC6, n, 4)


@njit(cache=True)
def _differ(q: NDArray[np.int32], a: int, b: int, slot: int, lo: int, hi: int) -> bool:
    for f in range(lo, hi):  # noqa: SIM110 - a loop Numba compiles (no generator)
        if q[a, slot, f] != q[b, slot, f]:
            return True
    return False


@njit(cache=True)
def write_delta_frames(
    out: NDArray[np.uint8],
    q: NDArray[np.int32],
    now_row: int,
    tick: int,
    base_rows: NDArray[np.int64],
    cur_ids: NDArray[np.int64],
    cur_off: NDArray[np.int64],
    base_ids: NDArray[np.int64],
    base_off: NDArray[np.int64],
    ints: NDArray[np.int64],
    you_bits: NDArray[np.int64],
    you_ints: NDArray[np.int64],
    stats: NDArray[np.int64],
) -> NDArray[np.int64]:
    """Write client ``r``'s whole snapshot frame at ``out[offsets[r]:offsets[r + 1]]``; returns ``offsets``.

    ``q``: the quantized state history (:class:`~mpgenie.net.snapshots.StateHistory`), ``now_row`` this tick's row
    in it and ``base_rows[r]`` the client's baseline row (-1: full snapshot). The client's view is
    ``cur_ids[cur_off[r]:cur_off[r + 1]]`` and its baseline's ``base_ids[base_off[r]:base_off[r + 1]]`` (both
    sorted). ``ints[r]``: base tick, ack_seq, queued, has_you; ``you_bits``/``you_ints`` as in
    :func:`encode_delta_frames`. ``stats`` gets (entity records, record bytes, full-snapshot record bytes).

    Per client, one merge of the two sorted id lists counts the records, a second writes them where their
    ``bin`` fields go; the rules are :func:`~mpgenie.net.snapshots.build_deltas`'s (enter: new in the view, or its
    slot holds another player; moved/turned/state: those columns changed since the baseline; leave: gone).
    """
    num = ints.shape[0]
    offsets = np.empty(num + 1, dtype=np.int64)
    counts = np.zeros(5, dtype=np.int64)
    cursor = np.zeros(5, dtype=np.int64)
    sizes = np.array([24, 12, 10, 10, 4], dtype=np.int64)  # ENTER, MOVED, TURNED, STATE, LEAVE itemsizes
    i = 0
    for r in range(num):
        offsets[r] = i
        b = base_rows[r]
        c0, c1 = cur_off[r], cur_off[r + 1]
        b0, b1 = base_off[r], base_off[r + 1]
        if b < 0:  # a full snapshot: no baseline
            b1 = b0
        for emit in range(2):  # 0: count the records, 1: write them
            if emit == 1:
                out[i] = 0x9B  # fixarray of 11
                out[i + 1] = 0xA4  # fixstr "snap"
                out[i + 2] = 0x73
                out[i + 3] = 0x6E
                out[i + 4] = 0x61
                out[i + 5] = 0x70
                i = _put_int(out, i + 6, tick)
                i = _put_int(out, i, ints[r, 0])
                i = _put_int(out, i, ints[r, 1])
                i = _put_int(out, i, ints[r, 2])
                if ints[r, 3]:
                    out[i] = 0x97  # You: fixarray of 7
                    out[i + 1] = 0x93  # pos
                    i += 2
                    for k in range(3):
                        i = _put_float(out, i, you_bits[r, k])
                    out[i] = 0x93  # fwd
                    i += 1
                    for k in range(3, 8):
                        i = _put_float(out, i, you_bits[r, k])
                    i = _put_int(out, i, you_ints[r, 0])
                    i = _put_int(out, i, you_ints[r, 1])
                    out[i] = 0xC3 if you_ints[r, 2] else 0xC2
                    i += 1
                else:
                    out[i] = 0xC0  # nil
                    i += 1
                for k in range(5):  # bin headers, each followed by the room its records take
                    n = counts[k] * sizes[k]
                    i = _bin_header(out, i, n)
                    cursor[k] = i
                    i += n
                    stats[1] += n
                stats[0] += counts[0] + counts[1] + counts[2] + counts[3]
                stats[2] += (c1 - c0) * 24
            counts[:] = 0
            x, y = c0, b0
            while x < c1 or y < b1:
                if y >= b1 or (x < c1 and cur_ids[x] < base_ids[y]):
                    kind, ident = 0, cur_ids[x]
                    x += 1
                elif x >= c1 or base_ids[y] < cur_ids[x]:
                    kind, ident = 4, base_ids[y]
                    y += 1
                else:
                    ident = cur_ids[x]
                    x += 1
                    y += 1
                    if q[b, ident, 10] != q[now_row, ident, 10]:  # the slot holds another player now
                        kind = 0
                    else:
                        kind = -1
                        moved = _differ(q, b, now_row, ident, 0, 3) or q[b, ident, 6] != q[now_row, ident, 6]
                        turned = _differ(q, b, now_row, ident, 3, 6)
                        changed = _differ(q, b, now_row, ident, 7, 10)
                        if emit == 0:
                            counts[1] += moved
                            counts[2] += turned
                            counts[3] += changed
                            continue
                        s = q[now_row, ident]
                        if moved:
                            j = _put_le(out, cursor[1], ident, 4)
                            for f in range(3):
                                j = _put_le(out, j, s[f], 2)
                            cursor[1] = _put_le(out, j, s[6], 2)
                        if turned:
                            j = _put_le(out, cursor[2], ident, 4)
                            for f in range(3, 6):
                                j = _put_le(out, j, s[f], 2)
                            cursor[2] = j
                        if changed:
                            j = _put_le(out, cursor[3], ident, 4)
                            j = _put_le(out, j, s[7], 1)
                            j = _put_le(out, j, s[8], 1)
                            cursor[3] = _put_le(out, j, s[9], 4)
                if kind < 0:
                    continue
                if emit == 0:
                    counts[kind] += 1
                elif kind == 0:
                    s = q[now_row, ident]
                    j = _put_le(out, cursor[0], ident, 4)
                    for f in range(6):
                        j = _put_le(out, j, s[f], 2)
                    j = _put_le(out, j, s[6], 2)
                    j = _put_le(out, j, s[7], 1)
                    j = _put_le(out, j, s[8], 1)
                    cursor[0] = _put_le(out, j, s[9], 4)
                else:
                    cursor[4] = _put_le(out, cursor[4], ident, 4)
    offsets[num] = i
    return offsets


def encode_delta_frames(
    q: NDArray[np.int32],
    tick: int,
    base_ticks: NDArray[np.int64],
    current: tuple[NDArray[np.int64], NDArray[np.int64]],
    baselines: tuple[NDArray[np.int64], NDArray[np.int64]],
    ack: NDArray[np.int64],
    you_float: NDArray[np.float64],
    you_ints: NDArray[np.int64],
) -> tuple[bytes, list[int], tuple[int, int, int]]:
    """Every client's snapshot frame of ``tick``, delta-encoded, in one ``bytes``; the offsets of each (clients +
    1) and (entity records, record bytes, full-snapshot record bytes) for the metrics.

    ``q``: the state history's table (its depth is ``q.shape[0]``; ``base_ticks[r]`` 0 for a full snapshot, else in
    the history). ``current``, ``baselines``: flat views (sorted ids, offsets per client). ``ack[r]``: ack_seq,
    queued, has_you. ``you_float[r]``: pos (3), fwd (3), height, vz; ``you_ints[r]``: score, deaths, teleported
    (rows without ``you`` are ignored).
    """
    num = base_ticks.shape[0]
    depth = q.shape[0]
    cur_ids, cur_off = current
    base_ids, base_off = baselines
    out = np.empty(num * MAX_HEADER_BYTES + 24 * (cur_ids.shape[0] + base_ids.shape[0]), dtype=np.uint8)
    ints = np.empty((num, 4), dtype=np.int64)
    ints[:, 0] = base_ticks
    ints[:, 1:] = ack
    base_rows = np.where(base_ticks > 0, base_ticks % depth, -1)
    bits = np.ascontiguousarray(you_float, dtype=np.float64).view(np.int64)
    stats = np.zeros(3, dtype=np.int64)
    offsets = write_delta_frames(
        out, q, tick % depth, tick, base_rows, cur_ids, cur_off, base_ids, base_off, ints, bits, you_ints, stats
    )
    a, b, c = stats.tolist()
    return out[: offsets[num]].tobytes(), offsets.tolist(), (a, b, c)


def warm_up() -> None:
    """Load the compiled kernel (from Numba's cache, or compile it) before the first tick needs it."""
    none = np.zeros(0, dtype=np.int64)
    one = np.zeros(2, dtype=np.int64)
    encode_delta_frames(
        np.zeros((2, 1, 11), dtype=np.int32),
        1,
        np.zeros(1, dtype=np.int64),
        (none, np.zeros(2, dtype=np.int64)),
        (none, one),
        np.zeros((1, 3), dtype=np.int64),
        np.zeros((1, 8)),
        np.zeros((1, 3), dtype=np.int64),
    )
