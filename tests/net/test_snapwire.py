"""The compiled snapshot writer against its specification: msgspec's encoding of the same Snapshot struct."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mpgenie.net import protocol as p
from mpgenie.net.snapwire import encode_snapshots

I64 = st.integers(-(2**63), 2**63 - 1)
U63 = st.integers(0, 2**63 - 1)
# Values at every boundary of MessagePack's integer forms, besides arbitrary ones.
EDGES = st.sampled_from(
    [
        0,
        127,
        128,
        255,
        256,
        65535,
        65536,
        2**32 - 1,
        2**32,
        -1,
        -32,
        -33,
        -128,
        -129,
        -32768,
        -32769,
        -(2**31),
        -(2**31) - 1,
        2**63 - 1,
        -(2**63),
    ]
)

client = st.fixed_dictionaries(
    {
        "base": st.one_of(U63, EDGES.filter(lambda v: v >= 0)),
        "ack_seq": st.one_of(U63, EDGES.filter(lambda v: v >= 0)),
        "queued": st.integers(0, 300),
        "you": st.one_of(
            st.none(),
            st.tuples(
                st.lists(st.floats(allow_nan=False), min_size=8, max_size=8),
                st.one_of(I64, EDGES),
                st.one_of(I64, EDGES),
                st.booleans(),
            ),
        ),
        "records": st.lists(st.binary(max_size=300), min_size=5, max_size=5),
    }
)


def _encode_all(tick: int, clients: list[dict]) -> tuple[bytes, list[int]]:
    n = len(clients)
    ints = np.array(
        [(c["base"], c["ack_seq"], c["queued"], c["you"] is not None) for c in clients], dtype=np.int64
    ).reshape(n, 4)
    you_float = np.array([c["you"][0] if c["you"] else [0.0] * 8 for c in clients], dtype=np.float64).reshape(n, 8)
    you_ints = np.array(
        [(c["you"][1], c["you"][2], c["you"][3]) if c["you"] else (0, 0, 0) for c in clients], dtype=np.int64
    ).reshape(n, 3)
    records = tuple(np.frombuffer(b"".join(c["records"][k] for c in clients), dtype=np.uint8).copy() for k in range(5))
    lengths = np.array([[len(c["records"][k]) for c in clients] for k in range(5)], dtype=np.int64).reshape(5, n)
    rec_off = np.zeros((5, n + 1), dtype=np.int64)
    np.cumsum(lengths, axis=1, out=rec_off[:, 1:])
    return encode_snapshots(tick, ints, you_float, you_ints, records, rec_off)


def _msgspec(tick: int, c: dict) -> bytes:
    you = None
    if c["you"] is not None:
        f, score, deaths, tele = c["you"]
        you = p.You(tuple(f[:3]), tuple(f[3:6]), f[6], f[7], score, deaths, tele)
    return p.encode(p.Snapshot(tick, c["base"], c["ack_seq"], c["queued"], you, *c["records"]))


@settings(max_examples=150, deadline=None)
@given(st.one_of(U63, EDGES.filter(lambda v: v >= 0)), st.lists(client, max_size=6))
def test_frames_are_msgspecs_bytes(tick: int, clients: list[dict]) -> None:
    data, offsets = _encode_all(tick, clients)
    assert len(offsets) == len(clients) + 1 and offsets[-1] == len(data)
    for r, c in enumerate(clients):
        assert data[offsets[r] : offsets[r + 1]] == _msgspec(tick, c)


def test_large_records_take_bin16_and_bin32() -> None:
    clients = [
        {
            "base": 7,
            "ack_seq": 3,
            "queued": 0,
            "you": None,
            "records": [b"\x01" * 70_000, b"\x02" * 300, b"", b"x", b""],
        }
    ]
    data, _ = _encode_all(99, clients)
    assert data == _msgspec(99, clients[0])
    assert p.decode_server(data).enter == b"\x01" * 70_000  # type: ignore[union-attr]


def test_the_light_header_reads_the_same_frame() -> None:
    """What a load-generator client reads (SnapshotHeader) agrees with the full decode of the same bytes."""
    rec = [p.ENTER.itemsize * b"e" * 3, p.MOVED.itemsize * b"m" * 40, b"", p.STATE.itemsize * b"s", b"\0" * 8]
    clients = [{"base": 5, "ack_seq": 300, "queued": 2, "you": ([0.5] * 8, -7, 2, True), "records": rec}]
    data, _ = _encode_all(12, clients)
    full, light = p.decode_server(data), p.decode_server_light(data)
    assert isinstance(full, p.Snapshot) and isinstance(light, p.SnapshotHeader)
    assert (light.tick, light.base, light.ack_seq, light.queued) == (full.tick, full.base, full.ack_seq, full.queued)
    assert light.entity_records == 3 + 40 + 0 + 1
