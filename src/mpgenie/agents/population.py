"""A league for population-based training: members, past snapshots, scripted anchors, Elo ratings, PBT.

Torch-free bookkeeping (what :mod:`mpgenie.agents.pbt` drives on Ray, and what ``league.json`` holds):

- **Members** train (PPO, one network each) with their own hyperparameters and their own reward weights; the
  weights are what gives each member its style (a member paid more for exploring walks more, one paid for hits
  fights). **Snapshots** are frozen copies of members at earlier rounds, so members keep beating their past
  selves and do not chase each other in circles (AlphaStar's league, in small). **Scripted** opponents
  (``scripted:<style>``) are the hand-written styles of :mod:`mpgenie.agents.policy`.
- **Ratings**: Elo (K = :data:`ELO_K`) from every game; the scripted opponents are fixed anchors at
  :data:`ANCHOR_RATING`, so ratings keep one scale across rounds and runs (a member at 1200 scores about 76 %
  against an anchor at 1000). Ratings are measured under the scenario's own reward weights, not a member's
  perturbed ones: the rating says who plays the shared game best.
- **Matchmaking**: each round a member trains against "self" (pure self-play), another member, a snapshot or a
  scripted opponent, sampled with :data:`OPPONENT_MIX` (or the scenario's :data:`OPPONENT_MIX_FOR`; categories
  that are empty give their share to the rest);
  :meth:`League.pairings` lists the rating games (each member against another member, a snapshot and the anchor).
- **Styles**: a member started from a scripted style (``train agents --init``) keeps it: it is paid as that style's
  scenario pays (:data:`STYLE_SCENARIO`; a collector for pickups, an explorer for new cells) and it exploits only
  members of its own style, because a league where the strongest member is copied over all others ends with one
  style (a mixed-style league collapsed to JS diversity 0.055 in 15 rounds, BENCHMARKS.md).
- **PBT step** (Jaderberg et al. 2017, truncation selection), within each style group: members in the bottom
  ``fraction`` by rating that have trained ``ready_rounds`` since their last exploit copy a random member of the top
  ``fraction``
  (weights, by the caller, and hyperparameters and reward weights here) when it is at least ``min_gap`` Elo
  ahead; then **explore** perturbs the copy's hyperparameters and reward weights (x0.8 or x1.25 each, and a
  small shaping weight switched on or off for the rewards the scenario does not pay), so members stay distinct.
- **Diversity term** (optional, ``weight``): each round every member is also paid per action for using it more than
  the other members did in the last round's rating games (:func:`diversity_bonus`).

Everything random takes a ``numpy.random.Generator``: the same seed gives the same league.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mpgenie.agents.config import REWARD_SCENARIOS
from mpgenie.errors import UsageError

ELO_K = 24.0
ANCHOR_RATING = 1000.0
INITIAL_RATING = 1000.0

#: Opponent categories for a training round and their probabilities.
OPPONENT_MIX: dict[str, float] = {"self": 0.4, "member": 0.2, "snapshot": 0.2, "scripted": 0.2}
#: Scenarios whose benchmark is a duel with the scripted style train against it more often. Self-play alone
#: settles into mutual avoidance (a draw is safe); the scripted competitor always comes to fight.
OPPONENT_MIX_FOR: dict[str, dict[str, float]] = {
    "compete": {"self": 0.3, "member": 0.15, "snapshot": 0.15, "scripted": 0.4},
}

#: Hyperparameters PBT tunes: (default, lowest, highest). Perturbed in log space.
HYPERPARAMETERS: dict[str, tuple[float, float, float]] = {
    "learning_rate": (2.5e-4, 1e-5, 3e-3),
    "ent_coef": (0.01, 1e-4, 0.1),
    "clip_coef": (0.2, 0.05, 0.4),
    "gamma": (0.99, 0.9, 0.999),
}

#: The scripted style that stands for each reward scenario (the anchor, the 1v1 or co-op benchmark opponent).
SCRIPTED_FOR: dict[str, str] = {
    "collect": "collector",
    "cooperate": "cooperator",
    "compete": "competitor",
    "explore": "explorer",
    "mixed": "mixture",
}

#: Shaping members start with on top of the scenario's weights (perturbed like them): a co-operator is paid a
#: little for pressing ``interact`` at a ready beacon, since a beacon only lights (and pays) when a second agent
#: presses there within the window, which random play almost never finds.
#: A competitor is paid for the match result at the episode's end (a win 3, a draw -2: a draw is no safe haven)
#: and for getting beside or behind its rival while facing it (``flank``, potential-based shaping); with the
#: scenario's symmetric hit / hit-taken rewards alone, PPO learned to evade: 88 % draws against the scripted
#: competitor after 61 CPU minutes (BENCHMARKS.md).
SHAPING: dict[str, dict[str, float]] = {
    "cooperate": {"beacon_press": 0.02},
    "compete": {"flank": 0.5, "win": 3.0, "draw": -2.0},
}

#: The reward scenario that pays a scripted style for what it does (styles not here: the league's scenario).
STYLE_SCENARIO: dict[str, str] = {
    "collector": "collect",
    "cooperator": "cooperate",
    "competitor": "compete",
    "explorer": "explore",
}


def paid_scenario(style: str, league_scenario: str) -> str:
    """The reward scenario a member of ``style`` is paid by in a league of ``league_scenario``."""
    return STYLE_SCENARIO.get(style, league_scenario)


_SIGNS = {
    "pickup": 1,
    "beacon": 1,
    "hit": 1,
    "hit_taken": -1,
    "hazard": -1,
    "explore": 1,
    "beacon_press": 1,
    "flank": 1,
    "win": 1,
    "draw": -1,
}
_SHAPING = 0.05  # size of a shaping weight explore switches on, relative to the scenario's largest weight
PERTURB = (0.8, 1.25)


def diversity_bonus(counts: dict[str, list[int]], member: str, weight: float) -> list[float]:
    """PBT's diversity term: a reward per action that pays ``member`` for using it more than the other members.

    With ``p`` the member's action distribution (add-one smoothed counts, from the last round's rating games) and
    ``m`` the mean of ``p`` and the other members' average ``q``, the bonus of action ``a`` is
    ``weight * log(p(a) / m(a))``, clipped to [-1, log 2]: its expectation under ``p`` is KL(p || m), and it is
    the gradient of the Jensen-Shannon divergence between ``p`` and ``q`` with respect to ``p`` (up to a factor
    1/2), the measure ``eval agents`` and ``dataset stats`` report. Without it, members paid for similar things
    drift to the same actions. Empty without counts for the member and at least one other."""
    others = [np.asarray(c, dtype=np.float64) for k, c in counts.items() if k != member]
    if weight == 0.0 or member not in counts or not others:
        return []

    def dist(c: np.ndarray) -> np.ndarray:
        return (c + 1.0) / (c + 1.0).sum()

    p = dist(np.asarray(counts[member], dtype=np.float64))
    q = np.mean([dist(c) for c in others], axis=0)
    bonus = np.clip(np.log(p / (0.5 * (p + q))), -1.0, math.log(2.0))
    return [float(weight * b) for b in bonus]


def expected_score(ra: float, rb: float) -> float:
    """Elo's expected score of a player rated ``ra`` against one rated ``rb``."""
    return 1.0 / (1.0 + 10.0 ** ((rb - ra) / 400.0))


