"""Session checkpoints (failover without sockets): a core restored from a checkpoint has the same world, holds
every player dropped and awaiting its client, and gives each account its player back through a new ticket (the
takeover by subject), with score and position from the checkpoint."""

from __future__ import annotations

import numpy as np
import pytest

from mpgenie.net import protocol as p
from mpgenie.net.connections import ServerSettings
from mpgenie.net.core import CheckpointError, ServerCore
from mpgenie.net.router import SessionRouter
from mpgenie.net.tickets import DEV_SECRET, issue_ticket
from mpgenie.world import Action, WorldConfig

from .sim import SimNet


def _cfg() -> WorldConfig:
    return WorldConfig.from_mapping({"seed": 8, "radius": 15.0, "num_landmarks": 8, "num_collectibles": 40})


def test_players_get_their_player_score_and_position_back_on_the_restored_core() -> None:
    net = SimNet(_cfg(), seed=3)
    clients = [
        net.connect(f"acct-{k}", policy=lambda c, s: int(Action.FORWARD if s % 3 else Action.TURN_LEFT))
        for k in range(5)
    ]
    net.run(3.0)
    old = net.server
    old.announce("storm", {"k": 1})
    net.run(0.2)
    assert old.world.score.sum() > 0  # pickups happened: scores worth keeping
    data = old.checkpoint()
    expected = {
        s.subject: (s.player, int(old.world.score[s.player]), old.world.pos[s.player].copy())
        for s in old.by_player.values()
    }
    digest = old.world.digest()
    old.announce("after-checkpoint", {})  # the node dies after numbering more events: they are lost
    net.run(0.2)

    restored = ServerCore.from_checkpoint(data, net.now)
    assert restored.world.digest() == digest
    assert {s.subject for s in restored.by_player.values()} == set(expected)
    assert all(s.conn is None and s.dropped_at == net.now for s in restored.by_player.values())
    for player, score, pos in expected.values():  # the same player, score and position as at the checkpoint
        assert restored.world.score[player] == score
        np.testing.assert_array_equal(restored.world.pos[player], pos)

    # The node is gone: every connection dies at once, clients come back with new tickets to the new core.
    for c in clients:
        c.peer.closed = c.peer.cut = True
    net.server = restored
    for k, c in enumerate(clients):
        c.state.token = issue_ticket(DEV_SECRET, f"acct-{k}", "default")
        net._open(c, resume=False)
    net.run(0.2)
    for k, c in enumerate(clients):
        welcome = [m for m in c.received if isinstance(m, p.Welcome)][-1]
        assert welcome.resumed and welcome.player == expected[f"acct-{k}"][0]
    restored.announce("on-the-new-node", {})
    net.run(1.0)
    for c in clients:
        names = [e.name for e in c.state.events if isinstance(e, p.EvWorld)]
        assert names[-1] == "on-the-new-node"  # numbered after what the client had seen, so not dropped
        assert c.state.ack_seq > 5  # playing again: inputs applied on the new core
    assert len(restored.by_player) == 5 and restored.world.num_players == 5


def test_a_new_account_on_the_restored_core_gets_a_new_player() -> None:
    net = SimNet(_cfg(), seed=4)
    net.connect("ann", policy=lambda c, s: int(Action.NOOP))
    net.run(0.5)
    restored = ServerCore.from_checkpoint(net.server.checkpoint(), net.now)
    net.server = restored
    bob = net.connect("bob", policy=lambda c, s: int(Action.NOOP))
    net.run(0.3)
    assert bob.state.welcome is not None and not bob.state.welcome.resumed
    assert restored.world.num_players == 2


def test_unclaimed_restored_players_expire_after_the_grace_window() -> None:
    net = SimNet(_cfg(), ServerSettings(resume_grace_s=1.0), seed=5)
    net.connect("ann", policy=lambda c, s: int(Action.NOOP))
    net.run(0.5)
    restored = ServerCore.from_checkpoint(net.server.checkpoint(), 10.0, ServerSettings(resume_grace_s=1.0))
    restored.tick(10.5)
    assert restored.world.num_players == 1
    restored.tick(11.5)
    assert restored.world.num_players == 0 and not restored.by_subject


def test_router_adopts_a_checkpoint_once_and_refuses_garbage() -> None:
    source = SessionRouter()
    peer_ticket = issue_ticket(DEV_SECRET, "ann", "match-1", extra={"world": {"seed": 4, "radius": 20.0}})

    class _Peer:
        def send(self, data: bytes) -> None: ...

        def backlog(self) -> int:
            return 0

        def close(self, code: int, reason: str, abort: bool = False) -> None: ...

    peer = _Peer()
    source.on_connect(peer, 0.0)
    source.on_message(peer, p.encode(p.Hello(p.PROTOCOL_VERSION, peer_ticket)), 0.0)
    source.tick(0.05)
    checkpoints = source.checkpoints()
    assert set(checkpoints) == {"match-1"}  # the default session is nobody's to take over

    target = SessionRouter()
    core = target.adopt("match-1", checkpoints["match-1"], 1.0)
    assert core is not None and core.world.digest() == source.cores["match-1"].world.digest()
    assert core.settings.session == "match-1" and core.cfg.radius == 20.0
    assert target.adopt("match-1", checkpoints["match-1"], 2.0) is core  # idempotent
    assert target.adopt("match-2", checkpoints["match-1"], 1.0) is None  # another session's checkpoint
    assert target.adopt("match-3", b"garbage", 1.0) is None
    target.end("match-1")
    assert target.adopt("match-1", checkpoints["match-1"], 3.0) is None  # ended sessions stay ended
    with pytest.raises(CheckpointError):
        ServerCore.from_checkpoint(b"\x80", 0.0)
