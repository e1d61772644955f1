"""The one alert shape every intake parser produces."""
from __future__ import annotations

import functools
import re
from contextvars import ContextVar
from datetime import datetime
from typing import Any, Callable, Literal, TypeVar

from pydantic import BaseModel, Field

from tools.redact import clip_at_boundary, default_redactor
from tools.storable import storable

from .normalise import MAX_TEXT, bounded_copy, label_fingerprint, normalise_severity, str_map

# Label values that name the exporter that scraped the metric, not the workload in trouble:
# kube-state-metrics alerts carry job/service/pod/container of the KSM pod itself.
_EXPORTER = re.compile(r"kube-state-metrics|node-exporter|kubelet|cadvisor|blackbox-exporter|pushgateway"
                       r"|^apiserver$|^prometheus$", re.I)
_SERVICE_KEYS = ("service", "app", "app_kubernetes_io_name", "deployment", "statefulset", "daemonset",
                 "job_name", "kube_deployment", "kube_stateful_set", "kube_daemon_set", "kube_cronjob", "kube_job",
                 "k8s_deployment_name", "k8s_statefulset_name", "k8s_daemonset_name", "k8s_cronjob_name",
                 "k8s_job_name", "job", "container")


class Alert(BaseModel):
    name: str
    status: Literal["firing", "resolved"]
    severity: str  # critical|warning|info|unknown
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    fingerprint: str
    # alertmanager|grafana|slack|teams|pagerduty|datadog|text; "robusta" for Robusta findings that
    # did not come from Prometheus, "opsgenie" when an Opsgenie bot posted the message.
    source: str
    raw: dict | str = Field(default_factory=dict, repr=False)
    generator_url: str | None = None

    def _label(self, *keys: str) -> str | None:
        for key in keys:
            value = self.labels.get(key)
            if value and not _EXPORTER.search(value):
                return value
        return None

    @property
    def namespace(self) -> str | None:
        return self._label("namespace", "exported_namespace", "kubernetes_namespace", "k8s_namespace_name",
                           "kube_namespace")

    @property
    def service(self) -> str | None:
        return self._label(*_SERVICE_KEYS)

    @property
    def pod(self) -> str | None:
        return self._label("pod", "pod_name", "exported_pod", "k8s_pod_name", "kube_pod_name")

    @property
    def summary(self) -> str | None:
        for key in ("summary", "title", "message"):
            if self.annotations.get(key):
                return self.annotations[key]
        return None

    @property
    def description(self) -> str | None:
        for key in ("description", "message", "text"):
            if self.annotations.get(key):
                return self.annotations[key]
        return None


class AlertGroup(BaseModel):
    alerts: list[Alert]
    group_key: str | None = None
    status: str = "firing"
    receiver: str | None = None
    common_labels: dict[str, str] = Field(default_factory=dict)
    external_url: str | None = None
    truncated_alerts: int = 0

    @property
    def firing(self) -> list[Alert]:
        return [a for a in self.alerts if a.status == "firing"]


class NotAnAlert(BaseModel):
    reason: str


def build_alert(*, name: str, status: str, labels: dict[str, str], source: str, raw: Any,
                severity: Any = None, annotations: dict[str, str] | None = None,
                starts_at: datetime | None = None, ends_at: datetime | None = None,
                fingerprint: Any = None, generator_url: Any = None, bound_raw: bool = True) -> Alert:
    """Assemble an Alert with the common defaults: alertname label, severity, fingerprint.

    raw is stored as a bounded JSON-safe copy; bound_raw=False when the caller already bounded it.
    """
    labels = dict(labels)
    name = storable((name or labels.get("alertname") or "unknown").strip(), 200) or "unknown"
    labels.setdefault("alertname", name)
    sev = normalise_severity(labels.get("severity"))
    if sev == "unknown":
        sev = normalise_severity(severity)
    fp = fingerprint if isinstance(fingerprint, str) and fingerprint.strip() else label_fingerprint(labels)
    return Alert(
        name=name, status="resolved" if status == "resolved" else "firing", severity=sev,
        labels=labels, annotations=str_map(annotations or {}), starts_at=starts_at, ends_at=ends_at,
        fingerprint=storable(fp.strip(), 128), source=source,
        raw=(bounded_copy(raw) if bound_raw else raw) if isinstance(raw, (dict, str)) else {},
        generator_url=generator_url if isinstance(generator_url, str) and generator_url else None,
    )


def group_of(alerts: list[Alert], *, truncated: int = 0, **kw: Any) -> AlertGroup:
    """Wrap alerts in a group; status and common labels are derived when the source lacks them."""
    status = kw.pop("status", None)
    if status not in ("firing", "resolved"):
        status = "firing" if any(a.status == "firing" for a in alerts) else "resolved"
    common = kw.pop("common_labels", None)
    if not common and alerts:
        first = alerts[0].labels
        common = {k: v for k, v in first.items() if all(a.labels.get(k) == v for a in alerts[1:])}
    return AlertGroup(alerts=alerts, status=status, common_labels=common or {},
                      truncated_alerts=max(0, truncated), **kw)


F = TypeVar("F", bound=Callable[..., Any])


# Set while a public parser runs on a payload it already redacted (parse_any calling parse_slack_message).
_REDACTED: ContextVar[bool] = ContextVar("intake_redacted", default=False)


def _redacted(payload: Any) -> Any:
    """The payload with its secrets masked, its work bounded the way the parsers read it: a text
    (perhaps a JSON document) up to sniff.MAX_JSON characters, strings inside objects up to
    MAX_TEXT; both cut where no secret is split (tools.redact.clip_at_boundary)."""
    from .sniff import MAX_JSON  # sniff imports this module

    redactor = default_redactor()
    if isinstance(payload, (bytes, bytearray)):
        payload = bytes(payload[:MAX_JSON]).decode("utf-8", "replace")
    if isinstance(payload, str):
        return redactor.redact_lines(clip_at_boundary(payload, MAX_JSON))
    try:
        return redactor.redact_obj(payload, clip=MAX_TEXT)
    except RecursionError:  # hostile nesting: parse what the stored copy (Alert.raw) would keep
        return redactor.redact_obj(bounded_copy(payload), clip=MAX_TEXT)


def never_raises(fn: F) -> F:
    """Public parsers return NotAnAlert instead of raising, whatever the input does to them, and
    only ever see redacted input: secrets in the raw payload (text, or every string of a dict) are
    masked before any parsing, bounding, fingerprinting or storage (Alert.raw), so none reaches a
    table, a chat post or a model."""
    @functools.wraps(fn)
    def wrapper(payload: Any, *args: Any, **kwargs: Any) -> Any:
        token = None
        try:
            if not _REDACTED.get():
                payload = _redacted(payload)
                token = _REDACTED.set(True)
            return fn(payload, *args, **kwargs)
        except RecursionError:
            return NotAnAlert(reason=f"internal error in {fn.__name__}: input nested too deeply")
        except Exception as exc:
            return NotAnAlert(reason=f"internal error in {fn.__name__}: {type(exc).__name__}: {str(exc)[:200]}")
        finally:
            if token is not None:
                _REDACTED.reset(token)
    return wrapper  # type: ignore[return-value]