def elo_update(ra: float, rb: float, score_a: float, k: float = ELO_K) -> tuple[float, float]:
    """New ratings after one game with ``score_a`` for a (1 win, 0.5 draw, 0 loss): zero-sum, ``k`` per game."""
    if not 0.0 <= score_a <= 1.0:
        raise ValueError(f"score must be in [0, 1], got {score_a}")
    delta = k * (score_a - expected_score(ra, rb))
    return ra + delta, rb - delta


@dataclass
class Member:
    """One trained member: its hyperparameters, its reward weights (its style), its history."""

    id: str
    hyper: dict[str, float]
    rewards: dict[str, float]
    generation: int = 0  # exploits it went through
    parent: str | None = None  # the member it last copied
    last_exploit: int = 0  # the round of that copy (0: never)
    style: str = ""  # the scripted style it started as a clone of and keeps ("": none)
    iterations: int = 0  # PPO iterations trained, in all
    agent_steps: int = 0


@dataclass
class Snapshot:
    """A frozen member at a round (its checkpoint is ``snapshots/<id>.pt``)."""

    id: str  # "<member>@r<round>"
    member: str
    round: int


def perturb_hyper(hyper: dict[str, float], rng: np.random.Generator) -> dict[str, float]:
    """Each hyperparameter x0.8 or x1.25, kept in its range (``gamma`` perturbed as ``1 - gamma``)."""
    out = {}
    for name, value in hyper.items():
        _, lo, hi = HYPERPARAMETERS[name]
        f = float(rng.choice(PERTURB))
        v = 1.0 - (1.0 - value) * f if name == "gamma" else value * f
        out[name] = float(min(max(v, lo), hi))
    return out


