"""Server rules in virtual time: joining, events, resume, anti-cheat, kicks, backpressure, shutdown."""

import msgspec
import numpy as np

from mpgenie.net import protocol as p
from mpgenie.net.connections import CLOSE_POLICY, CLOSE_TOO_BIG, CLOSE_TRY_LATER, ServerSettings
from mpgenie.net.tickets import DEV_SECRET, issue_ticket
from mpgenie.world import Action, WorldConfig

from .sim import Link, SimNet


def cfg(**kw: object) -> WorldConfig:
    base = {"seed": 4, "radius": 20.0, "num_landmarks": 8}
    base.update(kw)
    return WorldConfig.from_mapping(base)


def noop(client, seq):
    return int(Action.NOOP)


def errors(client) -> list[str]:
    return [m.code for m in client.received if isinstance(m, p.Error)]


def test_join_welcome_and_first_snapshot_is_full() -> None:
    net = SimNet(cfg(), seed=1)
    a = net.connect("a", policy=noop)
    net.run(0.3)
    welcome = a.received[0]
    assert isinstance(welcome, p.Welcome) and welcome.player == 0 and welcome.tick_rate == 20
    assert WorldConfig.from_mapping(welcome.config) == net.cfg
    lay = net.server.world.layout
    assert np.allclose(welcome.layout["beacons"], lay.beacon_pos) and len(welcome.layout["spawn_points"]) > 0
    snaps = [m for m in a.received if isinstance(m, p.Snapshot)]
    assert snaps[0].base == 0 and snaps[0].you is not None
    assert snaps[-1].base != 0  # acked baselines -> deltas


def test_events_arrive_once_in_order_and_survive_a_resume() -> None:
    net = SimNet(cfg(num_hazards=0), seed=2)
    a = net.connect("a", policy=noop)
    b = net.connect("b", policy=noop)
    net.run(0.5)
    for k in range(5):
        net.server.announce("storm", {"k": k})
    net.server.announce("local", {"k": 99}, center=net.server.world.pos[a.state.player], radius_m=1e-3)
    net.run(0.5)
    net.drop(a)
    for k in range(5, 8):  # while a is away
        net.server.announce("storm", {"k": k})
    net.run(0.5)
    net.resume(a)
    net.run(0.5)
    a_world = [e for e in a.state.events if isinstance(e, p.EvWorld)]
    b_world = [e for e in b.state.events if isinstance(e, p.EvWorld)]
    assert [e.data["k"] for e in a_world if e.name == "storm"] == list(range(8))
    assert [e.data["k"] for e in b_world] == list(range(8))  # zone event was for a only
    assert [e.name for e in a_world].count("local") == 1
    assert a.state.event_gaps == 0 and b.state.event_gaps == 0
    assert a.state.welcome.resumed and a.state.player == 0  # same player back


def test_resume_after_grace_fails_and_player_is_gone() -> None:
    net = SimNet(cfg(), ServerSettings(resume_grace_s=1.0), seed=3)
    a = net.connect("a", policy=noop)
    net.run(0.3)
    net.drop(a)
    net.run(1.5)
    assert not net.server.world.active[a.state.player]
    net.resume(a)
    net.run(0.2)
    assert errors(a)[-1] == "resume_failed"
    assert a.peer.closed


def test_bad_tickets_and_versions_are_refused() -> None:
    net = SimNet(cfg(), seed=4)
    c = net.connect("x")
    c.state.token = "garbage"
    net.resume(c)  # there is no session yet; resume=True with no welcome sends a plain hello
    net.run(0.1)
    assert "auth_failed" in errors(c)
    forged = issue_ticket("a-different-secret-that-is-long-enough!!", "eve")
    d = net.connect("y")
    d.state.token = forged
    net._open(d, resume=False)
    net.run(0.1)
    assert errors(d).count("auth_failed") == 1
    e = net.connect("z", hello=p.encode(p.Hello(99, "t")))
    net.run(0.1)
    assert "version" in errors(e)


