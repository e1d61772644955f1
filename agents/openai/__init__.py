"""The OpenAI-compatible Chat Completions adapter of the shared tool loop (vLLM, Ollama, LM Studio,
Azure OpenAI, OpenRouter, OpenAI)."""
from agents.openai.engine import OpenAIEngine

__all__ = ["OpenAIEngine"]
