"""The one ``mpgenie`` command. User mistakes end in a one-line ``error: ...`` and exit code 2, never a traceback."""

from __future__ import annotations

import os

# The simulation is single-threaded by design (one tick loop per world); BLAS worker threads only spin on the
# tiny matrix products it does and steal the second core. Must be set before NumPy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import contextlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated, Any, TypeVar  # noqa: E402

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from mpgenie import __version__  # noqa: E402
from mpgenie.api.observability import configure_logging  # noqa: E402
from mpgenie.api.settings import Settings  # noqa: E402
from mpgenie.bench.api import bench_api  # noqa: E402
from mpgenie.bench.generate import bench_generate  # noqa: E402
from mpgenie.bench.loadtest import LoadtestError, run_loadtest  # noqa: E402
from mpgenie.bench.server import bench_server  # noqa: E402
from mpgenie.bench.world import bench_aoi, bench_world  # noqa: E402
from mpgenie.dataset.generate import generate as generate_dataset  # noqa: E402
from mpgenie.dataset.qc import check_dataset  # noqa: E402
from mpgenie.dataset.stats import dataset_stats  # noqa: E402
from mpgenie.genie.factory import make_streamer  # noqa: E402
from mpgenie.genie.streamer import FrameStreamer  # noqa: E402
from mpgenie.headless import run_headless  # noqa: E402
from mpgenie.net.core import ServerSettings  # noqa: E402
from mpgenie.net.demo import run_network_demo  # noqa: E402
from mpgenie.net.tickets import DEV_SECRET, issue_ticket  # noqa: E402
from mpgenie.platform import Platform, run_platform  # noqa: E402
from mpgenie.world.actions import UnknownActionError  # noqa: E402
from mpgenie.world.config import ConfigError, WorldConfig  # noqa: E402
from mpgenie.world.simulation import World  # noqa: E402

