"""Knowledge base: runbooks, postmortems and incident memory in Chroma, hybrid retrieval.

Depends only on tools.base (for the agent tool); never on bot/ or agents/.
"""
from knowledge.errors import KnowledgeBaseError
from knowledge.ingest import IngestReport
from knowledge.kb import BUNDLED_RUNBOOKS, KnowledgeBase
from knowledge.memory import IncidentRecord, effectiveness
from knowledge.retrieve import Hit

__all__ = ["BUNDLED_RUNBOOKS", "Hit", "IncidentRecord", "IngestReport", "KnowledgeBase", "KnowledgeBaseError",
           "effectiveness"]
