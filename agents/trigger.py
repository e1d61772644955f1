"""What starts a session: an alert (group) or a /diagnose request, normalised."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from tools.intake import Alert, parse_alert_text
from tools.intake.model import AlertGroup
from tools.redact import redact


class Trigger(BaseModel):
    kind: Literal["alert", "command"]
    text: str
    alert: Alert | None = None
    namespace: str | None = None
    service: str | None = None
    pod: str | None = None
    requested_by: str | None = None
    at: datetime | None = None  # moment of diagnosis; None means "now" of the tool context

    @classmethod
    def from_alert(cls, alert: Alert, at: datetime | None = None) -> "Trigger":
        text = " ".join(x for x in (alert.name, alert.summary or "", alert.description or "") if x)
        return cls(kind="alert", text=text[:4000], alert=alert, namespace=alert.namespace,
                   service=alert.service, pod=alert.pod, at=at)

    @classmethod
    def from_text(cls, text: str, requested_by: str | None = None, at: datetime | None = None) -> "Trigger":
        """A /diagnose argument or a posted alert message: service, pod, or alert text. Its secrets are
        masked before it is cut, stored (agent_sessions.trigger_text) or shown to a model."""
        text = redact(text.strip())[:4000]
        parsed = parse_alert_text(text, source="command")
        if isinstance(parsed, AlertGroup) and parsed.alerts:
            t = cls.from_alert(parsed.alerts[0], at=at)
            return t.model_copy(update={"kind": "command", "text": text, "requested_by": requested_by})
        ns, _, name = text.partition("/") if "/" in text and " " not in text else (None, "", text)
        word = name if name and " " not in name else None
        return cls(kind="command", text=text, namespace=ns or None, service=word,
                   requested_by=requested_by, at=at)
