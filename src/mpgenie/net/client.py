"""Python client SDK: connect, send inputs, receive snapshots and events, predict, reconcile, interpolate.

Layers, each usable alone:

- :class:`Predictor`: the own player, moved locally by the same :class:`~mpgenie.world.kinematics.MotionModel`
  the server uses. On each snapshot it restarts from the server's exact state (``you``) and replays the inputs the
  server has not applied yet (seq > ``ack_seq``): for legitimate input the replay lands where the prediction
  already was, so the correction is zero (no rubber-banding); server-side causes (knockback, respawn, a dropped
  input) show up as one correction.
- :class:`Interpolator`: remote entities drawn ``delay`` behind the newest snapshot (default 100 ms), between the
  two snapshots around that time; teleports snap.
- :class:`ClientState`: the protocol state machine (hello, inputs, delta application, acks, event numbering),
  with no I/O, so tests can drive it through simulated networks.
- :class:`GameClient`: the asyncio WebSocket client (picows) around :class:`ClientState`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from mpgenie.net import protocol as p
from mpgenie.net.snapshots import EMPTY_TABLE, ProtocolError, apply_delta
from mpgenie.world.config import WorldConfig
from mpgenie.world.kinematics import MotionModel

TABLE_HISTORY = 32
KEEP_SAMPLES = 10_000  # latencies and events kept by a long-lived client (oldest dropped)
PACE_AFTER = 10  # consecutive snapshots reporting a server-side input backlog before an input is skipped


class Predictor:
    """Client-side prediction and reconciliation of the own player."""

    def __init__(self, cfg: WorldConfig) -> None:
        self.cfg = cfg
        self.motion = MotionModel(cfg)
        self.pos = np.zeros((1, 3))
        self.fwd = np.zeros((1, 3))
        self.height = np.zeros(1)
        self.vz = np.zeros(1)
        self._active = np.ones(1, dtype=bool)
        self._action = np.zeros(1, dtype=np.int8)
        self.pending: deque[tuple[int, int]] = deque()
        self.synced = False
        self.last_correction_m = 0.0

    def _set(self, you: p.You) -> None:
        self.pos[0] = you.pos
        self.fwd[0] = you.fwd
        self.height[0] = you.height
        self.vz[0] = you.vz

    def _step(self, action: int) -> None:
        self._action[0] = action
        self.motion.step(self._action, self._active, self.pos, self.fwd, self.height, self.vz)

    def apply(self, seq: int, action: int) -> None:
        """Predict one input locally (call when sending it)."""
        self.pending.append((seq, action))
        if self.synced:
            self._step(action)

    def reconcile(self, ack_seq: int, you: p.You) -> float:
        """Restart from the server's state and replay unacknowledged inputs. Returns the correction in metres
        (how far the predicted position jumped)."""
        before = self.pos[0].copy()
        while self.pending and self.pending[0][0] <= ack_seq:
            self.pending.popleft()
        self._set(you)
        for _, action in self.pending:
            self._step(action)
        if not self.synced:
            self.synced = True
            self.last_correction_m = 0.0
            return 0.0
        # Chord length: exact near zero, where acos of a dot product is not.
        self.last_correction_m = float(np.linalg.norm(self.pos[0] - before)) * self.cfg.radius
        return self.last_correction_m


@dataclass(frozen=True, slots=True)
class RemoteView:
    """Remote entities as drawn at ``tick`` (fractional): ids, unit positions, headings, heights (m)."""

    tick: float
    ids: NDArray[np.int64]
    pos: NDArray[np.float64]
    fwd: NDArray[np.float64]
    height: NDArray[np.float64]


class Interpolator:
    """Remote entities ``delay_s`` in the past, between the two buffered snapshots that bracket that time."""

    def __init__(self, tick_rate: int, delay_s: float = 0.1, capacity: int = 16) -> None:
        self.tick_rate: float = tick_rate  # nominal, then what the server announces (Rate)
        self.delay_ticks = delay_s * tick_rate
        self.frames: deque[tuple[int, NDArray]] = deque(maxlen=capacity)
        self._offset: float | None = None  # server tick - local clock * rate (earliest-arrival estimate)

    def push(self, tick: int, table: NDArray, now: float) -> None:
        if self.frames and tick <= self.frames[-1][0]:
            return
        self.frames.append((tick, table))
        estimate = tick - now * self.tick_rate
        # Keep the estimate of the least-delayed arrival, drifting slowly so that a clock change heals.
        if self._offset is None or estimate > self._offset:
            self._offset = estimate
        else:
            self._offset -= 0.01 * (self._offset - estimate)

    def set_rate(self, hz: float, now: float) -> None:
        """The server announced its effective tick rate: keep today's estimate and let it run at that rate (else
        a slow server's ticks fall ever further behind the estimate)."""
        if hz <= 0 or hz == self.tick_rate:
            return
        if self._offset is not None:
            self._offset += now * (self.tick_rate - hz)
        self.tick_rate = hz

    def hint(self, tick: int, now: float) -> None:
        """A server tick known to be current at ``now`` (the welcome's), before any snapshot arrived."""
        if self._offset is None:
            self._offset = tick - now * self.tick_rate

    def server_tick(self, now: float) -> float:
        return 0.0 if self._offset is None else now * self.tick_rate + self._offset

    def sample(self, now: float) -> RemoteView:
        """The interpolated view for local time ``now``."""
        empty = RemoteView(0.0, np.zeros(0, np.int64), np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0))
        if not self.frames:
            return empty
        t = self.server_tick(now) - self.delay_ticks
        older = [f for f in self.frames if f[0] <= t]
        newer = [f for f in self.frames if f[0] > t]
        if not older or not newer:  # outside the buffer: hold the nearest frame
            tick, table = older[-1] if older else newer[0]
            return _view(float(tick), table)
        (t0, a), (t1, b) = older[-1], newer[0]
        u = (t - t0) / (t1 - t0)
        common, ia, ib = np.intersect1d(a["id"], b["id"], assume_unique=True, return_indices=True)
        pa, pb = p.dequantize_unit(a["pos"][ia]), p.dequantize_unit(b["pos"][ib])
        fa, fb = p.dequantize_unit(a["fwd"][ia]), p.dequantize_unit(b["fwd"][ib])
        snap = (b["flags"][ib] & p.FLAG_TELEPORTED) != 0
        w = np.where(snap, 1.0, u)[:, None]
        pos = pa * (1.0 - w) + pb * w
        fwd = fa * (1.0 - w) + fb * w
        pos /= np.linalg.norm(pos, axis=1, keepdims=True)
        fwd /= np.maximum(np.linalg.norm(fwd, axis=1, keepdims=True), 1e-12)
        height = (a["height"][ia] * (1.0 - w[:, 0]) + b["height"][ib] * w[:, 0]) / p.HEIGHT_SCALE
        return RemoteView(t, common.astype(np.int64), pos, fwd, height)


