"""The load generator's light client (snapshots read as SnapshotHeader) acknowledges, paces and measures exactly
as the full client does, fed the same frames."""

from __future__ import annotations

import numpy as np

from mpgenie.net import protocol as p
from mpgenie.net.client import ClientState
from mpgenie.net.core import ServerCore
from mpgenie.net.tickets import DEV_SECRET, issue_ticket
from mpgenie.world.config import WorldConfig


class ListPeer:
    def __init__(self) -> None:
        self.out: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.out.append(data)

    def backlog(self) -> int:
        return 0

    def close(self, code: int, reason: str, abort: bool = False) -> None:
        pass


def test_light_and_full_clients_ack_and_measure_the_same_ticks() -> None:
    core = ServerCore(WorldConfig(seed=2, radius=15.0, num_landmarks=6))
    rng = np.random.default_rng(4)
    peers, full, light = [], [], []
    for i in range(6):
        peer = ListPeer()
        token = issue_ticket(DEV_SECRET, f"p{i}")
        core.on_connect(peer, 0.0)
        core.on_message(peer, ClientState(token).hello(), 0.0)
        peers.append(peer)
        full.append(ClientState(token, predict=False))  # tracks entities: every delta applied
        light.append(ClientState(token, light=True))
    now = 0.0
    records_seen = 0
    for tick in range(120):
        now += 0.05
        for i, peer in enumerate(peers):
            arrive = now + 0.01 * (i + 1)
            frames, peer.out = peer.out, []
            for data in frames:
                if tick % 7 == i and p.decode_server(data).__class__ is p.Snapshot:
                    continue  # lost in transit, for both: acks lag and deltas name older baselines
                full[i].handle(data, arrive)
                light[i].handle(data, arrive)
            action = int(rng.integers(0, 10))
            a, b = full[i].input(action, arrive), light[i].input(action, arrive)
            fa, la = p.decode_client(a), p.decode_client(b)
            assert isinstance(fa, p.Input) and isinstance(la, p.Input)
            assert (fa.seq, fa.ack, fa.action) == (la.seq, la.ack, la.action)  # the same ack every tick
            core.on_message(peer, a, arrive)
        core.tick(now)
    for f, g in zip(full, light, strict=True):
        assert f.resyncs == 0
        assert (g.tick, g.ack_seq, g.snapshots, g.full_snapshots) == (f.tick, f.ack_seq, f.snapshots, f.full_snapshots)
        assert (g.entity_records, g.server_queued, g.bytes_in) == (f.entity_records, f.server_queued, f.bytes_in)
        assert list(g.latencies) == list(f.latencies) and len(f.latencies) > 90
        assert f.snapshots > 90 and f.snapshots - f.full_snapshots > 80  # mostly deltas
        assert g.tables == {} and g.predictor is None  # and none of the work
        records_seen += f.entity_records
    assert records_seen > 0
