"""Learned population members and scripted styles in one episode: ``mpgenie generate --agents population:DIR``.

:func:`parse_agents` reads the ``--agents`` value: ``scripted`` (the default: styles only) or
``population:DIR[@SHARE]``, a run directory of ``mpgenie train agents`` and the expected share of agents that
are learned (default 0.5). Each episode draws, with its own seed, which agents are learned (each with
probability SHARE) and which member drives each of them (uniformly); the others keep the scripted styles the
scenario template drew. :class:`MixedPolicy` is that episode's one :class:`~mpgenie.agents.interface.Policy`,
and :meth:`MixedPolicy.drivers` says what drove each agent (recorded in ``episode.json``).

Loading members needs PyTorch (extra ``learn``); it is imported only when a population is used, so the
generator keeps working without it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mpgenie.agents.interface import Observation, Policy
from mpgenie.agents.policy import STYLE_NAMES, ScriptedPolicy, Style, draw_styles
from mpgenie.agents.vector import VectorSnowball, WorldStates
from mpgenie.errors import UsageError
from mpgenie.render import Renderer, RenderSettings
from mpgenie.world.simulation import World


@dataclass(frozen=True, slots=True)
class AgentsSpec:
    """Where an episode's agents come from: scripted styles only, a population mixed in at ``share``, or one learned
    policy driving every agent (``policy``, e.g. ``bc:CKPT``, made by the picklable ``factory(seed)`` of the layer
    that knows the models — the CLI —, since this package does not import them)."""

    population: str | None = None  # a run directory of `mpgenie train agents`
    share: float = 0.5  # expected share of learned agents per episode
    policy: str | None = None  # a learned policy for every agent, by the name it is recorded under
    factory: Callable[[int], Policy] | None = None  # that policy, for an episode's seed
    style: str | None = None  # scripted:STYLE: every agent this one scripted style, not the scenario's mixture
    resolution: int = 64  # the views a policy made by ``factory`` reads, in pixels

    @property
    def text(self) -> str:
        if self.policy is not None:
            return self.policy
        if self.style is not None:
            return f"scripted:{self.style}"
        return "scripted" if self.population is None else f"population:{self.population}@{self.share:g}"

    def styles(self, scenario: str, agents: int, seed: int) -> NDArray[np.int8]:
        """The episode's scripted styles: the one style named, else drawn from the scenario template with the
        episode's seed (so re-runs match)."""
        if self.style is not None:
            return np.full(agents, Style[self.style.upper()], dtype=np.int8)
        return draw_styles(scenario, agents, np.random.default_rng([seed, 5]))

    @property
    def needs_frames(self) -> bool:
        """A policy that acts on what its agents see (the views before each tick) rather than on the state."""
        return self.factory is not None


def parse_agents(value: str | None) -> AgentsSpec:
    """``scripted``, ``scripted:STYLE`` (every agent one style: a consistent teacher for behavioural cloning) or
    ``population:DIR[@SHARE]`` (SHARE in 0..1), checked: the run must have a league.json."""
    if value is None or value == "scripted":
        return AgentsSpec()
    if value.startswith("scripted:"):
        name = value[len("scripted:") :]
        if name not in STYLE_NAMES:
            raise UsageError(f"--agents scripted:STYLE: unknown style {name!r} (known: {', '.join(STYLE_NAMES)})")
        return AgentsSpec(style=name)
    if not value.startswith("population:"):
        raise UsageError(
            f"--agents must be 'scripted', 'scripted:STYLE', 'population:DIR[@SHARE]' or 'bc:CKPT', got {value!r}"
        )
    rest = value[len("population:") :]
    share = 0.5
    if "@" in rest:
        rest, raw = rest.rsplit("@", 1)
        try:
            share = float(raw)
        except ValueError:
            raise UsageError(f"--agents: the share after @ must be a number in 0..1, got {raw!r}") from None
        if not 0.0 <= share <= 1.0:
            raise UsageError(f"--agents: the share must be in 0..1, got {share}")
    if not (Path(rest) / "league.json").is_file():
        raise UsageError(f"--agents: {rest} is not a population run (no league.json; see `mpgenie train agents`)")
    return AgentsSpec(str(Path(rest).resolve()), share)


@dataclass(frozen=True, slots=True)
class Member:
    """A population member as the data records it."""

    id: str
    checkpoint: Path
    rating: float
    sha256: str  # of the checkpoint file, so a record names the exact weights


def population_members(root: str | Path) -> list[Member]:
    """The members of a run (league.json), with their checkpoints' hashes."""
    root = Path(root)
    state = json.loads((root / "league.json").read_text())
    members = []
    for m in state["league"]["members"]:
        path = root / "members" / f"{m['id']}.pt"
        if not path.is_file():
            raise UsageError(f"{root}: member {m['id']} has no checkpoint yet ({path})")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        members.append(Member(m["id"], path, float(state["league"]["ratings"][m["id"]]), digest))
    if not members:
        raise UsageError(f"{root} has no members")
    return members


def draw_members(members: list[Member], agents: int, share: float, rng: np.random.Generator) -> NDArray[np.int64]:
    """Per agent the index of the member that drives it, or -1 for a scripted one: learned with probability
    ``share``, the member drawn uniformly (the episode's and the demo's one rule)."""
    learned = rng.random(agents) < share
    pick = rng.integers(len(members), size=agents)
    return np.where(learned, pick, -1)