def _view(tick: float, table: NDArray) -> RemoteView:
    return RemoteView(
        tick,
        table["id"].astype(np.int64),
        p.dequantize_unit(table["pos"]),
        p.dequantize_unit(table["fwd"]),
        table["height"] / p.HEIGHT_SCALE,
    )


class ClientState:
    """The client side of the protocol, without I/O: feed it frames, ask it for frames to send."""

    # bandit B107: token is the join ticket, empty for a resume-only client
    def __init__(  # nosec B107
        self,
        token: str = "",
        spectate: p.Spectate | None = None,
        interp_delay_s: float = 0.1,
        predict: bool = True,
        track_entities: bool = True,
        frames: int = 0,
        light: bool = False,
    ) -> None:
        """``light``: read snapshots as :class:`~mpgenie.net.protocol.SnapshotHeader` (no entity tables, no
        prediction; acks, pacing, latency and counts as a full client): the load generator's clients."""
        self.token = token
        self.light = light
        self._decode = p.decode_server_light if light else p.decode_server
        self.spectate = spectate
        self.interp_delay_s = interp_delay_s
        self.predict = predict and not light
        self.track_entities = track_entities and not light
        self.welcome: p.Welcome | None = None
        self.cfg: WorldConfig | None = None
        self.predictor: Predictor | None = None
        self.interpolator: Interpolator | None = None
        self.tables: dict[int, NDArray] = {}
        self.tick = 0
        self.server_rate = 0.0  # effective ticks per second: the welcome's nominal rate, then what Rate says
        self.server_saturated = False
        self.snapshot: p.Snapshot | p.SnapshotHeader | None = None
        self.seq = 0
        self.ack_seq = 0
        self.last_event = 0
        self.events: deque[p.WireEvent] = deque(maxlen=KEEP_SAMPLES)
        self.event_gaps = 0
        self.errors: list[p.Error] = []
        self.goodbye: str | None = None
        self.sent_at: deque[tuple[int, float]] = deque()
        self.latencies: deque[float] = deque(maxlen=KEEP_SAMPLES)
        self.max_correction_m = 0.0
        self.snapshots = 0
        self.bytes_in = 0
        self.entity_records = 0
        self.full_snapshots = 0
        self.server_queued = 0
        self.frames_wanted = frames
        self.frames_received = 0
        self.frame: p.Frame | None = None  # the newest world-model frame (JPEG)
        self.resyncs = 0
        self.backlogged_snapshots = 0
        self.skipped_inputs = 0

    # --- outgoing ----------------------------------------------------------------------------------------------

    def hello(self, resume: bool = False) -> bytes:
        token = self.welcome.resume if (resume and self.welcome is not None) else None
        return p.encode(
            p.Hello(p.PROTOCOL_VERSION, self.token, token, self.last_event, self.spectate, self.frames_wanted)
        )

    def input(self, action: int, now: float) -> bytes:
        """Encode the next input (and predict it)."""
        self.seq += 1
        if self.predictor is not None:
            self.predictor.apply(self.seq, action)
        self.sent_at.append((self.seq, now))
        client_tick = self.tick + 1
        if self.interpolator is not None:
            client_tick = max(client_tick, int(self.interpolator.server_tick(now)) + 1)
        return p.encode(p.Input(self.seq, client_tick, action, self.tick))

    def paced_input(self, action: int, now: float) -> bytes | None:
        """Like :meth:`input`, but skips this tick's input when the server has reported an input still waiting
        after each of the last ``PACE_AFTER`` ticks: a standing backlog that would otherwise add a tick of latency
        for good (inputs arrive at the rate ticks consume them, so a backlog never drains by itself). Skipping
        costs one tick of own movement, never a correction (nothing was predicted for it)."""
        if self.backlogged_snapshots >= PACE_AFTER:
            self.backlogged_snapshots = 0
            self.skipped_inputs += 1
            return None
        return self.input(action, now)

    def ack(self) -> bytes:
        return p.encode(p.Ack(self.tick))

    # --- incoming ----------------------------------------------------------------------------------------------

    def handle(self, data: bytes, now: float) -> p.ServerMessage | p.SnapshotHeader:
        self.bytes_in += len(data)
        msg = self._decode(data)
        if isinstance(msg, p.Snapshot | p.SnapshotHeader):
            self._on_snapshot(msg, now)
        elif isinstance(msg, p.Events):
            self._on_events(msg)
        elif isinstance(msg, p.Welcome):
            self._on_welcome(msg, now)
        elif isinstance(msg, p.Error):
            self.errors.append(msg)
        elif isinstance(msg, p.Goodbye):
            self.goodbye = msg.reason
        elif isinstance(msg, p.Frame):
            self.frames_received += 1
            self.frame = msg
        elif isinstance(msg, p.Rate):
            self.server_rate, self.server_saturated = msg.hz, msg.saturated
            if self.interpolator is not None:
                self.interpolator.set_rate(msg.hz, now)
        return msg

    @property
    def input_interval(self) -> float:
        """Seconds between inputs: one per server tick at the rate the server really ticks (pace by this)."""
        return 1.0 / self.server_rate if self.server_rate > 0 else 0.05

    def _on_welcome(self, msg: p.Welcome, now: float) -> None:
        first = self.welcome is None
        self.welcome = msg
        self.tables.clear()  # a new connection starts from a full snapshot
        self.tick = 0
        self.server_rate = float(msg.tick_rate)  # nominal until the server says otherwise (Rate)
        if first:
            self.cfg = WorldConfig.from_mapping(msg.config)
        if first or not msg.resumed:  # a new player (first join, or a rejoin after the grace window)
            self.last_event = 0
            self.ack_seq = 0
            self.sent_at.clear()
            self.predictor = Predictor(self.cfg) if self.predict and msg.player >= 0 else None  # type: ignore[arg-type]
            self.interpolator = Interpolator(msg.tick_rate, self.interp_delay_s)
        assert self.interpolator is not None
        self.interpolator.hint(msg.tick, now)

    def _on_snapshot(self, snap: p.Snapshot | p.SnapshotHeader, now: float) -> None:
        self.snapshots += 1
        if isinstance(snap, p.SnapshotHeader):
            self.entity_records += snap.entity_records
        else:
            self.entity_records += (
                len(snap.enter) // p.ENTER.itemsize
                + len(snap.moved) // p.MOVED.itemsize
                + len(snap.turned) // p.TURNED.itemsize
                + len(snap.state) // p.STATE.itemsize
            )
        if snap.base == 0:
            self.full_snapshots += 1
        applied = True
        if self.track_entities and isinstance(snap, p.Snapshot):
            base = EMPTY_TABLE if snap.base == 0 else self.tables.get(snap.base)
            table = None
            if base is not None:
                try:
                    table = apply_delta(base, snap)
                except ProtocolError:
                    table = None
            if table is None:  # lost our baseline (or a corrupt delta): ack 0 until a full snapshot comes
                applied = False
                self.resyncs += 1
                self.tables.clear()
                self.tick = 0
            else:
                self.tables[snap.tick] = table
                for old in [t for t in self.tables if t <= snap.tick - TABLE_HISTORY]:
                    del self.tables[old]
                if self.interpolator is not None:
                    self.interpolator.push(snap.tick, table, now)
        if applied:
            self.tick = max(self.tick, snap.tick)
        self.snapshot = snap
        self.server_queued = snap.queued
        self.backlogged_snapshots = self.backlogged_snapshots + 1 if snap.queued > 0 else 0
        self.ack_seq = max(self.ack_seq, snap.ack_seq)
        while self.sent_at and self.sent_at[0][0] <= snap.ack_seq:
            _, at = self.sent_at.popleft()
            self.latencies.append(now - at)
        if self.predictor is not None and isinstance(snap, p.Snapshot) and snap.you is not None:
            self.max_correction_m = max(self.max_correction_m, self.predictor.reconcile(snap.ack_seq, snap.you))

    def _on_events(self, msg: p.Events) -> None:
        first = msg.first
        if first > self.last_event + 1:
            self.event_gaps += 1
        for k, ev in enumerate(msg.events):
            number = first + k
            if number <= self.last_event:
                continue  # already processed (a resume re-sent it)
            self.events.append(ev)
            self.last_event = number

    def reset_measurements(self) -> None:
        """Zero what a load test measures over its window: latencies and the snapshot, byte, record and frame
        counts (the protocol state is untouched)."""
        self.latencies.clear()
        self.snapshots = self.bytes_in = self.entity_records = self.frames_received = 0

    # --- views -------------------------------------------------------------------------------------------------

    @property
    def player(self) -> int:
        return -1 if self.welcome is None else self.welcome.player

    def entities(self) -> NDArray:
        """The newest snapshot's entity table (ENTER records sorted by id)."""
        return self.tables.get(self.tick, EMPTY_TABLE)


