"""``mpgenie generate``: many episodes, spread over local worker processes (default) or a Ray cluster, written
to a local directory or to any fsspec URL (``s3://bucket/ds``, ``gs://...``, ``memory://...``).

Episode ``e`` of a run with base seed ``s`` uses seed ``s * 1_000_003 + e``, so a re-run (after a crash, or with a
different number of workers) produces the same episodes and skips those already published.

Remote outputs: each episode is recorded in a local temporary directory, then uploaded with its ``episode.json``
last; an episode counts as published when that file exists (object stores have no atomic directory rename), and
``meta/info.json`` is uploaded after ``meta/episodes.parquet``.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import signal
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fsspec

from mpgenie.agents.mixture import AgentsSpec
from mpgenie.agents.policy import SCENARIOS
from mpgenie.atomic import write_json_atomic
from mpgenie.dataset.format import RESOLUTIONS, RESOLUTIONS_TEXT, episode_dir
from mpgenie.dataset.recorder import EpisodeSpec, clear_staging, rebuild_meta, record_episode
from mpgenie.errors import UsageError

_PR_SET_PDEATHSIG = 1
MAX_SEED = (2**63 - 1) // 1_000_003 - 1_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerateConfig:
    """One ``mpgenie generate`` run: a named field per setting (the CLI, the benchmark and the tests set some and
    leave the rest), where a dozen arguments in a row were easy to pass in the wrong order. Not checked here:
    :func:`generate` refuses bad values with the messages the CLI shows."""

    out: str | Path  # a directory or an fsspec URL
    episodes: int
    players: int  # agents per episode (each gets a video)
    steps: int  # ticks (= frames) per episode
    resolution: int = 64  # one of format.RESOLUTIONS
    seed: int = 0  # base seed; episode e uses seed * 1_000_003 + e
    workers: int = 1  # local processes, or Ray CPUs with ``ray``
    codec: str = "h264"  # or "lossless"
    ray: bool = False  # spread episodes with Ray (extra 'scale') instead of a local process pool
    scenario: str | None = None  # None: the scenario templates in turn
    adaptive: bool = False  # view management: unimportant views at less detail
    cameras: int = 0  # spectator orbit cameras per episode
    explore: float = 0.0  # share of agent-ticks that take a uniformly random action
    agents: AgentsSpec = field(default_factory=AgentsSpec)  # scripted only, or a trained population mixed in (--agents)


def episode_specs(config: GenerateConfig) -> list[EpisodeSpec]:
    """Episode e: its own seed, and the scenario given, else the templates in turn (mixed, co-op beacon rush,
    chase, exploration, ...), so a run covers all of them."""
    names = list(SCENARIOS)
    return [
        EpisodeSpec(
            e,
            config.players,
            config.steps,
            config.seed * 1_000_003 + e,
            config.resolution,
            config.codec,
            config.scenario or names[e % len(names)],
            config.adaptive,
            config.cameras,
            config.explore,
            config.agents,
        )
        for e in range(config.episodes)
    ]


def _is_url(out: str | Path) -> bool:
    return "://" in str(out)


def _published_remote(out: str, index: int) -> bool:
    fs, path = fsspec.core.url_to_fs(out)
    return bool(fs.exists(f"{path}/episodes/episode_{index:06d}/episode.json"))


def _die_with_parent() -> None:
    """Pool workers end when the generating process ends, even by SIGKILL (Linux), instead of publishing on."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    os.environ["OPENBLAS_NUM_THREADS"] = "1"


def _record(root: str, spec: EpisodeSpec) -> dict[str, Any] | None:
    if not _is_url(root):
        return record_episode(Path(root), spec)
    if _published_remote(root, spec.index):
        return None
    with tempfile.TemporaryDirectory(prefix="mpgenie-episode-") as tmp:
        meta = record_episode(Path(tmp), spec)
        local = episode_dir(Path(tmp), spec.index)
        fs, path = fsspec.core.url_to_fs(root)
        remote = f"{path}/episodes/{local.name}"
        fs.makedirs(remote, exist_ok=True)
        for f in sorted(local.iterdir(), key=lambda p: p.name == "episode.json"):  # episode.json last
            fs.put_file(str(f), f"{remote}/{f.name}")
    return meta


def _rebuild_remote_meta(out: str) -> dict[str, Any]:
    fs, path = fsspec.core.url_to_fs(out)
    with tempfile.TemporaryDirectory(prefix="mpgenie-meta-") as tmp:
        mirror = Path(tmp)
        for remote in sorted(fs.glob(f"{path}/episodes/episode_*/episode.json")):
            name = remote.rstrip("/").split("/")[-2]
            (mirror / "episodes" / name).mkdir(parents=True)
            fs.get_file(remote, str(mirror / "episodes" / name / "episode.json"))
        info = rebuild_meta(mirror)
        fs.makedirs(f"{path}/meta", exist_ok=True)
        fs.put_file(str(mirror / "meta" / "episodes.parquet"), f"{path}/meta/episodes.parquet")
        fs.put_file(str(mirror / "meta" / "info.json"), f"{path}/meta/info.json")
    return info


