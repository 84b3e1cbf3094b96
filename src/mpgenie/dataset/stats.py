"""The dataset card: ``mpgenie dataset stats DIR`` — totals, action histogram, interactions, behavioural
diversity, and a preview contact sheet (PNG: agents down, time across) of the first episode."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from mpgenie.agents.behaviour import distributions, diversity_js_bits, mean_action_entropy_bits
from mpgenie.dataset.format import episode_dir
from mpgenie.dataset.reader import decode_frames
from mpgenie.render.png import write_png
from mpgenie.world.actions import ACTION_NAMES, NUM_ACTIONS

#: Events counted per policy in ``per_policy`` (by their acting agent).
_POLICY_EVENTS = ("pickup", "beacon", "attack", "hazard")


def episode_drivers(meta: dict[str, Any]) -> list[str]:
    """What drove each agent of an episode: its ``drivers`` (learned members, scripted styles), or for episodes
    recorded before drivers were, its scripted ``styles``."""
    if "drivers" in meta:
        return [str(d["policy"]) for d in meta["drivers"]]
    return [f"scripted:{s}" for s in meta.get("styles", ["unknown"] * int(meta["num_agents"]))]


def _per_policy(
    hists: np.ndarray, policy_of: list[str], events: dict[str, Counter[str]], fps: int
) -> dict[str, dict[str, Any]]:
    """Per policy: agents, hours of play, action entropy and diversity among its agents, its agents' events per
    agent-hour."""
    out: dict[str, dict[str, Any]] = {}
    for policy in sorted(set(policy_of)):
        rows = hists[[i for i, p in enumerate(policy_of) if p == policy]]
        dists = distributions(rows)
        hours = float(rows.sum()) / fps / 3600.0
        out[policy] = {
            "agents": int(rows.shape[0]),
            "agent_hours": hours,
            "mean_action_entropy_bits": mean_action_entropy_bits(dists),
            "diversity_js_bits": diversity_js_bits(dists),
            "events_per_agent_hour": {k: v / hours for k, v in sorted(events.get(policy, Counter()).items())}
            if hours
            else {},
        }
    return out


def dataset_stats(root: str | Path, preview: str | Path | None = None) -> dict[str, Any]:
    root = Path(root)
    info = json.loads((root / "meta" / "info.json").read_text())
    episodes = pq.read_table(root / "meta" / "episodes.parquet").to_pylist()
    fps = int(info["fps"])
    actions = np.zeros(NUM_ACTIONS, dtype=np.int64)
    per_agent: list[np.ndarray] = []
    events: Counter[str] = Counter()
    policy_of: list[str] = []  # per agent of per_agent: what drove it
    policy_events: dict[str, Counter[str]] = {}
    for ep in episodes:
        d = episode_dir(root, int(ep["episode_index"]))
        drivers = episode_drivers(json.loads((d / "episode.json").read_text()))
        acts = np.array(pq.read_table(d / "data.parquet").column("action").to_pylist(), dtype=np.int64)
        for a in range(acts.shape[1]):
            hist = np.bincount(acts[:, a], minlength=NUM_ACTIONS)
            per_agent.append(hist)
            policy_of.append(drivers[a])
            actions += hist
        table = pq.read_table(d / "events.parquet", columns=["kind", "agent", "participants"]).to_pydict()
        events.update(table["kind"])
        for kind, agent, participants in zip(table["kind"], table["agent"], table["participants"], strict=True):
            if kind not in _POLICY_EVENTS:
                continue
            for who in participants if kind == "beacon" else [agent]:  # a beacon: each participant
                if 0 <= who < len(drivers):
                    policy_events.setdefault(drivers[who], Counter())[kind] += 1
    dists = distributions(np.array(per_agent) if per_agent else np.zeros((0, NUM_ACTIONS)))
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
        "per_policy": _per_policy(np.array(per_agent).reshape(-1, NUM_ACTIONS), policy_of, policy_events, fps),
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