def test_invalid_inputs_get_errors_and_never_move_anyone() -> None:
    net = SimNet(cfg(), seed=5)
    good = net.connect("good", policy=lambda c, s: int(Action.FORWARD))
    bad = net.connect("bad", policy=noop)
    net.run(0.3)
    w = net.server.world
    before = w.pos[bad.state.player].copy()
    for frame in [
        b"\x00\x01garbage",
        msgspec.msgpack.encode(["in", 1, 1, 42, 0]),  # unknown action
        msgspec.msgpack.encode(["in", -5, 1, 1, 0]),  # negative seq
        p.encode(p.Input(10**6, 10**9, 0, 0)),  # clock far ahead: absorbed (an overloaded server causes it)
    ]:
        net.send_from_client(bad, frame)
    net.run(0.3)
    codes = errors(bad)
    assert {"malformed", "unknown_action", "out_of_range"} <= set(codes) and "clock" not in codes
    assert np.allclose(w.pos[bad.state.player], before)  # rejected inputs did nothing
    assert not errors(good)
    assert net.server.metrics.value("mpgenie_rejected_inputs_total", reason="unknown_action") >= 1


def test_replayed_inputs_are_refused() -> None:
    net = SimNet(cfg(), seed=6)
    a = net.connect("a")
    net.run(0.2)
    frame = p.encode(p.Input(5, 4, 1, 0))
    net.send_from_client(a, frame)
    net.send_from_client(a, frame)
    net.run(0.2)
    assert errors(a) == ["replay"]


def test_flood_is_rate_limited_then_kicked_others_unaffected() -> None:
    net = SimNet(cfg(), ServerSettings(kick_violations=50), seed=7)
    good = net.connect("good", policy=lambda c, s: int(Action.FORWARD))
    flooder = net.connect("flood")
    net.run(0.3)
    for _ in range(1, 400):
        net.send_from_client(flooder, flooder.state.input(int(Action.FORWARD), net.now))
    net.run(0.5)
    codes = errors(flooder)
    assert "rate_limit" in codes and codes[-1] == "kicked"
    assert len(codes) <= 25  # error frames are rate-limited too
    assert flooder.peer.closed and flooder.peer.close_code == CLOSE_POLICY
    assert not net.server.world.active[flooder.state.player]  # a kicked player is removed, no resume
    good_ticks = [m.tick for m in good.received if isinstance(m, p.Snapshot)]
    assert good_ticks == list(range(good_ticks[0], good_ticks[0] + len(good_ticks)))
    assert not errors(good)


def test_oversized_frames_close_the_connection() -> None:
    net = SimNet(cfg(), seed=8)
    a = net.connect("a")
    net.run(0.2)
    net.send_from_client(a, b"\x90" * 10_000)
    net.run(0.2)
    assert a.peer.closed and a.peer.close_code == CLOSE_TOO_BIG


def test_slow_client_is_dropped_without_stalling_the_tick() -> None:
    net = SimNet(cfg(), seed=9)
    slow = net.connect("slow", policy=noop)
    fast = net.connect("fast", policy=noop)
    net.run(0.3)
    slow.peer.backlog = lambda: 10**9  # its socket stopped draining
    net.run(0.3)
    assert slow.peer.closed and slow.peer.close_code == CLOSE_TRY_LATER
    assert net.server.world.active[slow.state.player]  # kept for a resume
    ticks = [m.tick for m in fast.received if isinstance(m, p.Snapshot)]
    assert ticks == list(range(ticks[0], ticks[0] + len(ticks))) and ticks[-1] >= net.server.world.tick - 1


def test_server_full_and_spectator_limits() -> None:
    net = SimNet(cfg(), ServerSettings(max_players=2, max_spectators=1), seed=10)
    net.connect("a")
    net.connect("b")
    c = net.connect("c")
    s1 = net.connect("s1", spectate=p.Spectate(point=(0.0, 0.0, 1.0)))
    s2 = net.connect("s2", spectate=p.Spectate(point=(0.0, 0.0, 1.0)))
    net.run(0.3)
    assert errors(c) == ["server_full"] and errors(s2) == ["server_full"]
    assert not errors(s1)