def generate(config: GenerateConfig, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Record the episodes not yet published; returns meta/info.json's content. ``progress(done, total)`` is
    called as episodes finish (episodes already published count as done from the start)."""
    out, episodes, players, steps = config.out, config.episodes, config.players, config.steps
    resolution, seed, workers, codec = config.resolution, config.seed, config.workers, config.codec
    scenario, adaptive, cameras, explore = config.scenario, config.adaptive, config.cameras, config.explore
    if episodes < 1 or players < 1 or steps < 1 or workers < 1:
        raise UsageError("episodes, players, steps and workers must be >= 1")
    if codec not in ("h264", "lossless"):
        raise UsageError(f"codec must be h264 or lossless, got {codec!r}")
    if not isinstance(seed, int) or not 0 <= seed <= MAX_SEED or episodes > 1_000_000:
        raise UsageError(f"seed must be 0..{MAX_SEED} and episodes <= 1,000,000")
    if scenario is not None and scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
    if not 0.0 <= explore <= 1.0:
        raise UsageError(f"explore must be between 0 and 1, got {explore}")
    if not 0 <= cameras <= 16:
        raise UsageError(f"cameras must be 0..16, got {cameras}")
    if resolution not in RESOLUTIONS:
        raise UsageError(f"resolution must be {RESOLUTIONS_TEXT}, got {resolution}")
    remote = _is_url(out)
    root = Path(out) if not remote else Path(".")
    run = {
        "players": players,
        "steps": steps,
        "resolution": resolution,
        "seed": seed,
        "codec": codec,
        "scenario": scenario,
        "adaptive": adaptive,
        "cameras": cameras,
        "explore": explore,
        "agents": config.agents.text,
    }
    if remote:
        try:
            fsspec.core.url_to_fs(str(out))
        except (ImportError, ValueError) as exc:
            raise UsageError(f"cannot write to {out}: {exc}") from None
    else:
        root.mkdir(parents=True, exist_ok=True)
        lock = open(root / ".lock", "w")  # noqa: SIM115 - held for the whole run
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"another `mpgenie generate` is writing to {root}") from None
        _check_run(root, run)
        clear_staging(root)
    specs = episode_specs(config)
    if remote:
        todo = [s for s in specs if not _published_remote(str(out), s.index)]
    else:
        todo = [s for s in specs if not episode_dir(root, s.index).exists()]
    target = str(out)
    done = episodes - len(todo)
    if progress is not None:
        progress(done, episodes)
    if config.ray:
        finished = [done]

        def one_more() -> None:
            finished[0] += 1
            if progress is not None:
                progress(finished[0], episodes)

        _generate_ray(target, todo, workers, one_more)
    elif workers == 1:
        for spec in todo:
            _record(target, spec)
            done += 1
            if progress is not None:
                progress(done, episodes)
    else:
        with ProcessPoolExecutor(max_workers=workers, initializer=_die_with_parent) as pool:
            futures = [pool.submit(_record, target, spec) for spec in todo]
            for future in as_completed(futures):
                future.result()
                done += 1
                if progress is not None:
                    progress(done, episodes)
    if remote:
        missing = [s.index for s in specs if not _published_remote(target, s.index)]
        if missing:
            raise UsageError(
                f"{len(missing)} episodes did not reach {out} (a per-process filesystem such as memory:// "
                "needs --workers 1)"
            )
        return _rebuild_remote_meta(target)
    return rebuild_meta(root)


# Run parameters added after datasets were first written: a run.json without one was made with this value.
_LATER_PARAMETERS: dict[str, Any] = {"explore": 0.0, "agents": "scripted"}


def _check_run(root: Path, run: dict[str, Any]) -> None:
    """Episodes of one dataset share their parameters: a re-run with others is refused, not mixed in."""
    path = root / "meta" / "run.json"
    if path.exists():
        before = {**_LATER_PARAMETERS, **json.loads(path.read_text())}
        changed = {k: (before.get(k), v) for k, v in run.items() if before.get(k) != v}
        if changed:
            details = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
            raise UsageError(f"{root} was generated with other parameters ({details}); use another --out")
    else:
        write_json_atomic(path, run)


def _generate_ray(root: str, todo: list[EpisodeSpec], workers: int, tick: Callable[[], None]) -> None:
    try:
        import ray  # noqa: PLC0415 - optional extra, imported only when asked for
    except ImportError:
        raise UsageError("--ray needs the 'scale' extra: pip install 'mpgenie[scale]'") from None
    started = not ray.is_initialized()
    if started:
        if os.environ.get("RAY_ADDRESS"):
            # An existing cluster (a KubeRay RayCluster, `ray start --head`, a Ray job): it has its own CPUs, and
            # ray.init refuses num_cpus (and the dashboard flag) when it connects to one; --workers is not used.
            ray.init(log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        remote = ray.remote(num_cpus=1)(_record)
        pending = [remote.remote(root, spec) for spec in todo]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            ray.get(ready)
            tick()
    finally:
        if started:
            ray.shutdown()
