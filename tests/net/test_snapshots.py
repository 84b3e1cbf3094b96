"""Delta snapshots decode to exactly the state a full snapshot gives, for any baseline the client acked."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mpgenie.net import protocol as p
from mpgenie.net.core import ServerCore
from mpgenie.net.snapshots import EMPTY_TABLE, StateHistory, apply_delta, build_deltas
from mpgenie.net.tickets import DEV_SECRET, issue_ticket
from mpgenie.world import World, WorldConfig

from .sim import Link, SimNet


def _full_table(history: StateHistory, tick: int, ids: np.ndarray) -> np.ndarray:
    batch = build_deltas(history, tick, [ids], np.zeros(1, dtype=np.int64), [np.zeros(0, dtype=np.int64)])
    return apply_delta(EMPTY_TABLE, batch.snapshot(0, tick, 0, 0, None))


@settings(max_examples=40)
@given(seed=st.integers(0, 10_000), players=st.integers(2, 40), lag=st.integers(1, 8))
def test_delta_against_any_baseline_equals_full_snapshot(seed: int, players: int, lag: int) -> None:
    world = World(WorldConfig(seed=seed, radius=20.0, num_landmarks=8, tick_rate=20))
    world.add_players(players)
    rng = np.random.default_rng(seed)
    gen = np.ones(64, dtype=np.int64)
    history = StateHistory(16)
    views: dict[int, list[np.ndarray]] = {}
    for _ in range(12):
        if rng.random() < 0.3 and world.num_players > 2:  # churn: slots get reused with a new generation
            victim = int(rng.choice(world.active_ids()))
            world.remove_player(victim)
        if rng.random() < 0.3:
            new = world.add_player()
            gen[new] += 1
        world.step(rng.integers(0, 10, size=world.num_slots).astype(np.int8))
        history.record(world, gen)
        views[world.tick] = [
            np.unique(rng.choice(world.active_ids(), size=rng.integers(0, world.num_players + 1))) for _ in range(3)
        ]
    t = world.tick
    base_tick = max(1, t - lag)
    current = views[t]
    baselines = views[base_tick]
    batch = build_deltas(history, t, current, np.full(3, base_tick, dtype=np.int64), baselines)
    for r in range(3):
        base_table = _full_table(history, base_tick, baselines[r])
        got = apply_delta(base_table, batch.snapshot(r, t, base_tick, 0, None))
        want = _full_table(history, t, current[r])
        assert got.tobytes() == want.tobytes()
        assert got["id"].tolist() == sorted(current[r].tolist())


def test_unchanged_entities_cost_nothing() -> None:
    world = World(WorldConfig(seed=1, radius=20.0, num_landmarks=8))
    world.add_players(5)
    gen = np.ones(16, dtype=np.int64)
    history = StateHistory(8)
    world.step()
    history.record(world, gen)
    world.step()  # nobody acts: nothing changes
    history.record(world, gen)
    ids = world.active_ids()
    batch = build_deltas(history, 2, [ids], np.array([1]), [ids])
    snap = batch.snapshot(0, 2, 1, 0, None)
    assert (snap.enter, snap.moved, snap.turned, snap.leave) == (b"", b"", b"", b"")


def test_clients_reconstruct_server_views_under_loss_and_jitter() -> None:
    """End to end through the core: every snapshot a client applies matches the server's view of that tick."""
    cfg = WorldConfig(seed=3, radius=20.0, num_landmarks=8, num_hazards=0)
    net = SimNet(cfg, seed=5)
    rng = np.random.default_rng(9)
    checked = 0

    def policy(client, seq):
        return int(rng.integers(0, 8))

    clients = [
        net.connect(f"c{i}", down=Link(0.04, 0.03, loss=0.2), up=Link(0.03, 0.02), policy=policy) for i in range(8)
    ]
    for _ in range(60):
        net.run(0.05)
        for c in clients:
            st_ = c.state
            conn = net.server.conns[c.peer]
            for tick, table in st_.tables.items():
                ids = net.server.sent_views.view(tick, conn.uid)
                if ids is None or not net.server.history.has(tick):
                    continue
                assert table.tobytes() == _full_table(net.server.history, tick, ids).tobytes()
                checked += 1
    assert checked > 500
    assert all(c.state.snapshots > 20 for c in clients)
    deltas = sum(c.state.snapshots - c.state.full_snapshots for c in clients)
    assert deltas > 0.8 * sum(c.state.snapshots for c in clients)


def test_packed_records_are_little_endian() -> None:
    rec = np.zeros(1, dtype=p.ENTER)
    rec["id"] = 0x01020304
    assert rec.tobytes()[:4] == b"\x04\x03\x02\x01"


class _Peer:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed: tuple[int, str] | None = None

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def backlog(self) -> int:
        return 0

    def close(self, code: int, reason: str, abort: bool = False) -> None:
        self.closed = (code, reason)


def test_after_an_ack_of_0_any_remembered_tick_becomes_the_baseline() -> None:
    """protocol.md 6.4: acks only move the baseline forward, except right after an ack of 0: the baseline is then
    0, so the next non-zero ack of any tick the server still remembers sending wins, even one older than the
    baseline before the reset; from there acks move forward again."""
    core = ServerCore(WorldConfig(seed=1, radius=20.0, num_landmarks=4, num_hazards=0))
    peer = _Peer()
    core.on_connect(peer, 0.0)
    core.on_message(peer, p.encode(p.Hello(p.PROTOCOL_VERSION, issue_ticket(DEV_SECRET, "a"))), 0.0)
    now = 0.0

    def base_after(ack: int) -> int:
        nonlocal now
        now += 0.05
        core.on_message(peer, p.encode(p.Ack(ack)), now)
        core.tick(now)
        snap = next(m for m in map(p.decode_server, reversed(peer.sent)) if isinstance(m, p.Snapshot))
        return snap.base

    for _ in range(10):
        core.tick(now := now + 0.05)
    assert base_after(8) == 8
    assert base_after(5) == 8  # older: ignored
    assert base_after(0) == 0  # reset: full snapshots
    assert base_after(0) == 0
    assert base_after(5) == 5  # older than the 8 before the reset, still remembered: the new baseline
    assert base_after(3) == 5  # forward only again
    assert base_after(9) == 9
    assert base_after(10_000) == 9  # a tick never sent: ignored