def test_same_ticket_subject_takes_its_player_over() -> None:
    net = SimNet(cfg(), seed=11)
    a = net.connect("alice")
    net.run(0.2)
    a2 = net.connect("alice")
    net.run(0.2)
    assert a2.state.player == a.state.player and a2.state.welcome.resumed
    assert a.peer.closed and any(isinstance(m, p.Goodbye) and m.reason == "replaced" for m in a.received)


def test_leave_removes_player_at_once() -> None:
    net = SimNet(cfg(), seed=12)
    a = net.connect("a")
    net.run(0.2)
    net.send_from_client(a, p.encode(p.Leave()))
    net.run(0.2)
    assert not net.server.world.active[a.state.player] and a.peer.closed


def test_shutdown_says_goodbye_to_everyone() -> None:
    net = SimNet(cfg(), seed=13)
    clients = [net.connect(f"c{i}") for i in range(3)]
    net.run(0.2)
    net.server.shutdown()
    net.run(0.1)
    for c in clients:
        assert any(isinstance(m, p.Goodbye) and m.reason == "shutdown" for m in c.received)
        assert c.peer.closed


def test_messages_before_hello_are_refused() -> None:
    net = SimNet(cfg(), seed=14)
    a = net.connect("a")
    peer = a.peer
    fresh = type(peer)(net, a)
    net.server.on_connect(fresh, net.now)
    net.server.on_message(fresh, p.encode(p.Input(1, 1, 1, 0)), net.now)
    assert net.server.metrics.value("mpgenie_rejected_inputs_total", reason="not_joined") == 1


def test_gameplay_events_reach_players_nearby() -> None:
    net = SimNet(cfg(seed=5), seed=15)
    clients = [net.connect(f"c{i}", policy=lambda c, s: int(Action.ATTACK)) for i in range(4)]
    w = net.server.world
    net.run(0.1)
    for c in clients[1:]:  # everyone in front of player 0
        w.teleport(
            c.state.player,
            w.pos[clients[0].state.player] + 0.02 * w.fwd[clients[0].state.player],
            w.fwd[clients[0].state.player],
        )
    net.run(2.0)
    hits = [e for e in clients[0].state.events if isinstance(e, p.EvAttack)]
    assert hits
    for c in clients:  # each sees each attack at most once
        keys = [(e.tick, e.attacker, e.target) for e in c.state.events if isinstance(e, p.EvAttack)]
        assert len(keys) == len(set(keys))


def test_link_jitter_keeps_tcp_order() -> None:
    link = Link(0.05, 0.2)
    rng = np.random.default_rng(0)
    times = [link.delivery_time(t * 0.01, rng) for t in range(100)]
    assert times == sorted(times)


def test_ack_zero_asks_for_a_full_snapshot() -> None:
    net = SimNet(cfg(), seed=16)
    a = net.connect("a", policy=noop)
    net.run(0.5)
    assert a.state.snapshot.base != 0
    a.state.tables.clear()  # the client lost its tables
    a.state.tick = 0
    net.run(0.3)
    snaps = [m for m in a.received if isinstance(m, p.Snapshot)]
    assert any(s.base == 0 for s in snaps[-6:])
    assert snaps[-1].base != 0  # and back to deltas once it acknowledged the full one


def test_takeover_by_a_new_client_numbers_inputs_afresh() -> None:
    net = SimNet(cfg(), seed=17)
    a = net.connect("alice", policy=noop)
    net.run(1.0)
    assert a.state.seq > 10
    b = net.connect("alice", policy=noop)  # a new client instance with its own seq from 1
    net.run(1.0)
    assert b.state.player == a.state.player and not errors(b)
    assert b.state.ack_seq > 5


