"""Rendering: an intent and its parameters → the component descriptor (docs/protocol.md §4)."""

from ixp.render.renderer import Renderer, RenderPlan, render_request_decoder

__all__ = ["RenderPlan", "Renderer", "render_request_decoder"]
