"""Wire messages: round trips, quantization bounds, refusal of malformed frames, join tickets."""

import msgspec
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mpgenie.net import protocol as p
from mpgenie.net.core import ServerCore
from mpgenie.net.tickets import DEV_SECRET, TicketError, issue_ticket, verify_ticket
from mpgenie.world import geometry as geo


@pytest.mark.parametrize(
    "msg",
    [
        p.Hello(1, "tok"),
        p.Hello(1, "", resume="abc", last_event=7),
        p.Hello(1, "tok", spectate=p.Spectate(follow=3)),
        p.Hello(1, "tok", spectate=p.Spectate(point=(0.0, 0.0, 1.0))),
        p.Input(5, 100, 1, 99),
        p.Ack(12),
        p.Ping(1.5),
        p.Spectate(follow=2),
        p.Leave(),
    ],
)
def test_client_messages_round_trip(msg: object) -> None:
    assert p.decode_client(p.encode(msg)) == msg


def test_server_messages_round_trip() -> None:
    you = p.You((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), 0.5, -1.0, 3, 1, False)
    msgs = [
        p.Welcome(1, 4, 20, 100, {"seed": 0}, "r", 30.0, False),
        p.Snapshot(10, 8, 5, 1, you, b"", b"", b"", b"", b""),
        p.Events(3, [p.EvPickup(1, 2, 3), p.EvBeacon(1, 0, [1, 2]), p.EvWorld(4, "storm", "global", data={"k": 1})]),
        p.Pong(1.0, 3),
        p.Error("malformed", "bad", True),
        p.Goodbye("shutdown"),
    ]
    for msg in msgs:
        assert p.decode_server(p.encode(msg)) == msg


def test_wire_format_is_tagged_arrays() -> None:
    """docs/protocol.md promises ["tag", field, ...]: check a concrete encoding byte for byte."""
    assert msgspec.msgpack.decode(p.encode(p.Input(5, 100, 1, 99))) == ["in", 5, 100, 1, 99]
    assert msgspec.msgpack.decode(p.encode(p.Ping(0.25))) == ["ping", 0.25]


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\xc1",  # never-used msgpack byte
        msgspec.msgpack.encode(["in", 1, 2]),  # too few fields
        msgspec.msgpack.encode(["in", "1", 2, 3, 4]),  # wrong type
        msgspec.msgpack.encode(["nope", 1]),  # unknown tag
        msgspec.msgpack.encode({"type": "in"}),
        msgspec.msgpack.encode(["in", 1, 2, 3, 4, 5]),  # extra field
        msgspec.msgpack.encode(["hello", 1, "t", None, 0, ["spectate", "x", None]]),
    ],
)
def test_malformed_client_frames_raise_decode_errors(frame: bytes) -> None:
    with pytest.raises((msgspec.DecodeError, msgspec.ValidationError)):
        p.decode_client(frame)


@given(st.floats(-90, 90), st.floats(-180, 180))
def test_position_quantization_error_is_millimetres(lat: float, lon: float) -> None:
    v = geo.latlon_to_vec(lat, lon).reshape(1, 3)
    back = p.dequantize_unit(p.quantize_unit(v))
    error_m = float(np.linalg.norm(back - v)) * 100.0  # on the default 100 m planet
    assert error_m < 0.006


def test_records_refuse_partial_records() -> None:
    with pytest.raises(ValueError, match="whole number"):
        p.records(b"\x00" * 5, p.MOVED)
    assert p.records(b"\x00" * 24, p.ENTER).shape == (1,)
    assert p.ENTER.itemsize == 24 and p.MOVED.itemsize == 12 and p.TURNED.itemsize == 10 and p.STATE.itemsize == 10


def test_tickets_verify_and_refuse() -> None:
    token = issue_ticket(DEV_SECRET, "alice", "s1")
    ticket = verify_ticket(DEV_SECRET, token, "s1")
    assert ticket.subject == "alice" and ticket.session == "s1"
    with pytest.raises(TicketError, match="session"):
        verify_ticket(DEV_SECRET, token, "s2")
    with pytest.raises(TicketError, match="invalid"):
        verify_ticket("another-secret-of-sufficient-length-0000", token, "s1")
    with pytest.raises(TicketError, match="expired"):
        verify_ticket(DEV_SECRET, issue_ticket(DEV_SECRET, "bob", "s1", ttl_s=-10), "s1")
    with pytest.raises(TicketError, match="required"):
        verify_ticket(DEV_SECRET, "", "s1")
    with pytest.raises(TicketError, match="invalid"):
        verify_ticket(DEV_SECRET, token[:-4] + "AAAA", "s1")


def test_welcome_sizes_grow_with_the_tick_and_the_player_id() -> None:
    """protocol.md 5: the quoted sizes (6051 bytes for a player, 6018 for a spectator, default config) hold while
    the tick and the player id are below 128 (one-byte MessagePack fixints); each is written in the smallest int."""
    core = ServerCore()

    def size(tick: int, player: int = 0) -> int:
        resume, grace = ("x" * 32, 30.0) if player >= 0 else ("", 0.0)
        welcome = p.Welcome(
            p.PROTOCOL_VERSION, player, 20, tick, core._config_wire, resume, grace, False, core._layout_wire
        )
        return len(p.encode(welcome))

    assert size(0) == size(127) == size(0, 127) == 6051
    assert size(0, -1) == 6018
    assert [size(t) - 6051 for t in (128, 255, 256, 65535, 65536, 2**32)] == [1, 1, 2, 2, 4, 8]
    assert size(0, 128) - 6051 == 1