def member_rewards(scenario: str) -> dict[str, float]:
    """The reward weights a member starts from: the scenario's, plus its :data:`SHAPING`."""
    return {**dataclasses.asdict(REWARD_SCENARIOS[scenario]), **SHAPING.get(scenario, {})}


def perturb_rewards(rewards: dict[str, float], scenario: str, rng: np.random.Generator) -> dict[str, float]:
    """Reward weights the scenario pays (and its shaping): x0.8 or x1.25 each. Those it does not pay: switched
    on at :data:`_SHAPING` of the scenario's largest weight (with the sign their event means) with probability
    1/3, else off; so members drift to different styles while the scenario's own objective stays dominant."""
    base = member_rewards(scenario)
    scale = max(abs(v) for v in base.values()) or 1.0
    out = {}
    for name, value in rewards.items():
        if base[name] != 0.0:
            out[name] = float(value * rng.choice(PERTURB))
        else:
            out[name] = float(_SIGNS[name] * _SHAPING * scale) if rng.random() < 1.0 / 3.0 else 0.0
    return out


@dataclass
class League:
    scenario: str
    members: list[Member]
    snapshots: list[Snapshot] = field(default_factory=list)
    ratings: dict[str, float] = field(default_factory=dict)
    games: dict[str, int] = field(default_factory=dict)
    round: int = 0  # rounds completed
    max_snapshots: int = 8  # the oldest are dropped past this

    # --- making one -------------------------------------------------------------------------------------------

    @staticmethod
    def new(scenario: str, population: int, rng: np.random.Generator, styles: list[str] | None = None) -> League:
        """``population`` members: the first of each style with the defaults and its scenario's weights, the others
        explored from there once (so the population starts with distinct styles). ``styles[i]``: the scripted
        style member ``i`` starts from and keeps ("" or none: no style)."""
        if scenario not in REWARD_SCENARIOS:
            raise UsageError(f"unknown reward scenario {scenario!r} (known: {', '.join(REWARD_SCENARIOS)})")
        if not 1 <= population <= 64:
            raise UsageError(f"population must be 1..64, got {population}")
        hyper = {name: d for name, (d, _, _) in HYPERPARAMETERS.items()}
        members: list[Member] = []
        for i in range(population):
            style = styles[i] if styles and i < len(styles) else ""
            pays = paid_scenario(style, scenario)
            rewards = member_rewards(pays)
            if all(m.style != style for m in members):  # the first of its style: the defaults
                members.append(Member(f"m{i}", dict(hyper), rewards, style=style))
            else:
                members.append(
                    Member(f"m{i}", perturb_hyper(hyper, rng), perturb_rewards(rewards, pays, rng), style=style)
                )
        league = League(scenario, members)
        for m in members:
            league.ratings[m.id] = INITIAL_RATING
        league.ratings[league.anchor] = ANCHOR_RATING
        return league

    @property
    def anchor(self) -> str:
        return f"scripted:{SCRIPTED_FOR[self.scenario]}"

    def pays(self, member: Member) -> str:
        """The reward scenario ``member`` is paid by: its style's, else the league's."""
        return paid_scenario(member.style, self.scenario)

    def member(self, member_id: str) -> Member:
        for m in self.members:
            if m.id == member_id:
                return m
        raise KeyError(member_id)

    def ranked(self) -> list[Member]:
        """Members, best rating first (ties: by id)."""
        return sorted(self.members, key=lambda m: (-self.ratings[m.id], m.id))

    def best(self) -> Member:
        return self.ranked()[0]

    # --- matchmaking ------------------------------------------------------------------------------------------

    def sample_opponent(self, member_id: str, rng: np.random.Generator) -> str:
        """Who ``member_id`` trains against this round: "self", another member's id, a snapshot's id or
        ``scripted:<style>`` (:data:`OPPONENT_MIX`; an empty category's share goes to the others)."""
        pools = {
            "self": ["self"],
            "member": [m.id for m in self.members if m.id != member_id],
            "snapshot": [s.id for s in self.snapshots],
            "scripted": [self.anchor],
        }
        mix = OPPONENT_MIX_FOR.get(self.scenario, OPPONENT_MIX)
        kinds = [k for k in mix if pools[k]]
        p = np.array([mix[k] for k in kinds])
        kind = kinds[int(rng.choice(len(kinds), p=p / p.sum()))]
        pool = pools[kind]
        return pool[int(rng.integers(len(pool)))]

    def pairings(self, rng: np.random.Generator) -> list[tuple[str, str]]:
        """The rating games of a round: every member against a random other member, a random snapshot (if any)
        and the scripted anchor."""
        games = []
        for m in self.members:
            others = [o.id for o in self.members if o.id != m.id]
            if others:
                games.append((m.id, others[int(rng.integers(len(others)))]))
            if self.snapshots:
                games.append((m.id, self.snapshots[int(rng.integers(len(self.snapshots)))].id))
            games.append((m.id, self.anchor))
        return games

    def record(self, a: str, b: str, score_a: float, k: float = ELO_K) -> None:
        """One game's result for ``a`` against ``b``; the scripted anchors' ratings do not move."""
        ra, rb = self.ratings[a], self.ratings[b]
        na, nb = elo_update(ra, rb, score_a, k)
        if not a.startswith("scripted:"):
            self.ratings[a] = na
        if not b.startswith("scripted:"):
            self.ratings[b] = nb
        for p in (a, b):
            self.games[p] = self.games.get(p, 0) + 1

    def add_snapshot(self, member_id: str) -> tuple[Snapshot, list[Snapshot]]:
        """Freeze ``member_id`` at this round (its rating carries over); returns it and the snapshots dropped."""
        snap = Snapshot(f"{member_id}@r{self.round}", member_id, self.round)
        self.snapshots = [s for s in self.snapshots if s.id != snap.id] + [snap]
        self.ratings[snap.id] = self.ratings[member_id]
        dropped = self.snapshots[: max(0, len(self.snapshots) - self.max_snapshots)]
        self.snapshots = self.snapshots[len(dropped) :]
        for s in dropped:
            self.ratings.pop(s.id, None)
            self.games.pop(s.id, None)
        return snap, dropped

    # --- population-based training ------------------------------------------------------------------------------

    def pbt_step(
        self,
        rng: np.random.Generator,
        fraction: float = 0.25,
        min_gap: float = 25.0,
        ready_rounds: int = 2,
    ) -> list[tuple[str, str]]:
        """Exploit and explore within each style group; returns ``(copier, source)`` pairs: the caller copies each
        source's weights to its copier. A copier takes the source's hyperparameters and reward weights, perturbed
        (explore), and the source's rating (it now plays like the source)."""
        pairs = []
        for style in dict.fromkeys(m.style for m in self.members):
            ranked = [m for m in self.ranked() if m.style == style]
            if len(ranked) < 2:
                continue
            cut = max(1, math.floor(len(ranked) * fraction))
            top, bottom = ranked[:cut], ranked[-cut:]
            for m in bottom:
                if m in top or self.round - m.last_exploit < ready_rounds:
                    continue
                src = top[int(rng.integers(len(top)))]
                if self.ratings[src.id] - self.ratings[m.id] < min_gap:
                    continue
                m.hyper = perturb_hyper(src.hyper, rng)
                m.rewards = perturb_rewards(src.rewards, self.pays(src), rng)
                m.generation += 1
                m.parent = src.id
                m.last_exploit = self.round
                self.ratings[m.id] = self.ratings[src.id]
                pairs.append((m.id, src.id))
        return pairs

    # --- league.json ------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> League:
        return League(
            scenario=d["scenario"],
            members=[Member(**m) for m in d["members"]],
            snapshots=[Snapshot(**s) for s in d["snapshots"]],
            ratings={k: float(v) for k, v in d["ratings"].items()},
            games={k: int(v) for k, v in d["games"].items()},
            round=int(d["round"]),
            max_snapshots=int(d["max_snapshots"]),
        )

    def table(self) -> list[dict[str, Any]]:
        """The league table: members and snapshots by rating, with games played."""
        rows = [
            {"id": m.id, "kind": "member", "rating": self.ratings[m.id], "games": self.games.get(m.id, 0)}
            for m in self.members
        ]
        rows += [
            {"id": s.id, "kind": "snapshot", "rating": self.ratings[s.id], "games": self.games.get(s.id, 0)}
            for s in self.snapshots
        ]
        rows.append(
            {"id": self.anchor, "kind": "scripted", "rating": ANCHOR_RATING, "games": self.games.get(self.anchor, 0)}
        )
        return sorted(rows, key=lambda r: (-r["rating"], r["id"]))
