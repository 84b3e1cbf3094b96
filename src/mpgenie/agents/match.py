"""Teams of agents driven by any :class:`~mpgenie.agents.interface.Policy`, and matches between them.

A :class:`Team` drives some agent columns of every world of a :class:`~mpgenie.agents.vector.VectorSnowball`, with
one policy instance per world (scripted policies keep per-world state: held keys, styles). It is how a league
opponent plays against a learner in PPO (:func:`mpgenie.agents.ppo.train`), how two members duel for their
ratings, and how ``eval agents`` measures a policy against the scripted ones. Every policy sees every live agent
of its world (a scripted competitor chases the other team's players) and only its own columns' actions are kept.

:func:`play` runs one episode of each world with the given teams and counts, per team, what the evaluation
reports: the score under the environment's reward weights (per world, for win/draw/loss), hits, beacon
participations, pickups, hazards, action histograms per agent and the cells of the sphere each agent entered.
Torch-free: a learned policy is any callable behind :class:`~mpgenie.agents.interface.LearnedPolicy`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from mpgenie.agents.config import EnvConfig
from mpgenie.agents.interface import Observation, Policy
from mpgenie.agents.observations import cell_index
from mpgenie.agents.vector import VectorSnowball
from mpgenie.world.actions import NUM_ACTIONS
from mpgenie.world.events import AttackHit, BeaconActivated, HazardHit, Pickup


class Team:
    """``policies[i]`` acts for the columns ``agents`` of world ``i``."""

    def __init__(self, policies: Sequence[Policy], agents: Sequence[int] | NDArray[np.int64]) -> None:
        self.policies = list(policies)
        self.agents = np.asarray(agents, dtype=np.int64)

    @staticmethod
    def of(make: Callable[[int], Policy], agents: Sequence[int] | NDArray[np.int64], num_worlds: int) -> Team:
        """A team of ``make(i)`` for world ``i`` (each world its own instance)."""
        return Team([make(i) for i in range(num_worlds)], agents)

    def act(self, envs: VectorSnowball, obs: NDArray, actions: NDArray) -> None:
        """Write this team's actions for the next step into ``actions`` ``(W, N)``; ``obs``: the state vectors
        ``(W, N, D)`` the environment returned last (pixel observations go to the policies as frames)."""
        pixels = envs.config.observation == "pixels"
        for i, policy in enumerate(self.policies):
            ids = np.flatnonzero(envs.alive[i]).astype(np.int64)
            mine = np.isin(ids, self.agents)
            if not mine.any():
                continue
            o = Observation.of(
                envs.worlds[i], ids, frames=obs[i, ids] if pixels else None, state=None if pixels else obs[i, ids]
            )
            actions[i, ids[mine]] = np.asarray(policy.act(o))[mine]


def halves(players: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The columns of two sides of a match: the first ``ceil(N/2)`` agents and the rest."""
    cut = (players + 1) // 2
    return np.arange(cut, dtype=np.int64), np.arange(cut, players, dtype=np.int64)


@dataclass
class TeamStats:
    """What one team did in :func:`play` (counts summed over its agents; ``score`` per world)."""

    agents: int  # agents of the team per world
    score: NDArray[np.float64]  # (W,) the team's summed reward under the environment's weights
    agent_steps: int = 0
    hits: int = 0
    hits_taken: int = 0
    beacons: int = 0  # beacon participations: a beacon lit with k of this team's agents counts k
    pickups: int = 0
    hazards: int = 0
    actions: NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, NUM_ACTIONS), dtype=np.int64))
    coverage: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))  # per agent: share of cells entered


def play(config: EnvConfig, teams: Sequence[Team], seed: int = 0) -> list[TeamStats]:
    """One episode (``config.max_steps`` ticks) of as many worlds as the teams have policies, all started from
    ``seed`` (world ``i``: ``seed + i``). Columns no team drives idle."""
    if config.observation != "state":
        raise ValueError("matches here are played on state observations")
    num_worlds = len(teams[0].policies)
    if any(len(t.policies) != num_worlds for t in teams):
        raise ValueError("every team needs one policy per world")
    envs = VectorSnowball(config, num_worlds=num_worlds, autoreset=False)
    obs = envs.reset(seed=seed)
    n = config.players
    owner = np.full(n, -1, dtype=np.int64)
    for k, t in enumerate(teams):
        owner[t.agents] = k
    cells = envs.cells
    visited = np.zeros((num_worlds, n, 6 * cells * cells), dtype=bool)
    hist = np.zeros((num_worlds, n, NUM_ACTIONS), dtype=np.int64)
    counts = np.zeros((len(teams), 5), dtype=np.int64)  # hits, hits taken, beacons, pickups, hazards
    score = np.zeros((num_worlds, n))
    steps = np.zeros((num_worlds, n), dtype=np.int64)
    wi, ai = np.nonzero(np.ones((num_worlds, n), dtype=bool))

    def mark_cells() -> None:
        pos = np.stack([w.pos[:n] for w in envs.worlds])
        visited[wi, ai, cell_index(pos, cells)[wi, ai]] = True

    mark_cells()
    while envs.alive.any():
        actions = np.zeros((num_worlds, n), dtype=np.int64)
        for t in teams:
            t.act(envs, obs, actions)
        alive = envs.alive.copy()
        np.add.at(hist, (*np.nonzero(alive), actions[alive]), 1)
        steps += alive
        obs, rewards, _, _ = envs.step(actions)
        score += rewards
        for events in envs.last_events:
            for e in events:
                if isinstance(e, AttackHit):
                    _count(counts, owner, e.attacker, 0)
                    _count(counts, owner, e.target, 1)
                elif isinstance(e, BeaconActivated):
                    for p in e.players:
                        _count(counts, owner, p, 2)
                elif isinstance(e, Pickup):
                    _count(counts, owner, e.player, 3)
                elif isinstance(e, HazardHit):
                    _count(counts, owner, e.player, 4)
        mark_cells()
    out = []
    for k, t in enumerate(teams):
        cols = t.agents
        hits, taken, beacons, pickups, hazards = (int(c) for c in counts[k])
        out.append(
            TeamStats(
                agents=cols.size,
                score=score[:, cols].sum(axis=1),
                agent_steps=int(steps[:, cols].sum()),
                hits=hits,
                hits_taken=taken,
                beacons=beacons,
                pickups=pickups,
                hazards=hazards,
                actions=hist[:, cols].reshape(-1, NUM_ACTIONS),
                coverage=visited[:, cols].mean(axis=2).reshape(-1),
            )
        )
    return out


def _count(counts: NDArray[np.int64], owner: NDArray[np.int64], player: int, what: int) -> None:
    if 0 <= player < owner.size and owner[player] >= 0:
        counts[owner[player], what] += 1


def outcomes(a: TeamStats, b: TeamStats) -> NDArray[np.float64]:
    """Per world, side a's result against side b: 1 win (higher score), 0.5 draw, 0 loss."""
    return np.where(a.score > b.score, 1.0, np.where(a.score < b.score, 0.0, 0.5))
