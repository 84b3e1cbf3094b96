"""The realtime wire protocol, version 1: typed msgspec Structs that are both the contract and the validator.

docs/protocol.md documents every message; this module is its one source of truth. Every WebSocket binary frame
holds one MessagePack value: a message encoded as an array whose first element is its tag (``array_like``
Structs), e.g. ``["ping", 12.5]``. Entity data in snapshots travels as packed little-endian records (``bin``
fields, NumPy dtypes below) because a snapshot carries tens of entities and decoding them one MessagePack value at
a time would cost more than the rest of the message.

Quantization: unit vectors (positions on the unit sphere, headings) as int16 ``round(v * 32767)`` (3 mm on the
100 m planet), height in centimetres (uint16), scores clipped to int32. The own player's state (``you``) is exact
(float64) so that the client can replay its inputs on exactly the server's state.
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
from numpy.typing import NDArray

PROTOCOL_VERSION = 1
UNIT_SCALE = 32767.0
HEIGHT_SCALE = 100.0  # centimetres

# --- packed entity records (little-endian) -------------------------------------------------------------------

#: A full entity: sent when it enters a view (or its slot now holds another player).
ENTER = np.dtype(
    [
        ("id", "<u4"),
        ("pos", "<i2", (3,)),
        ("fwd", "<i2", (3,)),
        ("height", "<u2"),
        ("action", "u1"),
        ("flags", "u1"),
        ("score", "<i4"),
    ]
)
#: Position changed.
MOVED = np.dtype([("id", "<u4"), ("pos", "<i2", (3,)), ("height", "<u2")])
#: Heading changed.
TURNED = np.dtype([("id", "<u4"), ("fwd", "<i2", (3,))])
#: Last action, flags or score changed.
STATE = np.dtype([("id", "<u4"), ("action", "u1"), ("flags", "u1"), ("score", "<i4")])
#: Left the view.
LEAVE = np.dtype("<u4")

FLAG_TELEPORTED = 1  # the server moved this entity this tick (respawn, knockback): snap, do not interpolate


# --- client -> server ----------------------------------------------------------------------------------------


class Spectate(msgspec.Struct, tag="spectate", array_like=True, forbid_unknown_fields=True):
    """Watch without an entity: follow a player id, or look at a fixed unit-vector point."""

    follow: int | None = None
    point: tuple[float, float, float] | None = None


class Hello(msgspec.Struct, tag="hello", array_like=True, forbid_unknown_fields=True):
    """First message of a connection. ``token``: a signed join ticket. ``resume``: the resume token of a player
    whose connection dropped (its ticket is then not needed). ``last_event``: the number of the last event this
    client processed, so a resumed connection receives the rest once."""

    version: int
    token: str = ""
    resume: str | None = None
    last_event: int = 0
    spectate: Spectate | None = None
    frames: int = 0  # world-model frames wanted per second (0: none; the server may send fewer)


class Input(msgspec.Struct, tag="in", array_like=True, forbid_unknown_fields=True):
    """One tick of input. ``seq`` strictly increases (the reference client adds one per input); ``tick``: the
    client's estimate of the server tick;
    ``ack``: the tick of the last snapshot the client has fully applied (0: none; the server then sends a full
    snapshot)."""

    seq: int
    tick: int
    action: int
    ack: int


class Ack(msgspec.Struct, tag="ack", array_like=True, forbid_unknown_fields=True):
    """Acknowledge a snapshot without sending input (spectators, idle clients)."""

    tick: int


class Ping(msgspec.Struct, tag="ping", array_like=True, forbid_unknown_fields=True):
    t: float


class Leave(msgspec.Struct, tag="leave", array_like=True, forbid_unknown_fields=True):
    """Leave for good: the player is removed at once and cannot be resumed."""


ClientMessage = Hello | Input | Ack | Ping | Spectate | Leave


# --- events --------------------------------------------------------------------------------------------------


class EvPickup(msgspec.Struct, tag="pickup", array_like=True):
    tick: int
    player: int
    collectible: int


class EvBeacon(msgspec.Struct, tag="beacon", array_like=True):
    tick: int
    beacon: int
    players: list[int]


class EvHazard(msgspec.Struct, tag="hazard", array_like=True):
    tick: int
    player: int
    hazard: int


class EvRespawn(msgspec.Struct, tag="respawn", array_like=True):
    tick: int
    player: int
    spawn_point: int
    reason: str


class EvAttack(msgspec.Struct, tag="attack", array_like=True):
    tick: int
    attacker: int
    target: int


class EvWorld(msgspec.Struct, tag="world", array_like=True):
    """A world event announced by the server: ``global`` (everyone) or ``zone`` (players within ``radius_m`` of
    ``center``, a unit vector)."""

    tick: int
    name: str
    scope: str
    center: tuple[float, float, float] | None = None
    radius_m: float | None = None
    data: dict[str, Any] = msgspec.field(default_factory=dict)


WireEvent = EvPickup | EvBeacon | EvHazard | EvRespawn | EvAttack | EvWorld


# --- server -> client ----------------------------------------------------------------------------------------


class Welcome(msgspec.Struct, tag="welcome", array_like=True):
    """Answer to :class:`Hello`. ``player`` is -1 for spectators. ``config`` is the full world config (the Python
    client rebuilds its motion model from it). ``layout``: unit-vector positions of the static world, by kind
    (``landmarks``, ``landmark_kinds``, ``collectibles``, ``beacons``, ``hazards``, ``spawn_points``); events name
    objects by their index in these lists. ``resume`` is a secret: send it in a later Hello to get this player back
    within ``grace_s`` seconds of a drop."""

    version: int
    player: int
    tick_rate: int
    tick: int
    config: dict[str, Any]
    resume: str
    grace_s: float
    resumed: bool
    layout: dict[str, list[Any]] = msgspec.field(default_factory=dict)


class You(msgspec.Struct, array_like=True):
    """The own player's exact state after the tick (for reconciliation)."""

    pos: tuple[float, float, float]
    fwd: tuple[float, float, float]
    height: float
    vz: float
    score: int
    deaths: int
    teleported: bool


