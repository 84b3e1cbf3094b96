"""``mpgenie bench world`` and ``mpgenie bench aoi``: tick cost and the spatial-index comparison.

Both keep the density constant (R = 100 m per 1,000 players, :meth:`WorldConfig.scaled_for_density`) so that
numbers at different sizes measure scaling, not crowding. Wall time comes from ``perf_counter``; CPU time from
``process_time``, so ``cpu_per_wall`` shows how many cores the run really used.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from mpgenie.agents.scripted import ScriptedBots
from mpgenie.errors import UsageError
from mpgenie.world.config import WorldConfig
from mpgenie.world.geometry import random_unit_vectors
from mpgenie.world.simulation import World
from mpgenie.world.spatial import CellGrid, brute_force_neighbors, chord_unit


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1e3, q)) if values else 0.0


def bench_world(
    players: int, ticks: int, seed: int = 0, warmup: int = 10, progress: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """Step ``players`` scripted bots for ``ticks`` ticks (after ``warmup`` untimed ones)."""
    if players < 1 or ticks < 1 or warmup < 0:
        raise UsageError("players and ticks must be >= 1, warmup >= 0")
    cfg = WorldConfig.scaled_for_density(players, seed=seed)
    world = World(cfg)
    world.add_players(players)
    bots = ScriptedBots(world, seed)
    for _ in range(warmup):
        world.step(bots.act())
    sim: list[float] = []
    aoi: list[float] = []
    total: list[float] = []
    bot_time: list[float] = []
    pairs: list[int] = []
    events: Counter[str] = Counter()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for i in range(ticks):
        t0 = time.perf_counter()
        actions = bots.act()
        t1 = time.perf_counter()
        gameplay = world.advance(actions)
        t2 = time.perf_counter()
        changes = world.refresh_aoi()
        t3 = time.perf_counter()
        bot_time.append(t1 - t0)
        sim.append(t2 - t1)
        aoi.append(t3 - t2)
        total.append(t3 - t1)
        pairs.append(world.aoi.num_entries // 2)
        events.update(e.kind for e in gameplay)
        events["aoi_enter"] += changes.num_enter
        events["aoi_leave"] += changes.num_leave
        if progress:
            progress(i + 1)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {
        "players": players,
        "ticks": ticks,
        "radius_m": round(cfg.radius, 2),
        "render_distance_m": cfg.render_distance,
        "tick_ms_p50": _pct(total, 50),
        "tick_ms_p99": _pct(total, 99),
        "sim_ms_p50": _pct(sim, 50),
        "sim_ms_p99": _pct(sim, 99),
        "aoi_ms_p50": _pct(aoi, 50),
        "aoi_ms_p99": _pct(aoi, 99),
        "bots_ms_p50": _pct(bot_time, 50),
        "aoi_pairs_mean": float(np.mean(pairs)),
        "aoi_neighbors_mean": float(2 * np.mean(pairs) / players),
        "events_per_tick": {k: v / ticks for k, v in sorted(events.items())},
        "cpu_per_wall": cpu / wall if wall > 0 else 0.0,
    }


def _grid_pairs(points: np.ndarray, chord: float) -> int:
    return CellGrid(points, chord).neighbors_within(chord).num_entries // 2


def _kdtree_pairs(points: np.ndarray, chord: float) -> int:
    return len(cKDTree(points).query_pairs(chord, output_type="ndarray"))


def _kdtree_sorted_pairs(points: np.ndarray, chord: float) -> int:
    """What the kd-tree costs once its pairs are put in the per-player order the AOI diff needs."""
    pairs = cKDTree(points).query_pairs(chord, output_type="ndarray")
    keys = np.concatenate([pairs[:, 0] * len(points) + pairs[:, 1], pairs[:, 1] * len(points) + pairs[:, 0]])
    keys.sort()
    return len(pairs)


def _brute_pairs(points: np.ndarray, chord: float) -> int:
    return sum(len(v) for v in brute_force_neighbors(points, chord).values()) // 2


def bench_aoi(players: int, repeats: int = 5, seed: int = 0, brute_force_max: int = 20_000) -> dict[str, Any]:
    """All-pairs AOI on one uniform layout, by each candidate structure; best of ``repeats`` (ms)."""
    cfg = WorldConfig.scaled_for_density(players)
    radius = cfg.radius
    points = random_unit_vectors(np.random.default_rng(seed), players)
    chord = chord_unit(cfg.render_distance, radius)
    methods: dict[str, Callable[[np.ndarray, float], int]] = {
        "cell_grid_numba": _grid_pairs,
        "scipy_ckdtree_query_pairs": _kdtree_pairs,
        "scipy_ckdtree_sorted": _kdtree_sorted_pairs,
    }
    if players <= brute_force_max:
        methods["brute_force_numpy"] = _brute_pairs
    _grid_pairs(points[:100], chord)  # compile outside the timing
    results: dict[str, Any] = {"players": players, "radius_m": round(radius, 2), "methods": {}}
    counts = set()
    for name, fn in methods.items():
        best = math.inf
        for _ in range(1 if name.startswith("brute") else repeats):
            t0 = time.perf_counter()
            count = fn(points, chord)
            best = min(best, time.perf_counter() - t0)
        counts.add(count)
        results["methods"][name] = {"ms": best * 1e3, "pairs": count}
    base = results["methods"]["scipy_ckdtree_query_pairs"]["ms"]
    for entry in results["methods"].values():
        entry["speedup_vs_ckdtree"] = base / entry["ms"] if entry["ms"] > 0 else math.inf
    results["all_methods_agree"] = len(counts) == 1
    return results
