"""Multiplayer Genie: a multiplayer platform for AI world models on a spherical snowball world."""

__version__ = "0.1.0"
