"""The dataset card: ``mpgenie dataset stats DIR`` — totals, action histogram, interactions, behavioural
diversity, and a preview contact sheet (PNG: agents down, time across) of the first episode."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from mpgenie.agents.behaviour import diversity_js_bits, mean_action_entropy_bits
from mpgenie.dataset.format import episode_dir
from mpgenie.dataset.reader import decode_frames
from mpgenie.render.png import write_png
from mpgenie.world.actions import ACTION_NAMES, NUM_ACTIONS


def dataset_stats(root: str | Path, preview: str | Path | None = None) -> dict[str, Any]:
    root = Path(root)
    info = json.loads((root / "meta" / "info.json").read_text())
    episodes = pq.read_table(root / "meta" / "episodes.parquet").to_pylist()
    fps = int(info["fps"])
    actions = np.zeros(NUM_ACTIONS, dtype=np.int64)
    per_agent: list[np.ndarray] = []
    events: Counter[str] = Counter()
    for ep in episodes:
        d = episode_dir(root, int(ep["episode_index"]))
        acts = np.array(pq.read_table(d / "data.parquet").column("action").to_pylist(), dtype=np.int64)
        for a in range(acts.shape[1]):
            hist = np.bincount(acts[:, a], minlength=NUM_ACTIONS)
            per_agent.append(hist / max(hist.sum(), 1))
            actions += hist
        events.update(pq.read_table(d / "events.parquet").column("kind").to_pylist())
    dists = np.array(per_agent) if per_agent else np.zeros((0, NUM_ACTIONS))
    totals = info["totals"]
    out: dict[str, Any] = {
        "episodes": totals["episodes"],
        "frames": totals["frames"],
        "agent_frames": totals["agent_frames"],
        "hours_per_agent": totals["frames"] / fps / 3600.0,
        "hours_all_views": totals["agent_frames"] / fps / 3600.0,
        "action_histogram": {ACTION_NAMES[i]: int(actions[i]) for i in range(NUM_ACTIONS)},
        "events": dict(sorted(events.items())),
        "interactions": int(events.get("interaction", 0)),
        # Behavioural diversity: mean Jensen-Shannon divergence (bits, 0..1) between agents' action distributions,
        # and the mean per-agent action entropy (bits, 0..log2(10)).
        "diversity_js_bits": diversity_js_bits(dists),
        "mean_action_entropy_bits": mean_action_entropy_bits(dists),
    }
    if preview is not None and episodes:
        out["preview"] = str(write_contact_sheet(root, int(episodes[0]["episode_index"]), Path(preview)))
    return out


def write_contact_sheet(root: Path, episode: int, path: Path, agents: int = 8, columns: int = 6) -> Path:
    meta = json.loads((episode_dir(root, episode) / "episode.json").read_text())
    n = meta["num_frames"]
    picks = np.linspace(0, n - 1, columns).astype(int)
    rows = []
    for a in range(min(agents, meta["num_agents"])):
        video = episode_dir(root, episode) / meta["videos"][a]
        rows.append(np.concatenate([decode_frames(video, int(f), 1)[0] for f in picks], axis=1))
    return write_png(path, np.concatenate(rows, axis=0))
