"""Population-based training on Ray: the driver behind ``mpgenie train agents`` (extras ``learn`` and ``scale``).

A round: every member trains PPO (:func:`mpgenie.agents.ppo.train`: parameter sharing over all its agents,
against the opponent the league drew for it: itself, another member, a past snapshot or a scripted style) for
``interval`` iterations, each member in its own Ray task; then the rating games (:meth:`League.pairings`) run
as Ray tasks and update the Elo ratings; every ``snapshot_every`` rounds each member is frozen into the league;
then the PBT step copies strong members' weights to weak ones and perturbs their hyperparameters and rewards.
Members start as fresh networks or, with ``init``, as behavioural clones of scripted styles (VPT's recipe: clone,
then fine-tune with RL; :func:`mpgenie.agents.ppo.clone_scripted`), made in their first training task.

Tasks get and return checkpoints as bytes through Ray's object store, so the same code runs on a cluster
(``address``) whose nodes do not share the driver's disk; only the driver writes ``DIR``:

- ``league.json``: the config, the league (members, snapshots, ratings, games, round), time used (wall and the
  CPU seconds of every task), per round what happened; written atomically after each round.
- ``members/<id>.pt``, ``snapshots/<id>.pt``: PPO checkpoints (:mod:`mpgenie.agents.ppo`'s format).
- ``curves.csv`` and ``curves.png``: the learning curves (one row per member per round; the PNG plots each
  member's Elo and its result against the scripted anchor against rounds, one colour per member in member order).

A re-run with the same ``DIR`` continues after the last completed round (the config must be the same).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mpgenie.agents.config import EnvConfig
from mpgenie.agents.interface import Policy
from mpgenie.agents.match import Team, halves, outcomes, play
from mpgenie.agents.policy import STYLE_NAMES, scripted_policy
from mpgenie.agents.population import League, Member, diversity_bonus
from mpgenie.agents.ppo import PPOConfig, clone_scripted, load_policy, save_checkpoint, train
from mpgenie.atomic import write_bytes_atomic, write_json_atomic
from mpgenie.errors import UsageError
from mpgenie.render.png import write_png
from mpgenie.world.actions import NUM_ACTIONS

LEAGUE_FORMAT = "mpgenie-league-1"
#: An opponent as a task gets it: ("learned", checkpoint bytes) or ("scripted", style name).
OpponentSpec = tuple[str, Any]


@dataclass(frozen=True)
class PBTConfig:
    """One population run (saved in league.json; a resumed run must match)."""

    scenario: str = "compete"
    population: int = 8
    players: int = 0  # agents per world (0: 2 for compete, a 1v1 duel; else 4)
    max_steps: int = 400  # episode length (training and rating games): 20 s at 20 Hz
    num_worlds: int = 16  # worlds per PPO rollout
    num_steps: int = 128  # ticks per world per PPO iteration
    update_epochs: int = 4
    minibatches: int = 4
    hidden: int = 64
    interval: int = 5  # PPO iterations per member per round
    match_worlds: int = 8  # games per rating match (one per world)
    snapshot_every: int = 3  # rounds between snapshots of every member
    seed: int = 0
    init: str = ""  # comma-separated scripted styles: member i starts as a clone of style i mod k ("": fresh)
    diversity: float = 0.0  # weight of the diversity term (population.diversity_bonus; 0: off)
    min_entropy: float = 0.0  # every member's per-state entropy floor in bits (PPOConfig.min_entropy; 0: off)

    def __post_init__(self) -> None:
        for style in self.init_styles:
            if style not in STYLE_NAMES:
                raise UsageError(f"--init: unknown scripted style {style!r} (known: {', '.join(STYLE_NAMES)})")
        for name in ("population", "max_steps", "num_worlds", "num_steps", "interval", "match_worlds"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.diversity <= 1.0:
            raise UsageError(f"diversity must be in [0, 1], got {self.diversity}")
        if not 0.0 <= self.min_entropy <= math.log2(NUM_ACTIONS):
            raise UsageError(f"min_entropy must be in [0, log2({NUM_ACTIONS})] bits, got {self.min_entropy}")
        if self.players < 0 or self.snapshot_every < 1:
            raise UsageError("players must be >= 0 and snapshot_every >= 1")
        self.env_config()

    @property
    def init_styles(self) -> list[str]:
        return [x.strip() for x in self.init.split(",") if x.strip()]

    def init_style(self, index: int) -> str | None:
        """The scripted style member ``index`` starts as a behavioural clone of (None: a fresh network)."""
        styles = self.init_styles
        return styles[index % len(styles)] if styles else None

    @property
    def agents_per_world(self) -> int:
        return self.players or (2 if self.scenario == "compete" else 4)

    def env_config(self) -> EnvConfig:
        """The rating games' environment: the scenario's own reward weights."""
        return EnvConfig(players=self.agents_per_world, scenario=self.scenario, max_steps=self.max_steps)

    def ppo_config(self, member: Member, index: int, action_bonus: list[float] | None = None) -> PPOConfig:
        options: dict[str, Any] = {"rewards": dict(member.rewards)}
        if action_bonus:
            options["action_bonus"] = list(action_bonus)
        return PPOConfig(
            scenario=self.scenario,
            players=self.agents_per_world,
            max_steps=self.max_steps,
            env_options=options,
            num_worlds=self.num_worlds,
            num_steps=self.num_steps,
            update_epochs=self.update_epochs,
            minibatches=self.minibatches,
            hidden=self.hidden,
            seed=self.seed * 1000 + index,
            min_entropy=self.min_entropy,
            **member.hyper,
        )


# --- what the Ray tasks run ----------------------------------------------------------------------------------------


def policy_maker(spec: OpponentSpec, players: int, seed: int) -> Callable[[int], Policy]:
    """World ``i``'s policy for an opponent spec (learned: actions sampled from its logits, seeded)."""
    kind, payload = spec
    if kind == "scripted":
        return lambda i: scripted_policy(payload, players, seed + i)
    ckpt = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    return lambda i: load_policy(ckpt, sample=True, seed=seed + i)


