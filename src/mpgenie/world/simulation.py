"""The authoritative fixed-tick simulation: every player stepped at once, structure-of-arrays.

One tick (:meth:`World.step`) = :meth:`World.advance` (rules and movement) + :meth:`World.refresh_aoi` (area of
interest). They are separate methods so the benchmark can time them apart; everyone else calls ``step``.

Order inside :meth:`World.advance`, fixed because the outcome depends on it:

1. Attacks resolve on start-of-tick positions (what clients saw): the nearest other player within
   ``attack_range`` and inside the ``attack_cone_deg`` in front is hit (ties: lowest id).
2. Everyone turns, walks (along great circles, heading parallel-transported) and jumps (radial gravity).
3. Hit players are knocked back ``knockback_distance`` directly away from their attacker (once per tick).
4. Pickups: each active collectible within ``pickup_radius`` goes to its nearest player (ties: lowest id).
5. Beacons: ``interact`` within ``beacon_radius`` is remembered for ``beacon_window_ticks``; a beacon lights
   when ``beacon_min_players`` distinct players are remembered, and then rests ``beacon_cooldown_ticks``.
6. Hazards: a grounded player within ``hazard_radius`` is sent to a spawn point (not the one it died near).
7. Collectibles whose respawn time has come reappear.

Player ids are slots in the arrays, small dense integers like Quake's entity numbers. A freed slot is reused
only after the next AOI refresh, so the refresh always reports the old occupant's ``aoi_leave`` events first.
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import json
import math
import struct
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mpgenie.world.actions import NUM_ACTIONS, Action
from mpgenie.world.config import WorldConfig
from mpgenie.world.events import (
    AoiChanges,
    AttackHit,
    BeaconActivated,
    GameplayEvent,
    HazardHit,
    Pickup,
    Respawn,
    RespawnReason,
    StepResult,
)
from mpgenie.world.geometry import Vec, move_along, renormalize, transport
from mpgenie.world.kinematics import MotionModel
from mpgenie.world.layout import WorldLayout, generate_layout
from mpgenie.world.spatial import CellGrid, Neighbors, chord_unit, diff_neighbors, knearest
from mpgenie.world.spawn import SpawnManager

_RNG_STREAM_WORLD = 100
_SNAPSHOT_MAGIC = b"MPGW"
_SNAPSHOT_VERSION = 1
# Per-slot arrays (stored up to ``num_slots``; the slots beyond are never touched and stay zero) and per-object
# arrays (stored whole): everything :meth:`World.step` reads that a new ``World(cfg)`` would not recreate.
_SLOT_ARRAYS = (
    "active",
    "pos",
    "fwd",
    "height",
    "vz",
    "score",
    "deaths",
    "attack_ready_at",
    "last_action",
    "teleported",
    "_moved_far",
    "_prev_pos",
)
_WHOLE_ARRAYS = (
    "collectible_active",
    "collectible_respawn_at",
    "beacon_ready_at",
    "beacon_activations",
    "_recent_beacon",
    "_recent_player",
    "_recent_tick",
)
_EVENT_TYPES: dict[str, type] = {t.__name__: t for t in (Pickup, BeaconActivated, HazardHit, Respawn, AttackHit)}
_GROUNDED_M = 0.25  # a player this close to the surface touches hazards


class SnapshotError(ValueError):
    """Bytes that are not a world snapshot, or a snapshot of a world with another config."""


class World:
    """The state of one planet and its players, advanced one fixed tick at a time."""

    def __init__(self, cfg: WorldConfig | None = None) -> None:
        self.cfg = cfg or WorldConfig()
        cfg = self.cfg
        self.layout: WorldLayout = generate_layout(cfg)
        self.spawns = SpawnManager(cfg, self.layout)
        self.rng = np.random.default_rng([cfg.seed, _RNG_STREAM_WORLD])
        self.tick = 0
        self.num_slots = 0
        self._capacity = 0
        self._free: list[int] = []
        self._quarantine: list[int] = []
        self._pending: list[GameplayEvent] = []
        self._alloc(16)

        self._chord_aoi = chord_unit(cfg.render_distance, cfg.radius)
        self._chord_attack = chord_unit(cfg.attack_range, cfg.radius)
        self._chord2_pickup = chord_unit(cfg.pickup_radius, cfg.radius) ** 2
        self._chord2_beacon = chord_unit(cfg.beacon_radius, cfg.radius) ** 2
        self._chord2_hazard = chord_unit(cfg.hazard_radius, cfg.radius) ** 2
        self._chord_spawn = chord_unit(cfg.spawn_protection_radius, cfg.radius)
        self._chord_interact = math.sqrt(max(self._chord2_pickup, self._chord2_beacon, self._chord2_hazard))
        self._cos_half_cone = math.cos(math.radians(cfg.attack_cone_deg) / 2.0)
        self.motion = MotionModel(cfg)

        lay = self.layout
        self._n_collectibles = lay.collectible_pos.shape[0]
        self._n_beacons = lay.beacon_pos.shape[0]
        self.object_pos: Vec = np.concatenate([lay.collectible_pos, lay.beacon_pos, lay.hazard_pos]).reshape(-1, 3)
        # Static objects never move: one grid for all of them, sized for the render distance so that the same
        # grid answers both "what can I touch" and "what can I see" (objects are sparse, so big cells are cheap).
        self._object_grid = CellGrid(self.object_pos, max(self._chord_aoi, self._chord_interact))
        self.collectible_active = np.ones(self._n_collectibles, dtype=bool)
        self.collectible_respawn_at = np.zeros(self._n_collectibles, dtype=np.int64)
        self.beacon_ready_at = np.zeros(self._n_beacons, dtype=np.int64)
        self.beacon_activations = np.zeros(self._n_beacons, dtype=np.int64)
        self._recent_beacon = np.zeros(0, dtype=np.int64)
        self._recent_player = np.zeros(0, dtype=np.int64)
        self._recent_tick = np.zeros(0, dtype=np.int64)

        # AOI grid cells leave room for two players each walking one tick (see refresh_aoi).
        max_step = max(cfg.walk_speed, cfg.strafe_speed, cfg.backward_speed) * cfg.dt
        self._aoi_cell = self._chord_aoi + 2.0 * chord_unit(max_step, cfg.radius) * 1.001 + 1e-12
        self._aoi_hints = (0, 0, 0)
        self._advances_since_refresh = 0
        self._player_grid: CellGrid | None = None
        self._aoi = Neighbors.empty(self._capacity)

    # --- storage -----------------------------------------------------------------------------------------------

    def _alloc(self, capacity: int) -> None:
        old = self._capacity

        def grow(arr: NDArray | None, shape: tuple[int, ...], dtype: type) -> NDArray:
            new: NDArray = np.zeros(shape, dtype=dtype)
            if arr is not None:
                new[:old] = arr[:old]
            return new

        g = self.__dict__.get
        self.active = grow(g("active"), (capacity,), bool)
        self.pos = grow(g("pos"), (capacity, 3), np.float64)
        self.fwd = grow(g("fwd"), (capacity, 3), np.float64)
        self.height = grow(g("height"), (capacity,), np.float64)
        self.vz = grow(g("vz"), (capacity,), np.float64)
        self.score = grow(g("score"), (capacity,), np.int64)
        self.deaths = grow(g("deaths"), (capacity,), np.int64)
        self.attack_ready_at = grow(g("attack_ready_at"), (capacity,), np.int64)
        self.last_action = grow(g("last_action"), (capacity,), np.int8)
        self.teleported = grow(g("teleported"), (capacity,), bool)
        self._moved_far = grow(g("_moved_far"), (capacity,), bool)
        self._prev_pos = grow(g("_prev_pos"), (capacity, 3), np.float64)
        self._capacity = capacity

    @property
    def num_players(self) -> int:
        return int(np.count_nonzero(self.active[: self.num_slots]))

    def active_ids(self) -> NDArray[np.int64]:
        return np.flatnonzero(self.active[: self.num_slots]).astype(np.int64)

    def add_players(self, count: int) -> NDArray[np.int64]:
        """Join ``count`` players at once (spread over spawn points); returns their ids.

        Each gets a ``respawn`` event with reason ``join`` in the next tick's events.
        """
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        ids = np.empty(count, dtype=np.int64)
        for k in range(count):
            if self._free:
                ids[k] = heapq.heappop(self._free)
            else:
                if self.num_slots == self._capacity:
                    self._alloc(max(16, self._capacity * 2))
                ids[k] = self.num_slots
                self.num_slots += 1
        if count:
            spawn = self.spawns.choose(self._spawn_crowding(), None, count, self.rng)
            self._place(ids, spawn.position, spawn.heading)
            self.score[ids] = 0
            self.deaths[ids] = 0
            self.attack_ready_at[ids] = 0
            self.last_action[ids] = Action.NOOP
            self.active[ids] = True
            self._pending.extend(
                Respawn(self.tick + 1, int(i), int(s), RespawnReason.JOIN)
                for i, s in zip(ids, spawn.spawn_point, strict=True)
            )
        return ids

    def add_player(self) -> int:
        return int(self.add_players(1)[0])

    def remove_player(self, player: int) -> None:
        """Take a player out. Its id becomes reusable after the next AOI refresh (which reports its leaves)."""
        if not (0 <= player < self.num_slots) or not self.active[player]:
            raise KeyError(f"no active player {player}")
        self.active[player] = False
        self._quarantine.append(player)
        # Nothing of a departed player may outlive it: its slot will be reused by someone else.
        self._pending = [e for e in self._pending if getattr(e, "player", None) != player]
        keep = self._recent_player != player
        self._recent_beacon = self._recent_beacon[keep]
        self._recent_player = self._recent_player[keep]
        self._recent_tick = self._recent_tick[keep]

    def teleport(self, player: int, position: Vec, heading: Vec) -> None:
        """Put a player somewhere (admin tools, tests, scenario set-up). Vectors are re-projected."""
        if not (0 <= player < self.num_slots) or not self.active[player]:
            raise KeyError(f"no active player {player}")
        p = np.asarray(position, dtype=np.float64).reshape(1, 3)
        h = np.asarray(heading, dtype=np.float64).reshape(1, 3)
        if not (np.all(np.isfinite(p)) and np.all(np.isfinite(h))) or np.linalg.norm(p) == 0:
            raise ValueError("position and heading must be finite, position non-zero")
        p = p / np.linalg.norm(p)
        h = h - np.sum(h * p) * p
        if np.linalg.norm(h) < 1e-9:
            raise ValueError("heading must not be parallel to the position")
        self._place(np.array([player]), p, h / np.linalg.norm(h))

    def _place(self, ids: NDArray[np.int64], pos: Vec, heading: Vec) -> None:
        self.pos[ids] = pos
        self.fwd[ids] = heading
        self.height[ids] = 0.0
        self.vz[ids] = 0.0
        self._mark_server_moved(ids)

    def _mark_server_moved(self, ids: NDArray[np.int64]) -> None:
        """The server moved these players further than a walk: the validator must accept it (``teleported``)
        and the next AOI refresh must settle them from the stored lists (``_moved_far``, kept until then)."""
        self.teleported[ids] = True
        self._moved_far[ids] = True

    def _spawn_crowding(self) -> NDArray[np.int64]:
        """Players (as of the last AOI refresh) near each spawn point."""
        if self._player_grid is None or len(self._player_grid) == 0:
            return np.zeros(len(self.spawns), dtype=np.int64)
        near = self._player_grid.query(self.spawns.points, self._chord_spawn)  # <= render chord (config)
        return np.diff(near.indptr)

    # --- the tick ----------------------------------------------------------------------------------------------

    def step(self, actions: NDArray[np.integer] | None = None) -> StepResult:
        """Advance one tick with one action per slot (``actions[i]`` for player ``i``; free slots ignored)."""
        events = self.advance(actions)
        return StepResult(self.tick, events, self.refresh_aoi())

    def advance(self, actions: NDArray[np.integer] | None = None) -> list[GameplayEvent]:
        """Rules and movement for one tick (everything but the AOI). Returns the gameplay events."""
        n = self.num_slots
        a = self._checked_actions(actions, n)
        t = self.tick + 1
        events, self._pending = self._pending, []
        self._advances_since_refresh += 1
        # Server-caused moves of this tick, plus any made between ticks (teleport(), joins) since the last one.
        self.teleported[:n] = self._moved_far[:n]
        self.last_action[:n] = a

        hits = self._resolve_attacks(a, t)
        self._move(a)
        if hits[0].size:
            self._knock_back(*hits)
            events.extend(AttackHit(t, int(x), int(y)) for x, y in zip(*hits, strict=True))
        players = self.active_ids()
        near_rows, near_objects = self._objects_near(players)
        events.extend(self._pickups(t, players, near_rows, near_objects))
        events.extend(self._beacons(t, a, players, near_rows, near_objects))
        events.extend(self._hazards(t, players, near_rows, near_objects))
        due = ~self.collectible_active & (self.collectible_respawn_at <= t)
        self.collectible_active |= due
        self.tick = t
        return events

    def _checked_actions(self, actions: NDArray[np.integer] | None, n: int) -> NDArray[np.int8]:
        if actions is None:
            return np.zeros(n, dtype=np.int8)
        a = np.asarray(actions)
        if a.shape != (n,):
            raise ValueError(f"actions must have shape ({n},) (one per slot), got {a.shape}")
        if not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"actions must be integers, got dtype {a.dtype}")
        if n and (a.min() < 0 or a.max() >= NUM_ACTIONS):
            raise ValueError(f"actions must be in 0..{NUM_ACTIONS - 1}")
        return np.where(self.active[:n], a, Action.NOOP).astype(np.int8)

    def _resolve_attacks(self, a: NDArray[np.int8], t: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        empty = np.zeros(0, dtype=np.int64)
        attackers = np.flatnonzero((a == Action.ATTACK) & (self.attack_ready_at[: a.shape[0]] <= t))
        if attackers.size == 0 or self._player_grid is None:
            return empty, empty
        self.attack_ready_at[attackers] = t + self.cfg.attack_cooldown_ticks
        near = self._player_grid.query(self.pos[attackers], self._chord_attack)
        rows, cand = near.pairs()
        who = attackers[rows]
        keep = (cand != who) & self.active[cand]
        rows, who, cand = rows[keep], who[keep], cand[keep]
        if rows.size == 0:
            return empty, empty
        pa, pt = self.pos[who], self.pos[cand]
        toward = pt - pa * np.sum(pa * pt, axis=1, keepdims=True)  # tangent at the attacker, toward target
        length = np.linalg.norm(toward, axis=1)
        cos_off = np.sum(toward * self.fwd[who], axis=1) / np.where(length > 0, length, 1.0)
        in_cone = (length == 0) | (cos_off >= self._cos_half_cone)
        rows, who, cand = rows[in_cone], who[in_cone], cand[in_cone]
        if rows.size == 0:
            return empty, empty
        d2 = np.sum((self.pos[cand] - self.pos[who]) ** 2, axis=1)
        chosen = _nearest_per_group(rows, d2, cand)
        return who[chosen], cand[chosen]

    def _move(self, a: NDArray[np.int8]) -> None:
        n = a.shape[0]
        self.motion.step(a, self.active[:n], self.pos[:n], self.fwd[:n], self.height[:n], self.vz[:n])

    def _knock_back(self, attackers: NDArray[np.int64], targets: NDArray[np.int64]) -> None:
        targets, first = np.unique(targets, return_index=True)
        attackers = attackers[first]
        pt, pa = self.pos[targets], self.pos[attackers]
        away = pt - pa
        away -= np.sum(away * pt, axis=1, keepdims=True) * pt
        length = np.linalg.norm(away, axis=1, keepdims=True)
        fallback = self.fwd[attackers] - np.sum(self.fwd[attackers] * pt, axis=1, keepdims=True) * pt
        away = np.where(length > 1e-12, away / np.where(length > 1e-12, length, 1.0), fallback)
        away /= np.linalg.norm(away, axis=1, keepdims=True)
        new_p, new_d = move_along(pt, away, self.cfg.knockback_distance / self.cfg.radius)
        self.pos[targets], self.fwd[targets] = renormalize(new_p, transport(self.fwd[targets], away, new_d))
        self._mark_server_moved(targets)

    def _objects_near(self, players: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(player, object) pairs within the largest interaction radius, as indices into ``players``."""
        if players.size == 0 or self.object_pos.shape[0] == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return self._object_grid.query(self.pos[players], self._chord_interact).pairs()

    def _within(
        self, players: NDArray[np.int64], rows: NDArray[np.int64], objects: NDArray[np.int64], chord2: float
    ) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
        d2 = np.sum((self.pos[players[rows]] - self.object_pos[objects]) ** 2, axis=1)
        return d2 <= chord2, d2

    def _pickups(
        self, t: int, players: NDArray[np.int64], rows: NDArray[np.int64], objects: NDArray[np.int64]
    ) -> list[GameplayEvent]:
        is_coll = objects < self._n_collectibles
        rows, objects = rows[is_coll], objects[is_coll]
        live = self.collectible_active[objects]
        rows, objects = rows[live], objects[live]
        close, d2 = self._within(players, rows, objects, self._chord2_pickup)
        rows, objects, d2 = rows[close], objects[close], d2[close]
        if rows.size == 0:
            return []
        who = players[rows]
        chosen = _nearest_per_group(objects, d2, who)
        winners, items = who[chosen], objects[chosen]
        np.add.at(self.score, winners, self.cfg.pickup_score)
        self.collectible_active[items] = False
        self.collectible_respawn_at[items] = t + self.cfg.collectible_respawn_ticks
        return [Pickup(t, int(p), int(c)) for p, c in zip(winners, items, strict=True)]

    def _beacons(
        self,
        t: int,
        a: NDArray[np.int8],
        players: NDArray[np.int64],
        rows: NDArray[np.int64],
        objects: NDArray[np.int64],
    ) -> list[GameplayEvent]:
        cfg = self.cfg
        lo = self._n_collectibles
        sel = (objects >= lo) & (objects < lo + self._n_beacons)
        rows, objects = rows[sel], objects[sel]
        interacting = a[players[rows]] == Action.INTERACT
        rows, objects = rows[interacting], objects[interacting]
        close, _ = self._within(players, rows, objects, self._chord2_beacon)
        who, beacon = players[rows[close]], objects[close] - lo
        ready = self.beacon_ready_at[beacon] <= t
        who, beacon = who[ready], beacon[ready]
        recent = self._recent_tick > t - cfg.beacon_window_ticks
        self._recent_beacon = np.concatenate([self._recent_beacon[recent], beacon])
        self._recent_player = np.concatenate([self._recent_player[recent], who])
        self._recent_tick = np.concatenate([self._recent_tick[recent], np.full(who.size, t, dtype=np.int64)])
        events: list[GameplayEvent] = []
        for b in np.unique(beacon).tolist():
            mine = self._recent_beacon == b
            # Players who left are already forgotten (remove_player): their slot may belong to someone new.
            partners = np.unique(self._recent_player[mine])
            if partners.size >= cfg.beacon_min_players:
                events.append(BeaconActivated(t, int(b), tuple(int(p) for p in partners)))
                self.score[partners] += cfg.beacon_score
                self.beacon_ready_at[b] = t + cfg.beacon_cooldown_ticks
                self.beacon_activations[b] += 1
                keep = ~mine
                self._recent_beacon = self._recent_beacon[keep]
                self._recent_player = self._recent_player[keep]
                self._recent_tick = self._recent_tick[keep]
        return events

    def _hazards(
        self, t: int, players: NDArray[np.int64], rows: NDArray[np.int64], objects: NDArray[np.int64]
    ) -> list[GameplayEvent]:
        lo = self._n_collectibles + self._n_beacons
        sel = objects >= lo
        rows, objects = rows[sel], objects[sel]
        close, _ = self._within(players, rows, objects, self._chord2_hazard)
        rows, objects = rows[close], objects[close]
        grounded = self.height[players[rows]] <= _GROUNDED_M
        rows, objects = rows[grounded], objects[grounded]
        if rows.size == 0:
            return []
        victims, first = np.unique(players[rows], return_index=True)
        hazards = objects[first] - lo
        spawn = self.spawns.choose(self._spawn_crowding(), self.pos[victims], victims.size, self.rng)
        self._place(victims, spawn.position, spawn.heading)
        self.deaths[victims] += 1
        events: list[GameplayEvent] = []
        for v, h, s in zip(victims.tolist(), hazards.tolist(), spawn.spawn_point.tolist(), strict=True):
            events.append(HazardHit(t, v, h))
            events.append(Respawn(t, v, s, RespawnReason.HAZARD))
        return events

    # --- area of interest --------------------------------------------------------------------------------------

    def refresh_aoi(self) -> AoiChanges:
        """Recompute every player's area of interest and report who entered and left whose.

        The usual path (one :meth:`advance` since the last refresh) finds the changes in the same scan that finds
        the neighbours, by testing each candidate pair at both the old and the new positions; that holds
        because nobody walks further than the grid's margin in one tick. Teleported (respawned, knocked back)
        and removed players are settled from the stored neighbour lists. Any other sequence falls back to a
        full set difference of the two neighbour sets.
        """
        ids = self.active_ids()
        old = self._aoi
        if old.row_of.shape[0] != self._capacity:
            row_of = np.full(self._capacity, -1, dtype=np.int64)
            row_of[: old.row_of.shape[0]] = old.row_of
            old = Neighbors(old.indptr, old.indices, old.row_ids, row_of)
        grid = CellGrid(self.pos[ids], self._aoi_cell, ids=ids, id_space=self._capacity)
        if self._advances_since_refresh == 1:
            far = self._moved_far[ids]
            new, scanned = grid.neighbors_and_changes(
                self._chord_aoi, self._prev_pos[ids], old.row_of[ids] >= 0, far, self._aoi_hints
            )
            gone = old.row_ids[~self.active[old.row_ids]]
            er, ec, lr, lc = _merge_changes(scanned, _untracked_changes(old, new, ids[far], gone))
            self._aoi_hints = (new.num_entries, er.size, lr.size)
        else:
            new = grid.neighbors_within(self._chord_aoi, capacity_hint=old.num_entries)
            er, ec, lr, lc = diff_neighbors(old, new)
        n = self.num_slots
        self._prev_pos[:n] = self.pos[:n]
        self._moved_far[:n] = False
        self._advances_since_refresh = 0
        self._aoi = new
        self._player_grid = grid
        for slot in self._quarantine:
            heapq.heappush(self._free, slot)
        self._quarantine = []
        return AoiChanges(self.tick, er, ec, lr, lc)

    @property
    def aoi(self) -> Neighbors:
        """Every player's area of interest as of the last refresh (other player ids within render distance)."""
        return self._aoi

    def aoi_of(self, player: int) -> NDArray[np.int64]:
        """Ids of the players within render distance of ``player`` (ascending), as of the last refresh."""
        return self._aoi.row(player)

    def visible_objects(self, player: int) -> NDArray[np.int64]:
        """Indices into :attr:`object_pos` (collectibles, then beacons, then hazards) within render distance."""
        return self._object_grid.query(self.pos[player], self._chord_aoi).row(0)

    def players_within(self, points: Vec, distance: float) -> Neighbors:
        """For each unit position in ``points`` (row = its index), the players within ``distance`` metres of it,
        as of the last AOI refresh (positions are the current ones). Routes events and fills spectator views.

        Up to the render distance this reads the AOI grid; wider zones (world events) compare against every
        player, which is fine for the few such queries a tick makes.
        """
        q = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        rows = np.arange(q.shape[0], dtype=np.int64)
        chord = chord_unit(distance, self.cfg.radius)
        if self._player_grid is not None and len(self._player_grid) and distance <= self.cfg.render_distance:
            return self._player_grid.query(q, chord)
        ids = self.active_ids()
        inside = (q @ self.pos[ids].T) >= 1.0 - chord * chord / 2.0  # chord^2 = 2 - 2 cos
        counts = inside.sum(axis=1)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return Neighbors(indptr, ids[np.nonzero(inside)[1]], rows, rows.copy())

    def nearest_players(self, point: Vec, k: int) -> NDArray[np.int64]:
        """Ids of the ``k`` players nearest to a unit position (fewer if fewer exist), nearest first."""
        ids = self.active_ids()
        if ids.size == 0:
            return ids
        _, idx = knearest(self.pos[ids], np.asarray(point, dtype=np.float64), min(k, ids.size))
        return ids[idx[0]]

    # --- inspection --------------------------------------------------------------------------------------------

    def digest(self) -> str:
        """SHA-256 of the complete dynamic state: equal digests mean bit-identical worlds."""
        h = hashlib.sha256()
        n = self.num_slots
        h.update(np.int64(self.tick).tobytes())
        for arr in (
            self.active[:n],
            self.pos[:n],
            self.fwd[:n],
            self.height[:n],
            self.vz[:n],
            self.score[:n],
            self.deaths[:n],
            self.attack_ready_at[:n],
            self.collectible_active,
            self.collectible_respawn_at,
            self.beacon_ready_at,
            self._recent_beacon,
            self._recent_player,
            self._recent_tick,
            self._aoi.indices,
            self._aoi.row_ids,
        ):
            h.update(np.ascontiguousarray(arr).tobytes())
        h.update(repr(self.rng.bit_generator.state).encode())
        return h.hexdigest()

    # --- snapshots ---------------------------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The complete dynamic state as bytes: :meth:`restore` rebuilds a world that steps on bit-identically.

        What the config regenerates (layout, spawn points, object grid, movement tables) is not stored, only the
        config itself, so a checkpoint of a world with a thousand players is a few hundred kilobytes. The format is
        a small JSON header (scalars, the generator state, pending events, array shapes) and the raw arrays;
        no pickle, so restoring bytes read from a shared store cannot run code.
        """
        n = self.num_slots
        arrays: dict[str, NDArray[Any]] = {name: getattr(self, name)[:n] for name in _SLOT_ARRAYS}
        arrays.update({name: getattr(self, name) for name in _WHOLE_ARRAYS})
        aoi = self._aoi
        arrays.update(aoi_indptr=aoi.indptr, aoi_indices=aoi.indices, aoi_row_ids=aoi.row_ids, aoi_row_of=aoi.row_of)
        grid = self._player_grid
        if grid is not None:
            arrays.update(grid_points=grid.points, grid_ids=grid.ids)
        specs, blobs, offset = [], [], 0
        for name, arr in arrays.items():
            data = np.ascontiguousarray(arr).tobytes()
            specs.append([name, arr.dtype.str, list(arr.shape), offset, len(data)])
            blobs.append(data)
            offset += len(data)
        header = {
            "version": _SNAPSHOT_VERSION,
            "config": dataclasses.asdict(self.cfg),
            "tick": self.tick,
            "num_slots": n,
            "capacity": self._capacity,
            "free": list(self._free),  # heap order, kept as is
            "quarantine": list(self._quarantine),
            "pending": [[type(e).__name__, _event_fields(e)] for e in self._pending],
            "aoi_hints": list(self._aoi_hints),
            "advances_since_refresh": self._advances_since_refresh,
            "grid_id_space": None if grid is None else grid.id_space,
            "rng": self.rng.bit_generator.state,
            "arrays": specs,
        }
        head = json.dumps(header, separators=(",", ":")).encode()
        return b"".join([_SNAPSHOT_MAGIC, struct.pack("<I", len(head)), head, *blobs])

    @classmethod
    def restore(cls, cfg: WorldConfig | None, data: bytes) -> World:
        """The world a :meth:`snapshot` was taken of (``restored.digest() == original.digest()``, and both step on
        identically). ``cfg`` must equal the snapshot's config (None: use the snapshot's); else
        :class:`SnapshotError`, as for bytes that are not a snapshot."""
        header, body = _read_snapshot(data)
        stored = WorldConfig.from_mapping(header["config"])
        if cfg is not None and cfg != stored:
            raise SnapshotError("the snapshot is of a world with another config")
        world = cls(cfg or stored)
        world._alloc(int(header["capacity"]))
        arrays: dict[str, NDArray[Any]] = {}
        for name, dtype, shape, offset, size in header["arrays"]:
            if offset + size > len(body):
                raise SnapshotError("truncated world snapshot")
            kind = np.dtype(dtype)
            arrays[name] = np.frombuffer(body, dtype=kind, count=size // kind.itemsize, offset=offset).reshape(shape)
        n = int(header["num_slots"])
        for name in _SLOT_ARRAYS:
            getattr(world, name)[:n] = arrays[name]
        for name in _WHOLE_ARRAYS:
            setattr(world, name, arrays[name].copy())
        world.tick = int(header["tick"])
        world.num_slots = n
        world._free = [int(i) for i in header["free"]]
        world._quarantine = [int(i) for i in header["quarantine"]]
        world._pending = [_event_from(kind, fields) for kind, fields in header["pending"]]
        world._aoi_hints = tuple(int(x) for x in header["aoi_hints"])  # type: ignore[assignment]
        world._advances_since_refresh = int(header["advances_since_refresh"])
        world._aoi = Neighbors(
            arrays["aoi_indptr"].copy(),
            arrays["aoi_indices"].copy(),
            arrays["aoi_row_ids"].copy(),
            arrays["aoi_row_of"].copy(),
        )
        if "grid_points" in arrays:  # rebuilt from the same points and ids: the same grid, bit for bit
            world._player_grid = CellGrid(
                arrays["grid_points"].copy(),
                world._aoi_cell,
                ids=arrays["grid_ids"].copy(),
                id_space=int(header["grid_id_space"]),
            )
        world.rng.bit_generator.state = header["rng"]
        return world


def _event_fields(event: GameplayEvent) -> dict[str, Any]:
    return {f.name: getattr(event, f.name) for f in dataclasses.fields(event) if f.name != "kind"}


def _event_from(kind: str, fields: dict[str, Any]) -> GameplayEvent:
    if kind not in _EVENT_TYPES:
        raise SnapshotError(f"unknown event type {kind!r} in a world snapshot")
    if kind == "Respawn":
        fields = {**fields, "reason": RespawnReason(fields["reason"])}
    if kind == "BeaconActivated":
        fields = {**fields, "players": tuple(fields["players"])}
    return _EVENT_TYPES[kind](**fields)


def _read_snapshot(data: bytes) -> tuple[dict[str, Any], bytes]:
    if len(data) < 8 or data[:4] != _SNAPSHOT_MAGIC:
        raise SnapshotError("not a world snapshot")
    (length,) = struct.unpack("<I", data[4:8])
    try:
        header = json.loads(data[8 : 8 + length])
    except ValueError:
        raise SnapshotError("corrupt world snapshot header") from None
    if not isinstance(header, dict) or header.get("version") != _SNAPSHOT_VERSION:
        raise SnapshotError("unsupported world snapshot version")
    return header, data[8 + length :]


def _nearest_per_group(group: NDArray[np.int64], d2: NDArray[np.float64], tiebreak: NDArray[np.int64]) -> NDArray:
    """Index of the smallest ``d2`` in each ``group`` (ties: smallest ``tiebreak``), groups ascending."""
    order = np.lexsort((tiebreak, d2, group))
    first = np.ones(order.size, dtype=bool)
    first[1:] = group[order][1:] != group[order][:-1]
    return order[first]


def _untracked_changes(
    old: Neighbors, new: Neighbors, far: NDArray[np.int64], gone: NDArray[np.int64]
) -> tuple[NDArray[np.int64], ...]:
    """AOI changes for pairs with a teleported (``far``) or removed (``gone``) player, from the stored lists.

    Each unordered pair is reported in both directions exactly once: pairs with a removed player by the removal
    pass, pairs between two teleported players by the first of them only in each direction.
    """
    enter_r: list[NDArray[np.int64]] = []
    enter_c: list[NDArray[np.int64]] = []
    leave_r: list[NDArray[np.int64]] = []
    leave_c: list[NDArray[np.int64]] = []

    def emit(
        rows: list[NDArray[np.int64]],
        cols: list[NDArray[np.int64]],
        who: int,
        others: NDArray[np.int64],
        mirror: NDArray[np.int64],
    ) -> None:
        rows.append(np.full(others.size, who, dtype=np.int64))
        cols.append(others)
        rows.append(mirror)
        cols.append(np.full(mirror.size, who, dtype=np.int64))

    for f in far.tolist():
        was, now = old.row(f), new.row(f)
        entered = np.setdiff1d(now, was, assume_unique=True)
        left = np.setdiff1d(was, now, assume_unique=True)
        left = left[~np.isin(left, gone)]
        emit(enter_r, enter_c, f, entered, entered[~np.isin(entered, far)])
        emit(leave_r, leave_c, f, left, left[~np.isin(left, far)])
    for r in gone.tolist():
        was = old.row(r)
        emit(leave_r, leave_c, r, was, was[~np.isin(was, gone)])
    empty = np.zeros(0, dtype=np.int64)

    def cat(parts: list[NDArray[np.int64]]) -> NDArray[np.int64]:
        return np.concatenate(parts) if parts else empty

    return cat(enter_r), cat(enter_c), cat(leave_r), cat(leave_c)


def _merge_changes(a: tuple[NDArray[np.int64], ...], b: tuple[NDArray[np.int64], ...]) -> tuple[NDArray[np.int64], ...]:
    """Concatenate two change sets and sort each side by (observer, subject)."""
    er, ec, lr, lc = (np.concatenate([x, y]) for x, y in zip(a, b, strict=True))
    enter = np.lexsort((ec, er))
    leave = np.lexsort((lc, lr))
    return er[enter], ec[enter], lr[leave], lc[leave]