def test_silent_connections_time_out() -> None:
    net = SimNet(cfg(), ServerSettings(hello_timeout_s=1.0), seed=18)
    a = net.connect("mute", hello=b"")  # says nothing valid
    net.run(2.0)
    assert "hello_timeout" in errors(a) and a.peer.closed


def test_spectator_of_a_departed_player_stays_put() -> None:
    net = SimNet(cfg(), seed=19)
    a = net.connect("a", policy=lambda c, s: int(Action.FORWARD))
    net.run(0.3)
    net.connect("s", spectate=p.Spectate(follow=a.state.player))
    net.run(0.3)
    net.send_from_client(a, p.encode(p.Leave()))
    net.run(0.3)
    b = net.connect("b", policy=lambda c, s: int(Action.FORWARD))  # reuses the slot
    net.run(0.5)
    assert b.state.player == a.state.player
    conn = next(c for c in net.server.conns.values() if c.spectate is not None)
    assert conn.spectate.follow is None and conn.spectate.point is not None


def test_takeover_restarts_ack_seq() -> None:
    net = SimNet(cfg(), seed=20)
    a = net.connect("carol", policy=noop)
    net.run(1.0)
    b = net.connect("carol")  # sends no input
    net.run(0.3)
    snaps = [m for m in b.received if isinstance(m, p.Snapshot)]
    assert snaps and all(s.ack_seq == 0 for s in snaps)
    assert a.state.ack_seq > 0


def test_control_message_floods_are_limited() -> None:
    net = SimNet(cfg(), ServerSettings(kick_violations=50), seed=21)
    a = net.connect("pinger")
    net.run(0.2)
    for k in range(300):
        net.send_from_client(a, p.encode(p.Ping(float(k))))
    net.run(0.3)
    pongs = [m for m in a.received if isinstance(m, p.Pong)]
    assert 40 <= len(pongs) <= 90  # the burst, then the rate
    assert "rate_limit" in errors(a) and errors(a)[-1] == "kicked"


def test_unjoined_slow_connections_are_aborted() -> None:
    net = SimNet(cfg(), seed=22)
    a = net.connect("mute", hello=b"")
    a.peer.backlog = lambda: 10**9
    net.run(0.2)
    assert a.peer.closed and a.peer.close_code == CLOSE_TRY_LATER and not net.server.conns


def test_closing_a_player_connection_starts_its_grace_window_at_once() -> None:
    net = SimNet(cfg(), ServerSettings(resume_grace_s=1.0), seed=23)
    a = net.connect("a", policy=noop)
    net.run(0.3)
    a.peer.backlog = lambda: 10**9  # stops reading; the server never hears a disconnect
    a.peer.close = lambda code, reason, abort=False: None  # and the socket never reports closing
    net.run(0.2)
    session = net.server.by_player[a.state.player]
    assert session.conn is None and session.dropped_at is not None
    net.run(1.5)
    assert not net.server.world.active[a.state.player]


def test_rejoin_as_a_new_player_resets_event_numbering() -> None:
    net = SimNet(cfg(), ServerSettings(resume_grace_s=0.5), seed=24)
    a = net.connect("a", policy=noop)
    net.run(0.3)
    for k in range(3):
        net.server.announce("e", {"k": k})
    net.run(0.3)
    assert a.state.last_event >= 4  # its join respawn + 3
    net.drop(a)
    net.run(1.0)  # grace over: the player is gone
    a.state.token = issue_ticket(DEV_SECRET, "a", "default")  # a ticket admits once: the API hands a new one
    net._open(a, resume=False)  # joins again: a new player
    net.run(0.1)
    net.server.announce("after", {"k": 9})
    net.run(0.3)
    assert not a.state.welcome.resumed
    assert any(isinstance(e, p.EvWorld) and e.name == "after" for e in a.state.events)


