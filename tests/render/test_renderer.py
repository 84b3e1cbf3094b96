"""The procedural renderer: deterministic, geometrically right where it can be checked exactly, batched = single."""

import numpy as np
import pytest

from mpgenie.render import Camera, Renderer, RenderSettings
from mpgenie.render.renderer import BIOME_COLOURS, _player_colours
from mpgenie.world import Action, World, WorldConfig


def quiet_world(players: int = 2) -> World:
    cfg = WorldConfig(seed=4, radius=60.0, num_landmarks=8, num_collectibles=0, num_beacons=0, num_hazards=0)
    world = World(cfg)
    world.add_players(players)
    world.step()
    return world


def test_shapes_and_determinism() -> None:
    world = quiet_world(3)
    a = Renderer(world, RenderSettings(resolution=32)).render()
    b = Renderer(world, RenderSettings(resolution=32)).render()
    assert a.shape == (3, 32, 32, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    single = Renderer(world, RenderSettings(resolution=32)).render(np.array([1]))
    assert np.array_equal(single[0], a[1])  # one view alone = the same view in a batch


def test_sky_above_ground_below() -> None:
    world = quiet_world(1)
    img = Renderer(world, RenderSettings(resolution=64, pitch_deg=0.0)).render()[0].astype(int)
    top, bottom = img[0], img[-1]
    assert np.all(top[:, 2] > top[:, 0])  # blue sky on the top row
    ground_colours = (BIOME_COLOURS * 255).astype(int)
    # The bottom row is ground: its hue matches some biome colour (shaded by light and pattern).
    hue = bottom.mean(axis=0) / max(1, bottom.mean())
    assert min(np.abs(hue - c / max(1, c.mean())).sum() for c in ground_colours) < 0.6


def test_a_player_straight_ahead_fills_the_centre_in_its_colour() -> None:
    world = quiet_world(2)
    world.teleport(1, world.pos[0] + (2.0 / world.cfg.radius) * world.fwd[0], world.fwd[0])
    world.step()
    settings = RenderSettings(resolution=64, pitch_deg=0.0)
    img = Renderer(world, settings).render(np.array([0]))[0].astype(float)
    # Project the centre of player 1's sphere into player 0's camera; the pixels there show its colour, lit.
    cam = Camera.first_person(world, np.array([0]), settings)
    centre_m = world.pos[1] * (world.cfg.radius + 2 * settings.player_radius + world.height[1])
    d = centre_m - cam.eye[0]
    tan_half = np.tan(np.radians(settings.fov_deg) / 2)
    x = (d @ cam.right[0]) / (d @ cam.forward[0]) / tan_half
    y = (d @ cam.up[0]) / (d @ cam.forward[0]) / tan_half
    col, row = int((x + 1) / 2 * 64), int((1 - y) / 2 * 64)
    assert 0 <= row < 64 and 0 <= col < 64
    centre = img[row - 1 : row + 2, col - 1 : col + 2].reshape(-1, 3).mean(axis=0)
    colour = _player_colours(np.array([1]))[0] * 255
    ratio = centre / colour
    assert np.allclose(ratio, ratio.mean(), atol=0.12)  # same hue, some brightness


def test_views_differ_and_change_when_walking() -> None:
    world = quiet_world(2)
    r = Renderer(world, RenderSettings(resolution=32))
    before = r.render()
    assert not np.array_equal(before[0], before[1])
    world.step(np.array([1, 1], dtype=np.int8))  # both walk forward one tick
    after = r.render()
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 0.5  # the ground pattern moved


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="resolution"):
        RenderSettings(resolution=4)
    with pytest.raises(ValueError, match="fov"):
        RenderSettings(fov_deg=200)


def _pressing(action: int) -> tuple[np.ndarray, np.ndarray]:
    """Views of two players facing each other 3 m apart after a tick of ``action`` (both), and after a no-op."""
    world = quiet_world(2)
    world.teleport(1, world.pos[0] + (3.0 / world.cfg.radius) * world.fwd[0], -world.fwd[0])
    world.step()
    world.step(np.array([Action.NOOP, Action.NOOP], dtype=np.int8))
    calm = Renderer(world, RenderSettings(resolution=64)).render()
    world.step(np.array([action, action], dtype=np.int8))
    return Renderer(world, RenderSettings(resolution=64)).render(), calm


@pytest.mark.parametrize(("action", "column"), [(8, 32), (9, 51)])
def test_attack_and_interact_presses_are_drawn_in_the_own_view_and_on_the_player(action: int, column: int) -> None:
    pressed, calm = _pressing(action)
    changed = np.abs(pressed.astype(int) - calm.astype(int)).sum(axis=3) > 0  # (views, rows, cols)
    for v in range(2):
        rows, cols = np.nonzero(changed[v])
        own = rows >= 50  # the own view's disc: near the bottom edge, centred on its column
        assert own.sum() >= 30 and abs(cols[own].mean() - column) < 1.5
        assert (~own).sum() >= 4  # and the other player's cue sphere, in front of it (upper part of the view)
        assert rows[~own].max() < 45


def test_without_action_cues_a_press_looks_like_doing_nothing() -> None:
    world = quiet_world(2)
    world.step(np.array([Action.NOOP, Action.NOOP], dtype=np.int8))
    off = RenderSettings(resolution=32, action_cues=False)
    calm = Renderer(world, off).render()
    world.step(np.array([Action.ATTACK, Action.INTERACT], dtype=np.int8))
    assert np.array_equal(Renderer(world, off).render(), calm)
    assert not np.array_equal(Renderer(world, RenderSettings(resolution=32)).render(), calm)
