"""``from mpgenie.agents import snowball_v0; env = snowball_v0.parallel_env()``: PettingZoo's module convention."""

from mpgenie.agents.env import NAME, SnowballEnv, parallel_env

__all__ = ["NAME", "SnowballEnv", "parallel_env"]
