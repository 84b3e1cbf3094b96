"""The on-disk layout of a dataset, its one source of truth (docs/dataset-format.md explains it).

In the spirit of LeRobot v3, with one difference that makes publishing atomic: everything of an episode lives in
its own directory, which appears by a single rename when the episode is complete.

    DIR/meta/info.json                       fps, resolution, codec, features, totals (rebuilt at the end of a run)
    DIR/meta/episodes.parquet                one row per published episode
    DIR/episodes/episode_000000/data.parquet one row per tick; per-agent columns are lists indexed by agent
    DIR/episodes/episode_000000/events.parquet
    DIR/episodes/episode_000000/agent_000.mp4 one video per agent view; frame i is row i
    DIR/.staging/                            episodes being written (ignored by readers; dead writers' are cleared)
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

FORMAT_VERSION = "mpgenie-v1"
# View sizes (pixels, square) a dataset may be recorded at, and so the frame sizes the world models train on and the
# frame streamer sends: one list, so that what `generate` records, `train` accepts and the server streams cannot
# drift apart (the renderer alone would draw any size from 8 to 1024; the models' presets halve these evenly).
RESOLUTIONS = (32, 64, 128, 256)
RESOLUTIONS_TEXT = ", ".join(map(str, RESOLUTIONS[:-1])) + f" or {RESOLUTIONS[-1]}"  # for messages: "32, ... or 256"
CODECS = {
    "h264": ("libx264", "yuv420p", {"crf": "20", "preset": "veryfast"}),
    "lossless": ("libx264rgb", "rgb24", {"crf": "0", "preset": "veryfast"}),
}

DATA_SCHEMA = pa.schema(
    [
        ("episode_index", pa.int32()),
        ("frame_index", pa.int32()),
        ("timestamp", pa.float64()),  # seconds since the episode's first frame (frame_index / fps)
        ("tick", pa.int64()),  # the world tick whose state the frame shows
        ("action", pa.list_(pa.int8())),  # per agent: the action applied at this tick
        ("position", pa.list_(pa.list_(pa.float32(), 3))),  # per agent: unit vector
        ("heading", pa.list_(pa.list_(pa.float32(), 3))),  # per agent: unit tangent
        ("height", pa.list_(pa.float32())),  # per agent: metres above ground
        ("score", pa.list_(pa.int32())),
        ("alive", pa.list_(pa.bool_())),
        ("view_tier", pa.list_(pa.int8())),  # per agent: 0 rendered in full, 1 at half resolution, 2 repeated
    ]
)
EVENT_SCHEMA = pa.schema(
    [
        ("episode_index", pa.int32()),
        ("frame_index", pa.int32()),
        ("tick", pa.int64()),
        ("kind", pa.string()),  # pickup, beacon, attack, hazard, respawn, aoi_enter, aoi_leave, interaction
        ("agent", pa.int32()),  # the acting / observing agent (-1: none)
        ("other", pa.int32()),  # the other agent (target, subject; -1: none)
        ("object", pa.int32()),  # collectible / beacon / hazard / spawn index (-1: none)
        ("participants", pa.list_(pa.int32())),  # beacon co-operation, interaction spans
        ("end_frame", pa.int32()),  # interaction spans: last frame of the span (else = frame_index)
    ]
)


def episode_dir(root: Path, index: int) -> Path:
    return root / "episodes" / f"episode_{index:06d}"


def video_name(agent: int) -> str:
    return f"agent_{agent:03d}.mp4"


def camera_name(camera: int) -> str:
    """A spectator camera's video (planned orbit cameras; frame i is row i too)."""
    return f"camera_{camera:03d}.mp4"