class Snapshot(msgspec.Struct, tag="snap", array_like=True):
    """The view of one client after server tick ``tick``, delta-encoded against snapshot ``base`` (0: full).

    Apply in this order to a copy of the entities of snapshot ``base``: remove ``leave``, insert/replace ``enter``,
    then patch ``moved``, ``turned`` and ``state``. ``ack_seq`` is the last input seq the server has applied;
    ``queued``: how many of this player's inputs wait in the server's buffer after this tick. It should be 0; a
    client skips an input when it stays above 0 for a while (clock drift and jitter otherwise add a tick of
    latency each time an input misses its tick, for good)."""

    tick: int
    base: int
    ack_seq: int
    queued: int
    you: You | None
    enter: bytes
    moved: bytes
    turned: bytes
    state: bytes
    leave: bytes


class SnapshotHeader(msgspec.Struct, tag="snap", array_like=True):
    """A :class:`Snapshot` read without its payload: ``you`` and the entity records stay undecoded MessagePack
    (``msgspec.Raw``, views of the frame). For load generators, which need only what a client acknowledges, paces
    and measures by (tick, ack_seq, queued) and how many records came, not the records themselves."""

    tick: int
    base: int
    ack_seq: int
    queued: int
    you: msgspec.Raw
    enter: msgspec.Raw
    moved: msgspec.Raw
    turned: msgspec.Raw
    state: msgspec.Raw
    leave: msgspec.Raw

    @property
    def entity_records(self) -> int:
        """Enter + moved + turned + state records, from the ``bin`` lengths."""
        return (
            bin_length(self.enter) // ENTER.itemsize
            + bin_length(self.moved) // MOVED.itemsize
            + bin_length(self.turned) // TURNED.itemsize
            + bin_length(self.state) // STATE.itemsize
        )


