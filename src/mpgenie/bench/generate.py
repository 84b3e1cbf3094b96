"""``mpgenie bench generate``: dataset generation throughput — frames per second per core with rendering,
encoding and writing included, bytes per frame, and the speed-up from 1 to 2 workers."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from mpgenie.dataset.generate import GenerateConfig, generate

TB = 1e12


def _run(workers: int, episodes: int, players: int, steps: int, resolution: int) -> tuple[float, int, int]:
    root = Path(tempfile.mkdtemp(prefix="mpgenie-bench-gen-"))
    try:
        t0 = time.perf_counter()
        info = generate(
            GenerateConfig(
                out=root, episodes=episodes, players=players, steps=steps, resolution=resolution, workers=workers
            )
        )
        elapsed = time.perf_counter() - t0
        video_bytes = sum(p.stat().st_size for p in root.rglob("*.mp4"))
        return elapsed, int(info["totals"]["agent_frames"]), video_bytes
    finally:
        shutil.rmtree(root, ignore_errors=True)


def bench_generate(
    players: int = 8, steps: int = 300, episodes: int = 4, resolution: int = 64, max_workers: int = 2
) -> dict[str, Any]:
    if players < 1 or steps < 1 or episodes < 1 or max_workers < 1:
        raise ValueError("players, steps, episodes and workers must be >= 1")
    _run(1, 1, 2, 5, resolution)  # warm the compiled kernels
    one_s, frames, video_bytes = _run(1, episodes, players, steps, resolution)
    result: dict[str, Any] = {
        "resolution": resolution,
        "players": players,
        "frames": frames,  # agent views x ticks
        "frames_per_s_per_core": frames / one_s,
        "bytes_per_frame": video_bytes / frames,
    }
    if max_workers >= 2:
        two_s, _, _ = _run(2, episodes, players, steps, resolution)
        result["frames_per_s_2_workers"] = frames / two_s
        result["speedup_2_workers"] = one_s / two_s
    # The product's goal, "1 TB of video per day": cores needed at this rate and size.
    bytes_per_core_day = result["frames_per_s_per_core"] * result["bytes_per_frame"] * 86_400
    result["tb_per_core_day"] = bytes_per_core_day / TB
    result["cores_for_1tb_per_day"] = TB / bytes_per_core_day
    return result
