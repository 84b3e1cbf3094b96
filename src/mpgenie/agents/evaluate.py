"""``mpgenie eval agents DIR``: a trained population against the scripted agents, on the issue's three measures.

- **1v1 duels** (scenario ``compete``, 2 players): the league's best member against the scripted competitor;
  a game is won by the side with the higher compete score (hits landed minus hits taken and hazards). Half the
  games with the member as player 0, half as player 1 (spawns are not symmetric). Reported: win, draw and loss
  rates of the member.
- **co-op beacons** (scenario ``cooperate``, 4 players): every agent the best member, against every agent the
  scripted co-operator; beacon participations (a beacon lit by k agents counts k) per agent-hour of play.
- **behavioural diversity** (scenario ``mixed``): one agent per member in each world, against the same number of
  agents of the scripted mixture (styles drawn as ``mpgenie generate`` draws them): mean action entropy and the
  mean pairwise Jensen-Shannon divergence of the agents' action distributions (:mod:`mpgenie.agents.behaviour`,
  what ``dataset stats`` reports), and sphere coverage (the share of the sphere's exploration cells an agent
  entered in an episode, mean over agents).

Learned agents sample their actions from the policy's logits (seeded), as in training.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mpgenie.agents.behaviour import distributions, diversity_js_bits, entropy_bits, mean_action_entropy_bits
from mpgenie.agents.config import EnvConfig
from mpgenie.agents.interface import Policy
from mpgenie.agents.match import Team, TeamStats, halves, outcomes, play
from mpgenie.agents.policy import scripted_policy
from mpgenie.agents.population import League
from mpgenie.agents.ppo import load_checkpoint, load_policy
from mpgenie.errors import UsageError
from mpgenie.world.actions import ACTION_NAMES


def load_league(root: str | Path) -> tuple[dict[str, Any], League]:
    """A population run's league.json (its whole content) and its league; a user error if it is not one."""
    path = Path(root) / "league.json"
    if not path.is_file():
        raise UsageError(f"{root} is not a population run (no league.json; see `mpgenie train agents`)")
    state = json.loads(path.read_text())
    return state, League.from_dict(state["league"])


def member_checkpoint(root: str | Path, member: str) -> Path:
    path = Path(root) / "members" / f"{member}.pt"
    if not path.is_file():
        raise UsageError(f"no checkpoint for member {member} at {path}")
    return path


def _learned(ckpt: dict[str, Any], seed: int) -> Callable[[int], Policy]:
    return lambda i: load_policy(ckpt, sample=True, seed=seed + i)


def _scripted(name: str, players: int, seed: int) -> Callable[[int], Policy]:
    return lambda i: scripted_policy(name, players, seed + i)


def _rate(stats: TeamStats, tick_rate: int) -> float:
    hours = stats.agent_steps / tick_rate / 3600.0
    return stats.beacons / hours if hours else 0.0