def bin_length(raw: msgspec.Raw) -> int:
    """Payload bytes of an encoded MessagePack ``bin`` (its header is 2, 3 or 5 bytes: bin8, bin16, bin32)."""
    n = len(raw)
    return n - 2 if n <= 257 else n - 3 if n <= 65538 else n - 5


class Events(msgspec.Struct, tag="events", array_like=True):
    """Events numbered ``first``, ``first + 1``, ... for this client, in order, each delivered once."""

    first: int
    events: list[WireEvent]


class Pong(msgspec.Struct, tag="pong", array_like=True):
    t: float
    tick: int


class Error(msgspec.Struct, tag="error", array_like=True):
    """``code`` is machine-readable (see docs/protocol.md); ``fatal``: the server closes the connection next."""

    code: str
    message: str
    fatal: bool = False


class Goodbye(msgspec.Struct, tag="bye", array_like=True):
    """The server is closing this connection on purpose (``shutdown``, ``kicked``, ``slow``, ``replaced``)."""

    reason: str


class Frame(msgspec.Struct, tag="frame", array_like=True):
    """This player's view after server tick ``tick``, drawn by the session's world model (``format`` "jpeg")."""

    tick: int
    width: int
    height: int
    format: str
    data: bytes


class Rate(msgspec.Struct, tag="rate", array_like=True):
    """The server's effective tick rate (Hz) when it differs from the nominal ``Welcome.tick_rate`` by more than
    10 % (an overloaded server ticks slower), and again when it recovers. A client paces its inputs to it: one per
    server tick; sending at the nominal rate is not an error, the surplus is dropped."""

    hz: float
    saturated: bool = False  # the server refuses new players for now (it is at capacity)


ServerMessage = Welcome | Snapshot | Events | Pong | Error | Goodbye | Frame | Rate

_client_decoder = msgspec.msgpack.Decoder(ClientMessage)
_server_decoder = msgspec.msgpack.Decoder(ServerMessage)
_light_decoder = msgspec.msgpack.Decoder(SnapshotHeader | Welcome | Events | Pong | Error | Goodbye | Frame | Rate)
_encoder = msgspec.msgpack.Encoder()

encode = _encoder.encode


#: Decode one client frame; raises :class:`msgspec.DecodeError` / ``ValidationError`` on anything malformed. The
#: decoder's own method, not a wrapper: the server calls it twenty times a second per player.
decode_client = _client_decoder.decode


def decode_server(data: bytes | memoryview) -> ServerMessage:
    return _server_decoder.decode(data)


def decode_server_light(data: bytes | memoryview) -> ServerMessage | SnapshotHeader:
    """:func:`decode_server`, with a snapshot read as its :class:`SnapshotHeader` (every other message in full)."""
    return _light_decoder.decode(data)


# --- quantization --------------------------------------------------------------------------------------------


def quantize_unit(v: NDArray[np.float64]) -> NDArray[np.int16]:
    return np.rint(np.clip(v, -1.0, 1.0) * UNIT_SCALE).astype(np.int16)


def dequantize_unit(q: NDArray[np.integer]) -> NDArray[np.float64]:
    """Back to unit vectors (re-normalized: the rounding error is along all axes)."""
    v = np.asarray(q, dtype=np.float64) / UNIT_SCALE
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(norm > 0, norm, 1.0)


def quantize_height(h: NDArray[np.float64]) -> NDArray[np.uint16]:
    return np.clip(np.rint(h * HEIGHT_SCALE), 0, 65535).astype(np.uint16)


def records(data: bytes, dtype: np.dtype) -> NDArray[Any]:
    """View a packed record field as a NumPy structured array; refuses a length that is not whole records."""
    if len(data) % dtype.itemsize:
        raise ValueError(f"{len(data)} bytes is not a whole number of {dtype.itemsize}-byte records")
    return np.frombuffer(data, dtype=dtype)
