"""First-person rendering of the world for every player at once (the procedural ground-truth renderer)."""

from mpgenie.render.renderer import Camera, Renderer, RenderSettings

__all__ = ["Camera", "RenderSettings", "Renderer"]