def train_member(
    config: dict[str, Any],
    checkpoint: bytes | None,
    opponent: OpponentSpec | None,
    iterations: int,
    init: str | None = None,
) -> dict[str, Any]:
    """``iterations`` of PPO from ``checkpoint`` (None: a new network, or with ``init`` a behavioural clone of
    that scripted style, :func:`~mpgenie.agents.ppo.clone_scripted`) under ``config`` (a PPOConfig dict); with
    ``opponent``, it drives the second half of every world's agents. One thread: Ray gives a CPU a task."""
    torch.set_num_threads(1)
    cpu0 = time.process_time()
    c = PPOConfig.from_dict(config)
    team = None
    if opponent is not None:
        team = Team.of(policy_maker(opponent, c.players, c.seed + 7919), halves(c.players)[1], c.num_worlds)
    with tempfile.TemporaryDirectory(prefix="mpgenie-member-") as tmp:
        path = Path(tmp) / "member.pt"
        if checkpoint is not None:
            path.write_bytes(checkpoint)
        elif init is not None:
            save_checkpoint(path, clone_scripted(c, init, seed=c.seed))
        result = train(c, iterations=iterations, out=path, save_every=10**9, opponent=team, adopt=True)
        data = path.read_bytes()
    return {"checkpoint": data, "curve": result.curve[-iterations:], "cpu_s": time.process_time() - cpu0}


def rating_game(env: dict[str, Any], a: OpponentSpec, b: OpponentSpec, worlds: int, seed: int) -> dict[str, Any]:
    """``worlds`` games of a against b (a: the first half of the agents): a's result per game."""
    torch.set_num_threads(1)
    cpu0 = time.process_time()
    config = EnvConfig(**env)
    side_a, side_b = halves(config.players)
    team_a = Team.of(policy_maker(a, config.players, seed), side_a, worlds)
    team_b = Team.of(policy_maker(b, config.players, seed + 104729), side_b, worlds)
    sa, sb = play(config, [team_a, team_b], seed=seed)
    return {
        "scores": outcomes(sa, sb).tolist(),
        "actions_a": sa.actions.sum(axis=0).tolist(),  # a's action counts (the diversity term's input)
        "cpu_s": time.process_time() - cpu0,
    }


