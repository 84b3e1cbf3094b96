"""View management: interaction views are never degraded; unimportant views cost less; every tick has a frame."""

import numpy as np

from mpgenie.agents.policy import Observation, ScriptedPolicy, Style
from mpgenie.render import Renderer, RenderSettings
from mpgenie.render.views import FULL, HELD, REDUCED, ViewManager
from mpgenie.world import World, WorldConfig


def run(world: World, styles: list[Style], ticks: int) -> tuple[ViewManager, list[tuple[np.ndarray, ...]]]:
    agents = world.add_players(len(styles))
    policy = ScriptedPolicy(np.array(styles, dtype=np.int8), seed=3)
    settings = RenderSettings(resolution=32)
    views = ViewManager(world, settings)
    truth = Renderer(world, settings)
    log = []
    for _ in range(ticks):
        actions = np.zeros(world.num_slots, dtype=np.int8)
        actions[agents] = policy.act(Observation.of(world, agents))
        world.step(actions)
        frames, tiers = views.render(agents, actions[agents], np.zeros(agents.size, dtype=bool))
        p = world.pos[agents]
        d = np.linalg.norm(p[:, None] - p[None], axis=2)
        np.fill_diagonal(d, np.inf)
        interacting = (d <= 2 * np.sin(6.0 / world.cfg.radius / 2)).any(axis=1)
        log.append((frames, tiers, interacting, truth.render(agents)))
    return views, log


def test_interaction_views_are_always_full_and_exact() -> None:
    world = World(WorldConfig(seed=2, radius=20.0, num_landmarks=8))
    _, log = run(world, [Style.FOLLOWER, Style.COMPETITOR, Style.WANDERER, Style.EXPLORER, Style.COOPERATOR], 120)
    interactions = 0
    for frames, tiers, interacting, truth in log:
        assert np.all(tiers[interacting] == FULL)
        full = tiers == FULL
        assert np.array_equal(frames[full], truth[full])  # full-tier frames are exactly the full render
        interactions += int(interacting.sum())
    assert interactions > 10  # the property was exercised


def test_quiet_views_are_cheaper() -> None:
    world = World(WorldConfig(seed=5, radius=300.0, num_landmarks=16))  # big planet: agents far apart
    views, log = run(world, [Style.WANDERER] * 6, 120)
    assert views.stats.saved > 0.3
    tiers = np.concatenate([t for _, t, _, _ in log])
    assert {FULL, REDUCED, HELD} <= set(tiers.tolist())
    for frames, _, _, truth in log:
        assert frames.shape == truth.shape  # one full-size frame per view per tick, whatever its tier
