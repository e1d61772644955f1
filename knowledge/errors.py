"""The one exception the knowledge base raises: a user-fixable, one-line explanation."""
from __future__ import annotations

REBUILD_HINT = "run `chatops knowledge rebuild`"


class KnowledgeBaseError(Exception):
    """The knowledge base cannot be used as configured; the message says what to do."""
