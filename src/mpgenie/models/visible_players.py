"""What the dynamics model is told about the other players when it draws a player's next frame (NumPy only).

Per visible player, nearest first, at most ``max_others`` rows of ``OTHER_FEATURES`` numbers: where it now stands
in metres forward and right (divided by ``SCALE_M``), its heading relative to the viewer's (sine, cosine) and its
last action (divided by the largest action number). Unused rows are all zero, which no real row is (sine and
cosine are never both zero).

The frame of reference is the viewer's pose in the *previous* frame, not the one being drawn. The viewer's own move
between the two is exactly what its action says; measured from the new pose, every other player would shift by that
move, and the model could read the viewer's own motion off the other players instead of following its action. The
other players' moves are theirs alone, so they can be told.

Two places compute these numbers and must agree: the trainer, from a dataset's recorded positions and headings
(:func:`from_episode`), and the learned backend, from the live context (``mpgenie.genie.backends.from_players``,
which turns the context's nearby players into the arrays :func:`features` takes: this module knows arrays only, so
the models never import the serving layer above them). A test holds them equal on the same world.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from mpgenie.world.actions import NUM_ACTIONS
from mpgenie.world.geometry import relative_heading_deg, relative_to

OTHER_FEATURES = 5
SCALE_M = 30.0  # the default render distance: visible players land in [-1, 1]


def features(
    viewer_pos: NDArray[np.float64],
    viewer_heading: NDArray[np.float64],
    positions: NDArray[np.float64],
    headings: NDArray[np.float64],
    last_actions: NDArray[np.integer],
    radius: float,
    within_m: float,
    max_others: int,
) -> NDArray[np.float32]:
    """(max_others, OTHER_FEATURES) for the players at ``positions`` (unit vectors) seen from the viewer's pose."""
    out = np.zeros((max_others, OTHER_FEATURES), dtype=np.float32)
    if len(positions) == 0 or max_others == 0:
        return out
    forward, right, dist = relative_to(viewer_pos, viewer_heading, positions, radius)
    keep = np.flatnonzero(dist <= within_m)
    keep = keep[np.argsort(dist[keep], kind="stable")][:max_others]
    angle = np.radians(relative_heading_deg(viewer_pos, viewer_heading, np.asarray(headings)[keep]))
    k = len(keep)
    out[:k, 0] = forward[keep] / SCALE_M
    out[:k, 1] = right[keep] / SCALE_M
    out[:k, 2] = np.sin(angle)
    out[:k, 3] = np.cos(angle)
    out[:k, 4] = np.asarray(last_actions)[keep] / (NUM_ACTIONS - 1)
    return out


def from_episode(
    position: NDArray[np.floating],
    heading: NDArray[np.floating],
    action: NDArray[np.integer],
    alive: NDArray[np.bool_],
    radius: float,
    within_m: float,
    max_others: int,
) -> NDArray[np.float32]:
    """Recorded per-tick arrays (T, A, ...) of one episode -> (A, T, max_others, OTHER_FEATURES): for agent a and
    frame t, the other alive agents at t seen from a's pose at t - 1 (row 0, with no previous frame, stays zero)."""
    frames, agents = action.shape
    out = np.zeros((agents, frames, max_others, OTHER_FEATURES), dtype=np.float32)
    for t in range(1, frames):
        for a in range(agents):
            others = np.flatnonzero(alive[t] & (np.arange(agents) != a))
            out[a, t] = features(
                position[t - 1, a], heading[t - 1, a], position[t, others], heading[t, others], action[t, others],
                radius, within_m, max_others,
            )  # fmt: skip
    return out
