"""The "Genie" in Multiplayer Genie: per-player AI contexts, frame consistency, and world-model backends that
produce each player's next frame (procedural ground truth now; learned and remote models plug in behind the
same interface)."""
