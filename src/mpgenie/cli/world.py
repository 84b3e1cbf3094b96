"""Commands of the world core: a headless session, the world a config generates, and the core's benchmarks
(including the multi-agent environment over it, ``bench env``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mpgenie.cli.common import console, parse_overrides, print_json, print_table, progress, report, run
from mpgenie.cli.groups import app, bench_app, world_app
from mpgenie.errors import UsageError


@app.command()
def simulate(
    players: Annotated[int, typer.Option(help="Number of bots.")] = 200,
    seconds: Annotated[float, typer.Option(help="Simulated seconds to run.")] = 10.0,
    seed: Annotated[int, typer.Option(help="World and bot seed.")] = 0,
    realtime: Annotated[bool, typer.Option(help="Pace ticks at the tick rate (--no-realtime: flat out).")] = True,
) -> None:
    """Run a headless session of bots on the planet (no network) with a live summary."""
    from mpgenie.headless import run_headless

    run(lambda: run_headless(players=players, seconds=seconds, seed=seed, realtime=realtime, console=console))


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
        from mpgenie.world.config import WorldConfig
        from mpgenie.world.simulation import World

        cfg = WorldConfig.from_mapping({"seed": seed, **parse_overrides(overrides)})
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

    result = run(body)
    if as_json:
        print_json(result)
    else:
        print_table(f"world (seed {seed})", {k: v for k, v in result.items() if k != "config"})
        print_table("config", result["config"])


@bench_app.command("world")
def bench_world_cmd(
    players: Annotated[int, typer.Option(help="Number of scripted bots (planet grows to keep density).")] = 1000,
    ticks: Annotated[int, typer.Option(help="Timed ticks.")] = 200,
    warmup: Annotated[int, typer.Option(help="Untimed ticks first (JIT, initial AOI).")] = 10,
    seed: Annotated[int, typer.Option()] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Per-tick cost of the full simulation + area of interest at constant density."""
    from mpgenie.bench.world import bench_world

    def body() -> dict[str, Any]:
        with progress(as_json, f"{players} players", ticks) as update:
            return bench_world(players, ticks, seed=seed, warmup=warmup, progress=lambda i: update(completed=i))

    result = run(body)
    report(result, as_json, f"bench world: {players} players x {ticks} ticks")


@bench_app.command("aoi")
def bench_aoi_cmd(
    players: Annotated[int, typer.Option(help="Players on one uniform layout.")] = 10000,
    repeats: Annotated[int, typer.Option(help="Best of this many runs per method.")] = 5,
    seed: Annotated[int, typer.Option()] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Compare spatial-index structures for all-pairs area of interest."""
    from mpgenie.bench.world import bench_aoi

    def body() -> dict[str, Any]:
        if players < 2 or repeats < 1:
            raise UsageError("players must be >= 2 and repeats >= 1")
        return bench_aoi(players, repeats=repeats, seed=seed)

    result = run(body)
    if as_json:
        print_json(result)
        return
    from rich.table import Table

    table = Table(title=f"bench aoi: {players} players, R = {result['radius_m']} m")
    for col in ("method", "ms", "pairs", "speedup vs cKDTree"):
        table.add_column(col, justify="right" if col != "method" else "left")
    for name, m in result["methods"].items():
        table.add_row(name, f"{m['ms']:.2f}", str(m["pairs"]), f"{m['speedup_vs_ckdtree']:.2f}x")
    console.print(table)
    console.print(f"all methods agree: {result['all_methods_agree']}")


@bench_app.command("env")
def bench_env_cmd(
    players: Annotated[int, typer.Option(help="Agents per world.")] = 64,
    worlds: Annotated[int, typer.Option(help="Worlds of the vectorised path.")] = 16,
    steps: Annotated[int, typer.Option(help="Timed steps with state observations.")] = 200,
    pixel_steps: Annotated[int, typer.Option(help="Timed steps with 64x64 pixel observations.")] = 10,
    warmup: Annotated[int, typer.Option(help="Untimed steps first (JIT).")] = 3,
    scenario: Annotated[str, typer.Option(help="Reward scenario: collect, cooperate, compete, explore, mixed.")] = (
        "mixed"
    ),
    seed: Annotated[int, typer.Option()] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Agent-steps/s/core of the multi-agent env (PettingZoo and vectorised; state and pixel observations)."""

    def body() -> dict[str, Any]:
        from mpgenie.bench.agents import bench_env

        with progress(as_json, "cases", 4) as update:
            return bench_env(
                players, worlds, steps, pixel_steps, warmup, seed, scenario, progress=lambda i: update(completed=i)
            )

    result = run(body)
    if as_json:
        print_json(result)
        return
    from rich.table import Table

    table = Table(title=f"bench env: {players} agents per world, {worlds} worlds vectorised")
    for col in ("case", "agents", "steps", "agent-steps/s", "per core", "target", "cpu/wall"):
        table.add_column(col, justify="left" if col == "case" else "right")
    for name, case in result["cases"].items():
        target = result["targets_per_core"][name.split("_")[1]]
        table.add_row(
            name,
            str(case["agents"]),
            str(case["steps"]),
            f"{case['agent_steps_per_s']:,.0f}",
            f"{case['agent_steps_per_s_per_core']:,.0f}",
            f"{target:,}",
            f"{case['cpu_per_wall']:.2f}",
        )
    console.print(table)
    console.print(f"anchor: Neural MMO ~{result['anchor_neural_mmo_per_core']:,} agent-steps/s per core")
