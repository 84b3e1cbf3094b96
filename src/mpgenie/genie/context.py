"""The AI Context Assembler: what a world model is told about one player, under a hard size budget.

A context holds the player's own state, its recent frames (newest last), the visible nearby players (position
relative to the player's own view: metres forward and right, their heading relative to its own, their last
action, and their absolute position and heading), nearby landmarks and objects, and recent events. Items are
added in a fixed priority order until the budget (bytes, by the sizes below) is spent; whatever does not fit is
dropped and counted in ``dropped``:

1. own state (always; it is small and everything else is relative to it);
2. the newest frame;
3. events that name this player (pickups, hits, respawns, beacons it helped light);
4. nearby players, nearest first;
5. older frames, newest first;
6. landmarks and objects in view range, nearest first;
7. other events near the player.

So under pressure a model keeps what it needs to draw the next frame right (where am I, what did I just see,
what just happened to me, who is next to me) and loses history and scenery first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mpgenie.world.geometry import relative_heading_deg, relative_to
from mpgenie.world.simulation import World

OWN_BYTES = 64
PLAYER_BYTES = 56
OBJECT_BYTES = 24
EVENT_BYTES = 48


@dataclass(frozen=True, slots=True)
class NearbyPlayer:
    player: int
    forward_m: float
    right_m: float
    distance_m: float
    relative_heading_deg: float
    last_action: int
    position: tuple[float, float, float]  # unit vector from the planet's centre, as the player's own state
    heading: tuple[float, float, float]  # unit tangent it faces


@dataclass(frozen=True, slots=True)
class NearbyObject:
    kind: str  # landmark:<kind>, beacon, collectible, hazard
    index: int
    forward_m: float
    right_m: float
    distance_m: float


@dataclass
class PlayerContext:
    tick: int
    player: int
    own: dict[str, Any]
    frames: list[NDArray[np.uint8]] = field(default_factory=list)  # oldest first
    players: list[NearbyPlayer] = field(default_factory=list)
    objects: list[NearbyObject] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    size_bytes: int = 0
    dropped: dict[str, int] = field(default_factory=dict)


class ContextAssembler:
    def __init__(self, world: World, budget_bytes: int = 64 * 1024, radius_m: float | None = None) -> None:
        if budget_bytes < OWN_BYTES:
            raise ValueError(f"budget must be at least {OWN_BYTES} bytes (the own state)")
        self.world = world
        self.budget = budget_bytes
        self.radius_m = radius_m or world.cfg.render_distance

    def _relative(self, player: int, points: NDArray[np.float64]) -> tuple[NDArray, NDArray, NDArray]:
        w = self.world
        return relative_to(w.pos[player], w.fwd[player], points, w.cfg.radius)

    def assemble(
        self, player: int, frames: list[NDArray[np.uint8]], events: list[dict[str, Any]] | None = None
    ) -> PlayerContext:
        """The context of ``player`` now. ``frames``: its recent frames, oldest first; ``events``: recent events as
        dicts with at least ``kind``, and ``players`` (ids named) and ``position`` (unit vector) where known."""
        w = self.world
        ctx = PlayerContext(
            w.tick,
            player,
            {
                "position": w.pos[player].tolist(),
                "heading": w.fwd[player].tolist(),
                "height_m": float(w.height[player]),
                "score": int(w.score[player]),
                "last_action": int(w.last_action[player]),
                "planet_radius_m": float(w.cfg.radius),
                "view_radius_m": float(self.radius_m),
            },
            size_bytes=OWN_BYTES,
        )
        events = events or []
        mine = [e for e in events if player in e.get("players", ())]
        others = [e for e in events if player not in e.get("players", ())]
        frames_newest_first = list(reversed(frames))

        # Candidates in priority order: (kind, item, bytes).
        items: list[tuple[str, Any, int]] = []
        if frames_newest_first:
            items.append(("frames", frames_newest_first[0], frames_newest_first[0].nbytes))
        items += [("events", e, EVENT_BYTES) for e in mine]
        items += [("players", p, PLAYER_BYTES) for p in self._players(player)]
        items += [("frames", f, f.nbytes) for f in frames_newest_first[1:]]
        items += [("objects", o, OBJECT_BYTES) for o in self._objects(player)]
        items += [("events", e, EVENT_BYTES) for e in self._near(player, others)]

        kept_frames: list[NDArray[np.uint8]] = []
        for kind, item, size in items:
            if ctx.size_bytes + size > self.budget:
                ctx.dropped[kind] = ctx.dropped.get(kind, 0) + 1
                continue
            ctx.size_bytes += size
            if kind == "frames":
                kept_frames.append(item)
            else:
                getattr(ctx, kind).append(item)
        ctx.frames = list(reversed(kept_frames))  # oldest first again
        return ctx

    def _players(self, player: int) -> list[NearbyPlayer]:
        w = self.world
        others = w.players_within(w.pos[player], self.radius_m).row(0)
        others = others[others != player]
        if others.size == 0:
            return []
        fwd, right, dist = self._relative(player, w.pos[others])
        rel = relative_heading_deg(w.pos[player], w.fwd[player], w.fwd[others])
        order = np.argsort(dist, kind="stable")
        return [
            NearbyPlayer(
                int(others[i]),
                float(fwd[i]),
                float(right[i]),
                float(dist[i]),
                float(rel[i]),
                int(w.last_action[others[i]]),
                tuple(w.pos[others[i]].tolist()),
                tuple(w.fwd[others[i]].tolist()),
            )
            for i in order
        ]

    def _objects(self, player: int) -> list[NearbyObject]:
        w = self.world
        lay = w.layout
        kinds = (
            [f"landmark:{int(k)}" for k in lay.landmark_kind]
            + ["collectible"] * lay.collectible_pos.shape[0]
            + ["beacon"] * lay.beacon_pos.shape[0]
            + ["hazard"] * lay.hazard_pos.shape[0]
        )
        points = np.concatenate([lay.landmark_pos, lay.collectible_pos, lay.beacon_pos, lay.hazard_pos]).reshape(-1, 3)
        first = {"landmark": 0, "collectible": lay.landmark_pos.shape[0]}
        first["beacon"] = first["collectible"] + lay.collectible_pos.shape[0]
        first["hazard"] = first["beacon"] + lay.beacon_pos.shape[0]
        if points.shape[0] == 0:
            return []
        fwd, right, dist = self._relative(player, points)
        inside = np.flatnonzero(dist <= self.radius_m)
        active = np.ones(points.shape[0], dtype=bool)
        c0 = first["collectible"]
        active[c0 : c0 + lay.collectible_pos.shape[0]] = w.collectible_active
        out = []
        for i in inside[np.argsort(dist[inside], kind="stable")]:
            if not active[i]:
                continue
            kind = kinds[i]
            base = first[kind.split(":")[0]]
            out.append(NearbyObject(kind, int(i - base), float(fwd[i]), float(right[i]), float(dist[i])))
        return out

    def _near(self, player: int, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        p = self.world.pos[player]
        limit = math.cos(self.radius_m / self.world.cfg.radius)
        return [e for e in events if "position" in e and float(np.dot(e["position"], p)) >= limit]
