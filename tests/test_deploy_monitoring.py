"""Monitoring the bot itself (deploy/k8s/components/monitoring): the PrometheusRule passes
`promtool check rules` and its promtool unit tests, which make every alert fire on input series
and stay quiet where it must; rules and the Grafana dashboard parse as PromQL and read only
metrics bot/metrics.py exports; the ServiceMonitor finds the web and worker metrics ports; the
README's Alertmanager receiver passes amtool and points at the web Service."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from urllib.parse import urlsplit

import promql_parser as pp
import pytest
import yaml

from tests.deploy_support import BASE, MONITORING, exported_metrics, yaml_documents
from tests.support import REPO, require_binary

RULE = MONITORING / "prometheusrule.yaml"
UNIT_TESTS = MONITORING / "prometheusrule.test.yaml"
DASHBOARD = MONITORING / "chatops-dashboard.json"
# What Grafana substitutes before a query reaches Prometheus.
GRAFANA_VARIABLES = {"$__rate_interval": "2m", "$__range": "6h", "$namespace": "chatops"}
ISSUE_ALERTS = {"ChatopsOldestJobTooOld", "ChatopsSessionFailureRatioHigh", "ChatopsAuditChainBroken",
                "ChatopsSlackDisconnected"}


def rule_groups() -> list[dict]:
    [rule] = yaml_documents(RULE)
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    return rule["spec"]["groups"]


def alerts() -> list[dict]:
    return [r for g in rule_groups() for r in g["rules"] if "alert" in r]


def metric_names(expr: str) -> set[str]:
    names: set[str] = set()

    def visit(node: pp.Expr) -> None:
        if isinstance(node, pp.VectorSelector):
            assert node.name, f"selector without a metric name in {expr!r}"
            names.add(node.name)

    pp.walk(pp.parse(expr), visit)
    return names


def test_promtool_checks_and_unit_tests_the_rules(tmp_path):
    promtool = require_binary("promtool")
    (tmp_path / "chatops-rules.yaml").write_text(yaml.safe_dump({"groups": rule_groups()}, sort_keys=False))
    shutil.copy(UNIT_TESTS, tmp_path / UNIT_TESTS.name)
    check = subprocess.run([promtool, "check", "rules", "chatops-rules.yaml"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=120)
    assert check.returncode == 0 and f"SUCCESS: {sum(len(g['rules']) for g in rule_groups())} rules found" in \
        check.stdout, check.stdout + check.stderr
    tested = subprocess.run([promtool, "test", "rules", UNIT_TESTS.name], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def test_promtool_unit_tests_catch_a_wrong_threshold(tmp_path):
    """The unit tests have teeth: the same rules with one threshold changed fail them."""
    promtool = require_binary("promtool")
    groups = rule_groups()
    [rule] = [r for r in groups[0]["rules"] if r.get("alert") == "ChatopsOldestJobTooOld"]
    rule["expr"] = rule["expr"].replace("> 600", "> 6000")
    (tmp_path / "chatops-rules.yaml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    shutil.copy(UNIT_TESTS, tmp_path / UNIT_TESTS.name)
    tested = subprocess.run([promtool, "test", "rules", UNIT_TESTS.name], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)
    assert tested.returncode != 0 and "ChatopsOldestJobTooOld" in tested.stdout + tested.stderr


def test_every_alert_is_unit_tested_firing_and_quiet():
    tests = yaml.safe_load(UNIT_TESTS.read_text())["tests"]
    cases = [c for t in tests for c in t.get("alert_rule_test", [])]
    firing = {c["alertname"] for c in cases if c["exp_alerts"]}
    quiet = {c["alertname"] for c in cases if not c["exp_alerts"]}
    names = {a["alert"] for a in alerts()}
    assert ISSUE_ALERTS <= names
    assert firing == names and quiet == names, (names - firing, names - quiet)


def test_rules_read_only_exported_metrics():
    exported = exported_metrics()
    used = set()
    for a in alerts():
        used |= metric_names(a["expr"])
        assert a["labels"]["severity"] in ("warning", "critical")
        assert a["annotations"]["summary"] and a["annotations"]["description"]
    assert used <= set(exported), used - set(exported)
    assert {"chatops_oldest_job_age_seconds", "chatops_sessions_total", "chatops_audit_chain_ok",
            "chatops_audit_last_verified_timestamp_seconds", "chatops_slack_connected"} <= used


def dashboard_exprs(dash: dict) -> list[tuple[str, str]]:
    """(panel title, PromQL as Grafana sends it) for every query of the dashboard."""
    assert dash["uid"] and dash["title"] and dash["schemaVersion"] >= 30
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    out = []
    for panel in dash["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}" and panel["targets"], panel["title"]
        for target in panel["targets"]:
            expr = target["expr"]
            assert 'namespace="$namespace"' in expr, (panel["title"], expr)
            for var, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(var, value)
            assert "$" not in expr, (panel["title"], expr)
            out.append((panel["title"], expr))
    return out


def check_dashboard(dash: dict) -> None:
    """Every query parses and reads exported metrics only, and every exported metric is shown."""
    exported = exported_metrics()
    used: set[str] = set()
    for title, expr in dashboard_exprs(dash):
        names = metric_names(expr)
        assert names <= set(exported), (title, names - set(exported))
        used |= names
    assert {exported[n] for n in used} == set(exported.values()), set(exported.values()) - {exported[n] for n in used}


def test_dashboard_queries_parse_and_cover_every_exported_metric():
    check_dashboard(json.loads(DASHBOARD.read_text()))


def test_dashboard_check_rejects_an_unknown_metric_and_a_syntax_error():
    dash = json.loads(DASHBOARD.read_text())
    target = next(p for p in dash["panels"] if p["type"] != "row")["targets"][0]
    target["expr"] = 'sum(rate(chatops_made_up_total{namespace="$namespace"}[$__rate_interval]))'
    with pytest.raises(AssertionError, match="chatops_made_up_total"):
        check_dashboard(dash)
    target["expr"] = 'sum(rate(chatops_sessions_total{namespace="$namespace"}[$__rate_interval])'
    with pytest.raises(ValueError):
        check_dashboard(dash)


def test_service_monitor_finds_web_and_worker_metrics():
    [monitor] = [d for d in yaml_documents(MONITORING / "servicemonitor.yaml") if d["kind"] == "ServiceMonitor"]
    services = [d for name in ("web.yaml", "worker.yaml") for d in yaml_documents(BASE / name)
                if d["kind"] == "Service"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    endpoints = {e["port"]: e for e in monitor["spec"]["endpoints"]}
    assert all(e["path"] == "/metrics" for e in endpoints.values())
    for svc in services:
        assert all(svc["metadata"]["labels"].get(k) == v for k, v in selector.items()), svc["metadata"]
        ports = {p["name"] for p in svc["spec"]["ports"]}
        assert len(ports & set(endpoints)) == 1, (svc["metadata"]["name"], ports)
    assert {s["metadata"]["labels"]["app.kubernetes.io/component"] for s in services} == {"web", "worker"}


def readme_yaml_block(first_line: str) -> str:
    blocks = re.findall(r"```yaml\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    [block] = [b for b in blocks if b.startswith(first_line)]
    return block


def test_readme_alertmanager_receiver_passes_amtool_and_targets_the_web_service(tmp_path):
    amtool = require_binary("amtool")
    block = readme_yaml_block("# alertmanager.yml")
    [hook] = [r for r in yaml.safe_load(block)["receivers"] if r["name"] == "chatops"][0]["webhook_configs"]
    url = urlsplit(hook["url"])
    [svc] = [d for d in yaml_documents(BASE / "web.yaml") if d["kind"] == "Service"]
    assert url.hostname == f"{svc['metadata']['name']}.chatops.svc" and url.path == "/alertmanager"
    assert (url.port or 80) in {p["port"] for p in svc["spec"]["ports"]}
    assert hook["http_config"]["authorization"]["type"] == "Bearer" and hook["send_resolved"] is True
    (tmp_path / "alertmanager.yml").write_text(block)
    done = subprocess.run([amtool, "check-config", "alertmanager.yml"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout + done.stderr
    (tmp_path / "alertmanager.yml").write_text(block.replace("webhook_configs", "webhook_config"))
    broken = subprocess.run([amtool, "check-config", "alertmanager.yml"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert broken.returncode != 0  # amtool does reject a wrong receiver
