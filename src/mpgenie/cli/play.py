"""Commands of the Play pillar: the platform (API + realtime server), the demo, tickets and the network benchmarks."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mpgenie.cli.common import agents_option, console, err, parse_overrides, progress, report, run
from mpgenie.cli.groups import app, bench_app
from mpgenie.errors import UsageError

if TYPE_CHECKING:
    from mpgenie.platform import Platform
    from mpgenie.world.config import WorldConfig


@app.command()
def demo(
    bots: Annotated[int, typer.Option(help="SDK bot clients to connect.")] = 12,
    seconds: Annotated[float, typer.Option(help="Stop after this many seconds (0: run until Ctrl-C).")] = 0.0,
    seed: Annotated[int, typer.Option(help="World and bot seed.")] = 0,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Realtime TCP port.")] = 7777,
    api_port: Annotated[int, typer.Option(help="Platform API port.")] = 8000,
    agents: Annotated[
        str,
        typer.Option(
            help="scripted, population:DIR[@SHARE]: learned members of a `train agents` run drive a share of "
            "the bots (default 0.5), or bc:CKPT: a `train bc` policy drives every bot from its rendered view "
            "(extra 'learn')."
        ),
    ] = "scripted",
) -> None:
    """Start the API and realtime server; bots join a session through the API and play; live summary."""
    from mpgenie.demo import run_network_demo

    def demo_bots() -> Any:
        spec = agents_option(agents)
        if spec.style is not None:
            raise UsageError("demo --agents takes scripted, population:DIR or bc:CKPT (a single style: `generate`)")
        return run_network_demo(
            bots=bots,
            seconds=seconds,
            seed=seed,
            host=host,
            port=port,
            api_port=api_port,
            console=console,
            agents=spec,
        )

    run(demo_bots)


@app.command()
def ticket(
    name: Annotated[str, typer.Option(help="Player (subject) the ticket admits.")] = "player",
    session: Annotated[str, typer.Option(help="Session id the server runs.")] = "default",
    ttl: Annotated[float, typer.Option(help="Seconds the ticket stays valid.")] = 300.0,
    join_secret: Annotated[
        str | None, typer.Option(envvar="MPGENIE_JOIN_SECRET", help="Secret the server verifies with.")
    ] = None,
) -> None:
    """Print a signed join ticket for a realtime server run without the API (the API hands them out itself)."""
    from mpgenie.net.tickets import DEV_SECRET, issue_ticket

    def body() -> None:
        if ttl <= 0:
            raise UsageError("--ttl must be > 0")
        typer.echo(issue_ticket(join_secret or DEV_SECRET, name, session, ttl_s=ttl))

    run(body)


def _world_config(seed: int, scale_for: int | None, tick_rate: int | None, overrides: list[str] | None) -> WorldConfig:
    from mpgenie.world.config import WorldConfig

    extra = parse_overrides(overrides)
    if tick_rate is not None:
        extra["tick_rate"] = tick_rate
    if scale_for is not None:
        if scale_for < 1:
            raise UsageError("--scale-for must be >= 1")
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
        str | None,
        typer.Option(
            envvar="MPGENIE_REDIS_URL",
            help="Redis for rate limits, presence and the node registry (default: in memory, one process).",
        ),
    ] = None,
    node_url: Annotated[
        str | None,
        typer.Option(
            envvar="MPGENIE_NODE_URL",
            help="Register the realtime server as a node with this public WebSocket URL (needs --redis-url).",
        ),
    ] = None,
    node_capacity: Annotated[int, typer.Option(help="Players this node takes in all its sessions.")] = 5000,
    checkpoint_interval: Annotated[
        float, typer.Option(help="Seconds between a node's session checkpoints (failover state).")
    ] = 1.0,
    session: Annotated[
        str, typer.Option(help="Id of the default session (tickets from `mpgenie ticket`).")
    ] = "default",
    renderer: Annotated[
        str, typer.Option(help="World model drawing frames for clients that ask: procedural, learned or http.")
    ] = "procedural",
    renderer_checkpoint: Annotated[str | None, typer.Option(help="Checkpoint for --renderer learned.")] = None,
    renderer_guidance: Annotated[
        float | None,
        typer.Option(help="Action guidance of --renderer learned (default: the model's; 1 serves ~2x faster)."),
    ] = None,
    renderer_url: Annotated[str | None, typer.Option(help="Service URL for --renderer http.")] = None,
    frame_resolution: Annotated[int, typer.Option(help="Size of streamed frames (procedural).")] = 64,
    quiet: Annotated[bool, typer.Option(help="No banner, warnings-only logs.")] = False,
) -> None:
    """Run the platform API and the realtime server until Ctrl-C (graceful shutdown)."""
    from mpgenie.api.settings import Settings
    from mpgenie.genie.factory import make_streamer
    from mpgenie.logs import configure_logging
    from mpgenie.net.connections import ServerSettings
    from mpgenie.platform import NodeOptions, run_platform

    def body() -> None:
        cfg = _world_config(seed, scale_for, tick_rate, overrides)
        if max_players < 1 or resume_grace < 0:
            raise UsageError("--max-players must be >= 1 and --resume-grace >= 0")
        if not (api or realtime):
            raise UsageError("nothing to run: --no-api and --no-realtime together")
        node = None
        if node_url is not None:
            if not realtime:
                raise UsageError("--node-url names this process's realtime server: not with --no-realtime")
            if not redis_url:
                raise UsageError("--node-url needs --redis-url (the node registry lives in Redis)")
            if not node_url.startswith(("ws://", "wss://")):
                raise UsageError(f"--node-url must be a ws:// or wss:// URL, got {node_url!r}")
            if node_capacity < 1 or not 0.05 <= checkpoint_interval <= 3600:
                raise UsageError("--node-capacity must be >= 1 and --checkpoint-interval within 0.05..3600 s")
            node = NodeOptions(node_url, node_capacity, checkpoint_interval)
        updates: dict[str, Any] = {"log_level": "WARNING" if quiet else "INFO"}
        for key, value in (
            ("join_secret", join_secret),
            ("jwt_secret", jwt_secret),
            ("database_url", database_url),
            ("redis_url", redis_url),
        ):
            if value:
                updates[key] = value
        api_settings = Settings().model_copy(update=updates)
        api_settings.check_exposure(host, api)
        configure_logging(json_logs=True, level=logging.WARNING if quiet else logging.INFO)
        settings = ServerSettings(
            session=session,
            join_secret=api_settings.join_secret,
            max_players=max_players,
            resume_grace_s=resume_grace,
        )

        def ready(platform: Platform) -> None:
            if quiet:
                return
            if api_settings.dev_secrets_in_use(api):
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
            if platform.node is not None:
                console.print(f"node [bold]{platform.node.id}[/] registered as {platform.node.url}")
            if platform.api_url is not None:
                console.print(f"API [bold]{platform.api_url}/v1[/] (docs {platform.api_url}/docs)")
                console.print(f"browser client [bold]{platform.api_url}/play/[/]")
            console.print("Ctrl-C stops")

        streamer = make_streamer(renderer, renderer_checkpoint, renderer_url, frame_resolution, renderer_guidance)
        run_platform(
            api_settings,
            cfg,
            settings,
            host,
            port,
            api_port,
            api,
            realtime,
            on_ready=ready,
            streamer=streamer,
            node=node,
        )
        if not quiet:
            console.print("server stopped cleanly")

    run(body)


@app.command()
def loadtest(
    clients: Annotated[int, typer.Option(help="Bot clients to connect.")] = 100,
    duration: Annotated[float, typer.Option(help="Measured seconds (after the warm-up).")] = 10.0,
    url: Annotated[str | None, typer.Option(help="Server to test (default: start one in a child process).")] = None,
    warmup: Annotated[float, typer.Option(help="Seconds of load before measuring.")] = 5.0,
    tick_rate: Annotated[int, typer.Option(help="Tick rate of the started server.")] = 20,
    bots: Annotated[
        str,
        typer.Option(
            help="wire: light clients on raw sockets (cheapest); light: SDK clients reading snapshot headers; "
            "full: SDK clients that apply every delta and predict (costs load-generator CPU)."
        ),
    ] = "wire",
    frames: Annotated[int, typer.Option(help="World-model frames per second each bot asks for (0: none).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Connect N bot clients to a realtime server and report latency, rates, bandwidth and tick time."""
    from mpgenie.bench.loadtest import LoadtestError, run_loadtest

    def body() -> dict[str, Any]:
        with progress(as_json, "starting", 1.0) as update:
            return run_loadtest(
                clients,
                duration,
                url,
                warmup,
                tick_rate,
                bots=bots,
                progress=lambda what, frac: update(description=what, completed=frac),
                frames=frames,
            )

    result = run(body, LoadtestError)
    report(result, as_json, f"loadtest: {clients} clients x {duration:g} s")


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
    from mpgenie.bench.api import bench_api
    from mpgenie.bench.loadtest import LoadtestError

    result = run(
        lambda: bench_api(users, concurrency, duration, database_url, argon2_memory_kib, argon2_time_cost),
        LoadtestError,
    )
    report(result, as_json, f"bench api: {concurrency} clients, {duration:g} s each")


@bench_app.command("server")
def bench_server_cmd(
    clients: Annotated[int, typer.Option(help="In-memory clients (one input each per tick).")] = 1000,
    ticks: Annotated[int, typer.Option(help="Timed ticks.")] = 200,
    warmup: Annotated[int, typer.Option(help="Untimed ticks first.")] = 20,
    seed: Annotated[int, typer.Option()] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The realtime server's Python work per tick (inputs, simulation, deltas, encode) without sockets."""
    from mpgenie.bench.server import bench_server

    def body() -> dict[str, Any]:
        with progress(as_json, f"{clients} clients", ticks) as update:
            return bench_server(clients, ticks, warmup, seed, progress=lambda i: update(completed=i))

    result = run(body)
    report(result, as_json, f"bench server: {clients} clients x {ticks} ticks")