app = typer.Typer(
    help="Multiplayer Genie: a multiplayer platform for AI world models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
bench_app = typer.Typer(help="Benchmarks (numbers, not pass/fail). Every one has --json.", no_args_is_help=True)
world_app = typer.Typer(help="Inspect the world a config and seed produce.", no_args_is_help=True)
dataset_app = typer.Typer(help="Check and describe recorded datasets.", no_args_is_help=True)
train_app = typer.Typer(help="Train models (extra 'learn': PyTorch).", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate models (extra 'learn': PyTorch).", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
app.add_typer(world_app, name="world")
app.add_typer(dataset_app, name="dataset")
app.add_typer(train_app, name="train")
app.add_typer(eval_app, name="eval")

console = Console()
err = Console(stderr=True)
T = TypeVar("T")


def _run(fn: Callable[[], T]) -> T:
    """Run a command body, turning user errors into a clear message and exit code 2."""
    try:
        return fn()
    except (ConfigError, UnknownActionError, ValueError, LoadtestError, OSError) as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None


def _parse_overrides(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--set expects KEY=VALUE, got {pair!r}")
        key, raw = pair.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[key.strip()] = value
    return out


def _print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, sort_keys=True))


def _report(result: dict[str, Any], as_json: bool, title: str) -> None:
    """Every command that reports numbers: one JSON object with --json, else a table."""
    if as_json:
        _print_json(result)
    else:
        _print_table(title, result)


@contextlib.contextmanager
def _progress(quiet: bool, description: str, total: float) -> Iterator[Callable[..., None]]:
    """A transient progress bar on stderr (none with --json); yields ``update(**fields)``."""
    if quiet:
        yield lambda **_: None
        return
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda **fields: progress.update(task, **fields)


def _print_table(title: str, data: dict[str, Any]) -> None:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in data.items():
        text = (
            f"{value:.3f}" if isinstance(value, float) else json.dumps(value) if isinstance(value, dict) else str(value)
        )
        table.add_row(key, text)
    console.print(table)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@app.command()
def demo(
    bots: Annotated[int, typer.Option(help="SDK bot clients to connect.")] = 12,
    seconds: Annotated[float, typer.Option(help="Stop after this many seconds (0: run until Ctrl-C).")] = 0.0,
    seed: Annotated[int, typer.Option(help="World and bot seed.")] = 0,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Realtime TCP port.")] = 7777,
    api_port: Annotated[int, typer.Option(help="Platform API port.")] = 8000,
) -> None:
    """Start the API and realtime server; bots join a session through the API and play; live summary."""
    _run(
        lambda: run_network_demo(
            bots=bots, seconds=seconds, seed=seed, host=host, port=port, api_port=api_port, console=console
        )
    )


@app.command()
def simulate(
    players: Annotated[int, typer.Option(help="Number of bots.")] = 200,
    seconds: Annotated[float, typer.Option(help="Simulated seconds to run.")] = 10.0,
    seed: Annotated[int, typer.Option(help="World and bot seed.")] = 0,
    realtime: Annotated[bool, typer.Option(help="Pace ticks at the tick rate (--no-realtime: flat out).")] = True,
) -> None:
    """Run a headless session of bots on the planet (no network) with a live summary."""
    _run(lambda: run_headless(players=players, seconds=seconds, seed=seed, realtime=realtime, console=console))


@app.command()
def ticket(
    name: Annotated[str, typer.Option(help="Player (subject) the ticket admits.")] = "player",
    session: Annotated[str, typer.Option(help="Session id the server runs.")] = "default",
    ttl: Annotated[float, typer.Option(help="Seconds the ticket stays valid.")] = 300.0,
    join_secret: Annotated[
        str | None, typer.Option(envvar="MPGENIE_JOIN_SECRET", help="Secret the server verifies with.")
    ] = None,
) -> None:
    """Print a signed join ticket for a realtime server (until the platform API hands them out)."""

    def body() -> None:
        if ttl <= 0:
            raise ValueError("--ttl must be > 0")
        typer.echo(issue_ticket(join_secret or DEV_SECRET, name, session, ttl_s=ttl))

    _run(body)


def _world_config(seed: int, scale_for: int | None, tick_rate: int | None, overrides: list[str] | None) -> WorldConfig:
    extra = _parse_overrides(overrides or [])
    if tick_rate is not None:
        extra["tick_rate"] = tick_rate
    if scale_for is not None:
        if scale_for < 1:
            raise ValueError("--scale-for must be >= 1")
        return WorldConfig.scaled_for_density(scale_for, seed=seed, **extra)
    return WorldConfig.from_mapping({"seed": seed, **extra})


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Realtime TCP port (WebSocket at /ws; /metrics, /healthz, /stats).")] = 7777,
    api_port: Annotated[int, typer.Option(help="Platform API port (HTTP, /v1, /docs).")] = 8000,
    api: Annotated[bool, typer.Option(help="Run the platform API in this process (--no-api: realtime only).")] = True,
    realtime: Annotated[bool, typer.Option(help="Run the realtime server (--no-realtime: API only).")] = True,
    seed: Annotated[int, typer.Option(help="World seed of the default session.")] = 0,
    tick_rate: Annotated[int | None, typer.Option(help="Ticks per second (default: the world config's, 20).")] = None,
    scale_for: Annotated[
        int | None, typer.Option(help="Size the default session's planet for this many players.")
    ] = None,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="World config override KEY=VALUE (repeatable).")
    ] = None,
    max_players: Annotated[int, typer.Option(help="Players admitted at once per session.")] = 5000,
    resume_grace: Annotated[float, typer.Option(help="Seconds a dropped player waits for a resume.")] = 30.0,
    join_secret: Annotated[
        str | None,
        typer.Option(envvar="MPGENIE_JOIN_SECRET", help="HMAC secret of join tickets (default: a dev secret)."),
    ] = None,
    jwt_secret: Annotated[
        str | None,
        typer.Option(envvar="MPGENIE_JWT_SECRET", help="HMAC secret of API access tokens (default: a dev secret)."),
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(envvar="MPGENIE_DATABASE_URL", help="SQLAlchemy URL (default: SQLite mpgenie.db).")
    ] = None,
    redis_url: Annotated[
        str | None, typer.Option(envvar="MPGENIE_REDIS_URL", help="Redis for rate limits (default: in memory).")
    ] = None,
    session: Annotated[
        str, typer.Option(help="Id of the default session (tickets from `mpgenie ticket`).")
    ] = "default",
    renderer: Annotated[
        str, typer.Option(help="World model drawing frames for clients that ask: procedural, learned or http.")
    ] = "procedural",
    renderer_checkpoint: Annotated[str | None, typer.Option(help="Checkpoint for --renderer learned.")] = None,
    renderer_url: Annotated[str | None, typer.Option(help="Service URL for --renderer http.")] = None,
    frame_resolution: Annotated[int, typer.Option(help="Size of streamed frames (procedural).")] = 64,
    quiet: Annotated[bool, typer.Option(help="No banner, warnings-only logs.")] = False,
) -> None:
    """Run the platform API and the realtime server until Ctrl-C (graceful shutdown)."""

    def body() -> None:
        cfg = _world_config(seed, scale_for, tick_rate, overrides)
        if max_players < 1 or resume_grace < 0:
            raise ValueError("--max-players must be >= 1 and --resume-grace >= 0")
        if not (api or realtime):
            raise ValueError("nothing to run: --no-api and --no-realtime together")
        secret = join_secret or DEV_SECRET
        configure_logging(json_logs=True, level=logging.WARNING if quiet else logging.INFO)
        settings = ServerSettings(
            session=session, join_secret=secret, max_players=max_players, resume_grace_s=resume_grace
        )
        updates: dict[str, Any] = {"join_secret": secret, "log_level": "WARNING" if quiet else "INFO"}
        if jwt_secret:
            updates["jwt_secret"] = jwt_secret
        if database_url:
            updates["database_url"] = database_url
        if redis_url:
            updates["redis_url"] = redis_url
        api_settings = Settings().model_copy(update=updates)
        loopback = host in ("127.0.0.1", "localhost", "::1")
        if not loopback and (join_secret is None or (api and api_settings.uses_dev_secrets)):
            raise ValueError(
                f"refusing to listen on {host} with the development secrets: set MPGENIE_JOIN_SECRET and "
                "MPGENIE_JWT_SECRET (or --join-secret / --jwt-secret)"
            )

        def ready(platform: Platform) -> None:
            if quiet:
                return
            if join_secret is None or (api and api_settings.uses_dev_secrets):
                err.print(
                    "[yellow]warning:[/] development secrets in use (fine on loopback); set MPGENIE_JOIN_SECRET "
                    "and MPGENIE_JWT_SECRET before listening elsewhere"
                )
            rt = platform.realtime
            if rt is not None:
                console.print(
                    f"realtime [bold]{rt.url}[/] (R = {cfg.radius:.0f} m, {cfg.tick_rate} Hz, seed {cfg.seed}); "
                    f"metrics http://{rt.host}:{rt.port}/metrics"
                )
            if platform.api_url is not None:
                console.print(f"API [bold]{platform.api_url}/v1[/] (docs {platform.api_url}/docs)")
            console.print("Ctrl-C stops")

        streamer = _streamer(renderer, renderer_checkpoint, renderer_url, frame_resolution)
        run_platform(
            api_settings, cfg, settings, host, port, api_port, api, realtime, on_ready=ready, streamer=streamer
        )
        if not quiet:
            console.print("server stopped cleanly")

    _run(body)


