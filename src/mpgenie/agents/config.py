"""What one multi-agent environment is: players, observations, rewards per scenario, episode rules.

Shared by the PettingZoo environment (:mod:`mpgenie.agents.env`) and the vectorised training path
(:mod:`mpgenie.agents.vector`), so that both run the same rules from one frozen, validated config.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from mpgenie.errors import UsageError
from mpgenie.world.actions import NUM_ACTIONS
from mpgenie.world.config import MAX_SEED, WorldConfig

ObservationKind = Literal["state", "pixels"]
OnHazard = Literal["respawn", "terminate"]


@dataclass(frozen=True, slots=True)
class RewardWeights:
    """Reward per event, for the agent(s) it involves. All are summed each step."""

    pickup: float = 0.0  # collect: the collector, per collectible
    beacon: float = 0.0  # co-operate: every participant of a lit beacon (shared reward)
    hit: float = 0.0  # compete: the attacker, per hit landed
    hit_taken: float = 0.0  # compete: the target, per hit taken (negative: a penalty)
    hazard: float = 0.0  # the player who stepped into a hazard (negative: a penalty)
    explore: float = 0.0  # explore: per cell of the sphere the agent enters for the first time this episode
    beacon_press: float = 0.0  # shaping: per tick of ``interact`` within the radius of a beacon ready to light
    flank: float = 0.0  # shaping (potential-based): change of the agent's position advantage over its nearest rival
    win: float = 0.0  # at the episode's end: the agent's hit balance beat every rival's (minus this: below one's)
    draw: float = 0.0  # at the episode's end: the agent's hit balance tied the best rival's (usually <= 0)


#: Reward scenarios: what each kind of agent is paid for.
REWARD_SCENARIOS: dict[str, RewardWeights] = {
    "collect": RewardWeights(pickup=1.0, hazard=-1.0),
    "cooperate": RewardWeights(beacon=1.0, hazard=-1.0),
    "compete": RewardWeights(hit=1.0, hit_taken=-1.0, hazard=-1.0),
    "explore": RewardWeights(explore=0.1, hazard=-1.0),
    "mixed": RewardWeights(pickup=1.0, beacon=3.0, hit=0.5, hit_taken=-0.5, hazard=-1.0, explore=0.02),
}


@dataclass(frozen=True, slots=True)
class EnvConfig:
    """One environment: ``players`` agents on a planet (``world`` overrides, default sized for them)."""

    players: int = 8
    observation: ObservationKind = "state"
    scenario: str = "mixed"
    rewards: RewardWeights | None = None  # None: the scenario's weights
    max_steps: int = 500  # every agent is truncated at this tick
    on_hazard: OnHazard = "respawn"  # respawn: the world puts the agent back; terminate: it leaves the episode
    k_players: int = 4  # nearest other players in the state vector
    k_collectibles: int = 4  # nearest active collectibles
    k_beacons: int = 2  # nearest beacons
    k_hazards: int = 2  # nearest hazards
    obs_range: float | None = None  # metres; things further away are absent (None: the world's render distance)
    explore_cell_m: float = 4.0  # edge of an exploration cell (cube-map cells on the sphere)
    resolution: int = 64  # pixel observations: square views of this many pixels
    # Reward per step for each action taken (NUM_ACTIONS values; (): none): PBT's diversity term, which pays a
    # member for the actions it uses more than the other members do (pbt.diversity_bonus).
    action_bonus: tuple[float, ...] = ()
    world: dict[str, Any] = field(default_factory=dict)  # WorldConfig overrides (seed comes from reset)

    def __post_init__(self) -> None:
        if not 1 <= self.players <= 4096:
            raise UsageError(f"players must be 1..4096, got {self.players}")
        if self.observation not in ("state", "pixels"):
            raise UsageError(f"observation must be 'state' or 'pixels', got {self.observation!r}")
        if self.scenario not in REWARD_SCENARIOS:
            raise UsageError(f"unknown reward scenario {self.scenario!r} (known: {', '.join(REWARD_SCENARIOS)})")
        if self.on_hazard not in ("respawn", "terminate"):
            raise UsageError(f"on_hazard must be 'respawn' or 'terminate', got {self.on_hazard!r}")
        if self.max_steps < 1:
            raise UsageError(f"max_steps must be >= 1, got {self.max_steps}")
        for name in ("k_players", "k_collectibles", "k_beacons", "k_hazards"):
            if not 0 <= getattr(self, name) <= 64:
                raise UsageError(f"{name} must be 0..64, got {getattr(self, name)}")
        if self.obs_range is not None and self.obs_range <= 0:
            raise UsageError(f"obs_range must be > 0, got {self.obs_range}")
        if self.explore_cell_m <= 0:
            raise UsageError(f"explore_cell_m must be > 0, got {self.explore_cell_m}")
        if self.action_bonus and (
            len(self.action_bonus) != NUM_ACTIONS or not all(math.isfinite(b) for b in self.action_bonus)
        ):
            raise UsageError(f"action_bonus must be {NUM_ACTIONS} finite numbers, got {self.action_bonus!r}")
        if "seed" in self.world:
            raise UsageError("the world's seed comes from reset(seed=...), not from the world overrides")
        self.world_config(0)  # validates the overrides (ConfigError names the field)

    @property
    def weights(self) -> RewardWeights:
        return self.rewards if self.rewards is not None else REWARD_SCENARIOS[self.scenario]

    def world_config(self, seed: int) -> WorldConfig:
        """The world of an episode: sized for the players (constant density), with the overrides, this seed."""
        return WorldConfig.scaled_for_density(self.players, seed=int(seed) % (MAX_SEED + 1), **self.world)

    def replace(self, **changes: Any) -> EnvConfig:
        return dataclasses.replace(self, **changes)
