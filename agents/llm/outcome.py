"""Turning what a session gathered into the Diagnosis: evidence from tool calls, the list of
unavailable sources, and the best-effort answer when the model gave no valid one."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agents.diagnosis import Diagnosis, Evidence
from tools.base import ToolResult

MAX_EVIDENCE = 10
SUMMARY_LIMIT = 1150  # Diagnosis.summary allows 1200


@dataclass
class Gathered:
    """Tool calls of one session, in order."""

    calls: list[tuple[str, dict[str, Any], ToolResult]] = field(default_factory=list)

    def add(self, name: str, args: dict[str, Any], result: ToolResult) -> None:
        self.calls.append((name, args, result))

    def evidence(self) -> list[Evidence]:
        """Successful calls first, then empty ones: what was looked at and what it showed."""
        seen: set[str] = set()
        out: list[Evidence] = []
        for wanted in ("ok", "no_data"):
            for name, args, r in self.calls:
                key = r.query or f"{name}{sorted(args.items())}"
                if r.status != wanted or key in seen:
                    continue
                seen.add(key)
                out.append(Evidence(tool=name, query=r.query, finding=(r.summary or r.status)[:300]))
        return out[:MAX_EVIDENCE]

    def unavailable(self, configured: dict[str, str]) -> list[str]:
        """Sources the session could not use: the configured list plus sources whose tools only
        ever failed (a tool that errored once and then worked was a bad query, not an outage)."""
        out = [f"{name}: {why}" for name, why in configured.items()]
        ok_sources = {r.source or n for n, _, r in self.calls if r.status != "error"}
        reported = set(configured)
        for name, _, r in self.calls:
            source = r.source or name
            if r.status == "error" and source not in ok_sources and source not in reported:
                reported.add(source)
                out.append(f"{source}: {name} failed: {(r.error or r.summary)[:200]}")
        return out


def merge_unavailable(ours: list[str], theirs: list[str]) -> list[str]:
    """Ours first; the model's entries only for sources we did not name."""
    names = {x.split(":", 1)[0].strip().lower() for x in ours}
    return ours + [x for x in theirs if x.split(":", 1)[0].strip().lower() not in names]


def best_effort(reason: str, model_text: str, gathered: Gathered, unavailable: list[str],
                salvage: Any = None) -> Diagnosis:
    """category unknown, the model's own words as summary, the tool calls as evidence."""
    summary = ""
    component = None
    if isinstance(salvage, dict):
        summary = salvage.get("summary") if isinstance(salvage.get("summary"), str) else ""
        component = salvage.get("component") if isinstance(salvage.get("component"), str) else None
    summary = (summary or model_text).strip()
    if not summary:
        summary = f"No diagnosis from the model ({reason}); the evidence gathered is listed below."
    return Diagnosis(category="unknown", component=component, summary=summary[:SUMMARY_LIMIT], confidence=0.0,
                     evidence=gathered.evidence(), unavailable_sources=unavailable)