@app.command()
def generate(
    out: Annotated[str, typer.Option(help="Dataset directory (created; episodes already there are kept).")],
    episodes: Annotated[int, typer.Option(help="Episodes to record.")] = 4,
    players: Annotated[int, typer.Option(help="Agents per episode (each gets a video).")] = 8,
    steps: Annotated[int, typer.Option(help="Ticks (= frames) per episode.")] = 300,
    resolution: Annotated[int, typer.Option(help="View size in pixels: 32, 64, 128 or 256.")] = 64,
    seed: Annotated[int, typer.Option(help="Base seed (episode e uses a seed derived from it and e).")] = 0,
    workers: Annotated[int, typer.Option(help="Worker processes (or Ray CPUs with --ray).")] = 1,
    codec: Annotated[str, typer.Option(help="h264 (default) or lossless (H.264 RGB, crf 0).")] = "h264",
    ray: Annotated[bool, typer.Option("--ray", help="Spread episodes with Ray (extra 'scale').")] = False,
    scenario: Annotated[
        str | None,
        typer.Option(help="mixed, coop_beacon_rush, chase or exploration (default: each in turn)."),
    ] = None,
    adaptive: Annotated[
        bool, typer.Option(help="View management: render unimportant views at less detail (interactions in full).")
    ] = False,
    cameras: Annotated[int, typer.Option(help="Spectator orbit cameras per episode, placed where players meet.")] = 0,
    explore: Annotated[
        float,
        typer.Option(
            help="Share of agent-ticks that take a uniformly random action (0-1): actions a world model "
            "cannot guess from the motion it has seen."
        ),
    ] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print meta/info.json totals as JSON.")] = False,
) -> None:
    """Record multiplayer episodes: every agent's first-person video, per-tick actions and state, events."""

    def body() -> dict[str, Any]:
        with _progress(as_json, "episodes", episodes) as update:
            return generate_dataset(
                out,
                episodes,
                players,
                steps,
                resolution,
                seed,
                workers,
                codec,
                ray,
                progress=lambda done, total: update(completed=done),
                scenario=scenario,
                adaptive=adaptive,
                cameras=cameras,
                explore=explore,
            )

    info = _run(body)
    if as_json:
        _print_json(info["totals"])
    else:
        _print_table(f"dataset {out}", info["totals"])


