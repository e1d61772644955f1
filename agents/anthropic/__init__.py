"""The Anthropic (Claude) tool-calling engine."""
from agents.anthropic.engine import AnthropicEngine
from agents.anthropic.errors import EngineUnavailable

__all__ = ["AnthropicEngine", "EngineUnavailable"]
