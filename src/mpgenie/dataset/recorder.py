"""Record episodes: run a headless session, render every player's view each tick, write video + tables + events.

An episode is written into ``DIR/.staging/`` and appears under ``DIR/episodes/`` by one directory rename once every
file is complete and synced, so a crash (even ``kill -9``) at any moment leaves no partial episode visible; a
re-run removes the staging directories of writers no longer alive and skips published episodes. Replaying a
recorded episode (re-rendering it, forking it with other actions) is :mod:`mpgenie.dataset.replay`.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mpgenie.agents.mixture import AgentsSpec, MixedPolicy
from mpgenie.agents.policy import Observation
from mpgenie.atomic import write_json_atomic
from mpgenie.dataset.format import (
    CODECS,
    DATA_SCHEMA,
    EVENT_SCHEMA,
    FORMAT_VERSION,
    camera_name,
    episode_dir,
    video_name,
)
from mpgenie.render import Renderer, RenderSettings
from mpgenie.render.cameras import orbit_cameras, plan_cameras
from mpgenie.render.views import ViewManager
from mpgenie.world.config import WorldConfig
from mpgenie.world.events import WIRE_KIND, AttackHit, BeaconActivated, GameplayEvent, HazardHit, Pickup, Respawn
from mpgenie.world.simulation import World
from mpgenie.world.spatial import chord_unit

INTERACTION_M = 6.0  # two agents this close are "interacting" (annotated as spans)


@dataclass(frozen=True, slots=True)
class EpisodeSpec:
    index: int
    players: int
    steps: int
    seed: int
    resolution: int = 64
    codec: str = "h264"
    scenario: str = "mixed"
    adaptive: bool = False  # view management: detail tiers by importance (interactions always in full)
    cameras: int = 0  # spectator orbit cameras placed by the planner (re-planned every second)
    explore: float = 0.0  # share of agent-ticks whose action is replaced by a uniformly random one
    agents: AgentsSpec = field(default_factory=AgentsSpec)  # scripted only, or learned members mixed in

    def world_config(self) -> WorldConfig:
        return WorldConfig.scaled_for_density(max(self.players, 1), seed=self.seed)

    def policy(self, world: World) -> MixedPolicy:
        """The episode's agents: scripted styles (:meth:`AgentsSpec.styles`), and with a population, learned
        members for a share of them (drawn with the episode's seed too)."""
        styles = self.agents.styles(self.scenario, self.players, self.seed)
        return MixedPolicy(world, styles, self.seed, self.explore, self.agents)


class VideoWriter:
    """One agent's view as an H.264 (or lossless H.264 RGB) stream, one frame per tick, a keyframe each second."""

    def __init__(self, path: Path, fps: int, size: int, codec: str) -> None:
        name, pix_fmt, options = CODECS[codec]
        self.container = av.open(str(path), "w")
        self.stream = self.container.add_stream(name, rate=fps)
        self.stream.width = self.stream.height = size
        self.stream.pix_fmt = pix_fmt
        self.stream.options = {**options, "g": str(fps), "bf": "0"}
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self.frames
        self.frames += 1
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()


def _fsync_tree(path: Path) -> None:
    for p in sorted(path.rglob("*")):
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def record_episode(root: Path, spec: EpisodeSpec) -> dict[str, Any] | None:
    """Write one episode (None if it was already published)."""
    final = episode_dir(root, spec.index)
    if final.exists():
        return None
    staging = root / ".staging" / f"{final.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    cfg = spec.world_config()
    world = World(cfg)
    agents = world.add_players(spec.players)  # a fresh world: agent a is player id a
    policy = spec.policy(world)
    settings = RenderSettings(resolution=spec.resolution)
    renderer = Renderer(world, settings)
    views = ViewManager(world, settings) if spec.adaptive else None
    writers = [VideoWriter(staging / video_name(a), cfg.tick_rate, spec.resolution, spec.codec) for a in agents]
    camera_writers = [
        VideoWriter(staging / camera_name(c), cfg.tick_rate, spec.resolution, spec.codec) for c in range(spec.cameras)
    ]
    targets = np.zeros((0, 3))
    rows: dict[str, list[Any]] = {name: [] for name in DATA_SCHEMA.names}
    events: dict[str, list[Any]] = {name: [] for name in EVENT_SCHEMA.names}
    spans: dict[tuple[int, int], tuple[int, int]] = {}
    # A learned policy acts on what its agents have seen: the views of the state before this tick's actions (the
    # first one rendered before the first tick; it is not recorded, as row 0 shows the state after tick 0).
    seen = renderer.render(agents) if spec.agents.needs_frames else None
    try:
        for frame in range(spec.steps):
            actions = np.zeros(world.num_slots, dtype=np.int8)
            actions[agents] = policy.act(Observation.of(world, agents, frames=seen))
            result = world.step(actions)
            if views is not None:
                frames, tiers = views.render(agents, actions[agents], _involved(result.events, agents))
            else:
                frames, tiers = renderer.render(agents), np.zeros(agents.size, dtype=np.int8)
            for a, writer in enumerate(writers):
                writer.write(frames[a])
            if seen is not None:
                seen = frames
            if camera_writers:
                targets = _camera_targets(world, spec.cameras, targets, frame, cfg.tick_rate)
                shots = renderer.render_cameras(orbit_cameras(world, targets))
                for c, writer in enumerate(camera_writers):
                    writer.write(shots[c])
            _row(rows, spec.index, frame, world, actions, agents)
            rows["view_tier"].append(tiers.tolist())
            _events(events, spec.index, frame, result.tick, result.events, result.aoi)
            _interactions(events, spans, spec.index, frame, result.tick, world, agents, last=frame == spec.steps - 1)
    finally:
        for writer in writers + camera_writers:
            writer.close()
    pq.write_table(pa.table(rows, schema=DATA_SCHEMA), staging / "data.parquet")
    pq.write_table(pa.table(events, schema=EVENT_SCHEMA), staging / "events.parquet")
    meta = {
        "episode_index": spec.index,
        "num_frames": spec.steps,
        "num_agents": spec.players,
        "seed": spec.seed,
        "fps": cfg.tick_rate,
        "resolution": spec.resolution,
        "action_cues": settings.action_cues,
        "codec": spec.codec,
        "scenario": spec.scenario,
        "adaptive": spec.adaptive,
        "explore": spec.explore,
        "render_work_saved": views.stats.saved if views is not None else 0.0,
        "styles": policy.style_names(),
        "agents": spec.agents.text,
        "drivers": policy.drivers(),
        "world": asdict(cfg),  # type: ignore[call-overload]
        "num_events": len(events["kind"]),
        "videos": [video_name(int(a)) for a in agents],
        "cameras": [camera_name(c) for c in range(spec.cameras)],
    }
    (staging / "episode.json").write_text(json.dumps(meta, sort_keys=True))
    _fsync_tree(staging)
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(staging, final)  # the moment the episode exists
    except OSError:
        if not final.exists():
            raise
        shutil.rmtree(staging, ignore_errors=True)  # someone else published this episode meanwhile: theirs stands
        return None
    return meta


def _row(
    rows: dict[str, list[Any]], episode: int, frame: int, world: World, actions: np.ndarray, agents: np.ndarray
) -> None:
    fps = world.cfg.tick_rate
    rows["episode_index"].append(episode)
    rows["frame_index"].append(frame)
    rows["timestamp"].append(frame / fps)
    rows["tick"].append(world.tick)
    rows["action"].append(actions[agents].astype(np.int8).tolist())
    rows["position"].append(world.pos[agents].astype(np.float32).tolist())
    rows["heading"].append(world.fwd[agents].astype(np.float32).tolist())
    rows["height"].append(world.height[agents].astype(np.float32).tolist())
    rows["score"].append(world.score[agents].astype(np.int32).tolist())
    rows["alive"].append(world.active[agents].tolist())


def _add(
    events: dict[str, list[Any]],
    episode: int,
    frame: int,
    tick: int,
    kind: str,
    agent: int = -1,
    other: int = -1,
    obj: int = -1,
    participants: list[int] | None = None,
    end: int | None = None,
) -> None:
    for key, value in (
        ("episode_index", episode),
        ("frame_index", frame),
        ("tick", tick),
        ("kind", kind),
        ("agent", agent),
        ("other", other),
        ("object", obj),
        ("participants", participants or []),
        ("end_frame", frame if end is None else end),
    ):
        events[key].append(value)


def _camera_targets(world: World, k: int, previous: np.ndarray, frame: int, fps: int) -> np.ndarray:
    """Re-plan once a second; keep k targets (a camera with no group to film looks at a random player)."""
    if frame % fps != 0 and previous.shape[0] == k:
        return previous
    targets = plan_cameras(world, k).targets
    if targets.shape[0] < k:
        ids = world.active_ids()
        extra = world.pos[ids[np.arange(k - targets.shape[0]) % ids.size]]
        targets = np.concatenate([targets, extra]) if targets.size else extra
    return targets


def _involved(gameplay: list[GameplayEvent], agents: np.ndarray) -> np.ndarray:
    """Agents named in this tick's gameplay events (``players`` of each; their views must be rendered in full)."""
    named: set[int] = set()
    for ev in gameplay:
        named.update(ev.players)
    return np.isin(agents, list(named))


def _events(events: dict[str, list[Any]], episode: int, frame: int, tick: int, gameplay: list[Any], aoi: Any) -> None:
    for ev in gameplay:  # the kind names come from WIRE_KIND; only the columns differ by type
        kind = WIRE_KIND[ev.kind]
        if isinstance(ev, Pickup):
            _add(events, episode, frame, tick, kind, ev.player, obj=ev.collectible)
        elif isinstance(ev, BeaconActivated):
            _add(events, episode, frame, tick, kind, obj=ev.beacon, participants=list(ev.players))
        elif isinstance(ev, AttackHit):
            _add(events, episode, frame, tick, kind, ev.attacker, ev.target)
        elif isinstance(ev, HazardHit):
            _add(events, episode, frame, tick, kind, ev.player, obj=ev.hazard)
        elif isinstance(ev, Respawn):
            _add(events, episode, frame, tick, kind, ev.player, obj=ev.spawn_point)
    for o, s in zip(aoi.enter_observer.tolist(), aoi.enter_subject.tolist(), strict=True):
        _add(events, episode, frame, tick, "aoi_enter", o, s)
    for o, s in zip(aoi.leave_observer.tolist(), aoi.leave_subject.tolist(), strict=True):
        _add(events, episode, frame, tick, "aoi_leave", o, s)


def _interactions(
    events: dict[str, list[Any]],
    spans: dict[tuple[int, int], tuple[int, int]],
    episode: int,
    frame: int,
    tick: int,
    world: World,
    agents: np.ndarray,
    last: bool,
) -> None:
    """Spans of frames during which two agents stay within INTERACTION_M of each other."""
    p = world.pos[agents]
    chord = chord_unit(INTERACTION_M, world.cfg.radius)
    close = np.linalg.norm(p[:, None, :] - p[None, :, :], axis=2) <= chord
    now = {(int(a), int(b)) for a, b in zip(*np.nonzero(np.triu(close, 1)), strict=True)}
    for pair in sorted(set(spans) - now):
        start, start_tick = spans.pop(pair)
        _add(events, episode, start, start_tick, "interaction", *pair, participants=list(pair), end=frame - 1)
    for pair in sorted(now - set(spans)):
        spans[pair] = (frame, tick)
    if last:
        for pair, (start, start_tick) in sorted(spans.items()):
            _add(events, episode, start, start_tick, "interaction", *pair, participants=list(pair), end=frame)
        spans.clear()


def clear_staging(root: Path) -> None:
    """Remove what crashed writers left half-written (never visible to readers). A staging directory carries its
    writer's pid; directories of live processes are left alone."""
    staging = root / ".staging"
    if not staging.is_dir():
        return
    for d in staging.iterdir():
        parts = d.name.split("-")
        pid = int(parts[-2]) if len(parts) >= 3 and parts[-2].isdigit() else -1
        if pid <= 0 or not _alive(pid):
            shutil.rmtree(d, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def rebuild_meta(root: Path) -> dict[str, Any]:
    """meta/episodes.parquet and meta/info.json from the published episodes (atomic replace)."""
    metas = []
    for d in sorted((root / "episodes").glob("episode_*")):
        metas.append(json.loads((d / "episode.json").read_text()))
    table = pa.table(
        {
            "episode_index": pa.array([m["episode_index"] for m in metas], pa.int32()),
            "num_frames": pa.array([m["num_frames"] for m in metas], pa.int32()),
            "num_agents": pa.array([m["num_agents"] for m in metas], pa.int32()),
            "seed": pa.array([m["seed"] for m in metas], pa.int64()),
            "num_events": pa.array([m["num_events"] for m in metas], pa.int32()),
            "scenario": pa.array([m.get("scenario", "") for m in metas], pa.string()),
        }
    )
    (root / "meta").mkdir(parents=True, exist_ok=True)
    tmp = root / "meta" / f".episodes.{uuid.uuid4().hex}.parquet"
    pq.write_table(table, tmp)
    os.replace(tmp, root / "meta" / "episodes.parquet")
    first = metas[0] if metas else {}
    info = {
        "format": FORMAT_VERSION,
        "fps": first.get("fps", 20),
        "resolution": first.get("resolution"),
        "codec": first.get("codec"),
        "video": {"container": "mp4", "pixel_format": "rgb24 in, yuv420p (h264) or rgb24 (lossless)"},
        "max_agents": max((m["num_agents"] for m in metas), default=0),
        "features": {
            "data": {f.name: str(f.type) for f in DATA_SCHEMA},
            "events": {f.name: str(f.type) for f in EVENT_SCHEMA},
            "video": "episodes/episode_NNNNNN/agent_AAA.mp4: frame i is data row i",
        },
        "totals": {
            "episodes": len(metas),
            "frames": sum(m["num_frames"] for m in metas),
            "agent_frames": sum(m["num_frames"] * m["num_agents"] for m in metas),
            "videos": sum(m["num_agents"] for m in metas),
            "events": sum(m["num_events"] for m in metas),
        },
    }
    write_json_atomic(root / "meta" / "info.json", info)
    return info