def duels(ckpt: dict[str, Any], opponent: str, games: int, max_steps: int, seed: int) -> dict[str, float | int]:
    """``games`` 1v1 compete games (rounded up to even) of a member against a scripted style."""
    env = EnvConfig(players=2, scenario="compete", max_steps=max_steps)
    half = max(1, (games + 1) // 2)
    results = []
    for swap in (False, True):
        me, them = halves(2)
        if swap:
            me, them = them, me
        mine = Team.of(_learned(ckpt, seed), me, half)
        theirs = Team.of(_scripted(opponent, 2, seed + 1000), them, half)
        a, b = play(env, [mine, theirs], seed=seed + (half if swap else 0))
        results.append(outcomes(a, b))
    r = np.concatenate(results)
    return {
        "games": int(r.size),
        "win_rate": float(np.mean(r == 1.0)),
        "draw_rate": float(np.mean(r == 0.5)),
        "loss_rate": float(np.mean(r == 0.0)),
    }


def beacon_rates(ckpt: dict[str, Any], worlds: int, max_steps: int, seed: int) -> dict[str, float]:
    """Beacon participations per agent-hour: 4 agents of the member vs 4 scripted co-operators per world."""
    env = EnvConfig(players=4, scenario="cooperate", max_steps=max_steps)
    tick_rate = env.world_config(0).tick_rate
    everyone = np.arange(4)
    (learned,) = play(env, [Team.of(_learned(ckpt, seed), everyone, worlds)], seed=seed)
    (scripted,) = play(env, [Team.of(_scripted("cooperator", 4, seed), everyone, worlds)], seed=seed)
    lr, sr = _rate(learned, tick_rate), _rate(scripted, tick_rate)
    return {
        "beacons_per_agent_hour": lr,
        "scripted_beacons_per_agent_hour": sr,
        "beacon_ratio": lr / sr if sr else float("inf") if lr else 0.0,
    }


def _behaviour(stats: list[TeamStats]) -> dict[str, float]:
    dists = distributions(np.concatenate([s.actions for s in stats]))
    return {
        "action_entropy_bits": mean_action_entropy_bits(dists),
        "diversity_js_bits": diversity_js_bits(dists),
        "sphere_coverage": float(np.mean(np.concatenate([s.coverage for s in stats]))),
    }


def member_behaviour(stats: TeamStats) -> dict[str, Any]:
    """What one member did over its agents: the entropy of its action distribution and the shares of the actions
    it took at least 1 % of the time (a population can beat the means with members that each do one thing)."""
    dist = distributions(stats.actions.sum(axis=0, keepdims=True))[0]
    shares = {ACTION_NAMES[a]: round(float(share), 3) for a, share in enumerate(dist) if share >= 0.01}
    return {"action_entropy_bits": round(entropy_bits(dist), 3), "action_shares": shares}


def diversity(
    ckpts: list[dict[str, Any]], worlds: int, max_steps: int, seed: int
) -> tuple[dict[str, dict[str, float]], list[dict[str, Any]]]:
    """One agent per member per world (mixed scenario) vs as many agents of the scripted mixture: the measures of
    both, and what each member did."""
    n = len(ckpts)
    env = EnvConfig(players=n, scenario="mixed", max_steps=max_steps)
    teams = [Team.of(_learned(c, seed + 97 * k), [k], worlds) for k, c in enumerate(ckpts)]
    population = play(env, teams, seed=seed)
    scripted = play(env, [Team.of(_scripted("mixture", n, seed), np.arange(n), worlds)], seed=seed)
    measures = {"population": _behaviour(population), "scripted_mixture": _behaviour(scripted)}
    return measures, [member_behaviour(s) for s in population]


def evaluate(root: str | Path, games: int = 32, worlds: int = 8, max_steps: int = 400, seed: int = 0) -> dict[str, Any]:
    """All three measures for the run in ``root`` (its best member by Elo for duels and beacons)."""
    if games < 1 or worlds < 1 or max_steps < 1:
        raise UsageError("--games, --worlds and --max-steps must be >= 1")
    state, league = load_league(root)
    best = league.best()
    ckpts = {m.id: load_checkpoint(member_checkpoint(root, m.id)) for m in league.members}
    div, members = diversity([ckpts[m.id] for m in league.members], worlds, max_steps, seed)
    return {
        "run": str(root),
        "scenario": league.scenario,
        "rounds": league.round,
        "train_cpu_s": state.get("cpu_s"),
        "train_wall_s": state.get("wall_s"),
        "best": best.id,
        "best_rating": league.ratings[best.id],
        "duel_vs_scripted_competitor": duels(ckpts[best.id], "competitor", games, max_steps, seed),
        "coop": beacon_rates(ckpts[best.id], worlds, max_steps, seed),
        "diversity": div,
        "diversity_above_scripted": {k: div["population"][k] > div["scripted_mixture"][k] for k in div["population"]},
        "members": {m.id: {"style": m.style, **b} for m, b in zip(league.members, members, strict=True)},
        "table": league.table(),
    }
