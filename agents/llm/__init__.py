"""The provider-neutral model loop: one tool loop (loop.py) shared by the Anthropic and the
OpenAI-compatible adapters, with its budgets, context management, retries and pricing."""

# The one default model (ANTHROPIC's; an OpenAI-compatible server has no sensible default: LLM_MODEL
# names what it serves).
DEFAULT_MODEL = "claude-sonnet-5-5"