# --- the driver ----------------------------------------------------------------------------------------------------


CURVE_FIELDS = [
    "round",
    "member",
    "opponent",
    "iterations",
    "agent_steps",
    "episode_return",
    "reward_per_step",
    "entropy",
    "rating",
    "vs_anchor",
    "learning_rate",
    "ent_coef",
]


def write_curves(root: Path, rows: list[dict[str, Any]], history: list[dict[str, Any]], members: list[str]) -> None:
    """curves.csv (one row per member per round, with ``vs_anchor``: its mean result in that round's rating games
    against the scripted anchor, 0..1) and curves.png (Elo above; ``vs_anchor`` below, on a fixed 0..1 scale; one
    colour per member, in member order), both atomically."""
    anchor = {(h["round"], g["a"]): g["score_a"] for h in history for g in h["games"] if g["b"].startswith("scripted:")}
    rows = [{**r, "vs_anchor": anchor.get((r["round"], r["member"]))} for r in rows]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CURVE_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_bytes_atomic(root / "curves.csv", buf.getvalue().encode())
    series = {
        key: [
            [(float(r["round"]), float(r[key])) for r in rows if r["member"] == m and r[key] not in (None, "")]
            for m in members
        ]
        for key in ("rating", "vs_anchor")
    }
    image = np.concatenate([plot_lines(series["rating"]), plot_lines(series["vs_anchor"], y_range=(0.0, 1.0))])
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".curves.", suffix=".png")
    os.close(fd)
    try:
        write_png(Path(tmp), image)
        os.replace(tmp, root / "curves.png")
    finally:
        Path(tmp).unlink(missing_ok=True)


_COLOURS = np.array(
    [
        [31, 119, 180],
        [255, 127, 14],
        [44, 160, 44],
        [214, 39, 40],
        [148, 103, 189],
        [140, 86, 75],
        [227, 119, 194],
        [127, 127, 127],
        [188, 189, 34],
        [23, 190, 207],
    ],
    dtype=np.uint8,
)


