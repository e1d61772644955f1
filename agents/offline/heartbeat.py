"""Alerts that are expected to fire: heartbeats (Watchdog, DeadMansSwitch) and inhibition helpers
(InfoInhibitor). Receiving one says the alerting pipeline works; it is not an incident, so the
answer says so plainly and proposes nothing, whatever else the cluster shows at that moment.

Recognised by what the alert is, not by what it is about: its rule's own name or text (always
firing, a dead man's switch, inhibiting info alerts) or its expression (`vector(1)`).
"""
from __future__ import annotations

import re
from urllib.parse import unquote

from agents.trigger import Trigger

_NAME = re.compile(r"^(?:watchdog|deadmans?_?switch|deadmanssnitch|dead_?mans?_?snitch|heartbeat|always_?firing|"
                   r"info_?inhibitor|inhibit(?:ion)?_?helper)$", re.I)
_TEXT = re.compile(r"always (?:be )?firing|alerting pipeline is functional|dead ?man'?s ?(?:switch|snitch)|"
                   r"used to inhibit info alerts|inhibit(?:ion of)? info-level alerts|routed to a null receiver", re.I)
_SUBJECT_LABELS = {"pod", "namespace", "deployment", "statefulset", "daemonset", "job_name", "cronjob", "node",
                   "container", "service", "instance"}
_ALWAYS = re.compile(r"(?:^|[?&])g0\.expr=vector\(1\)(?:&|$)")


def heartbeat_kind(trigger: Trigger) -> str | None:
    """'heartbeat' or 'inhibitor' when the trigger is an alert that fires by design, else None."""
    alert = trigger.alert
    if alert is None:
        return None
    name = re.sub(r"[\s-]", "_", alert.name.strip())
    text = " ".join([alert.summary or "", alert.description or ""])
    expr = unquote(alert.generator_url or "")
    # A constant expression alone is also how a test alert is fired by hand: it is a heartbeat only
    # when the alert is about nothing in the cluster (no pod, workload, namespace or node label).
    always = _ALWAYS.search(expr.partition("?")[2]) and not (set(alert.labels) & _SUBJECT_LABELS)
    if not (_NAME.match(name) or _TEXT.search(text) or always):
        return None
    return "inhibitor" if re.search(r"inhibit", name + " " + text, re.I) else "heartbeat"


def heartbeat_summary(trigger: Trigger, kind: str) -> str:
    name = trigger.alert.name if trigger.alert else "this alert"
    if kind == "inhibitor":
        return (f"{name} is an inhibition helper, not an incident: it fires whenever an info-level alert fires "
                "without a warning or critical one in the same namespace, so that those info alerts stay quiet. "
                "Nothing is broken and nothing should be done in the cluster; route it to a null receiver and "
                "use it as an inhibit_rules source in Alertmanager.")
    # What an SRE needs from it: not an issue, why it fires, and what its silence would mean.
    return (f"{name} is not an issue and not an incident: it is the alerting pipeline's heartbeat, designed to be "
            "always firing as a health check; receiving it means Prometheus, Alertmanager and this receiver are "
            "functioning. If it stops firing, the alerting pipeline itself has a problem. Nothing should be done in "
            "the cluster; route it to a dead man's switch service instead of an incident channel.")
