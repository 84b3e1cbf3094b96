"""Agents that produce actions for players: scripted bots now; learned policies later."""