def test_a_join_ticket_admits_once() -> None:
    """A ticket is not a bearer pass for its lifetime: used once, it opens nothing again (a resume token does)."""
    net = SimNet(cfg(), ServerSettings(resume_grace_s=0.5), seed=41)
    a = net.connect("a", policy=noop)
    net.run(0.3)
    assert a.state.welcome is not None and not errors(a)
    copy = net.connect("a-copy", hello=a.state.hello(resume=False))  # the same ticket on a second connection
    net.drop(a)
    net.run(1.0)  # grace over: the player is gone
    net._open(a, resume=False)  # and the ticket, again
    net.run(0.3)
    assert errors(copy) == ["auth_failed"] and errors(a) == ["auth_failed"]
    assert not net.server.by_player
    fresh = net.connect("a", policy=noop)  # a new ticket for the same account works
    net.run(0.3)
    assert not errors(fresh) and len(net.server.by_player) == 1


def test_the_tickets_capacity_is_the_rule_whatever_tickets_say() -> None:
    """Three valid tickets for a 2-seat session (one taken before its holder left the API): two players."""
    net = SimNet(cfg(), seed=42)
    clients = []
    for name in ("p1", "p2", "p3"):
        ticket = issue_ticket(DEV_SECRET, name, "default", extra={"cap": 2})
        clients.append(net.connect(name, hello=p.encode(p.Hello(p.PROTOCOL_VERSION, ticket))))
        net.run(0.2)
    assert [errors(c) for c in clients] == [[], [], ["server_full"]]
    assert len(net.server.by_player) == 2


def test_takeover_rotates_the_resume_token() -> None:
    net = SimNet(cfg(), seed=25)
    a = net.connect("zed", policy=noop)
    net.run(0.3)
    old = a.state.welcome.resume
    b = net.connect("zed")
    net.run(0.3)
    assert b.state.welcome.resume != old
    net.resume(a)  # the replaced client tries its old token
    net.run(0.2)
    assert "resume_failed" in errors(a)


def test_overflowing_spectator_points_are_refused_or_normalised() -> None:
    net = SimNet(cfg(), seed=26)
    s1 = net.connect("s1", spectate=p.Spectate(point=(1e200, 1e200, 1e200)))
    s2 = net.connect("s2", spectate=p.Spectate(point=(float("inf"), 0.0, 0.0)))
    net.run(0.2)
    conn = next(c for c in net.server.conns.values() if c.spectate is not None)
    assert np.isclose(np.linalg.norm(conn.view_point), 1.0) and not errors(s1)
    assert "bad_target" in errors(s2)


def test_the_server_measures_how_long_inputs_wait_for_their_tick() -> None:
    """mpgenie_input_wait_seconds: each applied input's wait between arriving and its tick (at most a tick for a
    paced client), a histogram with Prometheus' cumulative 'le' buckets."""
    from prometheus_client import Histogram  # noqa: PLC0415
    from prometheus_client.registry import CollectorRegistry  # noqa: PLC0415

    from mpgenie.net.metrics import BatchHistogram  # noqa: PLC0415

    values = [0.0, 0.005, 0.006, 0.05, 0.3, 2.0]
    ours, registry = BatchHistogram((0.005, 0.05, 1.0)), CollectorRegistry()
    reference = Histogram("ref", "reference", buckets=(0.005, 0.05, 1.0), registry=registry)
    ours.observe_many(values)
    for v in values:
        reference.observe(v)
    mine = {s.labels.get("le"): s.value for s in ours.family("x", "x").samples if s.name == "x_bucket"}
    theirs = {s.labels.get("le"): s.value for s in registry.collect().__next__().samples if s.name == "ref_bucket"}
    assert [mine[k] for k in ("0.005", "0.05", "1", "+Inf")] == [theirs[k] for k in ("0.005", "0.05", "1.0", "+Inf")]

    net = SimNet(cfg(), seed=61)
    for k in range(5):
        net.connect(f"w{k}", policy=noop)
    net.run(2.0)
    m = net.server.metrics
    count = m.value("mpgenie_input_wait_seconds_count")
    assert count > 5 * 20  # most of the inputs of 2 s
    assert 0.0 <= m.value("mpgenie_input_wait_seconds_sum") / count <= net.dt
