"""Recording: frame i of every view is the tick of row i; atomic episodes survive kill -9; plain tools read it."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import fsspec
import numpy as np
import pyarrow.parquet as pq
import pytest

from mpgenie.dataset.format import episode_dir
from mpgenie.dataset.generate import GenerateConfig, generate
from mpgenie.dataset.qc import check_dataset
from mpgenie.dataset.reader import MultiplayerVideoDataset
from mpgenie.dataset.recorder import VideoWriter
from mpgenie.dataset.replay import (
    _replay,
    counterfactual_views,
    recorded_actions,
    rerender,
    views_with_and_without_players,
)
from mpgenie.world.config import WorldConfig


def ground_truth(root: Path, episode: int, frames: list[int]) -> dict[int, np.ndarray]:
    """Re-run the episode from its metadata (seed, scenario) and render the frames around ``frames`` again."""
    meta = MultiplayerVideoDataset(root).episode(episode)
    actions = recorded_actions(episode_dir(root, episode))
    return rerender(meta, actions, {g for f in frames for g in range(f - 2, f + 3) if g >= 0})


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def test_frame_i_is_the_tick_of_row_i(tmp_path: Path) -> None:
    generate(GenerateConfig(out=tmp_path, episodes=2, players=4, steps=80, resolution=64, seed=0))
    ds = MultiplayerVideoDataset(tmp_path)
    sampled = [3, 9, 13, 17, 21, 25, 29, 33, 40, 44, 48, 53, 58, 62, 66, 71, 77]
    truth = ground_truth(tmp_path, 1, sampled)
    checked = 0
    for f in sampled:
        clip = ds.clip(1, f, 1)
        for agent in range(4):
            decoded = clip.frames[agent, 0]
            assert psnr(decoded, truth[f][agent]) > 30.0
            neighbours = [g for g in (f - 2, f - 1, f + 1, f + 2) if g in truth]
            if max(psnr(truth[f][agent], truth[g][agent]) for g in neighbours) > 32.0:
                # Neighbouring ticks look alike (the agent stood still or only turned a little): the codec's error
                # (~38 dB) is as large as their difference, so there is nothing to tell apart here.
                continue
            scores = {g: psnr(decoded, truth[g][agent]) for g in [f, *neighbours]}
            assert max(scores, key=scores.get) == f, (f, agent, scores)  # the right tick, not a neighbour
            checked += 1
        rows = pq.read_table(tmp_path / "episodes" / "episode_000001" / "data.parquet").to_pylist()
        assert rows[f]["frame_index"] == f and clip.tick[0] == rows[f]["tick"]
    assert checked >= 8


def test_lossless_codec_is_exact(tmp_path: Path) -> None:
    generate(GenerateConfig(out=tmp_path, episodes=1, players=3, steps=30, resolution=32, codec="lossless"))
    ds = MultiplayerVideoDataset(tmp_path)
    truth = ground_truth(tmp_path, 0, [0, 29 - 2])
    for f in (0, 27):
        assert np.array_equal(ds.clip(0, f, 1).frames[:, 0], truth[f])


def test_counterfactual_views_fork_the_episode_at_the_right_frame(tmp_path: Path) -> None:
    generate(GenerateConfig(out=tmp_path, episodes=1, players=3, steps=30, resolution=32, codec="lossless"))
    meta = MultiplayerVideoDataset(tmp_path).episode(0)
    recorded = np.array(pq.read_table(tmp_path / "episodes" / "episode_000000" / "data.parquet")["action"].to_pylist())
    starts, agents = np.array([20, 5, 12]), np.array([1, 0, 2])
    truth = rerender(meta, recorded, set(range(30)))
    # The recorded actions reproduce the recorded futures exactly (starts given out of order on purpose).
    same = counterfactual_views(
        meta, recorded, starts, agents, recorded[starts[:, None] + np.arange(4), agents[:, None]]
    )
    for i, (s, a) in enumerate(zip(starts, agents, strict=True)):
        assert np.array_equal(same[i], np.stack([truth[f][a] for f in range(s, s + 4)]))
    # Turning for four ticks instead shows another view from the first forked frame on.
    turned = counterfactual_views(
        meta, recorded, starts[:1], agents[:1], np.full((1, 4), 6 if recorded[20, 1] != 6 else 5)
    )
    assert all(psnr(turned[0, j], truth[20 + j][1]) < 30.0 for j in range(4))


def test_views_without_players_differ_exactly_where_other_players_are() -> None:
    # One landmark: one spawn point, so the players start a metre or two apart and see each other.
    for players in (1, 3):
        world = dataclasses.asdict(WorldConfig(num_landmarks=1, seed=3))
        meta = {"world": world, "num_agents": players, "resolution": 32}
        recorded = np.random.default_rng(0).integers(0, 10, (30, players)).astype(np.int8)
        frames, agents = np.repeat(np.arange(0, 30, 3), players), np.tile(np.arange(players), 10)
        full, empty = views_with_and_without_players(meta, recorded, frames, agents)
        truth = rerender(meta, recorded, set(frames.tolist()))
        assert all(np.array_equal(full[i], truth[f][a]) for i, (f, a) in enumerate(zip(frames, agents, strict=True)))
        seen = np.any(full != empty, axis=-1).sum(axis=(1, 2))
        if players == 1:
            assert not seen.any()  # nobody else: leaving the players out changes nothing (the own one is never drawn)
        else:
            assert (seen >= 9).sum() >= 8  # a player a few metres away covers a few pixels of a 32x32 view


def test_plain_pyarrow_and_pyav_read_it_and_counts_match(tmp_path: Path) -> None:
    generate(GenerateConfig(out=tmp_path, episodes=3, players=5, steps=40, resolution=32, workers=2))
    info = json.loads((tmp_path / "meta" / "info.json").read_text())
    episodes = pq.read_table(tmp_path / "meta" / "episodes.parquet").to_pylist()
    assert info["totals"]["episodes"] == len(episodes) == 3
    frames = 0
    videos = 0
    for ep in episodes:
        d = tmp_path / "episodes" / f"episode_{ep['episode_index']:06d}"
        rows = pq.read_table(d / "data.parquet")
        assert rows.num_rows == ep["num_frames"]
        frames += rows.num_rows
        for agent in range(ep["num_agents"]):
            with av.open(str(d / f"agent_{agent:03d}.mp4")) as c:
                n = sum(1 for _ in c.decode(video=0))
            assert n == ep["num_frames"]
            videos += 1
    assert frames == info["totals"]["frames"] and videos == info["totals"]["videos"]


def test_kill_9_leaves_no_partial_episode_and_a_rerun_resumes(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    cmd = [
        sys.executable,
        "-m",
        "mpgenie.cli",
        "generate",
        "--out",
        str(out),
        "--episodes",
        "12",
        "--players",
        "4",
        "--steps",
        "120",
        "--resolution",
        "32",
        "--json",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list((out / "episodes").glob("episode_*"))) < 2:
        time.sleep(0.05)
    time.sleep(0.13)  # somewhere inside an episode
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    published = sorted((out / "episodes").glob("episode_*"))
    assert 2 <= len(published) < 12
    for d in published:  # every visible episode is whole
        meta = json.loads((d / "episode.json").read_text())
        assert pq.read_table(d / "data.parquet").num_rows == meta["num_frames"]
        assert all((d / v).stat().st_size > 0 for v in meta["videos"])
    before = {d.name: (d / "episode.json").stat().st_mtime_ns for d in published}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True)
    assert json.loads(result.stdout)["episodes"] == 12
    for name, mtime in before.items():  # finished episodes were skipped, not redone
        assert (out / "episodes" / name / "episode.json").stat().st_mtime_ns == mtime
    assert not (out / ".staging").exists() or not any((out / ".staging").iterdir())


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="resolution"):
        generate(GenerateConfig(out=tmp_path, episodes=1, players=2, steps=5, resolution=100))
    with pytest.raises(ValueError, match="codec"):
        generate(GenerateConfig(out=tmp_path, episodes=1, players=2, steps=5, codec="gif"))
    with pytest.raises(ValueError, match="explore"):
        generate(GenerateConfig(out=tmp_path, episodes=1, players=2, steps=5, explore=1.5))


def test_exploration_replaces_a_share_of_actions_and_replays_exactly(tmp_path: Path) -> None:
    plain, explored = tmp_path / "plain", tmp_path / "explore"
    generate(GenerateConfig(out=plain, episodes=1, players=4, steps=100, resolution=32, codec="lossless"))
    generate(
        GenerateConfig(out=explored, episodes=1, players=4, steps=100, resolution=32, codec="lossless", explore=0.3)
    )

    def actions(root: Path) -> np.ndarray:
        return np.array(pq.read_table(root / "episodes" / "episode_000000" / "data.parquet")["action"].to_pylist())

    # The scripted choices are the same until a random action moves someone; after that the runs diverge (other
    # poses, other choices), so the share of differing actions is bounded loosely, not equal to 30 %.
    differ = (actions(plain) != actions(explored)).mean()
    assert 0.15 < differ < 0.95
    assert {0, 9} <= set(np.unique(actions(explored)).tolist())  # noop and interact both occur
    meta = MultiplayerVideoDataset(explored).episode(0)
    assert meta["explore"] == 0.3
    truth = rerender(meta, recorded_actions(episode_dir(explored, 0)), {10, 60})  # the recorded random actions
    ds = MultiplayerVideoDataset(explored)
    for f in (10, 60):
        assert np.array_equal(ds.clip(0, f, 1).frames[:, 0], truth[f])


def test_check_and_stats_on_a_good_dataset(tmp_path: Path) -> None:
    generate(GenerateConfig(out=tmp_path, episodes=2, players=4, steps=60, resolution=32))
    ok = subprocess.run(
        [sys.executable, "-m", "mpgenie.cli", "dataset", "check", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"]
    stats = subprocess.run(
        [sys.executable, "-m", "mpgenie.cli", "dataset", "stats", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    card = json.loads(stats.stdout)
    assert card["episodes"] == 2 and card["frames"] == 120 and sum(card["action_histogram"].values()) == 480
    assert card["diversity_js_bits"] > 0 and Path(card["preview"]).stat().st_size > 1000
    with av.open(card["preview"]) as c:
        sheet = next(c.decode(video=0)).to_ndarray(format="rgb24")
    assert sheet.shape == (4 * 32, 6 * 32, 3)


def test_check_catches_broken_datasets(tmp_path: Path) -> None:
    generate(GenerateConfig(out=tmp_path, episodes=1, players=3, steps=50, resolution=32))
    d = tmp_path / "episodes" / "episode_000000"
    # A truncated view (desynchronised), and a second agent's video replaced by a copy of the first.
    frames = MultiplayerVideoDataset(tmp_path).clip(0, 0, 50).frames
    w = VideoWriter(d / "agent_002.mp4", 20, 32, "h264")
    for f in frames[2][:30]:
        w.write(f)
    w.close()
    w = VideoWriter(d / "agent_001.mp4", 20, 32, "h264")
    for f in frames[0]:
        w.write(f)
    w.close()
    bad = subprocess.run(
        [sys.executable, "-m", "mpgenie.cli", "dataset", "check", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 1
    kinds = {p["kind"] for p in json.loads(bad.stdout)["problems"]}
    assert {"frame_count", "duplicate_views"} <= kinds
    black = tmp_path / "black"
    generate(GenerateConfig(out=black, episodes=1, players=2, steps=30, resolution=32))
    w = VideoWriter(black / "episodes" / "episode_000000" / "agent_000.mp4", 20, 32, "h264")
    for _ in range(30):
        w.write(np.zeros((32, 32, 3), dtype=np.uint8))
    w.close()
    kinds = {p["kind"] for p in check_dataset(black).problems}
    assert "black" in kinds and "frozen" in kinds
    missing = subprocess.run(
        [sys.executable, "-m", "mpgenie.cli", "dataset", "check", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 2 and "not a dataset" in " ".join(missing.stderr.split())


def test_ray_path_with_two_local_workers(tmp_path: Path) -> None:
    info = generate(GenerateConfig(out=tmp_path, episodes=3, players=3, steps=30, resolution=32, workers=2, ray=True))
    assert info["totals"]["episodes"] == 3 and info["totals"]["videos"] == 9
    assert check_dataset(tmp_path).ok


def test_spectator_cameras_and_adaptive_views_are_recorded(tmp_path: Path) -> None:
    info = generate(
        GenerateConfig(out=tmp_path, episodes=1, players=6, steps=60, resolution=32, cameras=2, adaptive=True)
    )
    assert info["totals"]["episodes"] == 1
    d = tmp_path / "episodes" / "episode_000000"
    meta = json.loads((d / "episode.json").read_text())
    assert meta["cameras"] == ["camera_000.mp4", "camera_001.mp4"] and meta["adaptive"]
    for name in meta["cameras"]:
        with av.open(str(d / name)) as c:
            assert sum(1 for _ in c.decode(video=0)) == 60
    tiers = np.array(pq.read_table(d / "data.parquet").column("view_tier").to_pylist())
    assert tiers.shape == (60, 6) and tiers[0].max() == 0
    clip = MultiplayerVideoDataset(tmp_path).clip(0, 10, 5, cameras=True)
    assert clip.cameras is not None and clip.cameras.shape == (2, 5, 32, 32, 3)
    assert clip.view_tier is not None and np.array_equal(clip.view_tier, tiers[10:15])
    assert clip.score is not None and clip.height is not None and clip.height.shape == (5, 6)
    assert check_dataset(tmp_path).ok


def test_fsspec_urls_as_output(tmp_path: Path) -> None:
    info = generate(GenerateConfig(out="memory://mpgenie-test/ds", episodes=2, players=3, steps=20, resolution=32))
    assert info["totals"]["episodes"] == 2
    fs = fsspec.filesystem("memory")
    assert fs.exists("/mpgenie-test/ds/meta/info.json")
    assert fs.exists("/mpgenie-test/ds/episodes/episode_000001/agent_002.mp4")
    # Resumes: one more episode.
    again = generate(GenerateConfig(out="memory://mpgenie-test/ds", episodes=3, players=3, steps=20, resolution=32))
    assert again["totals"]["episodes"] == 3
    url = f"file://{tmp_path}/viaurl"
    generate(GenerateConfig(out=url, episodes=2, players=3, steps=20, resolution=32, workers=2))
    assert check_dataset(tmp_path / "viaurl").ok


def test_pytorch_clips(tmp_path: Path) -> None:
    # PyTorch is the optional 'learn' extra: without it this test is skipped and the rest of the module still runs.
    pytest.importorskip("torch")
    from torch.utils.data import DataLoader  # noqa: PLC0415 - needs the optional extra checked just above

    from mpgenie.dataset.torch_clips import ClipDataset  # noqa: PLC0415 - imports torch

    generate(GenerateConfig(out=tmp_path, episodes=2, players=3, steps=40, resolution=32))
    ds = ClipDataset(tmp_path, length=8)
    assert len(ds) == 2 * 5
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert tuple(batch["frames"].shape) == (4, 3, 8, 3, 32, 32)
    assert tuple(batch["action"].shape) == (4, 8, 3) and batch["frames"].dtype.is_floating_point is False


def test_check_catches_a_shifted_view(tmp_path: Path) -> None:
    generate(GenerateConfig(out=tmp_path, episodes=1, players=3, steps=60, resolution=32))
    d = tmp_path / "episodes" / "episode_000000"
    frames = MultiplayerVideoDataset(tmp_path).clip(0, 0, 60).frames
    w = VideoWriter(d / "agent_001.mp4", 20, 32, "h264")
    for f in np.concatenate([frames[1][3:], frames[1][-3:]]):  # same count, three ticks early
        w.write(f)
    w.close()
    problems = check_dataset(tmp_path).problems
    assert [p["kind"] for p in problems] == ["desync"] and "agent 1" in problems[0]["detail"]


def test_killed_worker_pool_stops_with_its_parent(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    cmd = [
        sys.executable,
        "-m",
        "mpgenie.cli",
        "generate",
        "--out",
        str(out),
        "--episodes",
        "16",
        "--players",
        "4",
        "--steps",
        "150",
        "--resolution",
        "32",
        "--workers",
        "2",
        "--json",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list((out / "episodes").glob("episode_*"))) < 2:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1.5)
    count = len(list((out / "episodes").glob("episode_*")))
    time.sleep(2.0)
    assert len(list((out / "episodes").glob("episode_*"))) == count < 16  # nobody publishes after the kill
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["episodes"] == 16
    assert check_dataset(out, sync_samples=2).ok


def test_runs_with_other_parameters_or_bad_seeds_are_refused(tmp_path: Path) -> None:
    generate(GenerateConfig(out=tmp_path, episodes=1, players=3, steps=20, resolution=32))
    with pytest.raises(ValueError, match="other parameters"):
        generate(GenerateConfig(out=tmp_path, episodes=2, players=5, steps=20, resolution=32))
    with pytest.raises(ValueError, match="seed"):
        generate(GenerateConfig(out=tmp_path / "b", episodes=1, players=3, steps=20, seed=-1))
    with pytest.raises(ValueError, match="did not reach"):
        generate(
            GenerateConfig(out="memory://mpgenie-test/lost", episodes=2, players=3, steps=20, resolution=32, workers=2)
        )
    bad = subprocess.run(
        [sys.executable, "-m", "mpgenie.cli", "generate", "--out", "s3nope://x/y", "--episodes", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2 and "cannot write" in bad.stderr


def test_generate_writes_its_progress_as_prometheus_metrics(tmp_path: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    metrics = tmp_path / "textfile" / "mpgenie_generate.prom"
    metrics.parent.mkdir()
    args = ["generate", "--out", str(tmp_path / "ds"), "--episodes", "2", "--players", "2", "--steps", "10"]
    result = subprocess.run(
        [sys.executable, "-m", "mpgenie.cli", *args, "--resolution", "32", "--metrics-file", str(metrics), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    samples = {s.name: s.value for f in text_string_to_metric_families(metrics.read_text()) for s in f.samples}
    assert samples["mpgenie_dataset_episodes_total"] == 2
    totals = json.loads(result.stdout)
    assert samples["mpgenie_dataset_frames_total"] == totals["frames"] * 2 == 2 * 2 * 10  # every view's frames
    assert samples["mpgenie_dataset_episodes_planned"] == 2
    assert samples["mpgenie_dataset_updated_seconds"] >= samples["mpgenie_dataset_run_started_seconds"]
    assert [p.name for p in metrics.parent.iterdir()] == [metrics.name]  # written atomically: no temporary left


def test_replay_needs_no_policy_only_the_recorded_actions(tmp_path: Path) -> None:
    """An episode whose agents no scripted policy could re-create (here: its policy fields removed from
    episode.json, as for learned or remote agents) replays exactly, and QC's sync check passes on it."""
    generate(
        GenerateConfig(out=tmp_path, episodes=1, players=3, steps=40, resolution=32, codec="lossless", explore=0.2)
    )
    meta_path = episode_dir(tmp_path, 0) / "episode.json"
    meta = json.loads(meta_path.read_text())
    for key in ("scenario", "seed", "explore", "styles"):
        meta.pop(key, None)
    meta_path.write_text(json.dumps(meta))
    truth = rerender(meta, recorded_actions(episode_dir(tmp_path, 0)), {0, 17, 39})
    ds = MultiplayerVideoDataset(tmp_path)
    for f in (0, 17, 39):
        assert np.array_equal(ds.clip(0, f, 1).frames[:, 0], truth[f])
    report = check_dataset(tmp_path)
    assert report.ok, report.problems


def test_replay_draws_action_cues_only_for_episodes_recorded_with_them(tmp_path: Path) -> None:
    generate(GenerateConfig(out=tmp_path, episodes=1, players=2, steps=5, resolution=32, seed=0))
    meta = dict(MultiplayerVideoDataset(tmp_path).episode(0))
    assert meta["action_cues"] is True and _replay(meta)[2].settings.action_cues
    del meta["action_cues"]  # as episodes recorded before the renderer drew them
    assert not _replay(meta)[2].settings.action_cues
