"""Prometheus data source: PromQL tools, named-query catalog, anomaly summaries, and a
throwaway real Prometheus/Alertmanager runner for tests, scenarios and the demo."""
from .server import AlertmanagerServer, PrometheusServer, ServerError, find_alertmanager, prometheus_binaries
from .tools import NOT_CONFIGURED, prometheus_tools

__all__ = ["AlertmanagerServer", "PrometheusServer", "ServerError", "find_alertmanager", "prometheus_binaries",
           "prometheus_tools", "NOT_CONFIGURED"]
