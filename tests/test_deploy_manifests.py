"""deploy/k8s: every manifest validates offline against the Kubernetes schemas (kubernetes-validate),
the overlays render with kustomize, and what they say agrees with the bot: real commands and
settings, probes on the routes the processes serve, one image, every object in the bot's namespace,
egress for each configured backend, actions bound only where the allowlist lets the bot act."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
from pydantic import SecretStr

from bot.cli import build_parser
from bot.settings import Settings
from tests.deploy_support import (BASE, CRD_KINDS, K8S, KUBE_VERSION, OVERLAYS, config_data, objects, one, overlay,
                                  raw_manifests, render)
from tests.support import REPO, process_env

CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
BOT = {"app.kubernetes.io/name": "chatops"}
DEFAULT_PORTS = {"http": 80, "https": 443, "postgresql": 5432}


def validate(doc: dict) -> None:
    """kubernetes-validate, strict (unknown fields are errors); custom resources structurally."""
    if (doc.get("apiVersion"), doc.get("kind")) in CRD_KINDS:
        assert doc["metadata"].get("name") and isinstance(doc.get("spec"), dict), doc
        return
    kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def test_the_validator_rejects_a_broken_manifest():
    web = one([d for _, d in raw_manifests()], "Deployment", "chatops-web")
    validate(web)
    container = web["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"] = {"httpGet": {"path": "/readyz"}}  # no port
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(web)
    container["readinessProbe"]["httpGet"]["port"] = "http"
    validate(web)
    web["spec"]["replicaz"] = 2  # a typo strict validation catches
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(web)


def test_every_raw_manifest_validates_without_kustomize():
    """Runs everywhere (no kubectl needed): each object file under deploy/k8s, one by one."""
    seen = [(path.relative_to(K8S).as_posix(), doc["kind"]) for path, doc in raw_manifests()]
    for _, doc in raw_manifests():
        validate(doc)
    kinds = {kind for _, kind in seen}
    assert {"Deployment", "Service", "Job", "PodDisruptionBudget", "NetworkPolicy", "Ingress", "ClusterRole",
            "ClusterRoleBinding", "RoleBinding", "ServiceAccount", "PersistentVolumeClaim", "ServiceMonitor",
            "PrometheusRule"} <= kinds, seen


@pytest.mark.parametrize("target", ["base", *OVERLAYS])
def test_rendered_manifests_validate(target):
    docs = render(BASE) if target == "base" else overlay(target)
    assert docs
    for doc in docs:
        validate(doc)
    crds = {(d["apiVersion"], d["kind"]) for d in docs} & CRD_KINDS
    # Only the monitoring component brings custom resources, and prod is the overlay that has it.
    assert crds == (CRD_KINDS if target == "prod" else set())


@pytest.mark.parametrize("name", OVERLAYS)
def test_every_namespaced_object_lands_in_the_bot_namespace(name):
    docs = overlay(name)
    allowlist = set(filter(None, config_data(docs).get("KUBE_NAMESPACE_ALLOWLIST", "").split(",")))
    for d in docs:
        ns = d["metadata"].get("namespace")
        if d["kind"] in CLUSTER_SCOPED:
            assert ns is None, d["metadata"]
        elif d["kind"] == "RoleBinding":
            assert ns in allowlist, d["metadata"]
        else:
            assert ns == "chatops", (d["kind"], d["metadata"])


def pod_specs(docs: list[dict]) -> dict[str, dict]:
    specs = {d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in docs if d["kind"] in ("Deployment", "Job")}
    specs.update({d["metadata"]["name"]: d["spec"]["jobTemplate"]["spec"]["template"]["spec"]
                  for d in docs if d["kind"] == "CronJob"})
    return specs


@pytest.mark.parametrize("name", OVERLAYS)
def test_every_pod_runs_the_same_tagged_image(name):
    images = {c["image"] for spec in pod_specs(overlay(name)).values() for c in spec["containers"]}
    [image] = images
    assert image.startswith("registry.example.com/chatops-incident-bot:"), image


@pytest.mark.parametrize("name", OVERLAYS)
def test_containers_run_real_commands_on_real_ports_with_probes(name):
    docs = overlay(name)
    settings = config_data(docs)
    specs = pod_specs(docs)
    parser = build_parser()
    expect = {"chatops-web": ("serve", settings["PORT"], "/readyz"),
              "chatops-worker": ("worker", settings["METRICS_PORT"], "/healthz")}
    for deployment, (command, port, ready_path) in expect.items():
        [c] = specs[deployment]["containers"]
        assert c["args"][0] == command
        parser.parse_args(c["args"])  # a command the CLI has (SystemExit otherwise)
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert list(ports.values()) == [int(port)], (deployment, ports)
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert c["readinessProbe"]["httpGet"]["path"] == ready_path
        assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert c[probe]["httpGet"]["port"] in ports, (deployment, probe)
        assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
        assert c["resources"]["limits"]["memory"]
        assert specs[deployment]["serviceAccountName"] == "chatops"
    [migrate] = specs["chatops-db-upgrade"]["containers"]
    assert migrate["args"] == ["db", "upgrade"]
    parser.parse_args(migrate["args"])
    assert specs["chatops-db-upgrade"]["automountServiceAccountToken"] is False


@pytest.mark.parametrize("name", OVERLAYS)
def test_pods_are_non_root_with_a_read_only_root(name):
    for pod, spec in pod_specs(overlay(name)).items():
        sc = spec["securityContext"]
        assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 10001, pod  # the Dockerfile's USER
        for c in spec["containers"]:
            csc = c["securityContext"]
            assert (csc["readOnlyRootFilesystem"], csc["allowPrivilegeEscalation"], csc["capabilities"]) == (
                True, False, {"drop": ["ALL"]}), (pod, c["name"])
            mounted = {m["mountPath"] for m in c.get("volumeMounts", [])}
            assert "/tmp" in mounted, (pod, c["name"])


def secret_fields() -> set[str]:
    return {name.upper() for name, f in Settings.model_fields.items()
            if f.annotation is SecretStr or SecretStr in getattr(f.annotation, "__args__", ())}


def env_file(path) -> dict[str, str]:
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return dict(ln.split("=", 1) for ln in lines)


def test_settings_files_name_real_settings_and_keep_secrets_apart():
    fields = {name.upper() for name in Settings.model_fields}
    config = env_file(BASE / "chatops.env")
    example = env_file(K8S / "secret.env.example")
    assert set(config) <= fields, set(config) - fields
    assert set(example) <= fields, set(example) - fields
    # Every secret setting is in the Secret's example, and none of them in the ConfigMap.
    assert set(example) == secret_fields()
    assert not set(config) & secret_fields()
    Settings(_env_file=None, **{k.lower(): v for k, v in config.items()})  # every value parses


@pytest.mark.parametrize("name", OVERLAYS)
def test_rendered_configuration_is_valid(name):
    data = config_data(overlay(name))
    assert not set(data) & secret_fields()
    s = Settings(_env_file=None, **{k.lower(): v for k, v in data.items()})
    assert s.host == "0.0.0.0" and s.job_backend == "procrastinate"


def url_port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or DEFAULT_PORTS[parts.scheme]


def bot_policies(docs: list[dict]) -> list[dict]:
    return [d for d in objects(docs, "NetworkPolicy") if d["spec"]["podSelector"].get("matchLabels") == BOT]


@pytest.mark.parametrize("name", OVERLAYS)
def test_egress_is_limited_to_the_configured_backends(name):
    docs = overlay(name)
    policies = bot_policies(docs)
    [main] = [p for p in policies if p["metadata"]["name"] == "chatops"]
    assert set(main["spec"]["policyTypes"]) == {"Ingress", "Egress"}  # default deny both ways
    egress = [rule for p in policies for rule in p["spec"].get("egress", [])]
    for rule in egress:  # no rule opens every port
        assert rule.get("ports") and rule.get("to"), rule
    allowed = {(p.get("protocol", "TCP"), p["port"]) for rule in egress for p in rule["ports"]}
    data = config_data(docs)
    backends = [data[k] for k in ("PROMETHEUS_URL", "OPENSEARCH_URL", "CHROMA_URL") if data.get(k)]
    backends.append(env_file(K8S / "secret.env.example")["DATABASE_URL"])
    assert len(backends) == (4 if "CHROMA_URL" in data else 3)
    for url in backends:
        assert ("TCP", url_port(url)) in allowed, (url, allowed)
    assert {("UDP", 53), ("TCP", 443)} <= allowed  # DNS; Slack, Teams, Anthropic
    if "CHROMA_URL" in data:
        chroma = one(docs, "NetworkPolicy", "chroma")
        assert chroma["spec"]["ingress"] == [{"from": [{"podSelector": {"matchLabels": BOT}}],
                                              "ports": [{"protocol": "TCP", "port": url_port(data["CHROMA_URL"])}]}]
        assert "Egress" in chroma["spec"]["policyTypes"] and not chroma["spec"].get("egress")


@pytest.mark.parametrize("name", OVERLAYS)
def test_actions_are_bound_only_where_the_allowlist_lets_the_bot_act(name):
    docs = overlay(name)
    allowlist = set(filter(None, config_data(docs).get("KUBE_NAMESPACE_ALLOWLIST", "").split(",")))
    sa = [{"kind": "ServiceAccount", "name": "chatops", "namespace": "chatops"}]
    cluster = [b for b in objects(docs, "ClusterRoleBinding") if b["roleRef"]["name"] == "chatops-actions"]
    local = [b for b in objects(docs, "RoleBinding") if b["roleRef"]["name"] == "chatops-actions"]
    if allowlist:
        assert not cluster
        assert {b["metadata"]["namespace"] for b in local} == allowlist
    else:
        assert [b["subjects"] for b in cluster] == [sa] and not local
    for b in cluster + local + objects(docs, "ClusterRoleBinding"):
        assert b["subjects"] == sa, b["metadata"]
        assert objects(docs, "ClusterRole", b["roleRef"]["name"]), b["roleRef"]


def selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize("name", OVERLAYS)
def test_services_pdbs_and_ingress_reach_real_pods_and_ports(name):
    docs = overlay(name)
    pods = [(d["spec"]["template"]["metadata"]["labels"], d["spec"]["template"]["spec"]) for d in
            objects(docs, "Deployment")]
    for svc in objects(docs, "Service"):
        [(labels, spec)] = [p for p in pods if selects(svc["spec"]["selector"], p[0])]
        names = {p["name"] for c in spec["containers"] for p in c["ports"]}
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in names, (svc["metadata"]["name"], port)
    for pdb in objects(docs, "PodDisruptionBudget"):
        assert len([p for p in pods if selects(pdb["spec"]["selector"]["matchLabels"], p[0])]) == 1
    for ing in objects(docs, "Ingress"):
        paths = {p["path"]: p for rule in ing["spec"]["rules"] for p in rule["http"]["paths"]}
        # Only what Slack and Teams call is public; the webhook, metrics and probes stay inside.
        assert set(paths) == {"/slack/events", "/api/messages"}
        for p in paths.values():
            assert p["pathType"] == "Exact"
            backend = p["backend"]["service"]
            svc = one(docs, "Service", backend["name"])
            assert backend["port"]["name"] in {sp["name"] for sp in svc["spec"]["ports"]}


def test_audit_head_export_prints_the_chains_head(tmp_path):
    """The CronJob's script, run with this checkout's `chatops` against a real audit log: its last
    line is the head row's seq and hash, which is what must be kept outside the database."""
    from bot import audit, migrate
    from bot.db import make_engine, session_factory, transaction

    [cron] = [d for _, d in raw_manifests() if d["kind"] == "CronJob" and d["metadata"]["name"] == "chatops-audit-head"]
    [container] = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["sh", "-c"]
    data = tmp_path / "data"
    data.mkdir()
    engine = make_engine(f"sqlite:///{data / 'chatops.db'}")
    migrate.upgrade(engine)
    factory = session_factory(engine)
    for n in range(3):
        with transaction(factory) as s:
            audit.append(s, actor="test", platform="system", event="test.event", subject=f"n/{n}", payload={"n": n})
    with factory() as s:
        head = list(audit.iter_rows(s))[-1]
    engine.dispose()
    env = {**process_env(tmp_path), "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    done = subprocess.run(["sh", "-c", container["args"][0]], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "audit chain OK: 3 rows"
    assert json.loads(lines[-1]) == {"audit_head": {"seq": 3, "ts": head["ts"], "hash": head["hash"]}}


def selected(docs: list[dict], selector: str) -> list[dict]:
    """The objects `kubectl apply -l 'key in (a,b)'` applies."""
    key, values = re.fullmatch(r"(\S+) in \(([^)]*)\)", selector).groups()  # type: ignore[union-attr]
    wanted = {v.strip() for v in values.split(",")}
    return [d for d in docs if (d["metadata"].get("labels") or {}).get(key) in wanted]


@pytest.mark.parametrize("name", OVERLAYS)
def test_the_pre_deploy_step_applies_what_the_migration_job_needs(name):
    """README's upgrade applies only the objects its label selector picks before the release: the
    Job, and everything the Job refers to must be among them (or exist in any namespace)."""
    readme = (REPO / "README.md").read_text()
    [selector] = re.findall(r"kubectl apply -k deploy/k8s/overlays/prod -l '([^']+)'", readme)
    docs = overlay(name)
    first = selected(docs, selector)
    [job] = objects(first, "Job", "chatops-db-upgrade")
    spec = job["spec"]["template"]["spec"]
    assert "serviceAccountName" not in spec  # `default` exists in every namespace
    for ref in (e for c in spec["containers"] for e in c["envFrom"]):
        if "configMapRef" in ref:
            assert objects(first, "ConfigMap", ref["configMapRef"]["name"]), ref
        else:
            assert ref == {"secretRef": {"name": "chatops"}}  # created by hand, before any apply
    assert {d["kind"] for d in first} == {"Job", "ConfigMap"}
