"""Vectorised scripted bots: one object drives every bot of a world, no per-bot Python in the tick loop.

Each bot has a style that sets how it picks its next action and how long it keeps it (actions are held for a
few ticks, as people hold keys). Seekers steer toward the nearest beacon and press ``interact`` when close,
which is what makes co-operative beacons light up in headless runs. Deterministic given the seed.

:class:`ScriptedBots` implements the one :class:`~mpgenie.agents.interface.Policy` interface; called without an
observation it acts for every slot of its world (what the headless runs and the benchmarks step with).
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

from mpgenie.agents.interface import Observation
from mpgenie.world.actions import NUM_ACTIONS, Action
from mpgenie.world.geometry import right_of
from mpgenie.world.simulation import World


class BotStyle(IntEnum):
    EXPLORER = 0
    FIGHTER = 1
    SEEKER = 2
    IDLER = 3


# Per style: probability of each action when a new one is chosen (rows sum to 1).
_PREFERENCES = np.array(
    [
        # noop fwd  back  left  right tl    tr    jump  attack interact
        [0.05, 0.55, 0.03, 0.04, 0.04, 0.12, 0.12, 0.05, 0.00, 0.00],  # explorer
        [0.05, 0.40, 0.05, 0.05, 0.05, 0.10, 0.10, 0.05, 0.15, 0.00],  # fighter
        [0.05, 0.50, 0.00, 0.05, 0.05, 0.10, 0.10, 0.05, 0.00, 0.10],  # seeker (when not steering)
        [0.50, 0.15, 0.05, 0.05, 0.05, 0.08, 0.08, 0.04, 0.00, 0.00],  # idler
    ]
)
_STYLE_MIX = np.array([0.45, 0.15, 0.30, 0.10])
_HOLD_TICKS = (4, 30)
_STEER_DEG = 12.0
RETARGET_EVERY = 20


class HeldActions:
    """Per-bot styles and held actions, for any number of bots (grows on demand). No world needed."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng([seed, 7])
        self.style = np.zeros(0, dtype=np.int8)
        self.current = np.zeros(0, dtype=np.int8)
        self.hold = np.zeros(0, dtype=np.int64)
        self.target = np.zeros(0, dtype=np.int64)

    def _grow(self, n: int) -> None:
        old = self.style.shape[0]
        if n <= old:
            return
        extra = n - old
        self.style = np.concatenate(
            [self.style, self.rng.choice(len(BotStyle), size=extra, p=_STYLE_MIX).astype(np.int8)]
        )
        self.current = np.concatenate([self.current, np.zeros(extra, dtype=np.int8)])
        self.hold = np.concatenate([self.hold, np.zeros(extra, dtype=np.int64)])
        self.target = np.concatenate([self.target, np.full(extra, -1, dtype=np.int64)])

    def next(self, n: int) -> NDArray[np.int8]:
        """The next action of bots ``0..n-1`` (each keeps its action for a few ticks, as people hold keys)."""
        self._grow(n)
        self.hold[:n] -= 1
        due = np.flatnonzero(self.hold[:n] <= 0)
        if due.size:
            cdf = np.cumsum(_PREFERENCES[self.style[due]], axis=1)
            u = self.rng.random(due.size)[:, None]
            self.current[due] = np.minimum((u > cdf).sum(axis=1), NUM_ACTIONS - 1)
            self.hold[due] = self.rng.integers(*_HOLD_TICKS, size=due.size)
        actions = self.current[:n].copy()
        # Single-tick actions: attacks and jumps are presses, not holds.
        presses = (actions == Action.ATTACK) | (actions == Action.JUMP)
        self.current[:n][presses] = Action.FORWARD
        return actions

    def steer_seekers(
        self,
        actions: NDArray[np.int8],
        bots: NDArray[np.int64],
        pos: NDArray[np.float64],
        fwd: NDArray[np.float64],
        beacons: NDArray[np.float64],
        radius: float,
        beacon_radius: float,
        tick: int,
    ) -> None:
        """Seekers among ``bots`` (with unit ``pos``/``fwd`` rows) walk to their beacon and interact near it."""
        seeker = self.style[bots] == BotStyle.SEEKER
        seekers, p, h = bots[seeker], pos[seeker], fwd[seeker]
        if seekers.size == 0 or beacons.shape[0] == 0:
            return
        # Re-pick the nearest beacon for a 1/RETARGET_EVERY share of seekers per tick (round robin): the choice
        # barely changes tick to tick, and an all-seekers x all-beacons product each tick dominates at 100k bots.
        stale = (seekers % RETARGET_EVERY == tick % RETARGET_EVERY) | (self.target[seekers] < 0)
        if np.any(stale):
            self.target[seekers[stale]] = np.argmax(p[stale] @ beacons.T, axis=1)
        target = beacons[self.target[seekers]]
        to = target - p * np.sum(target * p, axis=1, keepdims=True)
        distance = np.arccos(np.clip(np.sum(target * p, axis=1), -1.0, 1.0)) * radius
        off = np.degrees(np.arctan2(np.sum(to * right_of(p, h), axis=1), np.sum(to * h, axis=1)))
        close = distance < beacon_radius * 0.6
        choice = np.where(
            off > _STEER_DEG, Action.TURN_RIGHT, np.where(off < -_STEER_DEG, Action.TURN_LEFT, Action.FORWARD)
        )
        choice = np.where(close, Action.INTERACT, choice)
        # Seekers wander a little too, so they do not all march in lock-step.
        steer = self.rng.random(seekers.size) < 0.8
        actions[seekers[steer]] = choice[steer]


class ScriptedBots:
    """Actions for every slot of a world, from a seeded mixture of bot styles (a :class:`Policy`)."""

    def __init__(self, world: World, seed: int = 0) -> None:
        self.world = world
        self.brain = HeldActions(seed)

    @property
    def style(self) -> NDArray[np.int8]:
        return self.brain.style

    def act(self, obs: Observation | None = None) -> NDArray[np.int8]:
        """One action per slot for the world's next tick; given ``obs``, one per agent of ``obs.agents``.

        The bots' random streams advance once per tick for every slot either way, so what they do does not
        depend on which agents were asked."""
        if obs is not None:
            return self._act_slots()[obs.agents]
        return self._act_slots()

    def _act_slots(self) -> NDArray[np.int8]:
        w = self.world
        n = w.num_slots
        actions = self.brain.next(n)
        bots = np.flatnonzero(w.active[:n])
        w_cfg = w.cfg
        self.brain.steer_seekers(
            actions, bots, w.pos[bots], w.fwd[bots], w.layout.beacon_pos, w_cfg.radius, w_cfg.beacon_radius, w.tick
        )
        return actions