class _Listener(WSListener):
    def __init__(self, client: GameClient) -> None:
        super().__init__()
        self.client = client

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.BINARY:
            self.client._on_frame(frame.get_payload_as_bytes())
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.client._on_disconnected(transport)


class GameClient:
    """An asyncio client of the realtime server.

    >>> client = GameClient(url, token=ticket)
    >>> welcome = await client.connect()
    >>> client.send_input(Action.FORWARD)
    >>> snap = await client.next_snapshot()
    """

    # bandit B107: token is the join ticket, empty for a resume-only client
    def __init__(  # nosec B107
        self,
        url: str,
        token: str = "",
        spectate: p.Spectate | None = None,
        interp_delay_s: float = 0.1,
        predict: bool = True,
        track_entities: bool = True,
        on_snapshot: Callable[[GameClient, p.Snapshot], None] | None = None,
        frames: int = 0,
        light: bool = False,
    ) -> None:
        """``light``: see :class:`ClientState` (``on_snapshot`` and :meth:`next_snapshot` then never fire)."""
        self.url = url
        self.state = ClientState(token, spectate, interp_delay_s, predict, track_entities, frames, light)
        self.on_snapshot = on_snapshot
        self.transport: WSTransport | None = None
        self._welcome: asyncio.Future[p.Welcome] | None = None
        self._snapshot_waiters: list[asyncio.Future[p.Snapshot]] = []
        self.disconnected = asyncio.Event()
        self.protocol_errors = 0

    @property
    def connected(self) -> bool:
        return self.transport is not None and not self.transport.is_disconnected

    async def connect(self, timeout: float = 10.0) -> p.Welcome:
        return await self._open(resume=False, timeout=timeout)

    async def resume(self, timeout: float = 10.0) -> p.Welcome:
        """Reconnect and take the same player back (within the server's grace window)."""
        if self.state.welcome is None:
            raise RuntimeError("resume needs an earlier welcome")
        return await self._open(resume=True, timeout=timeout)

    async def reconnect(self, url: str, token: str, timeout: float = 10.0) -> p.Welcome:
        """Join again with a new join ticket, at ``url`` (another node after a failover: ask the API for the
        ticket, it names the session's node). The server finds the player by the ticket's subject and gives it
        back (``welcome.resumed``); input numbering and the event count continue."""
        self.url = url
        self.state.token = token
        return await self._open(resume=False, timeout=timeout)

    async def _open(self, resume: bool, timeout: float) -> p.Welcome:
        if self.connected:
            self.drop()
        loop = asyncio.get_running_loop()
        self._welcome = loop.create_future()
        self.disconnected = asyncio.Event()
        self.transport, _ = await ws_connect(lambda: _Listener(self), self.url, websocket_handshake_timeout=timeout)
        self.transport.send(WSMsgType.BINARY, self.state.hello(resume=resume))
        waiters: list[asyncio.Future[Any]] = [self._welcome, asyncio.ensure_future(self.disconnected.wait())]
        await asyncio.wait(
            waiters,
            timeout=timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if self._welcome.done():
            return self._welcome.result()
        reason = self.state.errors[-1].message if self.state.errors else "no welcome"
        raise ConnectionError(f"join refused: {reason}")

    def _on_frame(self, data: bytes) -> None:
        now = time.monotonic()
        try:
            msg = self.state.handle(data, now)
        except ValueError:  # undecodable frame (msgspec errors are ValueErrors): count it, keep the connection
            self.protocol_errors += 1
            return
        if isinstance(msg, p.Welcome):
            if self._welcome is not None and not self._welcome.done():
                self._welcome.set_result(msg)
        elif isinstance(msg, p.SnapshotHeader):  # a light client: no callbacks (they are given full snapshots)
            if self.state.player < 0:
                self.send_ack()
        elif isinstance(msg, p.Snapshot):
            if self.state.player < 0:  # spectators have no inputs to carry acks: acknowledge each snapshot
                self.send_ack()
            if self.on_snapshot is not None:
                self.on_snapshot(self, msg)
            waiters, self._snapshot_waiters = self._snapshot_waiters, []
            for w in waiters:
                if not w.done():
                    w.set_result(msg)

    def _on_disconnected(self, transport: WSTransport) -> None:
        if transport is self.transport:
            self.disconnected.set()
            for w in self._snapshot_waiters:
                if not w.done():
                    w.set_exception(ConnectionError("disconnected"))
            self._snapshot_waiters = []

    def _send(self, data: bytes) -> None:
        if self.connected:
            assert self.transport is not None
            self.transport.send(WSMsgType.BINARY, data)

    def send_input(self, action: int, paced: bool = True) -> int:
        """Send one input (predicted locally at once); returns its seq, or 0 when pacing skipped it (see
        :meth:`ClientState.paced_input`; ``paced=False`` always sends)."""
        now = time.monotonic()
        data = self.state.paced_input(int(action), now) if paced else self.state.input(int(action), now)
        if data is None:
            return 0
        self._send(data)
        return self.state.seq

    def send_ack(self) -> None:
        self._send(self.state.ack())

    def send_raw(self, data: bytes) -> None:
        """Send any bytes as one binary frame (tests, fuzzing)."""
        self._send(data)

    def ping(self) -> None:
        self._send(p.encode(p.Ping(time.monotonic())))

    async def next_snapshot(self, timeout: float = 5.0) -> p.Snapshot:
        fut: asyncio.Future[p.Snapshot] = asyncio.get_running_loop().create_future()
        self._snapshot_waiters.append(fut)
        return await asyncio.wait_for(fut, timeout)

    def drop(self) -> None:
        """Cut the connection without saying goodbye (the server keeps the player for a resume)."""
        if self.transport is not None:
            self.transport.disconnect(graceful=False)

    async def close(self, leave: bool = False) -> None:
        if self.connected:
            assert self.transport is not None
            if leave:
                self._send(p.encode(p.Leave()))
            self.transport.send_close()
            self.transport.disconnect()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.transport.wait_disconnected(), 2.0)

    # conveniences
    @property
    def player(self) -> int:
        return self.state.player

    @property
    def tick(self) -> int:
        return self.state.tick

    @property
    def events(self) -> deque[p.WireEvent]:
        return self.state.events
