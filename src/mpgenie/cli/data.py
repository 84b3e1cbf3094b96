"""Commands of the Data pillar: record datasets, check and describe them, and measure generation speed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mpgenie.cli.common import agents_option, console, dataset_dir, print_json, progress, report, run
from mpgenie.cli.groups import app, bench_app, dataset_app


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
    agents: Annotated[
        str,
        typer.Option(
            help="scripted (styles drawn from the scenario), scripted:STYLE (every agent one style, e.g. "
            "cooperator: a consistent teacher for `train bc`), population:DIR[@SHARE]: learned members of a "
            "`train agents` run drive a share of the agents (default 0.5, drawn per episode), scripted styles "
            "the rest; or bc:CKPT: a policy from `mpgenie train bc` drives every agent (extra 'learn')."
        ),
    ] = "scripted",
    metrics_file: Annotated[
        str | None,
        typer.Option(help="Write progress as Prometheus metrics to this file (e.g. a node exporter textfile dir)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print meta/info.json totals as JSON.")] = False,
) -> None:
    """Record multiplayer episodes: every agent's first-person video, per-tick actions and state, events."""
    from mpgenie.dataset.generate import GenerateConfig
    from mpgenie.dataset.generate import generate as generate_dataset

    config = GenerateConfig(
        out=out,
        episodes=episodes,
        players=players,
        steps=steps,
        resolution=resolution,
        seed=seed,
        workers=workers,
        codec=codec,
        ray=ray,
        scenario=scenario,
        adaptive=adaptive,
        cameras=cameras,
        explore=explore,
        agents=run(lambda: agents_option(agents, resolution)),
    )

    def body() -> dict[str, Any]:
        from mpgenie.dataset.metrics import GenerationMetrics

        metrics = GenerationMetrics(metrics_file, (players + cameras) * steps) if metrics_file else None
        with progress(as_json, "episodes", episodes) as update:

            def done(finished: int, total: int) -> None:
                update(completed=finished)
                if metrics is not None:
                    metrics.update(finished, total)

            return generate_dataset(config, progress=done)

    info = run(body)
    report(info["totals"], as_json, f"dataset {out}")


@dataset_app.command("check")
def dataset_check(
    path: Annotated[str, typer.Argument(help="Dataset directory.")],
    stride: Annotated[int, typer.Option(help="Check every N-th frame for black/duplicate frames.")] = 1,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Quality control: frame/row counts, black, frozen and duplicated views. Exit code 1 on any problem."""
    from mpgenie.dataset.qc import check_dataset

    qc = run(lambda: check_dataset(dataset_dir(path), stride=max(1, stride)))
    result = {"ok": qc.ok, "episodes": qc.episodes, "frames_checked": qc.frames_checked, "problems": qc.problems}
    if as_json:
        print_json(result)
    else:
        console.print(
            f"{qc.episodes} episodes, {qc.frames_checked} frames checked: "
            + ("[green]ok[/]" if qc.ok else f"[red]{len(qc.problems)} problems[/]")
        )
        for problem in qc.problems[:50]:
            console.print(f"  episode {problem['episode']}: {problem['kind']}: {problem['detail']}")
    if not qc.ok:
        raise typer.Exit(1)


@dataset_app.command("stats")
def dataset_stats_cmd(
    path: Annotated[str, typer.Argument(help="Dataset directory.")],
    preview: Annotated[str | None, typer.Option(help="Contact sheet PNG (default: DIR/preview.png).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The dataset card: totals, hours per agent, action histogram, interactions, diversity, preview PNG."""
    from mpgenie.dataset.stats import dataset_stats

    result = run(lambda: dataset_stats(dataset_dir(path), preview or str(Path(path) / "preview.png")))
    report(result, as_json, f"dataset {path}")


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
    from mpgenie.bench.generate import bench_generate

    result = run(lambda: bench_generate(players, steps, episodes, resolution, max_workers))
    report(result, as_json, f"bench generate: {players} agents x {steps} ticks x {episodes} episodes")
