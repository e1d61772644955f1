"""The one typed Diagnosis every engine returns, and what it is made of.

Its JSON schema is also the input schema of the model's `submit_diagnosis` tool, so the
model's final answer is validated by the same type the offline engine fills in.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from tools.taxonomy import ACTIONS, CATEGORIES

Category = Literal[CATEGORIES]  # type: ignore[valid-type]
ActionType = Literal[tuple(a for a in ACTIONS if a != "none")]  # type: ignore[valid-type]
Risk = Literal["LOW", "MEDIUM", "HIGH", "CRITICAL"]


class Evidence(BaseModel):
    model_config = ConfigDict(extra="ignore")
    tool: str = Field(description="tool that produced it, e.g. prom_named, k8s_pods, search_logs")
    query: str = Field("", description="exact query, path or arguments used")
    finding: str = Field(description="what it shows, one sentence with numbers")
    time: str | None = Field(None, description="RFC 3339 time the finding refers to")
    link: str | None = Field(None, description="URL to the source (Prometheus graph, log search)")
    supports: str | None = Field(None, description="category this evidence supports, if any")


class TimelineEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")
    time: str
    event: str
    source: str = ""


class SimilarIncident(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    title: str = ""
    source: str = ""
    score: float = 0.0
    action: str | None = Field(None, description="action that worked for it, if any")


class RuledOut(BaseModel):
    """A hypothesis weighed and rejected: kept apart from the evidence for the answer."""
    model_config = ConfigDict(extra="ignore")
    category: str = Field(description="the category considered")
    component: str | None = Field(None, description="the workload or node it was about")
    reason: str = Field(description="why it was ruled out, one sentence")


class ProposedAction(BaseModel):
    model_config = ConfigDict(extra="ignore")
    action_type: ActionType
    target: str = Field(description="object name: deployment name, pod name or node name")
    namespace: str | None = Field(None, description="namespace of the target (none for nodes)")
    parameters: dict[str, Any] = Field(default_factory=dict,
                                       description="e.g. {replicas: 6} or {container, memory_limit, cpu_limit}")
    rationale: str = ""
    risk: Risk = "MEDIUM"


class ModelCost(BaseModel):
    """What the model used for one answer: set by the session, never by the model (so it is left out
    of the submit_diagnosis schema). Tokens count what the model processed afresh; cache reads apart."""
    model_config = ConfigDict(extra="ignore", protected_namespaces=())
    model: str
    input_tokens: int = 0  # uncached input
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    usd: float | None = None  # None: the model has no price (self-hosted, unknown): tokens only

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.cache_write_tokens + self.output_tokens

    def line(self) -> str:
        cached = f" (+{self.cache_read_tokens:,} read from cache)" if self.cache_read_tokens else ""
        usd = f" · ${self.usd:.4f}" if self.usd is not None else " · no price known"
        return f"{self.model}: {self.tokens:,} tokens{cached}{usd}"


class Diagnosis(BaseModel):
    model_config = ConfigDict(extra="ignore")
    category: Category
    component: str | None = Field(None, description="the culprit workload (deployment/job name), or node name for node causes")
    summary: str = Field(description="1-3 sentences: cause, impact, what to do", max_length=1200)
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: list[Evidence] = Field(default_factory=list, description="findings supporting the answer only")
    ruled_out: list[RuledOut] = Field(default_factory=list,
                                      description="hypotheses considered and ruled out, each with why")
    timeline: list[TimelineEntry] = Field(default_factory=list)
    similar_incidents: list[SimilarIncident] = Field(default_factory=list)
    proposals: list[ProposedAction] = Field(default_factory=list)
    unavailable_sources: list[str] = Field(default_factory=list, description="sources that could not be used, with why")
    cost: SkipJsonSchema[ModelCost | None] = None

    @field_validator("summary")
    @classmethod
    def _summary_not_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("summary must not be empty")
        return v.strip()

    @property
    def action(self) -> str:
        return self.proposals[0].action_type if self.proposals else "none"


def submit_schema() -> dict[str, Any]:
    """JSON schema for the submit_diagnosis tool (refs inlined: simpler for models)."""
    schema = Diagnosis.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(defs[node["$ref"].split("/")[-1]])
            return {k: inline(v) for k, v in node.items() if k != "title"}
        if isinstance(node, list):
            return [inline(x) for x in node]
        return node

    return inline(schema)
