"""Every client's snapshot frame of one tick, written as MessagePack in one compiled pass. Compiled with Numba.

A busy tick sends a thousand snapshots; building a :class:`~mpgenie.net.protocol.Snapshot` and a
:class:`~mpgenie.net.protocol.You` struct per client and encoding each with msgspec costs a dozen Python steps per
client, more than the batched delta build that produced their contents. :func:`encode_snapshots` writes all the
frames into one buffer instead (one offset per client), so what is left per client is slicing its bytes and the
socket write.

The bytes are exactly msgspec's encoding of the same ``Snapshot`` (an 11-element array tagged ``"snap"``, integers
in their smallest MessagePack form, floats as float64, records as ``bin``): docs/protocol.md stays the contract and
msgspec the specification; tests/net/test_snapwire.py checks the two agree, property-tested against msgspec.
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
def _put_int(out: NDArray[np.uint8], i: int, v: int) -> int:
    """A MessagePack integer in the smallest form (as msgspec writes it)."""
    if v >= 0:
        if v < 128:
            out[i] = v
            return i + 1
        if v < 256:
            out[i] = 0xCC
            return _put_be(out, i + 1, v, 1)
        if v < 65536:
            out[i] = 0xCD
            return _put_be(out, i + 1, v, 2)
        if v < 4294967296:
            out[i] = 0xCE
            return _put_be(out, i + 1, v, 4)
        out[i] = 0xCF
        return _put_be(out, i + 1, v, 8)
    if v >= -32:
        out[i] = v & 0xFF
        return i + 1
    if v >= -128:
        out[i] = 0xD0
        return _put_be(out, i + 1, v, 1)
    if v >= -32768:
        out[i] = 0xD1
        return _put_be(out, i + 1, v, 2)
    if v >= -2147483648:
        out[i] = 0xD2
        return _put_be(out, i + 1, v, 4)
    out[i] = 0xD3
    return _put_be(out, i + 1, v, 8)


@njit(cache=True)
def _put_float(out: NDArray[np.uint8], i: int, bits: int) -> int:
    """A MessagePack float64 from its IEEE bit pattern (as int64)."""
    out[i] = 0xCB
    return _put_be(out, i + 1, bits, 8)


@njit(cache=True)
def _put_bin(out: NDArray[np.uint8], i: int, src: NDArray[np.uint8], start: int, stop: int) -> int:
    n = stop - start
    if n < 256:
        out[i] = 0xC4
        i = _put_be(out, i + 1, n, 1)
    elif n < 65536:
        out[i] = 0xC5
        i = _put_be(out, i + 1, n, 2)
    else:
        out[i] = 0xC6
        i = _put_be(out, i + 1, n, 4)
    out[i : i + n] = src[start:stop]
    return i + n


@njit(cache=True)
def write_snapshots(
    out: NDArray[np.uint8],
    tick: int,
    ints: NDArray[np.int64],
    you_bits: NDArray[np.int64],
    you_ints: NDArray[np.int64],
    enter: NDArray[np.uint8],
    moved: NDArray[np.uint8],
    turned: NDArray[np.uint8],
    state: NDArray[np.uint8],
    leave: NDArray[np.uint8],
    rec_off: NDArray[np.int64],
) -> NDArray[np.int64]:
    """Write client ``r``'s snapshot at ``out[offsets[r]:offsets[r + 1]]``; returns ``offsets``.

    ``ints[r]``: base, ack_seq, queued, has_you. ``you_bits[r]``: float64 bit patterns of pos (3), fwd (3), height,
    vz. ``you_ints[r]``: score, deaths, teleported. ``rec_off``: (5, clients + 1) byte offsets of each client's
    records in the enter, moved, turned, state and leave buffers.
    """
    num = ints.shape[0]
    offsets = np.empty(num + 1, dtype=np.int64)
    i = 0
    for r in range(num):
        offsets[r] = i
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
        i = _put_bin(out, i, enter, rec_off[0, r], rec_off[0, r + 1])
        i = _put_bin(out, i, moved, rec_off[1, r], rec_off[1, r + 1])
        i = _put_bin(out, i, turned, rec_off[2, r], rec_off[2, r + 1])
        i = _put_bin(out, i, state, rec_off[3, r], rec_off[3, r + 1])
        i = _put_bin(out, i, leave, rec_off[4, r], rec_off[4, r + 1])
    offsets[num] = i
    return offsets


def encode_snapshots(
    tick: int,
    ints: NDArray[np.int64],
    you_float: NDArray[np.float64],
    you_ints: NDArray[np.int64],
    records: tuple[NDArray[np.uint8], ...],
    rec_off: NDArray[np.int64],
) -> tuple[bytes, list[int]]:
    """All clients' snapshot frames in one ``bytes`` and the offsets of each (``clients + 1``); arguments as in
    :func:`write_snapshots`, with ``you_float`` the float64 values themselves (rows of clients without ``you``
    are ignored)."""
    num = ints.shape[0]
    out = np.empty(num * MAX_HEADER_BYTES + sum(int(b.shape[0]) for b in records), dtype=np.uint8)
    bits = np.ascontiguousarray(you_float, dtype=np.float64).view(np.int64)
    enter, moved, turned, state, leave = records
    offsets = write_snapshots(out, tick, ints, bits, you_ints, enter, moved, turned, state, leave, rec_off)
    return out[: offsets[num]].tobytes(), offsets.tolist()
