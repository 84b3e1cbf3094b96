"""Golden fixtures for the browser client, written FROM the Python code: the JS tests (web/test/) check the
JavaScript protocol, delta application, prediction and interpolation against them, and tests/web/test_golden.py
checks that the committed files equal what this module produces now, so the two implementations cannot drift.

Regenerate after a protocol or motion change: ``PYTHONPATH=src python -m tests.web.golden`` (writes
web/test/fixtures/*.json).

- ``protocol.json``: client messages (array form -> the exact bytes ``protocol.encode`` writes), server messages
  (bytes -> the decoded fields), and a recorded session of snapshots (bytes -> the entity table after
  ``snapshots.apply_delta``).
- ``kinematics.json``: start states and action sequences -> the state after each tick (``MotionModel.step``), and a
  prediction/reconciliation scenario (``client.Predictor``).
- ``interpolation.json``: entity tables pushed at times -> the views ``client.Interpolator.sample`` draws.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from mpgenie.net import protocol as p
from mpgenie.net.client import Interpolator, Predictor
from mpgenie.net.connections import ServerSettings
from mpgenie.net.snapshots import EMPTY_TABLE, apply_delta
from mpgenie.world.actions import Action
from mpgenie.world.config import WorldConfig
from mpgenie.world.kinematics import MotionModel
from tests.net.sim import SimClient, SimNet

FIXTURES = Path(__file__).resolve().parents[2] / "web" / "test" / "fixtures"
RESUME_TOKEN = "golden-resume-token-0123456789ab"  # replaces the random one so the files are reproducible


def _builtins(value: Any) -> Any:
    """A message as JSON: ``{"type": tag, field: value}`` (bin as ``{"$bin": hex}``), as the JS decoder builds it."""
    if isinstance(value, msgspec.Struct):
        out: dict[str, Any] = {}
        tag = type(value).__struct_config__.tag
        if tag is not None:
            out["type"] = tag
        for name in value.__struct_fields__:
            out[name] = _builtins(getattr(value, name))
        return out
    if isinstance(value, bytes):
        return {"$bin": value.hex()}
    if isinstance(value, (list, tuple)):
        return [_builtins(v) for v in value]
    if isinstance(value, dict):
        return {k: _builtins(v) for k, v in value.items()}
    return value


def _table(table: np.ndarray) -> list[dict[str, Any]]:
    return [
        {
            "id": int(r["id"]),
            "pos": [int(v) for v in r["pos"]],
            "fwd": [int(v) for v in r["fwd"]],
            "height": int(r["height"]),
            "action": int(r["action"]),
            "flags": int(r["flags"]),
            "score": int(r["score"]),
        }
        for r in table
    ]


class _RecordingNet(SimNet):
    """SimNet that keeps the raw frames client 0 receives."""

    def __init__(self, cfg: WorldConfig, settings: ServerSettings | None = None, seed: int = 0) -> None:
        super().__init__(cfg, settings, seed)
        self.frames: list[bytes] = []

    def _client_receive(self, client: SimClient, data: bytes) -> None:
        if client is self.clients[0]:
            self.frames.append(data)
        super()._client_receive(client, data)


@functools.cache
def _session() -> tuple[list[bytes], WorldConfig]:
    """A real ServerCore run: four players walking on a small planet (so they see each other), one leaving."""
    cfg = WorldConfig(radius=20.0, num_landmarks=4, num_collectibles=24, num_beacons=2, num_hazards=2, seed=3)
    net = _RecordingNet(cfg, seed=1)
    rng = np.random.default_rng(7)
    choices = [
        Action.FORWARD,
        Action.FORWARD,
        Action.TURN_LEFT,
        Action.RIGHT,
        Action.JUMP,
        Action.INTERACT,
        Action.ATTACK,
    ]

    def walk(client: SimClient, seq: int) -> int:
        return int(choices[int(rng.integers(len(choices)))])

    for i in range(4):
        net.connect(f"golden-{i}", policy=walk, phase_s=0.01 * i)
    net.run(0.2)
    world = net.server.world
    for i in range(1, 4):  # close to player 0, so that they are in each other's view
        world.teleport(i, world.pos[0] + 0.05 * i * world.fwd[0], world.fwd[0])
    net.run(1.3)
    leaver = net.clients[3]
    assert leaver.peer is not None
    net.send_from_client(leaver, p.encode(p.Leave()))
    net.run(1.0)
    return net.frames, cfg


def _snapshots(frames: list[bytes]) -> Iterator[tuple[bytes, p.Snapshot, np.ndarray]]:
    """The snapshots among ``frames``, each with its entity table after ``apply_delta``."""
    tables: dict[int, np.ndarray] = {}
    for data in frames:
        msg = p.decode_server(data)
        if isinstance(msg, p.Snapshot):
            table = apply_delta(EMPTY_TABLE if msg.base == 0 else tables[msg.base], msg)
            tables[msg.tick] = table
            yield data, msg, table


def _welcome_with_fixed_token(data: bytes) -> bytes:
    msg = p.decode_server(data)
    assert isinstance(msg, p.Welcome)
    return p.encode(msgspec.structs.replace(msg, resume=RESUME_TOKEN))


def protocol_fixture() -> dict[str, Any]:
    client: list[tuple[list[Any], msgspec.Struct]] = [
        (["hello", 1, "JWT", None, 0, None, 0], p.Hello(1, "JWT")),
        (
            ["hello", 1, "", "gSQhnjaEUCEvolxJzfhDaywyR91SL0BI", 17, None, 0],
            p.Hello(1, "", "gSQhnjaEUCEvolxJzfhDaywyR91SL0BI", 17),
        ),
        (["hello", 1, "JWT", None, 0, ["spectate", 3, None], 5], p.Hello(1, "JWT", None, 0, p.Spectate(3), 5)),
        (
            ["hello", 1, "JWT", None, 300, ["spectate", None, [0.0, 0.6, -0.8]], 0],
            p.Hello(1, "JWT", None, 300, p.Spectate(None, (0.0, 0.6, -0.8))),
        ),
        (["in", 42, 108, 1, 107], p.Input(42, 108, 1, 107)),
        (["in", 70000, 2**33, 9, 65535], p.Input(70000, 2**33, 9, 65535)),
        (["ack", 107], p.Ack(107)),
        (["ack", 0], p.Ack(0)),
        (["ping", 12.5], p.Ping(12.5)),
        (["ping", 3.0], p.Ping(3.0)),
        (["spectate", 3, None], p.Spectate(3)),
        (["spectate", None, [0.0, 0.0, 1.0]], p.Spectate(None, (0.0, 0.0, 1.0))),
        (["leave"], p.Leave()),
    ]
    frames, cfg = _session()
    frames = [_welcome_with_fixed_token(f) if isinstance(p.decode_server(f), p.Welcome) else f for f in frames]
    extra: list[msgspec.Struct] = [
        p.Events(
            7,
            [
                p.EvPickup(120, 4, 17),
                p.EvBeacon(121, 3, [4, 9]),
                p.EvHazard(122, 2, 1),
                p.EvRespawn(122, 2, 5, "hazard"),
                p.EvAttack(123, 1, 2),
                p.EvWorld(124, "snowfall", "global", None, None, {"intensity": 0.5}),
                p.EvWorld(125, "blizzard", "zone", (0.0, 0.6, 0.8), 12.5, {}),
            ],
        ),
        p.Pong(12.5, 108),
        p.Error("replay", "seq 5 not after 5", False),
        p.Error("auth_failed", "join ticket expired", True),
        p.Goodbye("shutdown"),
        p.Frame(412, 64, 64, "jpeg", b"\xff\xd8\xff\xe0"),
        p.Rate(14.5, True),
    ]
    server = [
        {"hex": data.hex(), "decoded": _builtins(p.decode_server(data))}
        for data in [frames[0], frames[1], *(p.encode(m) for m in extra)]
    ]
    # The recorded session: every snapshot client 0 received, with its table after apply_delta.
    session = []
    kinds: set[str] = set()
    for data, msg, table in _snapshots(frames):
        kinds.update(k for k in ("enter", "moved", "turned", "state", "leave") if getattr(msg, k))
        session.append({"hex": data.hex(), "tick": msg.tick, "table": _table(table)})
    assert kinds == {"enter", "moved", "turned", "state", "leave"}, kinds  # the fixture exercises every record
    return {
        "client": [{"message": m, "hex": p.encode(s).hex()} for m, s in client],
        "server": server,
        "session": {"config": _config(cfg), "snapshots": session},
    }


def _config(cfg: WorldConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def _state(pos: np.ndarray, fwd: np.ndarray, height: np.ndarray, vz: np.ndarray) -> dict[str, Any]:
    return {"pos": pos[0].tolist(), "fwd": fwd[0].tolist(), "height": float(height[0]), "vz": float(vz[0])}


def kinematics_fixture() -> dict[str, Any]:
    rng = np.random.default_rng(2026)
    configs = [
        WorldConfig(),
        WorldConfig(radius=37.5, tick_rate=30, walk_speed=6.0, strafe_speed=2.0, turn_rate_deg=90.0, gravity=4.0),
        WorldConfig(radius=250.0, tick_rate=10, jump_speed=9.0, backward_speed=4.5, turn_rate_deg=270.0),
    ]
    cases = []
    for cfg in configs:
        model = MotionModel(cfg)
        pos = rng.normal(size=(1, 3))
        pos /= np.linalg.norm(pos)
        fwd = np.cross(pos, rng.normal(size=(1, 3)))
        fwd /= np.linalg.norm(fwd)
        height, vz = np.zeros(1), np.zeros(1)
        start = _state(pos, fwd, height, vz)
        actions = rng.choice(10, size=150, p=[0.05, 0.3, 0.1, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05]).tolist()
        states = []
        for a in actions:
            model.step(np.array([a], np.int8), np.ones(1, bool), pos, fwd, height, vz)
            states.append(_state(pos, fwd, height, vz))
        cases.append({"config": _config(cfg), "start": start, "actions": actions, "states": states})
    return {"cases": cases, "prediction": _prediction_scenario()}


def _prediction_scenario() -> dict[str, Any]:
    """Inputs sent, then snapshots: one that acknowledges some of them exactly (correction 0), and one whose
    ``you`` was moved by the server (a knockback: the correction is the jump)."""
    cfg = WorldConfig()
    server = Predictor(cfg)  # stands in for the server's exact state
    you0 = p.You((0.0, 0.0, 1.0), (1.0, 0.0, 0.0), 0.0, 0.0, 0, 0, True)
    steps: list[dict[str, Any]] = []
    client = Predictor(cfg)
    steps.append({"reconcile": {"ack_seq": 0, "you": _builtins(you0)}, "correction": client.reconcile(0, you0)})
    server.reconcile(0, you0)
    actions = [1, 1, 5, 1, 7, 1, 3]
    for seq, a in enumerate(actions, start=1):
        client.apply(seq, a)
        steps.append({"apply": [seq, a], "state": _state(client.pos, client.fwd, client.height, client.vz)})
    for a in actions[:4]:  # the server applied seq 1..4
        server._step(a)

    def reconcile(ack_seq: int, you: p.You) -> None:
        correction = client.reconcile(ack_seq, you)
        steps.append(
            {
                "reconcile": {"ack_seq": ack_seq, "you": _builtins(you)},
                "correction": correction,
                "state": _state(client.pos, client.fwd, client.height, client.vz),
                "pending": len(client.pending),
            }
        )

    reconcile(
        4, p.You(tuple(server.pos[0]), tuple(server.fwd[0]), float(server.height[0]), float(server.vz[0]), 0, 0, False)
    )
    pushed = server.pos[0] + np.array([0.03, -0.01, 0.0])  # knocked back about 3 m
    reconcile(5, p.You(tuple(pushed / np.linalg.norm(pushed)), tuple(server.fwd[0]), 0.0, 0.0, 0, 0, True))
    return {"config": _config(cfg), "steps": steps}


def interpolation_fixture() -> dict[str, Any]:
    frames, _ = _session()
    pushed = []
    interp = Interpolator(20, 0.1)
    samples = []
    rng = np.random.default_rng(5)
    for _, msg, table in _snapshots(frames):
        now = msg.tick * 0.05 + 0.03 + float(rng.random()) * 0.02  # arrival: latency and jitter
        interp.push(msg.tick, table, now)
        pushed.append({"tick": msg.tick, "now": now, "table": _table(table)})
        for dt in (0.0, 0.013, 0.031):
            view = interp.sample(now + dt)
            samples.append(
                {
                    "after": len(pushed),
                    "now": now + dt,
                    "tick": view.tick,
                    "ids": view.ids.tolist(),
                    "pos": view.pos.tolist(),
                    "fwd": view.fwd.tolist(),
                    "height": view.height.tolist(),
                }
            )
    knocked = [
        i
        for i in range(1, len(pushed))
        if {r["id"] for r in pushed[i]["table"] if r["flags"] & p.FLAG_TELEPORTED}
        & {r["id"] for r in pushed[i - 1]["table"]}
    ]
    assert knocked, "the fixture has a teleport (knockback) to snap to"
    return {"tick_rate": 20, "delay_s": 0.1, "pushed": pushed, "samples": samples}


def build() -> dict[str, str]:
    """File name -> the JSON text it must hold."""
    fixtures = {
        "protocol.json": protocol_fixture(),
        "kinematics.json": kinematics_fixture(),
        "interpolation.json": interpolation_fixture(),
    }
    for value in fixtures.values():
        _check_finite(value)
    return {name: json.dumps(value, separators=(",", ":")) + "\n" for name, value in fixtures.items()}


def _check_finite(value: Any) -> None:
    if isinstance(value, float):
        assert math.isfinite(value)
    elif isinstance(value, dict):
        for v in value.values():
            _check_finite(v)
    elif isinstance(value, list):
        for v in value:
            _check_finite(v)


def main() -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for name, text in build().items():
        tmp = FIXTURES / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(FIXTURES / name)
        print(f"wrote {FIXTURES / name} ({len(text)} bytes)")


if __name__ == "__main__":
    main()