def plot_lines(
    lines: list[list[tuple[float, float]]],
    width: int = 640,
    height: int = 240,
    y_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """A bare line chart (RGB, white background, a grey frame): the lines scaled to their common x range and to
    ``y_range`` (default: their common y range)."""
    img = np.full((height, width, 3), 255, dtype=np.uint8)
    img[[0, -1], :] = img[:, [0, -1]] = 160
    points = [p for line in lines for p in line]
    if not points:
        return img
    xs, ys = np.array([p[0] for p in points]), np.array([p[1] for p in points])
    y0, y1 = y_range if y_range is not None else (ys.min(), max(ys.max(), ys.min() + 1e-9))
    x0, x1 = xs.min(), max(xs.max(), xs.min() + 1)
    pad = 8
    for k, line in enumerate(lines):
        if not line:
            continue
        lx = pad + (np.array([p[0] for p in line]) - x0) / (x1 - x0) * (width - 2 * pad)
        ly = height - pad - (np.array([p[1] for p in line]) - y0) / (y1 - y0) * (height - 2 * pad)
        if lx.size == 1:
            lx, ly = np.repeat(lx, 2), np.repeat(ly, 2)
        t = np.linspace(0, lx.size - 1, max(2, 4 * width))
        px = np.interp(t, np.arange(lx.size), lx).astype(int)
        py = np.interp(t, np.arange(ly.size), ly).astype(int)
        for dy in (-1, 0, 1):
            img[np.clip(py + dy, 0, height - 1), np.clip(px, 0, width - 1)] = _COLOURS[k % len(_COLOURS)]
    return img


class Trainer:
    """The state of one population run in ``root``: new, or loaded from its league.json."""

    def __init__(self, root: str | Path, config: PBTConfig) -> None:
        self.root = Path(root)
        self.config = config
        path = self.root / "league.json"
        if path.exists():
            state = json.loads(path.read_text())
            if state.get("format") != LEAGUE_FORMAT:
                raise UsageError(f"{path} is not a league file ({LEAGUE_FORMAT})")
            saved = PBTConfig(**state["config"])
            if saved != config:
                changed = [
                    f.name for f in dataclasses.fields(PBTConfig) if getattr(saved, f.name) != getattr(config, f.name)
                ]
                raise UsageError(
                    f"{root} holds a run with other settings ({', '.join(changed)}); use those or another --out"
                )
            self.league = League.from_dict(state["league"])
            self.cpu_s, self.wall_s = float(state["cpu_s"]), float(state["wall_s"])
            self.history: list[dict[str, Any]] = state["rounds"]
            self.curve: list[dict[str, Any]] = state["curve"]
            self.action_counts: dict[str, list[int]] = state.get("action_counts", {})
        else:
            styles = [config.init_style(i) or "" for i in range(config.population)]
            self.league = League.new(config.scenario, config.population, self._rng(0), styles)
            self.cpu_s = self.wall_s = 0.0
            self.history, self.curve = [], []
            self.action_counts = {}  # per member: its action counts in the last round's rating games

    def _rng(self, stream: int, round_: int = 0) -> np.random.Generator:
        """Seeded per run, round and use: a resumed run draws what an uninterrupted one would have."""
        return np.random.default_rng([self.config.seed, round_, stream])

    def checkpoint_path(self, player: str) -> Path:
        if "@" in player:
            return self.root / "snapshots" / f"{player}.pt"
        return self.root / "members" / f"{player}.pt"

    def spec(self, player: str) -> OpponentSpec:
        if player.startswith("scripted:"):
            return ("scripted", player.split(":", 1)[1])
        return ("learned", self.checkpoint_path(player).read_bytes())

    def save(self) -> None:
        write_json_atomic(
            self.root / "league.json",
            {
                "format": LEAGUE_FORMAT,
                "config": dataclasses.asdict(self.config),
                "league": self.league.to_dict(),
                "table": self.league.table(),
                "best": self.league.best().id,
                "cpu_s": self.cpu_s,
                "wall_s": self.wall_s,
                "rounds": self.history,
                "curve": self.curve,
                "action_counts": self.action_counts,
            },
        )
        write_curves(self.root, self.curve, self.history, [m.id for m in self.league.members])

    def run_round(self, ray: Any) -> dict[str, Any]:
        """One round (train, rate, snapshot, PBT step) on Ray; saves everything; returns the round's summary."""
        t0 = time.monotonic()
        league, cfg = self.league, self.config
        rng = self._rng(1, league.round)
        train_task = ray.remote(num_cpus=1)(train_member)
        game_task = ray.remote(num_cpus=1)(rating_game)

        # 1. every member trains against its drawn opponent
        opponents = {}
        for m in league.members:
            opp = league.sample_opponent(m.id, rng)
            untrained = opp != "self" and not opp.startswith("scripted:") and not self.checkpoint_path(opp).exists()
            opponents[m.id] = "self" if untrained else opp  # round 1: the other members have no weights yet
        futures = {}
        for i, m in enumerate(league.members):
            path = self.checkpoint_path(m.id)
            ckpt = path.read_bytes() if path.exists() else None
            opp = opponents[m.id]
            spec = None if opp == "self" else self.spec(opp)
            bonus = diversity_bonus(self.action_counts, m.id, cfg.diversity)
            futures[m.id] = train_task.remote(
                cfg.ppo_config(m, i, bonus).to_dict(), ckpt, spec, cfg.interval, cfg.init_style(i)
            )
        trained = {mid: ray.get(f) for mid, f in futures.items()}
        for m in league.members:
            out = trained[m.id]
            write_bytes_atomic(self.checkpoint_path(m.id), out["checkpoint"])
            self.cpu_s += out["cpu_s"]
            m.iterations += len(out["curve"])
            m.agent_steps += sum(int(e["batch"]) for e in out["curve"])

        # 2. rating games
        env = {"players": cfg.agents_per_world, "scenario": cfg.scenario, "max_steps": cfg.max_steps}
        pairs = league.pairings(rng)
        games = [
            game_task.remote(env, self.spec(a), self.spec(b), cfg.match_worlds, int(rng.integers(2**31)))
            for a, b in pairs
        ]
        results = ray.get(games)
        summary_games = []
        counts = {m.id: [0] * NUM_ACTIONS for m in league.members}
        for (a, b), res in zip(pairs, results, strict=True):
            self.cpu_s += res["cpu_s"]
            counts[a] = [x + y for x, y in zip(counts[a], res["actions_a"], strict=True)]
            for s in res["scores"]:
                league.record(a, b, s)
            summary_games.append({"a": a, "b": b, "score_a": float(np.mean(res["scores"]))})

        self.action_counts = counts

        # 3. curves, snapshots and the PBT step
        league.round += 1
        for m in league.members:
            last = trained[m.id]["curve"][-1] if trained[m.id]["curve"] else {}
            rets = [e["episode_return"] for e in trained[m.id]["curve"] if e.get("episode_return") is not None]
            self.curve.append(
                {
                    "round": league.round,
                    "member": m.id,
                    "opponent": opponents[m.id],
                    "iterations": m.iterations,
                    "agent_steps": m.agent_steps,
                    "episode_return": float(np.mean(rets)) if rets else None,
                    "reward_per_step": last.get("reward_per_step"),
                    "entropy": last.get("entropy"),
                    "rating": league.ratings[m.id],
                    "learning_rate": m.hyper["learning_rate"],
                    "ent_coef": m.hyper["ent_coef"],
                }
            )
        snapshots = []
        if league.round % cfg.snapshot_every == 0:
            for m in league.members:
                snap, dropped = league.add_snapshot(m.id)
                write_bytes_atomic(self.checkpoint_path(snap.id), self.checkpoint_path(m.id).read_bytes())
                for s in dropped:
                    self.checkpoint_path(s.id).unlink(missing_ok=True)
                snapshots.append(snap.id)
        exploits = league.pbt_step(rng)
        for dst, src in exploits:
            write_bytes_atomic(self.checkpoint_path(dst), self.checkpoint_path(src).read_bytes())
        self.wall_s += time.monotonic() - t0
        summary = {
            "round": league.round,
            "opponents": opponents,
            "games": summary_games,
            "snapshots": snapshots,
            "exploits": [{"member": d, "copied": s} for d, s in exploits],
            "ratings": {m.id: round(league.ratings[m.id], 1) for m in league.members},
            "best": league.best().id,
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
        }
        self.history.append(summary)
        self.save()
        return summary


def train_population(
    out: str | Path,
    config: PBTConfig,
    time_limit: float,
    address: str | None = None,
    workers: int = 2,
    max_rounds: int | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Rounds until ``time_limit`` seconds (of this invocation) would be passed (a round is not started when the
    last one's duration would not fit) or ``max_rounds`` more are done. Ray: a local instance of ``workers`` CPUs,
    or the cluster at ``address``. Returns the league summary (what league.json holds, without the history)."""
    try:
        import ray  # noqa: PLC0415 - the 'scale' extra, asked for by name when it is missing
    except ImportError:
        raise UsageError("train agents needs the 'scale' extra (Ray): pip install 'mpgenie[scale]'") from None
    if time_limit <= 0:
        raise UsageError("--time-limit must be > 0 seconds")
    trainer = Trainer(out, config)
    trainer.root.mkdir(parents=True, exist_ok=True)
    started = not ray.is_initialized()
    if started:
        if address or os.environ.get("RAY_ADDRESS"):
            # a cluster (--address, or RAY_ADDRESS as KubeRay and `ray job submit` set it): its own CPUs
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    t0 = time.monotonic()
    last = 0.0
    done = 0
    try:
        while max_rounds is None or done < max_rounds:
            elapsed = time.monotonic() - t0
            if done and elapsed + last > time_limit:
                break
            r0 = time.monotonic()
            summary = trainer.run_round(ray)
            last = time.monotonic() - r0
            done += 1
            if progress is not None:
                progress({**summary, "elapsed_s": time.monotonic() - t0})
    finally:
        if started:
            ray.shutdown()
    lg = trainer.league
    return {
        "out": str(trainer.root),
        "scenario": config.scenario,
        "rounds": lg.round,
        "rounds_this_run": done,
        "best": lg.best().id,
        "table": lg.table(),
        "wall_s": trainer.wall_s,
        "cpu_s": trainer.cpu_s,
    }
