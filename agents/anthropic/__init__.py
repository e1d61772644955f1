"""The Anthropic (Claude) adapter of the shared tool loop."""
from agents.anthropic.engine import AnthropicEngine
from agents.llm.errors import EngineUnavailable

__all__ = ["AnthropicEngine", "EngineUnavailable"]