class MixedPolicy:
    """Per agent, a scripted style or a learned member; learned members read state vectors of the world."""

    def __init__(
        self,
        world: World,
        styles: NDArray[np.int8],
        seed: int,
        explore: float = 0.0,
        agents: AgentsSpec | None = None,
    ) -> None:
        n = styles.shape[0]
        self.scripted = ScriptedPolicy(styles, seed, explore)
        self.learned: list[tuple[Policy, NDArray[np.int64]]] = []
        self.driver: list[dict[str, Any]] = [{"policy": f"scripted:{Style(int(s)).name.lower()}"} for s in styles]
        self.observer: VectorSnowball | None = None
        self.whole: Policy | None = None  # one learned policy for every agent
        if agents is not None and agents.factory is not None:
            self.whole = agents.factory(seed)
            self.driver = [{"policy": agents.policy} for _ in range(n)]
            return
        if agents is None or agents.population is None or n == 0:
            return
        from mpgenie.agents.ppo import PPOConfig, load_checkpoint, load_policy  # noqa: PLC0415 - extra 'learn'

        members = population_members(agents.population)
        assigned = draw_members(members, n, agents.share, np.random.default_rng([seed, 23]))
        config = None
        for k, m in enumerate(members):
            idx = np.flatnonzero(assigned == k).astype(np.int64)
            if idx.size == 0:
                continue
            ckpt = load_checkpoint(m.checkpoint)
            config = PPOConfig.from_dict(ckpt["config"]).env_config().replace(players=n)
            self.learned.append((load_policy(ckpt, sample=True, seed=seed + 31 * k), idx))
            for a in idx.tolist():
                self.driver[a] = {
                    "policy": f"learned:{m.id}",
                    "checkpoint": str(m.checkpoint),
                    "sha256": m.sha256,
                    "rating": m.rating,
                }
        if config is not None:
            self.observer = VectorSnowball.observer(world, config)

    def style_names(self) -> list[str]:
        """Each agent's scripted style, or ``learned``."""
        return [d["policy"].split(":", 1)[1] if d["policy"].startswith("scripted:") else "learned" for d in self.driver]

    def drivers(self) -> list[dict[str, Any]]:
        """What drove each agent: ``policy`` (``scripted:<style>`` or ``learned:<member>``) and, for learned
        agents, ``checkpoint`` (path), ``sha256`` (of that file) and ``rating`` (Elo when recorded)."""
        return [dict(d) for d in self.driver]

    def act(self, obs: Observation) -> NDArray[np.int8]:
        if self.whole is not None:
            return self.whole.act(obs)
        actions = self.scripted.act(obs)  # every agent: the scripted streams advance the same either way
        if self.observer is not None:
            state = self.observer.policy_observation(0).state
            o = Observation.of(obs.world, obs.agents, state=state)
            for policy, idx in self.learned:
                actions[idx] = policy.act(o)[idx]
        return actions


class LearnedBots:
    """Learned members acting for some players of a world another loop steps: ``mpgenie demo``'s bots, whose
    inputs go to the realtime server over the network like any client's.

    Bot ``i`` is learned with probability ``share`` (seeded) and then driven by a member drawn uniformly. Its
    state vector is read from the server's own world (the demo runs the server in the same process): a privileged
    observer, where a remote client would have to rebuild it from its snapshots."""

    def __init__(self, bots: int, agents: AgentsSpec, seed: int = 0) -> None:
        from mpgenie.agents.ppo import PPOConfig, load_checkpoint, load_policy  # noqa: PLC0415 - extra 'learn'

        if agents.population is None:
            raise ValueError("LearnedBots needs a population")
        members = population_members(agents.population)
        self.members = [m.id for m in members]
        self.assigned = draw_members(members, bots, agents.share, np.random.default_rng([seed, 29]))
        ckpts = [load_checkpoint(m.checkpoint) for m in members]
        self.policies = [load_policy(c, sample=True, seed=seed + 31 * k) for k, c in enumerate(ckpts)]
        self.states = WorldStates(PPOConfig.from_dict(ckpts[0]["config"]).env_config())
        self.driven = 0  # actions chosen so far (bot-ticks)

    def act(self, world: World, actions: NDArray[np.int8], players: NDArray[np.int64]) -> None:
        """Overwrite the actions of the learned bots in ``world`` (bot ``i`` is player ``players[i]``, -1: not
        joined yet)."""
        obs = self.states.observer(world, world.num_slots).policy_observation(0)
        row = {int(p): k for k, p in enumerate(obs.agents.tolist())}
        for k, policy in enumerate(self.policies):
            bots = [i for i in np.flatnonzero(self.assigned == k).tolist() if int(players[i]) in row]
            if bots:
                chosen = policy.act(obs)
                actions[bots] = chosen[[row[int(players[i])] for i in bots]]
                self.driven += len(bots)


class ViewBots:
    """One policy that acts on what its agents see (``bc:CKPT``) driving every bot of a world another loop steps:
    ``mpgenie demo``'s bots, whose inputs still go to the realtime server over the network. Each tick renders the
    joined bots' first-person views of the server's own world (the demo runs it in the same process: a privileged
    camera, where a remote client would draw its view from its snapshots) and asks the policy."""

    def __init__(self, policy: Policy, resolution: int) -> None:
        self.policy = policy
        self.settings = RenderSettings(resolution=resolution)
        self._renderer: Renderer | None = None
        self.driven = 0  # actions chosen so far (bot-ticks)

    def act(self, world: World, actions: NDArray[np.int8], players: NDArray[np.int64]) -> None:
        """Set the actions of the joined bots (bot ``i`` is player ``players[i]``, -1: not joined yet)."""
        joined = np.flatnonzero(players >= 0)
        if joined.size == 0:
            return
        if self._renderer is None or self._renderer.world is not world:
            self._renderer = Renderer(world, self.settings)
        ids = players[joined].astype(np.int64)
        frames = self._renderer.render(ids)
        actions[joined] = self.policy.act(Observation.of(world, ids, frames=frames))
        self.driven += int(joined.size)