def _dataset_dir(path: str) -> str:
    if not (Path(path) / "meta" / "info.json").exists():
        raise ValueError(f"{path} is not a dataset (no meta/info.json)")
    return path


@dataset_app.command("check")
def dataset_check(
    path: Annotated[str, typer.Argument(help="Dataset directory.")],
    stride: Annotated[int, typer.Option(help="Check every N-th frame for black/duplicate frames.")] = 1,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Quality control: frame/row counts, black, frozen and duplicated views. Exit code 1 on any problem."""
    report = _run(lambda: check_dataset(_dataset_dir(path), stride=max(1, stride)))
    result = {
        "ok": report.ok,
        "episodes": report.episodes,
        "frames_checked": report.frames_checked,
        "problems": report.problems,
    }
    if as_json:
        _print_json(result)
    else:
        console.print(
            f"{report.episodes} episodes, {report.frames_checked} frames checked: "
            + ("[green]ok[/]" if report.ok else f"[red]{len(report.problems)} problems[/]")
        )
        for problem in report.problems[:50]:
            console.print(f"  episode {problem['episode']}: {problem['kind']}: {problem['detail']}")
    if not report.ok:
        raise typer.Exit(1)


@dataset_app.command("stats")
def dataset_stats_cmd(
    path: Annotated[str, typer.Argument(help="Dataset directory.")],
    preview: Annotated[str | None, typer.Option(help="Contact sheet PNG (default: DIR/preview.png).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The dataset card: totals, hours per agent, action histogram, interactions, diversity, preview PNG."""
    result = _run(lambda: dataset_stats(_dataset_dir(path), preview or str(Path(path) / "preview.png")))
    _report(result, as_json, f"dataset {path}")


def _learn() -> Any:
    try:
        from mpgenie.models import train as learn  # noqa: PLC0415 - PyTorch is an optional extra
    except ImportError:
        raise ValueError("this needs the 'learn' extra (PyTorch): pip install 'mpgenie[learn]'") from None
    return learn


@train_app.command("worldmodel")
def train_worldmodel_cmd(
    data: Annotated[str, typer.Option(help="Dataset directory (mpgenie generate).")],
    out: Annotated[str, typer.Option(help="Checkpoint file (resumed when it exists).")],
    config: Annotated[str, typer.Option(help="tiny (CPU), small, base (GPU).")] = "tiny",
    steps: Annotated[int, typer.Option(help="Optimisation steps in all (tokenizer, then LAM, then dynamics).")] = 3000,
    checkpoint_every: Annotated[int, typer.Option(help="Steps between checkpoints.")] = 250,
    time_limit: Annotated[
        float | None,
        typer.Option(help="Stop (with a checkpoint) after this many seconds of training, resumed runs included."),
    ] = None,
    seed: Annotated[int, typer.Option()] = 0,
    threads: Annotated[int, typer.Option(help="PyTorch threads (0: one per core).")] = 0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Train the Genie-style world model (tokenizer, latent actions, dynamics) on a dataset."""

    def body() -> dict[str, Any]:
        learn = _learn()
        _torch_threads(threads)
        _dataset_dir(data)
        with _progress(as_json, "training", steps) as update:
            return learn.train_worldmodel(  # type: ignore[no-any-return]
                data,
                config,
                out,
                steps,
                checkpoint_every,
                seed,
                progress=lambda i, n, phase, loss: update(completed=i, description=f"{phase} loss {loss:.4f}"),
                time_limit=time_limit,
            )

    result = _run(body)
    _report(result, as_json, f"trained {config}")


def _torch_threads(threads: int) -> None:
    """Training and evaluation are PyTorch's own matrix work, unlike the tick loop the BLAS pin above is for: give
    it every core (or the number asked for)."""
    if threads < 0:
        raise ValueError("--threads must be >= 0")
    import torch  # noqa: PLC0415 - PyTorch is an optional extra (checked by _learn first)

    torch.set_num_threads(threads or os.cpu_count() or 1)


@eval_app.command("worldmodel")
def eval_worldmodel_cmd(
    checkpoint: Annotated[str, typer.Option(help="Checkpoint from `mpgenie train worldmodel`.")],
    data: Annotated[str, typer.Option(help="Dataset (its last episode is held out).")],
    clips: Annotated[int, typer.Option(help="Held-out clips to evaluate.")] = 16,
    preview: Annotated[str | None, typer.Option(help="PNG of rollouts next to the ground truth.")] = None,
    guidance: Annotated[
        float | None, typer.Option(help="Action guidance when sampling (default: the checkpoint's; 1: none).")
    ] = None,
    threads: Annotated[int, typer.Option(help="PyTorch threads (0: one per core).")] = 0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """PSNR (teacher-forced, rollout t=4, t=16) and the Genie controllability metric dTPSNR at t=4."""

    def body() -> dict[str, Any]:
        learn = _learn()
        _torch_threads(threads)
        _dataset_dir(data)
        if not Path(checkpoint).exists():
            raise ValueError(f"no checkpoint at {checkpoint}")
        if guidance is not None and guidance < 0:
            raise ValueError("--guidance must be >= 0")
        return learn.eval_worldmodel(  # type: ignore[no-any-return]
            checkpoint, data, clips, preview=preview, guidance=guidance
        )

    result = _run(body)
    _report(result, as_json, "world model evaluation")


def _streamer(renderer: str, checkpoint: str | None, url: str | None, resolution: int) -> FrameStreamer:
    return make_streamer(renderer, checkpoint, url, resolution)


@app.command()
def loadtest(
    clients: Annotated[int, typer.Option(help="Bot clients to connect.")] = 100,
    duration: Annotated[float, typer.Option(help="Measured seconds (after the warm-up).")] = 10.0,
    url: Annotated[str | None, typer.Option(help="Server to test (default: start one in a child process).")] = None,
    warmup: Annotated[float, typer.Option(help="Seconds of load before measuring.")] = 5.0,
    tick_rate: Annotated[int, typer.Option(help="Tick rate of the started server.")] = 20,
    full_clients: Annotated[
        bool, typer.Option(help="Bots apply every delta and predict (costs load-generator CPU).")
    ] = False,
    frames: Annotated[int, typer.Option(help="World-model frames per second each bot asks for (0: none).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Connect N bot clients to a realtime server and report latency, rates, bandwidth and tick time."""

    def body() -> dict[str, Any]:
        with _progress(as_json, "starting", 1.0) as update:
            return run_loadtest(
                clients,
                duration,
                url,
                warmup,
                tick_rate,
                light=not full_clients,
                progress=lambda what, frac: update(description=what, completed=frac),
                frames=frames,
            )

    result = _run(body)
    _report(result, as_json, f"loadtest: {clients} clients x {duration:g} s")


@bench_app.command("world")
def bench_world_cmd(
    players: Annotated[int, typer.Option(help="Number of scripted bots (planet grows to keep density).")] = 1000,
    ticks: Annotated[int, typer.Option(help="Timed ticks.")] = 200,
    warmup: Annotated[int, typer.Option(help="Untimed ticks first (JIT, initial AOI).")] = 10,
    seed: Annotated[int, typer.Option()] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Per-tick cost of the full simulation + area of interest at constant density."""

    def body() -> dict[str, Any]:
        with _progress(as_json, f"{players} players", ticks) as update:
            return bench_world(players, ticks, seed=seed, warmup=warmup, progress=lambda i: update(completed=i))

    result = _run(body)
    _report(result, as_json, f"bench world: {players} players x {ticks} ticks")


@bench_app.command("api")
def bench_api_cmd(
    users: Annotated[int, typer.Option(help="Accounts registered first (logins and joins cycle over them).")] = 200,
    concurrency: Annotated[int, typer.Option(help="Concurrent HTTP clients.")] = 32,
    duration: Annotated[float, typer.Option(help="Seconds of logins, then seconds of joins.")] = 10.0,
    database_url: Annotated[
        str | None, typer.Option(help="Database of the API under test (default: a fresh SQLite file).")
    ] = None,
    argon2_memory_kib: Annotated[int | None, typer.Option(help="Override the argon2id memory cost.")] = None,
    argon2_time_cost: Annotated[int | None, typer.Option(help="Override the argon2id passes.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Login and join throughput of the platform API (a child process) over real HTTP."""
    result = _run(lambda: bench_api(users, concurrency, duration, database_url, argon2_memory_kib, argon2_time_cost))
    _report(result, as_json, f"bench api: {concurrency} clients, {duration:g} s each")


@bench_app.command("generate")
def bench_generate_cmd(
    players: Annotated[int, typer.Option(help="Agents per episode.")] = 8,
    steps: Annotated[int, typer.Option(help="Ticks per episode.")] = 300,
    episodes: Annotated[int, typer.Option(help="Episodes per run.")] = 4,
    resolution: Annotated[int, typer.Option(help="View size: 32, 64, 128 or 256.")] = 64,
    max_workers: Annotated[int, typer.Option(help="Also measure with this many workers (2: the scaling).")] = 2,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Dataset generation speed: synchronized frames per second per core (render + encode + write)."""
    result = _run(lambda: bench_generate(players, steps, episodes, resolution, max_workers))
    _report(result, as_json, f"bench generate: {players} agents x {steps} ticks x {episodes} episodes")


@bench_app.command("server")
def bench_server_cmd(
    clients: Annotated[int, typer.Option(help="In-memory clients (one input each per tick).")] = 1000,
    ticks: Annotated[int, typer.Option(help="Timed ticks.")] = 200,
    warmup: Annotated[int, typer.Option(help="Untimed ticks first.")] = 20,
    seed: Annotated[int, typer.Option()] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The realtime server's Python work per tick (inputs, simulation, deltas, encode) without sockets."""

    def body() -> dict[str, Any]:
        with _progress(as_json, f"{clients} clients", ticks) as update:
            return bench_server(clients, ticks, warmup, seed, progress=lambda i: update(completed=i))

    result = _run(body)
    _report(result, as_json, f"bench server: {clients} clients x {ticks} ticks")


@bench_app.command("aoi")
def bench_aoi_cmd(
    players: Annotated[int, typer.Option(help="Players on one uniform layout.")] = 10000,
    repeats: Annotated[int, typer.Option(help="Best of this many runs per method.")] = 5,
    seed: Annotated[int, typer.Option()] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Compare spatial-index structures for all-pairs area of interest."""

    def body() -> dict[str, Any]:
        if players < 2 or repeats < 1:
            raise ValueError("players must be >= 2 and repeats >= 1")
        return bench_aoi(players, repeats=repeats, seed=seed)

    result = _run(body)
    if as_json:
        _print_json(result)
        return
    table = Table(title=f"bench aoi: {players} players, R = {result['radius_m']} m")
    for col in ("method", "ms", "pairs", "speedup vs cKDTree"):
        table.add_column(col, justify="right" if col != "method" else "left")
    for name, m in result["methods"].items():
        table.add_row(name, f"{m['ms']:.2f}", str(m["pairs"]), f"{m['speedup_vs_ckdtree']:.2f}x")
    console.print(table)
    console.print(f"all methods agree: {result['all_methods_agree']}")


@world_app.command("info")
def world_info(
    seed: Annotated[int, typer.Option()] = 0,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Config override KEY=VALUE (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show the validated config and the layout it generates (landmarks, biomes, objects)."""

    def body() -> dict[str, Any]:
        cfg = WorldConfig.from_mapping({"seed": seed, **_parse_overrides(overrides or [])})
        world = World(cfg)
        lay = world.layout
        return {
            "config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__},
            "landmarks": int(lay.landmark_pos.shape[0]),
            "spawn_points": len(world.spawns),
            "collectibles": int(lay.collectible_pos.shape[0]),
            "beacons": int(lay.beacon_pos.shape[0]),
            "hazards": int(lay.hazard_pos.shape[0]),
            "biome_share": lay.biome_shares(),
        }

    result = _run(body)
    if as_json:
        _print_json(result)
    else:
        _print_table(f"world (seed {seed})", {k: v for k, v in result.items() if k != "config"})
        _print_table("config", result["config"])


def main() -> None:
    # Logs are JSON on stderr, warnings only unless a command (serve, demo) asks for more: stdout stays the
    # command's output (tables, --json objects).
    configure_logging(json_logs=True, level=logging.WARNING)
    app()


if __name__ == "__main__":
    main()
