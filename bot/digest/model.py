"""The typed digest: every figure the renderers, the summary and the charts read, and what a
digests row stores (so a retry posts the same content to every channel)."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class Count(BaseModel):
    key: str
    count: int
    last_week: int

    @property
    def change(self) -> int:
        return self.count - self.last_week


class Timing(BaseModel):
    measure: str  # first_diagnosis | first_human_action | resolve
    n: int
    median_s: float | None = None
    p90_s: float | None = None


class WeekTiming(BaseModel):
    week: str
    n: int
    median_s: float | None = None
    p90_s: float | None = None


class DayCount(BaseModel):
    day: str  # local date, ISO
    by_severity: dict[str, int] = Field(default_factory=dict)


class RecurringAlert(BaseModel):
    """One fingerprint group: alert name + namespace + service (the labels that say what alerted,
    not which pod), with what the suggestion rules read."""
    alert_name: str
    namespace: str | None = None
    service: str | None = None
    incidents: int
    resolved_quickly: int
    acted_on: int
    unknown: int
    runbook: str | None = None           # title of the runbook that covers it
    runbooks_known: bool = True          # False: the knowledge base could not be read
    suggestions: list[str] = Field(default_factory=list)  # "noisy", "runbook_missing"
    reasons: list[str] = Field(default_factory=list)      # why it is called noisy


class ExecutedAction(BaseModel):
    proposal_id: str
    incident_id: str | None = None
    action: str
    state: str  # succeeded | failed
    approvers: list[str] = Field(default_factory=list)  # empty: run by AUTO_APPROVE_LOW
    executed_at: datetime
    alert_resolved: bool | None = None  # remediation_proposals.effective


class Approver(BaseModel):
    who: str  # platform:user id
    approved: int
    rejected: int


class Remediations(BaseModel):
    proposed: int = 0      # offered with buttons
    not_offered: int = 0   # stored but blocked (validation or dry run failed)
    approved: int = 0      # reached approval (then executed or failed)
    rejected: int = 0
    expired: int = 0
    succeeded: int = 0
    failed: int = 0
    awaiting: int = 0      # still waiting for a decision
    approvers: list[Approver] = Field(default_factory=list)
    executed: list[ExecutedAction] = Field(default_factory=list)


class Score(BaseModel):
    key: str
    diagnoses: int = 0
    right: int = 0
    wrong: int = 0
    unknown: int = 0
    confirmed_by_action: int = 0


class Scorecard(BaseModel):
    total: Score
    by_category: list[Score] = Field(default_factory=list)
    by_alert: list[Score] = Field(default_factory=list)


class LearningItem(BaseModel):
    incident_id: str
    diagnosis_id: str
    title: str
    diagnosed: str
    corrected: str | None = None
    notes: list[str] = Field(default_factory=list)
    by: list[str] = Field(default_factory=list)


class Memory(BaseModel):
    incident_id: str
    title: str
    category: str
    why: str  # resolved | action succeeded


class Correction(BaseModel):
    incident_id: str | None = None
    title: str
    diagnosed: str
    corrected: str
    by: str


class RunbookChange(BaseModel):
    doc_id: str
    title: str
    updated: str


class Knowledge(BaseModel):
    memories: list[Memory] = Field(default_factory=list)
    corrections: list[Correction] = Field(default_factory=list)
    runbooks: list[RunbookChange] | None = None  # None: the knowledge base could not be read
    runbooks_note: str | None = None


class Gap(BaseModel):
    category: str
    diagnoses: int
    weak: int  # unknown, or below the low-confidence line
    alerts: list[str] = Field(default_factory=list)


class Digest(BaseModel):
    week: str
    timezone: str
    start: datetime
    end: datetime
    incidents: int
    incidents_last_week: int
    by_service: list[Count] = Field(default_factory=list)
    by_category: list[Count] = Field(default_factory=list)
    by_severity: list[Count] = Field(default_factory=list)
    per_day: list[DayCount] = Field(default_factory=list)
    timing: list[Timing] = Field(default_factory=list)
    resolve_trend: list[WeekTiming] = Field(default_factory=list)
    recurring: list[RecurringAlert] = Field(default_factory=list)
    remediations: Remediations = Field(default_factory=Remediations)
    scorecard: Scorecard
    learning_queue: list[LearningItem] = Field(default_factory=list)
    knowledge: Knowledge = Field(default_factory=Knowledge)
    gaps: list[Gap] = Field(default_factory=list)
    summary: str = ""
    summary_by: str = "deterministic"  # or the model's name
