"""Plain-text rendering of a diagnosis, for the CLI and the console surface."""
from __future__ import annotations

import re
import textwrap

from agents.diagnosis import Diagnosis, RuledOut
from tools.taxonomy import category_label

# What a terminal obeys rather than shows: C0/C1 controls (ESC starts colour, cursor moves, screen
# clears and OSC 8 hyperlinks, the terminal's `<https://evil|Slack SSO>`), carriage returns that
# overwrite a line, and bidi overrides that reorder it. Newlines and tabs stay.
_TERMINAL_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """Text from outside (model output, alerts, logs) as a terminal should print it: the control
    characters removed, everything else left readable as is."""
    return _TERMINAL_CONTROL.sub("", text)


def ruled_out_line(r: RuledOut) -> str:
    """A rejected hypothesis as one line, in the same words on every surface (never among the evidence)."""
    return f"{category_label(r.category)}{' in ' + r.component if r.component else ''}: {r.reason}"


def render_diagnosis(d: Diagnosis, width: int = 100) -> str:
    wrap = lambda s, ind="   ": textwrap.fill(s, width, initial_indent=ind, subsequent_indent=ind + "  ")  # noqa: E731
    lines = [f"Diagnosis: {d.category}  component: {d.component or '-'}  confidence: {d.confidence:.0%}",
             wrap(d.summary, "  ")]
    if d.evidence:
        lines.append("Evidence:")
        for e in d.evidence[:10]:
            when = f" [{e.time}]" if e.time else ""
            lines.append(wrap(f"- {e.finding}{when}  ({e.tool})"))
    if d.ruled_out:
        lines.append("Considered and ruled out:")
        for r in d.ruled_out[:6]:
            lines.append(wrap(f"- {ruled_out_line(r)}"))
    if d.timeline:
        lines.append("Timeline:")
        for t in d.timeline[:10]:
            lines.append(wrap(f"- {t.time}  {t.event}"))
    if d.similar_incidents:
        lines.append("Similar past incidents and runbooks:")
        for s in d.similar_incidents[:5]:
            act = f" — action that worked: {s.action}" if s.action else ""
            lines.append(wrap(f"- {s.title or s.id} ({s.source}){act}"))
    if d.proposals:
        lines.append("Proposed actions (need approval):")
        for p in d.proposals:
            where = f"{p.namespace}/" if p.namespace else ""
            params = ", ".join(f"{k}={v}" for k, v in p.parameters.items())
            lines.append(wrap(f"- {p.action_type} {where}{p.target} {('(' + params + ')') if params else ''} "
                              f"risk {p.risk}: {p.rationale}"))
    if d.unavailable_sources:
        lines.append("Could not use:")
        for u in d.unavailable_sources:
            lines.append(wrap(f"- {u}"))
    if d.cost is not None:
        lines.append(wrap(f"Model use: {d.cost.line()}", ""))
    return terminal_safe("\n".join(lines))
