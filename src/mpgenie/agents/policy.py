"""Scripted policies with distinct styles, mixed per episode by scenario templates, so that recorded episodes
are diverse. They implement the one :class:`~mpgenie.agents.interface.Policy` interface (re-exported here with
:class:`~mpgenie.agents.interface.Observation`), as do the realtime bots, learned and remote policies.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

from mpgenie.agents.interface import Observation, Policy
from mpgenie.agents.scripted import HeldActions
from mpgenie.errors import UsageError
from mpgenie.world.actions import NUM_ACTIONS, Action
from mpgenie.world.geometry import right_of

__all__ = [
    "SCENARIOS", "STYLE_NAMES", "Observation", "Policy", "ScriptedPolicy", "Style", "draw_styles", "scripted_policy",
]  # fmt: skip


class Style(IntEnum):
    EXPLORER = 0  # roams, forward-biased, turns now and then
    COLLECTOR = 1  # heads for the nearest active collectible
    FOLLOWER = 2  # keeps a few metres behind the nearest other agent
    COOPERATOR = 3  # goes to beacons and presses interact there, where partners gather
    COMPETITOR = 4  # chases the nearest agent and attacks in range
    WANDERER = 5  # idles, drifts, turns slowly


#: The styles by the names the command line takes (``scripted:cooperator``, ``--init competitor``, ...).
STYLE_NAMES: list[str] = [s.name.lower() for s in Style]


#: Scenario templates: style weights (in Style order). Each episode draws its mixture around these (seeded).
SCENARIOS: dict[str, tuple[float, ...]] = {
    "mixed": (0.25, 0.15, 0.15, 0.2, 0.1, 0.15),
    "coop_beacon_rush": (0.05, 0.15, 0.1, 0.6, 0.0, 0.1),
    "chase": (0.2, 0.0, 0.3, 0.0, 0.45, 0.05),
    "exploration": (0.55, 0.2, 0.05, 0.05, 0.0, 0.15),
}
_STEER_DEG = 12.0


def draw_styles(scenario: str, agents: int, rng: np.random.Generator) -> NDArray[np.int8]:
    """Each agent's style for one episode: the scenario's weights, perturbed (Dirichlet) for variety."""
    if scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
    weights = np.asarray(SCENARIOS[scenario]) + 1e-3
    mixture = rng.dirichlet(weights * 20.0)
    return rng.choice(len(Style), size=agents, p=mixture).astype(np.int8)


class ScriptedPolicy:
    """Scripted agents of mixed styles. Deterministic given the seed and the world."""

    def __init__(self, styles: NDArray[np.int8], seed: int = 0, explore: float = 0.0) -> None:
        self.styles = np.asarray(styles, dtype=np.int8)
        self.held = HeldActions(seed)
        self.rng = np.random.default_rng([seed, 11])
        # Exploration: a share of agent-ticks take a uniformly random action (their own stream, so explore=0
        # episodes are the same as before it existed).
        self.explore = explore
        self.explore_rng = np.random.default_rng([seed, 13])

    def act(self, obs: Observation) -> NDArray[np.int8]:
        n = obs.agents.shape[0]
        w = obs.world
        actions = self.held.next(n)
        style = self.styles[:n]
        p, h = obs.position, obs.heading
        radius = w.cfg.radius
        # Targets per style (unit vectors) and what to press when close.
        target = np.full((n, 3), np.nan)
        press = np.full(n, -1, dtype=np.int16)
        reach = np.zeros(n)

        coll = np.flatnonzero(style == Style.COLLECTOR)
        objects = w.layout.collectible_pos[w.collectible_active]
        if coll.size and objects.shape[0]:
            target[coll] = objects[np.argmax(p[coll] @ objects.T, axis=1)]
            reach[coll] = 0.0  # walk through it
        coop = np.flatnonzero(style == Style.COOPERATOR)
        if coop.size and w.layout.beacon_pos.shape[0]:
            target[coop] = w.layout.beacon_pos[np.argmax(p[coop] @ w.layout.beacon_pos.T, axis=1)]
            press[coop] = Action.INTERACT
            reach[coop] = w.cfg.beacon_radius * 0.6
        social = np.flatnonzero((style == Style.FOLLOWER) | (style == Style.COMPETITOR))
        if social.size and n > 1:
            d = p[social] @ p.T
            d[np.arange(social.size), social] = -2.0  # not yourself
            target[social] = p[np.argmax(d, axis=1)]
            comp = style[social] == Style.COMPETITOR
            press[social[comp]] = Action.ATTACK
            reach[social[comp]] = w.cfg.attack_range * 0.8
            reach[social[~comp]] = 3.0  # followers keep their distance
        steer = np.flatnonzero(~np.isnan(target[:, 0]))
        if steer.size:
            actions[steer] = self._steer(steer, p[steer], h[steer], target[steer], reach[steer], press[steer], radius)
        wander = np.flatnonzero(style == Style.WANDERER)
        if wander.size:
            calm = self.rng.random(wander.size) < 0.6
            actions[wander[calm]] = Action.NOOP
        if self.explore > 0.0:
            flip = self.explore_rng.random(n) < self.explore
            actions[flip] = self.explore_rng.integers(0, NUM_ACTIONS, int(flip.sum()))
        return actions

    def _steer(
        self,
        idx: NDArray[np.int64],
        p: NDArray,
        h: NDArray,
        target: NDArray,
        reach: NDArray,
        press: NDArray,
        radius: float,
    ) -> NDArray[np.int8]:
        to = target - p * np.sum(target * p, axis=1, keepdims=True)
        distance = np.arccos(np.clip(np.sum(target * p, axis=1), -1.0, 1.0)) * radius
        off = np.degrees(np.arctan2(np.sum(to * right_of(p, h), axis=1), np.sum(to * h, axis=1)))
        choice = np.where(
            off > _STEER_DEG, Action.TURN_RIGHT, np.where(off < -_STEER_DEG, Action.TURN_LEFT, Action.FORWARD)
        ).astype(np.int8)
        close = distance <= reach
        choice = np.where(close & (press >= 0), press, np.where(close, Action.NOOP, choice)).astype(np.int8)
        wobble = self.rng.random(p.shape[0]) < 0.15  # not robots: sometimes they do something else
        return np.where(wobble, self.held.current[idx], choice).astype(np.int8)


def scripted_policy(name: str, agents: int, seed: int = 0) -> ScriptedPolicy:
    """A scripted opponent by name: every agent of one style (``competitor``, ``cooperator``, ...), or
    ``mixture``: styles drawn from the ``mixed`` template (the scripted mixture ``mpgenie generate`` records)."""
    if name == "mixture":
        return ScriptedPolicy(draw_styles("mixed", agents, np.random.default_rng([seed, 5])), seed)
    try:
        style = Style[name.upper()]
    except KeyError:
        known = ", ".join([*STYLE_NAMES, "mixture"])
        raise UsageError(f"unknown scripted style {name!r} (known: {known})") from None
    return ScriptedPolicy(np.full(agents, style, dtype=np.int8), seed)
