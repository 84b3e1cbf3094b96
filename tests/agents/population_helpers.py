"""A small trained population on disk, made without Ray (the Ray path has its own end-to-end test)."""

from __future__ import annotations

from pathlib import Path

from mpgenie.agents.pbt import PBTConfig, Trainer
from mpgenie.agents.ppo import train

TINY = PBTConfig(
    population=2, max_steps=40, num_worlds=2, num_steps=16, update_epochs=1, minibatches=1, hidden=16, interval=1
)


def make_population(root: Path, config: PBTConfig = TINY) -> Trainer:
    """Every member trained one PPO iteration, league.json and curves written as a round would."""
    trainer = Trainer(root, config)
    for i, m in enumerate(trainer.league.members):
        train(config.ppo_config(m, i), iterations=1, out=trainer.checkpoint_path(m.id))
    trainer.league.ratings["m1"] += 50.0  # m1 leads the table
    trainer.save()
    return trainer
