"""The compiled delta-and-frame writer against its specification: the NumPy delta rules (``build_deltas``) and
msgspec's encoding of the Snapshot struct they make, byte for byte."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mpgenie.net import protocol as p
from mpgenie.net.snapshots import StateHistory, build_deltas
from mpgenie.net.snapwire import encode_delta_frames

DEPTH = 4
U63 = st.integers(0, 2**63 - 1)
I64 = st.integers(-(2**63), 2**63 - 1)
# Every boundary of MessagePack's integer forms, besides arbitrary values.
EDGES = [0, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1]
NEG_EDGES = [-1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**63)]
UINT = st.one_of(U63, st.sampled_from(EDGES))
INT = st.one_of(I64, st.sampled_from(EDGES + NEG_EDGES))


def _history(rng: np.random.Generator, slots: int, tick: int) -> StateHistory:
    """Random quantized states for ticks tick - DEPTH + 1 .. tick, with values over each field's whole range and
    few distinct ones (so that fields often stay the same and deltas are partial)."""
    h = StateHistory(DEPTH)
    lo = np.array([-32767] * 6 + [0, 0, 0, -(2**31), 1])
    hi = np.array([32767] * 6 + [65535, 9, 1, 2**31 - 1, 3])
    pick = rng.integers(0, 2, size=(DEPTH, slots, 11))
    h.q = np.where(pick, lo, hi).astype(np.int32)
    h.q[..., 10] = rng.integers(1, 3, size=(DEPTH, slots))  # the join generation: sometimes another player
    h.q[rng.integers(0, DEPTH)] = h.q[tick % DEPTH]  # and a baseline with no change at all
    for t in range(tick - DEPTH + 1, tick + 1):
        h.ticks[t % DEPTH] = t
    return h


@st.composite
def scenes(draw: st.DrawFn) -> dict:
    slots = draw(st.integers(1, 12))
    tick = draw(st.integers(DEPTH, 10**6))
    seed = draw(st.integers(0, 2**32 - 1))
    clients = []
    for _ in range(draw(st.integers(0, 5))):
        cur = sorted(draw(st.sets(st.integers(0, slots - 1))))
        base = draw(st.sampled_from([0, *range(tick - DEPTH + 1, tick)]))
        seen = sorted(draw(st.sets(st.integers(0, slots - 1)))) if base else []
        you = draw(
            st.one_of(st.none(), st.tuples(st.lists(st.floats(), min_size=8, max_size=8), INT, INT, st.booleans()))
        )
        clients.append(
            {"cur": cur, "base": base, "seen": seen, "ack_seq": draw(UINT), "queued": draw(UINT), "you": you}
        )
    return {"slots": slots, "tick": tick, "seed": seed, "clients": clients}


def _flat(views: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    ids = np.array([i for v in views for i in v], dtype=np.int64)
    offsets = np.zeros(len(views) + 1, dtype=np.int64)
    np.cumsum([len(v) for v in views], out=offsets[1:])
    return ids, offsets


def _kernel(h: StateHistory, tick: int, clients: list[dict]) -> tuple[bytes, list[int], tuple[int, int, int]]:
    n = len(clients)
    ack = np.array([(c["ack_seq"], c["queued"], c["you"] is not None) for c in clients], dtype=np.int64).reshape(n, 3)
    you_float = np.array([c["you"][0] if c["you"] else [0.0] * 8 for c in clients], dtype=np.float64).reshape(n, 8)
    you_ints = np.array([c["you"][1:] if c["you"] else (0, 0, 0) for c in clients], dtype=np.int64).reshape(n, 3)
    base_ticks = np.array([c["base"] for c in clients], dtype=np.int64)
    current = _flat([c["cur"] for c in clients])
    baselines = _flat([c["seen"] for c in clients])
    return encode_delta_frames(h.q, tick, base_ticks, current, baselines, ack, you_float, you_ints)


def _reference(h: StateHistory, tick: int, clients: list[dict]) -> tuple[list[bytes], tuple[int, int, int]]:
    batch = build_deltas(
        h,
        tick,
        [np.array(c["cur"], dtype=np.int64) for c in clients],
        np.array([c["base"] for c in clients], dtype=np.int64),
        [np.array(c["seen"], dtype=np.int64) for c in clients],
    )
    frames = []
    for r, c in enumerate(clients):
        you = None
        if c["you"] is not None:
            f, score, deaths, tele = c["you"]
            you = p.You(tuple(f[:3]), tuple(f[3:6]), f[6], f[7], score, deaths, tele)
        frames.append(p.encode(batch.snapshot(r, tick, c["base"], c["ack_seq"], you, c["queued"])))
    return frames, (batch.num_entity_records, batch.record_bytes, batch.full_bytes)


@settings(max_examples=200, deadline=None)
@given(scenes())
def test_frames_are_the_numpy_deltas_encoded_by_msgspec(scene: dict) -> None:
    h = _history(np.random.default_rng(scene["seed"]), scene["slots"], scene["tick"])
    data, offsets, stats = _kernel(h, scene["tick"], scene["clients"])
    frames, ref_stats = _reference(h, scene["tick"], scene["clients"])
    assert len(offsets) == len(frames) + 1 and offsets[-1] == len(data)
    assert [data[offsets[r] : offsets[r + 1]] for r in range(len(frames))] == frames
    assert stats == ref_stats


def test_large_views_take_bin16_and_bin32() -> None:
    """3,000 entering entities (72,000 bytes: bin32) and a delta of 30 moves (bin8) and 2,990 leaves (bin16)."""
    tick = 9
    h = _history(np.random.default_rng(1), 3000, tick)
    h.q[(tick - 1) % DEPTH] = h.q[tick % DEPTH]
    h.q[tick % DEPTH, :30, 0] += 1
    clients = [
        {"cur": list(range(3000)), "base": 0, "seen": [], "ack_seq": 1, "queued": 0, "you": None},
        {"cur": list(range(10)), "base": tick - 1, "seen": list(range(3000)), "ack_seq": 2, "queued": 1, "you": None},
    ]
    data, offsets, _ = _kernel(h, tick, clients)
    assert [data[offsets[r] : offsets[r + 1]] for r in range(2)] == _reference(h, tick, clients)[0]
    full, delta = (p.decode_server(data[offsets[r] : offsets[r + 1]]) for r in range(2))
    assert isinstance(full, p.Snapshot) and len(full.enter) == 3000 * p.ENTER.itemsize
    assert isinstance(delta, p.Snapshot) and len(delta.leave) == 2990 * 4 and len(delta.moved) == 10 * 12


def test_the_light_header_reads_the_same_frame() -> None:
    """What a load-generator client reads (SnapshotHeader) agrees with the full decode of the same bytes."""
    tick = 7
    h = _history(np.random.default_rng(2), 300, tick)
    clients = [{"cur": list(range(0, 300, 2)), "base": 6, "seen": list(range(250)), "ack_seq": 300, "queued": 2,
                "you": ([0.5] * 8, -7, 2, True)}]  # fmt: skip
    data, _, _ = _kernel(h, tick, clients)
    full, light = p.decode_server(data), p.decode_server_light(data)
    assert isinstance(full, p.Snapshot) and isinstance(light, p.SnapshotHeader)
    assert (light.tick, light.base, light.ack_seq, light.queued) == (full.tick, full.base, full.ack_seq, full.queued)
    counted = sum(len(b) // d.itemsize for b, d in zip((full.enter, full.moved, full.turned, full.state),
                                                       (p.ENTER, p.MOVED, p.TURNED, p.STATE), strict=True))  # fmt: skip
    assert light.entity_records == counted > 100
