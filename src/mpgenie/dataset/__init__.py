"""Multiplayer video datasets: tick-synchronized multi-view video, actions, state and events.

The layout is described in docs/dataset-format.md and defined in :mod:`mpgenie.dataset.format`.
"""
